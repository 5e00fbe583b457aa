// Previews, variables and checks: all from POST /v1/editor/preview, debounced, with stale
// requests aborted. The server renders with the same model as real sends.

import { api } from './api.js';
import { h, debounce } from './dom.js';
import { t, locale, onLocale, describeFinding } from './i18n.js';

export const DARK_CSS = `body{background:#111;color:#e8eaed}
.card,.bubble,.brand{background:#202124;border-color:#3c4043;color:#e8eaed}
.text p{color:#bdc1c6}.media{background:#303134}.placeholder{color:#9aa0a6}
.actions .sg,.actions .sg-form{border-color:#3c4043}.sg{color:#8ab4f8}
.chips .sg,.menu .sg,.menu summary{background:#202124;border-color:#8ab4f8;color:#8ab4f8}`;
export const PHONE_CSS = 'body{background:#f2f3f5;margin:0;padding:10px}';
// Elements of the card marked with their JSON pointer (data-path) can be clicked to edit them.
const PICK_CSS = `[data-path]{cursor:pointer}
[data-path].hy-hover{outline:2px dashed #c8102e;outline-offset:-2px}
[data-path].hy-selected{outline:2px solid #c8102e;outline-offset:-2px}`;
// Handset looks (cards/looks.py): one style sheet for all, fetched once; the chosen look and the
// theme are remembered in this browser.
const LOOK_CSS_BODY = 'body.look{margin:0;padding:0}.hs-body{padding:10px}';
const LOOK_KEY = 'hongyan.preview.look';
const DARK_KEY = 'hongyan.preview.dark';
let looksCss = null;
function loadLooks() {
  looksCss ??= fetch('/editor/looks.css').then((r) => (r.ok ? r.text() : '')).catch(() => '');
  return looksCss;
}
function remembered(key) {
  try { return localStorage.getItem(key) || ''; } catch { return ''; }
}
function remember(key, value) {
  try { localStorage.setItem(key, value); } catch { /* private mode: not remembered */ }
}

export class Preview {
  constructor(els, store, session) {
    Object.assign(this, { els, store, session });
    els.look ??= document.getElementById('preview-look');
    this.look = remembered(LOOK_KEY);
    this.dark = remembered(DARK_KEY) === '1';
    this.lookCss = '';
    this.wide = false;
    this.placeholders = false;
    this.profile = 'cn_csp';
    this.controller = null;
    this.last = null;
    this.seq = 0;
    this.request = debounce(() => this.fetch(), 150);
    store.subscribe((change) => {
      if (change.type === 'select') this.markSelected();
      else if (change.type !== 'saved') this.request();
    });
    // The phone preview is a same-origin srcdoc document without scripts of its own: the
    // editor listens to it from here, each time it is drawn afresh.
    els.phoneFrame.addEventListener('load', () => this.wirePhone());
    onLocale(() => { if (this.store.doc) this.fetch(); });
    els.theme.setAttribute('aria-pressed', String(this.dark));
    els.theme.addEventListener('click', () => {
      this.dark = !this.dark;
      remember(DARK_KEY, this.dark ? '1' : '0');
      els.theme.setAttribute('aria-pressed', String(this.dark));
      this.drawPhone();
    });
    if (els.look) {
      if (![...els.look.options].some((o) => o.value === this.look)) this.look = '';
      els.look.value = this.look;
      els.look.addEventListener('change', () => {
        this.look = els.look.value;
        remember(LOOK_KEY, this.look);
        this.drawPhone();
      });
    }
    loadLooks().then((css) => { this.lookCss = css; if (this.look) this.drawPhone(); });
    els.wide.addEventListener('click', () => {
      this.wide = !this.wide;
      els.wide.setAttribute('aria-pressed', String(this.wide));
      els.phone.classList.toggle('wide', this.wide);
    });
    els.profile.addEventListener('change', () => {
      this.profile = els.profile.value;
      this.fetch();
    });
    els.placeholders.addEventListener('change', () => {
      this.placeholders = els.placeholders.checked;
      this.fetch();
    });
  }

  async fetch() {
    const doc = this.store.doc;
    if (!doc) return;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const seq = ++this.seq;
    this.els.root.setAttribute('aria-busy', 'true');
    try {
      const result = await api('POST', '/v1/editor/preview', {
        card: doc.card, variables: doc.sample || {}, placeholders: this.placeholders, locale: locale(), profile: this.profile,
        traffic_type: doc.traffic_type || 'notification',
      }, { signal: controller.signal });
      if (seq !== this.seq) return;
      this.last = result;
      this.draw();
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.last = { valid: false, errors: [{ path: '', message: err.describe ? err.describe() : err.message }], warnings: [], variables_used: [], missing_variables: [] };
      this.draw();
    } finally {
      if (seq === this.seq) this.els.root.removeAttribute('aria-busy');
    }
  }

  draw() {
    this.drawPhone();
    this.drawSms();
    this.drawH5();
    this.drawIssues();
    this.drawVariables();
    this.onResult?.(this.last);
  }

  drawPhone() {
    const r = this.last;
    const { phoneFrame, phoneEmpty } = this.els;
    this.els.phone.classList.toggle('dark', this.dark);
    if (!r?.phone_html) {
      phoneFrame.hidden = true;
      phoneEmpty.hidden = false;
      phoneFrame.srcdoc = '';
      return;
    }
    phoneFrame.hidden = false;
    phoneEmpty.hidden = true;
    if (this.look) {
      this.els.phone.dataset.look = this.look;
      phoneFrame.srcdoc = this.lookDocument(r.phone_html);
      return;
    }
    delete this.els.phone.dataset.look;
    phoneFrame.srcdoc = `<!doctype html><html lang="${locale()}"><head><meta charset="utf-8"><style>${PHONE_CSS}${PICK_CSS}</style></head>`
      + `<body>${r.phone_html}${this.dark ? `<style>${DARK_CSS}</style>` : ''}</body></html>`;
  }

  /** The card in a handset look: the chatbot's top bar over the thread, the look's sheet. */
  lookDocument(html) {
    const name = (document.getElementById('phone-brand')?.textContent || '').trim() || t('look.chatbot');
    const initial = name.replace(/^[【\[(（]/, '').charAt(0) || '·';
    const top = `<header class="hs-top"><span class="hs-back" aria-hidden="true">‹</span><span class="hs-logo" aria-hidden="true">${escapeHtml(initial)}</span>`
      + `<span class="hs-title"><span class="hs-name" data-testid="look-name">${escapeHtml(name)}</span></span><span class="hs-more" aria-hidden="true">⋮</span></header>`;
    const cls = `look look-${this.look}${this.dark ? ' dark' : ''}`;
    return `<!doctype html><html lang="${locale()}"><head><meta charset="utf-8"><style>${LOOK_CSS_BODY}${PICK_CSS}</style></head>`
      + `<body class="${cls}">${top}<div class="hs-body">${html}</div><style>${this.lookCss}</style></body></html>`;
  }

  /** Clicks on the phone preview select the element clicked (`onPick(path)`); hovering outlines it. */
  wirePhone() {
    const doc = this.els.phoneFrame.contentDocument;
    if (!doc?.body) return;
    const at = (e) => e.target?.closest?.('[data-path]');
    doc.addEventListener('click', (e) => {
      const el = at(e);
      if (!el) return;
      if (el.tagName !== 'SUMMARY') e.preventDefault(); // a submenu still opens
      this.onPick?.(el.dataset.path);
    });
    doc.addEventListener('mouseover', (e) => {
      for (const old of doc.querySelectorAll('.hy-hover')) old.classList.remove('hy-hover');
      at(e)?.classList.add('hy-hover');
    });
    doc.addEventListener('mouseleave', () => {
      for (const old of doc.querySelectorAll('.hy-hover')) old.classList.remove('hy-hover');
    });
    this.markSelected();
  }

  /** Outline, in the phone preview, the element holding the selection (the deepest one). */
  markSelected() {
    const doc = this.els.phoneFrame.contentDocument;
    if (!doc?.body) return;
    const sel = this.store.selection || '';
    let best = null;
    for (const el of doc.querySelectorAll('[data-path]')) {
      const p = el.dataset.path;
      if (sel && (sel === p || sel.startsWith(`${p}/`)) && (!best || p.length > best.dataset.path.length)) best = el;
    }
    for (const el of doc.querySelectorAll('.hy-selected')) if (el !== best) el.classList.remove('hy-selected');
    best?.classList.add('hy-selected');
    // A carousel shows the selected card (its strip scrolls; the page around the phone does not).
    const card = best?.closest('article.card');
    const strip = card?.parentElement?.closest('div.carousel');
    if (strip) {
      const [c, s] = [card.getBoundingClientRect(), strip.getBoundingClientRect()];
      if (c.left < s.left || c.right > s.right) strip.scrollLeft += c.left - s.left;
    }
  }

  drawH5() {
    this.els.h5Frame.srcdoc = this.last?.h5_html || `<!doctype html><meta charset="utf-8"><p style="font:14px system-ui;color:#78869b;padding:12px">${escapeHtml(t('preview.cannot_draw'))}</p>`;
  }

  drawSms() {
    const sms = this.last?.sms;
    if (!sms) {
      this.els.sms.replaceChildren(h('p', { class: 'muted' }, t('preview.cannot_draw')));
      return;
    }
    const cost = sms.cost !== null && sms.cost !== undefined ? `${sms.cost} ${sms.currency || ''}`.trim() : t('sms.no_cost');
    this.els.sms.replaceChildren(
      h('pre', { class: 'sms-text', 'data-testid': 'sms-text' }, sms.text),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, t('sms.encoding')), h('dd', { 'data-testid': 'sms-encoding' }, sms.encoding)),
        h('div', {}, h('dt', {}, t('sms.segments')), h('dd', { 'data-testid': 'sms-segments' }, String(sms.segments))),
        h('div', {}, h('dt', {}, t('sms.cn_parts')), h('dd', { 'data-testid': 'sms-cn-parts' }, sms.cn_parts ?? '—')),
        h('div', {}, h('dt', {}, t('sms.billing_units')), h('dd', {}, sms.cn_billing_units ?? '—')),
        h('div', {}, h('dt', {}, t('sms.cost')), h('dd', { 'data-testid': 'sms-cost' }, cost))));
  }

  drawIssues() {
    const r = this.last || { errors: [], warnings: [] };
    const errors = r.errors || [];
    const warnings = r.warnings || [];
    const item = (issue, kind, i) => h('li', {},
      h('button', { type: 'button', class: `issue ${kind}`, 'data-testid': `${kind}-${i}`, 'data-path': issue.path,
        onclick: () => this.onIssue?.(issue.path) },
      // The finding in the user's language first; the JSON path after it, as a detail.
      h('span', { class: 'issue-message' }, describeFinding(issue)), ' ', h('code', { class: 'issue-path' }, issue.path || '/')));
    this.els.errors.replaceChildren(...errors.map((e, i) => item(e, 'error', i)));
    this.els.warnings.replaceChildren(...warnings.map((w, i) => item(w, 'warning', i)));
    const badge = this.els.badge;
    badge.textContent = errors.length ? t('validation.errors', { n: errors.length }) : t('validation.ok');
    badge.className = `badge ${errors.length ? 'bad' : 'good'}`;
    if (!errors.length && !warnings.length) this.els.errors.replaceChildren(h('li', { class: 'muted' }, t('validation.none')));
  }

  drawVariables() {
    const r = this.last || {};
    const sample = this.store.doc?.sample || {};
    const used = r.variables_used || [];
    const missing = new Set(r.missing_variables || []);
    const names = [...new Set([...used, ...Object.keys(sample)])];
    const root = this.els.variables;
    const active = document.activeElement;
    const focusName = root.contains(active) ? active.dataset.variable : null;
    const caret = focusName ? [active.selectionStart, active.selectionEnd] : null;
    if (!names.length) {
      root.replaceChildren(h('p', { class: 'muted small-text' }, t('vars.none')));
      return;
    }
    root.replaceChildren(...names.map((name) => {
      const id = `var-${name}`;
      const input = h('input', { id, 'data-variable': name, 'data-testid': `var-${name}`, value: sample[name] ?? '', 'aria-invalid': String(missing.has(name)) });
      input.addEventListener('input', () => this.store.apply((doc) => {
        doc.sample = { ...(doc.sample || {}), [name]: input.value };
      }, { source: 'variables', coalesce: `var:${name}` }));
      input.addEventListener('blur', () => this.store.breakCoalescing());
      const flags = [];
      if (missing.has(name)) flags.push(h('span', { class: 'flag bad', 'data-testid': `var-${name}-missing` }, t('vars.missing')));
      if (!used.includes(name)) flags.push(h('span', { class: 'flag' }, t('vars.unused')));
      return h('div', { class: `field var${missing.has(name) ? ' missing' : ''}` },
        h('label', { for: id }, h('code', {}, `{{ ${name} }}`), ...flags), input);
    }));
    const again = focusName && root.querySelector(`[data-variable="${CSS.escape(focusName)}"]`);
    if (again) {
      again.focus();
      again.setSelectionRange(...caret);
    }
  }
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
