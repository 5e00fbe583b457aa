// The JSON editor: a textarea with line numbers, parse errors with line/column, and the
// selected node highlighted (a backdrop <mark>) and selected (setSelectionRange).

import { h } from './dom.js';
import { t } from './i18n.js';
import { scan, pointerAt } from './jsonscan.js';
import { within } from './pointer.js';

export class JsonView {
  constructor({ text, gutter, backdrop, error }, store) {
    Object.assign(this, { text, gutter, backdrop, error, store });
    this.nodes = new Map();
    this.broken = false;
    store.subscribe((change) => {
      if (change.type === 'select') { if (change.source !== 'json') this.highlight(true); }
      else if (change.type !== 'saved' && !(change.type === 'edit' && change.source === 'json')) this.fill();
    });
    text.addEventListener('input', () => this.onInput());
    text.addEventListener('scroll', () => this.syncScroll());
    text.addEventListener('blur', () => store.breakCoalescing());
    for (const ev of ['click', 'keyup']) text.addEventListener(ev, (e) => {
      if (ev === 'keyup' && !e.key.startsWith('Arrow') && !['Home', 'End', 'PageUp', 'PageDown'].includes(e.key)) return;
      this.caretSelect();
    });
  }

  fill() {
    const card = this.store.doc?.card;
    if (card === undefined) return;
    this.text.value = JSON.stringify(card, null, 2);
    this.broken = false;
    this.error.textContent = '';
    this.rescan();
    this.highlight(false);
  }

  rescan() {
    const result = scan(this.text.value);
    if (!result.error) this.nodes = result.nodes;
    this.lines();
    return result;
  }

  lines() {
    const n = this.text.value.split('\n').length;
    if (this.gutter.childElementCount !== n) {
      this.gutter.replaceChildren(...Array.from({ length: n }, (_, i) => h('span', {}, String(i + 1))));
    }
  }

  onInput() {
    const result = this.rescan();
    if (result.error) {
      const { line, col, message } = result.error;
      this.broken = true;
      this.error.textContent = t('json.error', { line, col, message });
      this.renderBackdrop(result.error.pos, result.error.pos + 1, 'error');
      return;
    }
    this.broken = false;
    this.error.textContent = '';
    if (result.value === null || typeof result.value !== 'object' || Array.isArray(result.value)) {
      this.error.textContent = t('json.not_object');
      return;
    }
    this.store.apply((doc) => { doc.card = result.value; }, { source: 'json', coalesce: 'json' });
    this.highlight(false);
  }

  caretSelect() {
    if (this.broken) return;
    const ptr = pointerAt(this.nodes, this.text.selectionStart);
    if (ptr !== null) {
      this.store.select(ptr, 'json');
      this.highlight(false);
    }
  }

  /** Highlight the selected node; `move` also selects its text and scrolls to it. */
  highlight(move) {
    const sel = this.store.selection;
    let span = null;
    if (sel !== '') {
      // The selection may point below what exists (a field not yet set): use its nearest ancestor.
      let ptr = sel;
      while (ptr && !this.nodes.has(ptr)) ptr = ptr.slice(0, ptr.lastIndexOf('/'));
      if (ptr && within(sel, ptr)) span = this.nodes.get(ptr);
    }
    if (!span) { this.renderBackdrop(0, 0); return; }
    this.renderBackdrop(span.start, span.end, 'sel');
    if (move && !this.text.closest('[hidden]')) {
      this.text.setSelectionRange(span.start, span.end);
      const line = this.text.value.slice(0, span.start).split('\n').length;
      const lh = parseFloat(getComputedStyle(this.text).lineHeight) || 18;
      this.text.scrollTop = Math.max(0, (line - 3) * lh);
      this.syncScroll();
    }
  }

  renderBackdrop(start, end, kind) {
    const v = this.text.value;
    const mark = end > start ? h('mark', { class: kind }, v.slice(start, end)) : null;
    // A trailing newline keeps the backdrop as tall as the textarea's content.
    this.backdrop.replaceChildren(v.slice(0, start), mark || '', v.slice(end) + '\n');
    this.syncScroll();
  }

  syncScroll() {
    this.backdrop.scrollTop = this.text.scrollTop;
    this.backdrop.scrollLeft = this.text.scrollLeft;
    this.gutter.scrollTop = this.text.scrollTop;
  }
}
