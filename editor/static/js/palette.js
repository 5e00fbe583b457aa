// The component palette over the visual editor: add a card (a single card becomes a carousel),
// media, and buttons or chips by kind to the card being edited; and the variables picker, which
// puts `{{ name }}` at the caret of the text field last edited, so nobody types braces.

import { api } from './api.js';
import { h, icon } from './dom.js';
import { t } from './i18n.js';
import { get, set, within } from './pointer.js';
import {
  CAROUSEL_MAX, CARD_SUGGESTIONS_MAX, CHIPS_MAX, KINDS, bodyKey, cardsOf, convertMessage, isCarousel, makeSuggestion, messageKind,
} from './cardmodel.js';

// What a template variable may be called (a Jinja name, dotted for a key of a sample object).
const NAME = /^[\p{L}_][\p{L}\p{N}_]*(\.[\p{L}_][\p{L}\p{N}_]*)*$/u;
const TEXT_FIELD = 'textarea[data-field], input[data-field]:not([type=number]):not([type=datetime-local]):not([type=file])';

export class Palette {
  constructor(root, store, visual) {
    Object.assign(this, { root, store, visual });
    this.target = null; // 'chips', or the path of the card the palette adds to (null: follow the selection)
    this.lastField = null; // {field, start, end}: where a picked variable goes
    this.attributes = null; // the tenant's contact attribute names, fetched when the picker first opens
    this.pickerOpen = false;
    this.newName = '';
    this.error = '';
    store.subscribe((change) => {
      if (change.type === 'load') {
        this.target = null;
        this.lastField = null;
        this.pickerOpen = false;
      }
      if (change.type === 'select') this.follow();
      if (change.type !== 'saved') this.render();
    });
    // The caret of the text field last focused in the visual editor (clicking the picker blurs it).
    const remember = (e) => {
      const el = e.target;
      if (!el.matches?.(TEXT_FIELD)) return;
      this.lastField = { el, field: el.dataset.field, start: el.selectionStart, end: el.selectionEnd };
      this.drawInsertHint();
    };
    for (const type of ['focusin', 'focusout', 'keyup', 'mouseup', 'input']) visual.root.addEventListener(type, remember);
    // Escape closes the picker and goes back to the field it would insert into.
    root.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || !this.pickerOpen) return;
      e.preventDefault();
      this.pickerOpen = false;
      this.render();
      (this.fieldElement() || root.querySelector('[data-testid=palette-variables]'))?.focus();
    });
    // A field scrolled into view (a click on the phone, a finding) stops above the docked palette.
    const pane = root.closest('.pane');
    if (pane && 'ResizeObserver' in window) {
      new ResizeObserver(() => pane.style.setProperty('--palette-height', `${root.offsetHeight}px`)).observe(root);
    }
  }

  /** The card the palette adds to: the one holding the selection, else the one chosen, else the first. */
  targetCard() {
    const cards = cardsOf(this.store.doc?.card);
    if (!cards.length) return null;
    if (this.target && this.target !== 'chips') {
      const chosen = cards.find((c) => c.path === this.target);
      if (chosen) return chosen;
    }
    return cards[0];
  }

  /** Adding follows what is selected: a card (or anything in it), or the chip list. */
  follow() {
    const sel = this.store.selection || '';
    if (within(sel, '/suggestions')) {
      this.target = 'chips';
      return;
    }
    const card = cardsOf(this.store.doc?.card).find((c) => within(sel, c.path));
    if (card) this.target = card.path;
  }

  render() {
    const doc = this.store.doc;
    if (!doc) return;
    const card = doc.card;
    const kind = messageKind(card);
    const cards = cardsOf(card);
    const isCard = kind === 'single' || kind === 'carousel';
    const target = this.targetCard();
    const toChips = this.target === 'chips' || !isCard || !target;
    const index = target ? cards.findIndex((c) => c.path === target.path) : -1;
    const cardName = index < 0 ? '' : isCarousel(card) ? t('visual.card_n', { n: index + 1 }) : t('visual.card');
    const buttons = toChips ? get(card, '/suggestions') : target.content?.suggestions;
    const count = Array.isArray(buttons) ? buttons.length : 0;
    const full = count >= (toChips ? CHIPS_MAX : CARD_SUGGESTIONS_MAX);
    const hasMedia = Boolean(target?.content?.media);
    const item = (testid, label, onclick, disabled, extra = {}) => h('button', {
      type: 'button', class: 'small palette-item', 'data-testid': testid, disabled, onclick, ...extra,
    }, icon('add'), label);

    const addTo = h('div', { class: 'segmented', role: 'group', 'aria-label': t('palette.add_to') },
      h('button', {
        type: 'button', class: 'small', 'aria-pressed': String(!toChips), 'data-testid': 'palette-to-card', disabled: !isCard,
        onclick: () => { this.target = target?.path || null; this.render(); },
      }, cardName || t('visual.card')),
      h('button', {
        type: 'button', class: 'small', 'aria-pressed': String(toChips), 'data-testid': 'palette-to-chips',
        onclick: () => { this.target = 'chips'; this.render(); },
      }, t('palette.chips')));

    // Drawn afresh while a name is being typed (the attribute names arrived): typing goes on.
    const typing = document.activeElement?.id === 'var-new-name' ? document.activeElement : null;
    const parts = [
      h('div', { class: 'palette-row' },
        h('span', { class: 'row-label' }, t('palette.title')),
        item('palette-card', isCarousel(card) ? t('palette.card') : t('palette.card_to_carousel'), () => this.addCard(),
          !isCard || cards.length >= CAROUSEL_MAX, { title: t('palette.card_hint') }),
        item('palette-media', t('palette.media'), () => this.addMedia(), !isCard || hasMedia || !target),
        h('span', { class: 'palette-gap' }),
        h('button', {
          type: 'button', class: 'small', 'data-testid': 'palette-variables', 'aria-expanded': String(this.pickerOpen),
          'aria-controls': 'variable-picker', 'aria-describedby': 'palette-insert-hint', onclick: () => this.togglePicker(),
        }, `{{ }} ${t('palette.variables')}`),
        h('span', { class: 'muted small-text palette-hint', 'data-testid': 'palette-insert-hint', id: 'palette-insert-hint' })),
      h('div', { class: 'palette-row' },
        h('span', { class: 'row-label', id: 'palette-buttons-label' }, t('palette.buttons')), addTo,
        KINDS.map((k) => item(`palette-button-${k}`, t(`kind.${k}`), () => this.addButton(k, toChips ? null : target.path), full,
          { 'aria-describedby': 'palette-buttons-label' }))),
    ];
    if (this.pickerOpen) parts.push(this.renderPicker());
    this.root.replaceChildren(...parts);
    const again = typing && this.root.querySelector('#var-new-name');
    if (again) {
      again.focus();
      again.setSelectionRange(typing.selectionStart, typing.selectionEnd);
    }
    this.drawInsertHint();
  }

  drawInsertHint() {
    const hint = this.root.querySelector('#palette-insert-hint');
    if (!hint) return;
    const el = this.fieldElement();
    const label = el ? el.closest('.field')?.querySelector('label')?.firstChild?.textContent?.trim() : '';
    hint.textContent = el ? t('palette.insert_into', { field: label || this.lastField.field }) : t('palette.insert_none');
  }

  fieldElement() {
    if (!this.lastField) return null;
    return this.visual.root.querySelector(`[data-field="${CSS.escape(this.lastField.field)}"]`);
  }

  // --- commands ----------------------------------------------------------------------------

  /** A card more: a single card becomes a carousel of two; a carousel gets one at its end. */
  addCard() {
    const before = cardsOf(this.store.doc.card).length;
    if (isCarousel(this.store.doc.card)) {
      this.visual.addCard();
    } else {
      this.visual.edit((c) => convertMessage(c, 'carousel', { title: t('visual.new_card_title') }));
      const path = `/message/generalPurposeCardCarousel/content/${before}`;
      this.store.select(path, 'visual');
      this.visual.focusSoon(`${path}/title`);
    }
    this.target = cardsOf(this.store.doc.card).at(-1)?.path || null;
    this.render();
  }

  /** Media on the target card: an image slot to upload into (or give by URL). */
  addMedia() {
    const target = this.targetCard();
    if (!target || target.content?.media) return;
    const path = `${target.path}/media`;
    this.visual.edit((c) => set(c, path, { mediaUrl: 'https://', mediaContentType: 'image/jpeg', mediaFileSize: 0, height: 'MEDIUM_HEIGHT' }));
    this.store.select(path, 'palette');
    const box = this.visual.root.querySelector(`[data-path="${CSS.escape(path)}"]`);
    box?.scrollIntoView({ block: 'nearest' });
    box?.querySelector('label.button, [data-field]')?.focus();
  }

  /** A button of `kind` on the card at `cardPath` (null: a chip under the message). */
  addButton(kind, cardPath) {
    const list = cardPath ? `${cardPath}/suggestions` : '/suggestions';
    const existing = get(this.store.doc.card, list);
    const n = Array.isArray(existing) ? existing.length : 0;
    const made = makeSuggestion(kind, null, this.visual.defaults());
    this.visual.edit((c) => {
      if (!Array.isArray(get(c, list))) set(c, list, []);
      get(c, list).push(made);
    });
    const text = `${list}/${n}/${bodyKey(made)}/displayText`;
    this.store.select(text, 'palette');
    const field = this.visual.root.querySelector(`[data-field="${CSS.escape(text)}"]`);
    field?.scrollIntoView({ block: 'nearest' });
    field?.focus();
    field?.select?.();
  }

  // --- the variables picker ----------------------------------------------------------------

  togglePicker() {
    this.pickerOpen = !this.pickerOpen;
    this.error = '';
    if (this.pickerOpen) this.fetchAttributes(); // contacts may have gained attributes meanwhile
    this.render();
  }

  /** The tenant's contact attribute names (none when the session may not read contacts). */
  async fetchAttributes() {
    try {
      this.attributes = (await api('GET', '/v1/contacts/attributes')).data || [];
    } catch {
      this.attributes = this.attributes || [];
    }
    if (this.pickerOpen) this.render();
  }

  /** The names a designer may insert: the sample's (a sample object's keys dotted), then contact attributes. */
  known() {
    const sample = this.store.doc?.sample || {};
    const fromSample = [];
    for (const [k, v] of Object.entries(sample)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) for (const sub of Object.keys(v)) fromSample.push(`${k}.${sub}`);
      else fromSample.push(k);
    }
    // Names the card already uses, given a sample value or not.
    const inCard = [...JSON.stringify(this.store.doc?.card || {}).matchAll(/\{\{\s*([\p{L}_][\p{L}\p{N}_.]*)/gu)].map((m) => m[1]);
    const mine = [...new Set([...fromSample, ...inCard])];
    const attrs = (this.attributes || []).filter((a) => !mine.includes(a));
    return {
      sample: mine.filter((n) => NAME.test(n)),
      attributes: attrs.filter((n) => NAME.test(n)),
    };
  }

  renderPicker() {
    const { sample, attributes } = this.known();
    const value = (name) => {
      const v = get(this.store.doc?.sample || {}, `/${name.split('.').join('/')}`);
      return v === undefined || v === null || typeof v === 'object' ? '' : String(v);
    };
    const option = (name, from) => h('li', {}, h('button', {
      type: 'button', class: 'variable-option', 'data-testid': `var-pick-${name}`, onclick: () => this.insert(name),
    }, h('code', {}, `{{ ${name} }}`), ' ', h('span', { class: 'muted small-text' }, from === 'sample' ? value(name) : t('palette.from_contacts'))));
    const input = h('input', {
      id: 'var-new-name', 'data-testid': 'var-new-name', value: this.newName, autocomplete: 'off', spellcheck: 'false',
      placeholder: t('palette.new_variable_placeholder'),
      oninput: (e) => { this.newName = e.target.value; },
      onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); this.insertNew(); } },
    });
    return h('div', { class: 'variable-picker', id: 'variable-picker', 'data-testid': 'variable-picker' },
      h('h4', {}, t('palette.from_sample')),
      sample.length ? h('ul', { class: 'variable-list' }, sample.map((n) => option(n, 'sample')))
        : h('p', { class: 'muted small-text' }, t('palette.no_sample')),
      h('h4', {}, t('palette.from_contacts_title')),
      attributes.length ? h('ul', { class: 'variable-list', 'data-testid': 'var-attributes' }, attributes.map((n) => option(n, 'contacts')))
        : h('p', { class: 'muted small-text' }, t('palette.no_attributes')),
      h('div', { class: 'field' },
        h('label', { for: 'var-new-name' }, t('palette.new_variable')),
        h('div', { class: 'inline-row' }, input,
          h('button', { type: 'button', class: 'small', 'data-testid': 'var-new-add', onclick: () => this.insertNew() }, t('palette.insert')))),
      this.error ? h('p', { class: 'error-text', role: 'alert', 'data-testid': 'var-error' }, this.error) : null);
  }

  insertNew() {
    const name = this.newName.trim();
    if (!NAME.test(name)) {
      this.error = t('palette.bad_name');
      this.render();
      this.root.querySelector('#var-new-name')?.focus();
      return;
    }
    this.newName = '';
    this.insert(name);
  }

  /** Put `{{ name }}` at the caret of the text field last edited (replacing what was selected there). */
  insert(name) {
    const el = this.fieldElement();
    if (!el) {
      this.error = t('palette.insert_none');
      this.render();
      return;
    }
    this.error = '';
    const text = `{{ ${name} }}`;
    const len = el.value.length;
    // The same element keeps its caret; one drawn afresh since has only the remembered one.
    const same = el === this.lastField.el;
    const start = Math.min((same ? el.selectionStart : this.lastField.start) ?? len, len);
    const end = Math.max(start, Math.min((same ? el.selectionEnd : this.lastField.end) ?? start, len));
    el.focus();
    el.setRangeText(text, start, end, 'end');
    // The field's own input handler records the edit (one undo step, the counter, the preview).
    el.dispatchEvent(new Event('input', { bubbles: true }));
    this.pickerOpen = false;
    this.render();
    el.focus();
    const at = start + text.length;
    el.setSelectionRange(at, at);
    this.lastField = { el, field: el.dataset.field, start: at, end: at };
  }
}
