// The outline: a tree of the card's elements; clicking (or Enter on) a node selects it.

import { h, $$ } from './dom.js';
import { t } from './i18n.js';
import { within } from './pointer.js';
import { CAROUSEL, FILE, LOCATION, SINGLE, TEXT, cardsOf, isCarousel, kindOf, messageKind } from './cardmodel.js';

export class Outline {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    store.subscribe((change) => {
      if (change.type === 'select') this.highlight(change.source);
      else if (change.type !== 'saved') this.render();
    });
    root.addEventListener('keydown', (e) => this.keys(e));
  }

  node(label, path, depth, testid, children = []) {
    const item = h('div', { role: 'treeitem', 'aria-level': depth, 'aria-selected': 'false', 'data-path': path, 'data-testid': testid, tabindex: '-1', class: 'tree-item', style: `--depth:${depth}`,
      onclick: (e) => { e.stopPropagation(); this.store.select(path, 'outline'); } },
    h('span', { class: 'tree-label' }, label));
    const group = children.length ? h('div', { role: 'group' }, children) : null;
    return [item, group];
  }

  render() {
    const card = this.store.doc?.card;
    if (!card) { this.root.replaceChildren(); return; }
    const cards = cardsOf(card);
    const carousel = isCarousel(card);
    const cardNodes = cards.map(({ path, content }, i) => {
      const c = content || {};
      const kids = [];
      if (c.media) kids.push(...this.node(t('outline.media'), `${path}/media`, 3, `outline-card-${i}-media`));
      if (c.title !== undefined) kids.push(...this.node(`${t('visual.title')}: ${short(c.title)}`, `${path}/title`, 3, `outline-card-${i}-title`));
      if (c.description !== undefined) kids.push(...this.node(t('outline.description'), `${path}/description`, 3, `outline-card-${i}-description`));
      (Array.isArray(c.suggestions) ? c.suggestions : []).forEach((s, j) => {
        kids.push(...this.node(`${t(`kind.${kindOf(s)}`)}: ${short((s?.reply || s?.action)?.displayText)}`, `${path}/suggestions/${j}`, 3, `outline-card-${i}-sg-${j}`));
      });
      return this.node(carousel ? t('visual.card_n', { n: i + 1 }) : t('visual.card'), path, 2, `outline-card-${i}`, kids);
    });
    const top = this.messageNode(card, carousel, cardNodes);
    const chips = (Array.isArray(card.suggestions) ? card.suggestions : []).map((s, j) =>
      this.node(`${t(`kind.${kindOf(s)}`)}: ${short((s?.reply || s?.action)?.displayText)}`, `/suggestions/${j}`, 2, `outline-chip-${j}`));
    const nodes = [...top];
    if (chips.length) nodes.push(...this.node(t('visual.chips'), '/suggestions', 1, 'outline-chips', chips.flat()));
    this.root.replaceChildren(...nodes.filter(Boolean));
    this.highlight(null);
  }

  /** The message's node: a card or carousel with its cards, or a text, file or location with its fields. */
  messageNode(card, carousel, cardNodes) {
    const msg = card.message || {};
    switch (messageKind(card)) {
      case 'text':
        return this.node(`${t('visual.kind_text')}: ${short(msg.text)}`, TEXT, 1, 'outline-message');
      case 'file': {
        const f = msg.file || {};
        const kids = f.fileName !== undefined
          ? this.node(`${t('visual.file_name')}: ${short(f.fileName)}`, `${FILE}/fileName`, 2, 'outline-file-name') : [];
        return this.node(t('visual.kind_file'), FILE, 1, 'outline-message', kids);
      }
      case 'location': {
        const loc = msg.location || {};
        const kids = [
          ...this.node(`${t('outline.coordinates')}: ${loc.latitude ?? '—'}, ${loc.longitude ?? '—'}`, `${LOCATION}/latitude`, 2, 'outline-location-coordinates'),
          ...(loc.label !== undefined ? this.node(`${t('sg.label')}: ${short(loc.label)}`, `${LOCATION}/label`, 2, 'outline-location-label') : []),
          ...this.node(`${t('visual.datum')}: ${loc.crs === 'wgs84' ? 'WGS-84' : 'GCJ-02'}`, `${LOCATION}/crs`, 2, 'outline-location-datum'),
        ];
        return this.node(t('visual.kind_location'), LOCATION, 1, 'outline-message', kids);
      }
      default:
        return this.node(carousel ? t('visual.carousel') : t('visual.single'), carousel ? CAROUSEL : SINGLE, 1, 'outline-message', cardNodes.flat());
    }
  }

  highlight() {
    const sel = this.store.selection;
    let best = null;
    for (const el of $$('.tree-item', this.root)) {
      el.setAttribute('aria-selected', 'false');
      el.classList.remove('selected');
      if (sel && within(sel, el.dataset.path) && (!best || el.dataset.path.length > best.dataset.path.length)) best = el;
    }
    const items = $$('.tree-item', this.root);
    for (const el of items) el.tabIndex = -1;
    const focusable = best || items[0];
    if (focusable) focusable.tabIndex = 0;
    if (best) {
      best.setAttribute('aria-selected', 'true');
      best.classList.add('selected');
    }
  }

  keys(e) {
    const items = $$('.tree-item', this.root);
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    let next = null;
    if (e.key === 'ArrowDown') next = items[i + 1];
    else if (e.key === 'ArrowUp') next = items[i - 1];
    else if (e.key === 'Home') next = items[0];
    else if (e.key === 'End') next = items[items.length - 1];
    else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      this.store.select(items[i].dataset.path, 'outline');
      items[i].focus();
      return;
    } else return;
    e.preventDefault();
    if (next) { items[i].tabIndex = -1; next.tabIndex = 0; next.focus(); }
  }
}

function short(s) {
  const text = typeof s === 'string' ? s : '';
  return text.length > 24 ? `${text.slice(0, 23)}…` : text;
}
