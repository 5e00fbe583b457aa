// The visual diff: both sides of a diff drawn as phone previews next to each other, each element
// whose JSON pointer changed outlined (removed or changed on the left, added or changed on the
// right). Elements of the preview are named by `data-path`, the RFC 6901 pointer of what they
// show within the card document; where the renderer has not named one, it is named here from
// the card's structure.

import { api } from './api.js';
import { h } from './dom.js';
import { t, locale } from './i18n.js';
import { within } from './pointer.js';
import { SINGLE, CAROUSEL, TEXT, FILE, LOCATION } from './cardmodel.js';
import { PHONE_CSS, DARK_CSS } from './preview.js';

// A carousel's cards wrap here instead of scrolling sideways: every outlined card is in sight.
const MARK_CSS = `[data-diff]{outline:3px solid var(--diff);outline-offset:1px;border-radius:6px}
body.old{--diff:#d93025}body.new{--diff:#f29900}.carousel{flex-wrap:wrap;overflow:visible;padding:4px}`;

/** Name the elements of a rendered card (`root` holds section.conversation) by their pointers. */
export function namePaths(root, card) {
  const name = (el, path) => { if (el && !el.hasAttribute('data-path')) el.setAttribute('data-path', path); };
  const section = root.querySelector('section.conversation');
  if (!section) return;
  name(section, '');
  const nameCard = (article, base) => {
    name(article, base);
    name(article.querySelector(':scope > .media'), `${base}/media`);
    name(article.querySelector(':scope > .text > h2'), `${base}/title`);
    name(article.querySelector(':scope > .text > p'), `${base}/description`);
    [...article.querySelectorAll(':scope > .actions > *')].forEach((el, i) => name(el, `${base}/suggestions/${i}`));
  };
  const msg = card?.message || {};
  name(section.querySelector(':scope > p.bubble'), TEXT);
  name(section.querySelector(':scope > article.file'), FILE);
  name(section.querySelector(':scope > article.location'), LOCATION);
  const carousel = section.querySelector(':scope > .carousel');
  if (carousel) {
    name(carousel, `${CAROUSEL}/content`);
    [...carousel.querySelectorAll(':scope > article')].forEach((a, i) => nameCard(a, `${CAROUSEL}/content/${i}`));
  } else if (msg.generalPurposeCard) {
    const article = section.querySelector(':scope > article.card:not(.file):not(.location)');
    if (article) nameCard(article, `${SINGLE}/content`);
  }
  [...section.querySelectorAll(':scope > nav.chips > *')].forEach((el, i) => name(el, `/suggestions/${i}`));
  name(section.querySelector(':scope > nav.menu'), '/menu');
}

// A layout change shows on the card(s) it lays out.
const shown = (path) => path.replace(`${SINGLE}/layout`, `${SINGLE}/content`).replace(`${CAROUSEL}/layout`, `${CAROUSEL}/content`);

/** Outline, in `root`, the element nearest to each changed pointer (the longest named prefix). */
export function markChanges(root, paths) {
  const named = [...root.querySelectorAll('[data-path]')];
  let marked = 0;
  for (const raw of paths) {
    const path = shown(raw);
    let best = null;
    for (const el of named) {
      const p = el.getAttribute('data-path');
      if (within(path, p) && (!best || p.length > best.getAttribute('data-path').length)) best = el;
    }
    if (best && !best.hasAttribute('data-diff')) { best.setAttribute('data-diff', ''); marked += 1; }
  }
  return marked;
}

export class VisualDiff {
  constructor(els) {
    this.els = els;
    this.seq = 0;
  }

  /** Open the dialog for a diff answer (`{from, to, changes}`) of template `id`. */
  async show(id, result) {
    const seq = ++this.seq;
    const { dialog, head, old: oldEl, new: newEl, notes } = this.els;
    head.textContent = t('vdiff.head', { from: label(result.from), to: label(result.to), n: result.changes.length });
    for (const el of [oldEl, newEl]) el.replaceChildren(h('p', { class: 'muted' }, t('vdiff.loading')));
    notes.replaceChildren();
    if (!dialog.open) dialog.showModal();
    let sides;
    try {
      sides = await Promise.all([result.from, result.to].map((side) => this.side(id, side)));
    } catch (err) {
      if (seq === this.seq) oldEl.replaceChildren(h('p', { class: 'error-text' }, err.describe ? err.describe() : err.message));
      if (seq === this.seq) newEl.replaceChildren();
      return;
    }
    if (seq !== this.seq) return;
    const card = result.changes.filter((c) => c.path.startsWith('/card'));
    const other = result.changes.filter((c) => !c.path.startsWith('/card'));
    const inCard = (ops) => card.filter((c) => ops.includes(c.op)).map((c) => c.path.slice('/card'.length));
    this.draw(oldEl, 'old', result.from, sides[0], inCard(['remove', 'replace']));
    this.draw(newEl, 'new', result.to, sides[1], inCard(['add', 'replace']));
    notes.replaceChildren(
      h('p', { class: 'muted small-text' }, t('vdiff.legend')),
      ...other.map((c) => h('p', { class: 'muted small-text', 'data-testid': 'vdiff-other' },
        t('vdiff.not_on_phone', { path: c.path }))));
  }

  async side(id, which) {
    const base = `/v1/templates/${encodeURIComponent(id)}`;
    const doc = which === 'draft' ? await api('GET', `${base}/draft`) : await api('GET', `${base}/versions/${which}`);
    const preview = await api('POST', '/v1/editor/preview', {
      card: doc.card, variables: doc.sample || {}, locale: locale(), traffic_type: doc.traffic_type || 'notification',
    });
    return { card: doc.card, html: preview.phone_html };
  }

  draw(el, kind, which, side, paths) {
    const caption = h('p', { class: 'vdiff-caption' }, h('strong', {}, label(which)));
    if (!side.html) {
      el.replaceChildren(caption, h('p', { class: 'muted' }, t('preview.cannot_draw')));
      return;
    }
    const parsed = new DOMParser().parseFromString(`<body>${side.html}</body>`, 'text/html');
    namePaths(parsed.body, side.card);
    const marked = markChanges(parsed.body, paths);
    const dark = this.els.darkToggle?.getAttribute('aria-pressed') === 'true' || matchMedia('(prefers-color-scheme: dark)').matches;
    const frame = h('iframe', { sandbox: '', class: 'vdiff-frame', 'data-testid': `vdiff-${kind}`, title: label(which) });
    frame.srcdoc = `<!doctype html><html lang="${locale()}"><head><meta charset="utf-8"><style>${PHONE_CSS}${MARK_CSS}</style></head>`
      + `<body class="${kind}">${parsed.body.innerHTML}${dark ? `<style>${DARK_CSS}</style>` : ''}</body></html>`;
    caption.append(' ', h('span', { class: 'muted small-text', 'data-testid': `vdiff-${kind}-marked` }, t('vdiff.marked', { n: marked })));
    el.replaceChildren(caption, h('div', { class: `vdiff-phone${dark ? ' dark' : ''}` }, frame));
  }
}

const label = (side) => (side === 'draft' ? t('versions.draft') : `v${side}`);
