// The visual editor: a form over the card JSON. Field edits go to the store as coalesced
// commands; structural edits (add, remove, reorder, convert) are single commands.

import { h, icon, $$ } from './dom.js';
import { t, describeFinding } from './i18n.js';
import { get, set, within } from './pointer.js';
import {
  CAROUSEL, CARD_SUGGESTIONS_MAX, CAROUSEL_MAX, CHIPS_MAX, KINDS, LIMITS, bodyKey, cardsOf, convertMessage, hasMenu, isCarousel,
  kindOf, localToRfc3339, makeSuggestion, messageKind, rfc3339ToLocal,
} from './cardmodel.js';
import { addMenu, renderMenu } from './menu.js';
import { ourImage, renderFile, renderLocation, renderText } from './kinds.js';
import { cropDialog, mediaIdOf } from './crop.js';

const MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'video/mp4', 'audio/mpeg', 'audio/mp4', 'audio/amr'];
// What card media may be uploaded as (the server sniffs the bytes; cards/media/clips.py).
const CARD_MEDIA_ACCEPT = 'image/jpeg,image/png,image/gif,image/webp,video/mp4,audio/mpeg,audio/mp4,audio/amr,.mp3,.m4a,.amr';
const HEIGHTS = ['SHORT_HEIGHT', 'MEDIUM_HEIGHT', 'TALL_HEIGHT'];

export class VisualEditor {
  constructor(root, store, { upload, mediaLibrary, profile = () => 'cn_csp' }) {
    this.root = root;
    this.store = store;
    this.upload = upload;
    this.mediaLibrary = mediaLibrary; // (cursor, limit) → a page of the tenant's media (GET /v1/media)
    this.library = { open: false, items: [], cursor: null, loading: false, error: '' }; // the file message's picker
    this.profile = profile; // the operator rules chosen for the preview (the menu's limits)
    this.mediaStatus = new Map(); // media path → the last upload's outcome (survives re-renders)
    this.errors = [];
    store.subscribe((change) => {
      if (change.type === 'load') {
        this.mediaStatus.clear();
        this.library = { open: false, items: [], cursor: null, loading: false, error: '' }; // fetched afresh when opened
      }
      if (change.type === 'select') this.highlight(change.source);
      else if (change.type !== 'saved' && !(change.type === 'edit' && change.source === 'visual-field')) this.render();
    });
    root.addEventListener('focusout', () => store.breakCoalescing());
    // Mouse users may drag a card or a button by its handle; keyboard users have the move buttons.
    this.dragging = null;
    root.addEventListener('dragover', (e) => {
      const target = this.dropTarget(e);
      if (!target) return;
      e.preventDefault();
      for (const el of $$('.drop-here', root)) if (el !== target) el.classList.remove('drop-here');
      target.classList.add('drop-here');
    });
    root.addEventListener('drop', (e) => {
      const target = this.dropTarget(e);
      if (!target) return;
      e.preventDefault();
      const list = listOf(this.dragging);
      const from = Number(this.dragging.slice(list.length + 1));
      const to = Number(target.dataset.path.slice(list.length + 1));
      this.dragging = null;
      if (from !== to) this.moveItem(list, from, to - from);
    });
    root.addEventListener('dragend', () => {
      this.dragging = null;
      for (const el of $$('.drop-here', root)) el.classList.remove('drop-here');
    });
  }

  /** The card or button under the pointer that the dragged one may take the place of. */
  dropTarget(e) {
    if (!this.dragging) return null;
    const list = listOf(this.dragging);
    for (let el = e.target.closest?.('[data-path]'); el && this.root.contains(el); el = el.parentElement?.closest('[data-path]')) {
      const p = el.dataset.path;
      if (listOf(p) === list && /^\d+$/.test(p.slice(list.length + 1))) return el;
    }
    return null;
  }

  get card() {
    return this.store.doc?.card;
  }

  edit(mutate, opts = {}) {
    this.store.apply((doc) => mutate(doc.card), { source: 'visual', ...opts });
  }

  // --- rendering ---------------------------------------------------------------------------

  render() {
    if (!this.store.doc) return;
    const active = document.activeElement;
    const keep = active && this.root.contains(active)
      ? { field: active.dataset.field, action: active.dataset.action, start: active.selectionStart, end: active.selectionEnd }
      : null;
    const card = this.card;
    // A document of only a persistent menu (the chatbot's, published through a channel).
    const menuOnly = !card?.message && hasMenu(card);
    const body = [];
    if (!menuOnly) {
      const kind = messageKind(card);
      body.push(h('div', { class: 'row' }, this.renderKind(kind), this.renderTraffic()));
      if (kind === 'text') body.push(renderText(this));
      else if (kind === 'file') body.push(renderFile(this, card.message.file));
      else if (kind === 'location') body.push(renderLocation(this));
      else {
        const carousel = isCarousel(card);
        const cards = cardsOf(card);
        body.push(this.renderLayout(card, carousel));
        if (!cards.length) body.push(h('p', { class: 'muted' }, t('visual.no_cards')));
        cards.forEach(({ path, content }, i) => body.push(this.renderCard(path, content, i, cards.length, carousel)));
        if (carousel) {
          body.push(h('button', {
            type: 'button', class: 'add', 'data-testid': 'add-card', 'data-action': 'add-card',
            disabled: cards.length >= CAROUSEL_MAX, onclick: () => this.addCard(),
          }, icon('add'), t('visual.add_card')));
        }
      }
      body.push(this.renderChips(card));
    }
    if (hasMenu(card)) body.push(renderMenu(this, card, this.profile(), !menuOnly));
    else {
      body.push(h('button', { type: 'button', class: 'add', 'data-testid': 'add-menu', 'data-action': 'add-menu',
        onclick: () => addMenu(this) }, icon('add'), t('menu.add')));
    }
    this.root.replaceChildren(...body);
    if (keep) this.restoreFocus(keep);
    this.highlight(null);
    this.markErrors(this.errors);
  }

  /** Show each error under its field (or its card / button when there is no field for it). */
  markErrors(errors) {
    this.errors = errors || [];
    for (const el of $$('.field-error', this.root)) el.remove();
    for (const el of $$('[aria-invalid=true]', this.root)) el.removeAttribute('aria-invalid');
    const boxes = new Map(); // a card, button or section → {message → the inner paths it is about}
    for (const finding of this.errors) {
      const { path } = finding;
      const message = describeFinding(finding);
      let target = null;
      for (const el of $$('[data-path],[data-field]', this.root)) {
        const p = el.dataset.field ?? el.dataset.path;
        if (within(path, p) && (!target || p.length > (target.dataset.field ?? target.dataset.path).length)) target = el;
      }
      if (!target) continue;
      if (target.dataset.field) {
        const id = `err-${path}`;
        target.setAttribute('aria-invalid', 'true');
        target.setAttribute('aria-describedby', id);
        (target.closest('.field') || target).append(h('p', { class: 'field-error', id, 'data-testid': 'field-error' }, message));
        continue;
      }
      if (!boxes.has(target)) boxes.set(target, new Map());
      const byMessage = boxes.get(target);
      if (!byMessage.has(message)) byMessage.set(message, []);
      byMessage.get(message).push(path.slice(target.dataset.path.length + 1));
    }
    // Errors deeper than the element they show at name what they are about, alike ones together
    // ("mediaUrl, mediaContentType: required").
    for (const [target, byMessage] of boxes) {
      let after = target.querySelector(':scope > .item-head, :scope > legend, :scope > h4');
      for (const [message, inner] of byMessage) {
        const what = inner.filter(Boolean).join(', ');
        const note = h('p', { class: 'field-error', 'data-testid': 'field-error' }, what ? `${what}: ${message}` : message);
        after?.after(note);
        after = note;
      }
    }
  }

  restoreFocus({ field, action, start, end }) {
    const el = field ? this.root.querySelector(`[data-field="${CSS.escape(field)}"]`)
      : action ? this.root.querySelector(`[data-action="${CSS.escape(action)}"]`) : null;
    if (!el) return;
    el.focus({ preventScroll: true });
    if (typeof start === 'number' && 'setSelectionRange' in el) {
      try { el.setSelectionRange(start, end); } catch { /* not a text input */ }
    }
  }

  /** The message's kind; choosing another converts it, carrying over what fits (one undo step). */
  renderKind(kind) {
    const current = kind || 'single';
    const labels = {
      single: t('visual.single'), carousel: t('visual.carousel'), text: t('visual.kind_text'),
      file: t('visual.kind_file'), location: t('visual.kind_location'),
    };
    return h('div', { class: 'kind-row', role: 'group', 'aria-label': t('visual.message_kind') },
      h('span', { class: 'row-label' }, t('visual.message_kind')),
      h('div', { class: 'segmented wrap' }, Object.entries(labels).map(([k, label]) => h('button', {
        type: 'button', 'aria-pressed': String(k === current), 'data-testid': `kind-${k}`, 'data-action': `kind-${k}`,
        onclick: () => {
          if (k !== messageKind(this.card)) this.edit((c) => convertMessage(c, k, { title: t('visual.new_card_title') }));
        },
      }, label))));
  }

  renderTraffic() {
    const value = this.store.doc.traffic_type || 'notification';
    const input = h('select', {
      id: 'f-traffic', 'data-field': '#traffic_type', 'data-testid': 'traffic-type',
      onchange: () => this.store.apply((doc) => { doc.traffic_type = input.value; }, { source: 'visual' }),
    }, ['notification', 'marketing', 'otp'].map((v) => h('option', { value: v, selected: v === value }, t(`traffic.${v}`))));
    return h('div', { class: 'field inline' }, h('label', { for: 'f-traffic' }, t('visual.traffic_type')), input);
  }

  /** Toggle buttons for a layout's titleFontStyle / descriptionFontStyle (a set of styles). */
  fontStyles(label, path, testid) {
    const current = get(this.card, path);
    const styles = Array.isArray(current) ? current : [];
    return h('div', { class: 'field' }, h('span', { class: 'row-label', id: `l-${testid}` }, label),
      h('div', { class: 'segmented', role: 'group', 'aria-labelledby': `l-${testid}` },
        ['bold', 'italics', 'underline'].map((style) => h('button', {
          type: 'button', class: `small style-${style}`, 'aria-pressed': String(styles.includes(style)),
          'data-action': `${path}/${style}`, 'data-testid': `${testid}-${style}`, 'aria-label': t(`style.${style}`), title: t(`style.${style}`),
          onclick: () => this.edit((c) => {
            const now = get(c, path);
            const list = Array.isArray(now) ? now.filter((x) => x !== style) : [];
            if (!(Array.isArray(now) && now.includes(style))) list.push(style);
            set(c, path, list.length ? list : undefined);
          }),
        }, t(`style.${style}.short`)))));
  }

  renderLayout(card, carousel) {
    if (carousel) {
      return h('div', { class: 'row layout-row' },
        this.select(t('visual.card_width'), `${CAROUSEL}/layout/cardWidth`, ['SMALL_WIDTH', 'MEDIUM_WIDTH'], 'width'),
        this.fontStyles(t('visual.title_style'), `${CAROUSEL}/layout/titleFontStyle`, 'title-style'),
        this.fontStyles(t('visual.description_style'), `${CAROUSEL}/layout/descriptionFontStyle`, 'description-style'));
    }
    const base = '/message/generalPurposeCard/layout';
    const horizontal = get(card, `${base}/cardOrientation`) === 'HORIZONTAL';
    return h('div', { class: 'row layout-row' },
      this.select(t('visual.orientation'), `${base}/cardOrientation`, ['VERTICAL', 'HORIZONTAL'], 'orientation', true),
      horizontal ? this.select(t('visual.alignment'), `${base}/imageAlignment`, ['LEFT', 'RIGHT'], 'alignment', true) : null,
      this.fontStyles(t('visual.title_style'), `${base}/titleFontStyle`, 'title-style'),
      this.fontStyles(t('visual.description_style'), `${base}/descriptionFontStyle`, 'description-style'));
  }

  renderCard(path, content, index, count, carousel) {
    const c = content && typeof content === 'object' ? content : {};
    const head = h('div', { class: 'item-head' },
      h('h3', {}, carousel ? t('visual.card_n', { n: index + 1 }) : t('visual.card')),
      carousel ? this.moveButtons(path, index, count, 'card', () => this.moveCard(index, -1), () => this.moveCard(index, 1),
        () => this.removeCard(index), count <= 2) : null);
    const suggestions = Array.isArray(c.suggestions) ? c.suggestions : [];
    const section = h('section', {
      class: 'card-editor', 'data-path': path, 'data-testid': `card-${index}`, tabindex: '-1',
      'aria-label': carousel ? t('visual.card_n', { n: index + 1 }) : t('visual.card'),
      onkeydown: (e) => {
        if (carousel && e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown') && e.target === section) {
          e.preventDefault();
          this.moveCard(index, e.key === 'ArrowUp' ? -1 : 1);
        }
      },
    },
    head,
    this.text(t('visual.title'), `${path}/title`, LIMITS.title, { testid: `card-${index}-title` }),
    this.text(t('visual.description'), `${path}/description`, LIMITS.description, { multiline: true, optional: true, testid: `card-${index}-description` }),
    this.renderMedia(`${path}/media`, c.media, index),
    // The list is an element of its own so that a "5 suggestions; the limit is 4" error shows under its heading.
    h('div', { class: 'suggestions', 'data-path': `${path}/suggestions`, 'data-testid': `card-${index}-buttons` },
      h('h4', {}, t('visual.buttons'), ' ', h('span', {
        class: suggestions.length > CARD_SUGGESTIONS_MAX ? 'count over' : 'muted', 'data-testid': `card-${index}-buttons-count`,
      }, `${suggestions.length}/${CARD_SUGGESTIONS_MAX}`)),
      suggestions.map((s, i) => this.renderSuggestion(`${path}/suggestions`, s, i, suggestions.length, `card-${index}-sg-${i}`)),
      h('button', {
        type: 'button', class: 'add', 'data-testid': `card-${index}-add-button`, 'data-action': `${path}/add-button`,
        disabled: suggestions.length >= CARD_SUGGESTIONS_MAX,
        onclick: () => this.addSuggestion(`${path}/suggestions`),
      }, icon('add'), t('visual.add_button'))));
    section.addEventListener('click', (e) => {
      if (e.target === section || e.target.closest('.item-head') === head) this.store.select(path, 'visual');
    });
    return section;
  }

  renderChips(card) {
    const chips = Array.isArray(card?.suggestions) ? card.suggestions : [];
    return h('section', { class: 'card-editor chips-editor', 'data-path': '/suggestions', 'data-testid': 'chips' },
      h('div', { class: 'item-head' }, h('h3', {}, t('visual.chips'), ' ', h('span', { class: 'muted' }, `${chips.length}/${CHIPS_MAX}`))),
      h('p', { class: 'muted small-text' }, t('visual.chips_hint')),
      chips.map((s, i) => this.renderSuggestion('/suggestions', s, i, chips.length, `chip-${i}`)),
      h('button', {
        type: 'button', class: 'add', 'data-testid': 'add-chip', 'data-action': 'add-chip', disabled: chips.length >= CHIPS_MAX,
        onclick: () => this.addSuggestion('/suggestions'),
      }, icon('add'), t('visual.add_chip')));
  }

  /** An upload's status line and its drop zone (a file button, or a file dropped on it). */
  uploadZone(path, testid, place, { accept = 'image/jpeg,image/png,image/gif,image/webp', label = t('visual.upload'), hint = t('visual.drop_hint') } = {}) {
    const status = h('p', { class: 'muted small-text', role: 'status', 'aria-live': 'polite', 'data-testid': `${testid}-status` },
      this.mediaStatus.get(path) || '');
    const upload = (file) => this.uploadInto(path, file, status, place);
    const id = `upload-${testid}`;
    const fileInput = h('input', {
      type: 'file', accept, id, class: 'visually-hidden',
      'data-testid': `${testid}-file`,
      onchange: (e) => e.target.files[0] && upload(e.target.files[0]),
    });
    const drop = h('div', { class: 'dropzone', 'data-testid': `${testid}-dropzone` },
      fileInput,
      h('label', { for: id, class: 'button small', tabindex: '0', 'data-action': `${path}/upload`,
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); fileInput.click(); } } },
      icon('upload'), label),
      h('span', { class: 'muted small-text' }, hint));
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const file = e.dataTransfer?.files?.[0];
      if (file) upload(file);
    });
    return { drop, status };
  }

  renderMedia(path, media, index) {
    const { drop, status } = this.uploadZone(path, `card-${index}-media`, (m, old) => ({
      mediaUrl: m.url, mediaContentType: m.content_type, mediaFileSize: m.file_size,
      thumbnailUrl: m.thumbnail_url, thumbnailContentType: m.thumbnail_content_type,
      thumbnailFileSize: m.thumbnail_file_size, height: old.height || 'MEDIUM_HEIGHT',
      ...(old.contentDescription ? { contentDescription: old.contentDescription } : {}),
    }), { accept: CARD_MEDIA_ACCEPT, label: t('visual.upload_media'), hint: t('visual.drop_hint_media') });
    const children = [h('h4', {}, t('visual.media'))];
    if (media && typeof media === 'object') {
      children.push(this.mediaActions(path, media, index, status));
      children.push(
        this.text(t('visual.media_url'), `${path}/mediaUrl`, 1000, { type: 'url', testid: `card-${index}-media-url` }),
        h('div', { class: 'grid2' },
          this.select(t('visual.media_type'), `${path}/mediaContentType`, MEDIA_TYPES, null),
          this.number(t('visual.media_size'), `${path}/mediaFileSize`, { min: 0, step: 1 }),
          this.select(t('visual.media_height'), `${path}/height`, HEIGHTS, 'height'),
          this.text(t('visual.media_alt'), `${path}/contentDescription`, LIMITS.contentDescription, { optional: true, testid: `card-${index}-media-alt` })),
        this.text(t('visual.thumbnail_url'), `${path}/thumbnailUrl`, 1000, { type: 'url', optional: true }),
        h('button', { type: 'button', class: 'small danger', 'data-action': `${path}/remove`,
          onclick: () => this.edit((c) => set(c, path, undefined)) }, icon('remove'), t('visual.remove_media')));
    } else {
      children.push(h('button', {
        type: 'button', class: 'small', 'data-action': `${path}/add`, 'data-testid': `card-${index}-add-media`,
        onclick: () => this.edit((c) => set(c, path, { mediaUrl: 'https://', mediaContentType: 'image/jpeg', mediaFileSize: 0, height: 'MEDIUM_HEIGHT' })),
      }, icon('add'), t('visual.media_by_url')));
    }
    children.push(drop, status);
    return h('div', { class: 'media-editor', 'data-path': path }, children);
  }

  /** The media's picture (an image, or a video's or audio's poster) and, for our images, Crop. */
  mediaActions(path, media, index, status) {
    const type = String(media.mediaContentType || '');
    const ours = ourImage(media);
    const poster = !type.startsWith('image/') && mediaIdOf(media.thumbnailUrl) ? media.thumbnailUrl : null;
    const row = h('div', { class: 'media-actions' });
    if (ours) row.append(h('img', { class: 'media-thumb', src: ours, alt: media.contentDescription || '', 'data-testid': `card-${index}-media-thumb` }));
    if (poster) row.append(h('img', { class: 'media-thumb', src: poster, alt: t('visual.poster'), title: t('visual.poster'), 'data-testid': `card-${index}-poster` }));
    if (ours && mediaIdOf(media.mediaUrl)) {
      row.append(h('button', {
        type: 'button', class: 'small', 'data-testid': `card-${index}-crop`, 'data-action': `${path}/crop`,
        onclick: () => this.crop(path, media, status),
      }, t('visual.crop')));
    }
    return row;
  }

  /** Crop the image at `path` for its card's media frame; the card then carries the cropped copy. */
  async crop(path, media, statusEl) {
    const card = this.card;
    const carousel = isCarousel(card);
    const layout = card?.message?.[carousel ? 'generalPurposeCardCarousel' : 'generalPurposeCard']?.layout || {};
    const frame = carousel
      ? { height: media.height || 'MEDIUM_HEIGHT', cardWidth: layout.cardWidth || 'SMALL_WIDTH' }
      : { height: media.height || 'MEDIUM_HEIGHT', cardOrientation: layout.cardOrientation || 'VERTICAL' };
    const say = (text) => {
      this.mediaStatus.set(path, text);
      if (statusEl.isConnected) statusEl.textContent = text;
    };
    let m;
    try {
      m = await cropDialog(media.mediaUrl, frame);
    } catch (err) {
      say(t('visual.crop_failed', { reason: err.describe ? err.describe() : err.message }));
      return;
    }
    if (!m) return;
    this.library.items = [m, ...this.library.items.filter((x) => x.id !== m.id)];
    this.mediaStatus.set(path, t('visual.cropped', { w: m.width, h: m.height })); // shown by the re-render
    this.edit((c) => {
      const old = get(c, path) || {};
      set(c, path, { ...old, mediaUrl: m.url, mediaContentType: m.content_type, mediaFileSize: m.file_size,
        thumbnailUrl: m.thumbnail_url, thumbnailContentType: m.thumbnail_content_type, thumbnailFileSize: m.thumbnail_file_size });
    });
  }

  /** Upload `file` to the media library and put it at `path` as `place(media, old value, file)` has it. */
  async uploadInto(path, file, statusEl, place) {
    const status = (text) => {
      this.mediaStatus.set(path, text);
      const el = statusEl.isConnected ? statusEl
        : this.root.querySelector(`[data-path="${CSS.escape(path)}"] [role=status]`);
      if (el) el.textContent = text;
    };
    status(t('visual.uploading', { name: file.name }));
    try {
      const m = await this.upload(file);
      const old = get(this.card, path) || {};
      this.library.items = [m, ...this.library.items.filter((x) => x.id !== m.id)]; // newest first, as listed
      this.edit((c) => set(c, path, place(m, old, file)));
      status(m.kind && m.kind !== 'image'
        ? t('visual.uploaded_clip', { kind: t(`visual.kind_${m.kind}`), seconds: Math.round((m.duration_ms || 0) / 1000) })
        : t('visual.uploaded', { w: m.width, h: m.height }));
    } catch (err) {
      status(t('visual.upload_failed', { reason: err.describe ? err.describe() : err.message }));
    }
  }

  renderSuggestion(listPath, s, i, count, testid) {
    const path = `${listPath}/${i}`;
    const kind = kindOf(s);
    const body = `${path}/${bodyKey(s)}`;
    const a = `${path}/action`;
    const fields = [];
    switch (kind) {
      case 'url':
        fields.push(this.text(t('sg.url'), `${a}/urlAction/openUrl/url`, 2048, { type: 'url', testid: `${testid}-url` }));
        break;
      case 'dial':
        fields.push(this.text(t('sg.phone'), `${a}/dialerAction/dialPhoneNumber/phoneNumber`, 64, { type: 'tel', testid: `${testid}-phone` }));
        break;
      case 'location': {
        const loc = `${a}/mapAction/showLocation/location`;
        const byQuery = get(this.card, `${loc}/query`) !== undefined && get(this.card, `${loc}/latitude`) === undefined;
        fields.push(h('div', { class: 'segmented', role: 'group', 'aria-label': t('sg.location_by') },
          h('button', { type: 'button', 'aria-pressed': String(!byQuery), 'data-action': `${loc}/coords`,
            onclick: () => byQuery && this.edit((c) => set(c, loc, { latitude: 39.9042, longitude: 116.4074, ...(get(c, `${loc}/query`) ? { label: get(c, `${loc}/query`) } : {}) })) }, t('sg.coords')),
          h('button', { type: 'button', 'aria-pressed': String(byQuery), 'data-action': `${loc}/query`,
            onclick: () => !byQuery && this.edit((c) => set(c, loc, { query: get(c, `${loc}/label`) || '' })) }, t('sg.query'))));
        if (byQuery) fields.push(this.text(t('sg.query'), `${loc}/query`, LIMITS.query, { testid: `${testid}-query` }));
        else {
          fields.push(h('div', { class: 'grid2' },
            this.number(t('sg.latitude'), `${loc}/latitude`, { min: -90, max: 90, step: 'any', testid: `${testid}-lat` }),
            this.number(t('sg.longitude'), `${loc}/longitude`, { min: -180, max: 180, step: 'any', testid: `${testid}-lng` })),
          this.text(t('sg.label'), `${loc}/label`, LIMITS.label, { optional: true, testid: `${testid}-label` }));
        }
        break;
      }
      case 'calendar': {
        const ev = `${a}/calendarAction/createCalendarEvent`;
        fields.push(h('div', { class: 'grid2' },
          this.datetime(t('sg.start'), `${ev}/startTime`, `${testid}-start`),
          this.datetime(t('sg.end'), `${ev}/endTime`, `${testid}-end`)),
        this.text(t('sg.event_title'), `${ev}/title`, LIMITS.calendarTitle, { testid: `${testid}-event-title` }),
        this.text(t('sg.event_description'), `${ev}/description`, LIMITS.calendarDescription, { optional: true, multiline: true }));
        break;
      }
      case 'compose': {
        const ct = `${a}/composeAction/composeTextMessage`;
        fields.push(this.text(t('sg.phone'), `${ct}/phoneNumber`, 64, { type: 'tel' }),
          this.text(t('sg.compose_text'), `${ct}/text`, LIMITS.composeText, { multiline: true }));
        break;
      }
      case 'location_push':
        fields.push(h('p', { class: 'muted small-text' }, t('sg.location_push_hint')));
        break;
      default:
        break;
    }
    const kindSelect = h('select', {
      id: `kind-${path}`, 'data-field': `${path}#kind`, 'data-testid': `${testid}-kind`,
      onchange: (e) => this.edit((c) => set(c, path, makeSuggestion(e.target.value, get(c, path), this.defaults()))),
      onfocus: () => this.store.select(path, 'visual'),
    }, KINDS.map((k) => h('option', { value: k, selected: k === kind }, t(`kind.${k}`))));
    const fs = h('fieldset', {
      class: 'suggestion-editor', 'data-path': path, 'data-testid': testid, tabindex: '-1',
      onkeydown: (e) => {
        if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown') && e.target === fs) {
          e.preventDefault();
          this.moveItem(listPath, i, e.key === 'ArrowUp' ? -1 : 1);
        }
      },
    },
    h('legend', {}, t('visual.button_n', { n: i + 1 })),
    h('div', { class: 'item-head' },
      h('div', { class: 'field inline' }, h('label', { for: `kind-${path}` }, t('sg.kind')), kindSelect),
      this.moveButtons(path, i, count, 'button', () => this.moveItem(listPath, i, -1), () => this.moveItem(listPath, i, 1),
        () => this.edit((c) => { set(c, path, undefined); if (!get(c, listPath)?.length) set(c, listPath, undefined); }), false)),
    h('div', { class: 'grid2' },
      this.text(t('sg.display_text'), `${body}/displayText`, LIMITS.displayText, { testid: `${testid}-text` }),
      this.text(t('sg.postback'), `${body}/postback/data`, LIMITS.postback, { testid: `${testid}-postback` })),
    fields);
    return fs;
  }

  moveButtons(path, index, count, what, up, down, remove, noRemove) {
    const label = (key) => t(key, { what: t(`visual.${what}`), n: index + 1 });
    return h('div', { class: 'item-actions' },
      count > 1 ? h('span', {
        class: 'drag-handle', draggable: 'true', title: t('visual.drag'), 'aria-hidden': 'true', 'data-testid': `drag-${path}`,
        ondragstart: (e) => {
          this.dragging = path;
          e.dataTransfer.effectAllowed = 'move';
          e.dataTransfer.setData('text/plain', path);
        },
      }, '⠿') : null,
      h('button', { type: 'button', class: 'icon', 'aria-label': label('visual.move_up'), title: label('visual.move_up'),
        'data-action': `${path}/up`, disabled: index === 0, onclick: up }, icon('up')),
      h('button', { type: 'button', class: 'icon', 'aria-label': label('visual.move_down'), title: label('visual.move_down'),
        'data-action': `${path}/down`, disabled: index >= count - 1, onclick: down }, icon('down')),
      h('button', { type: 'button', class: 'icon danger', 'aria-label': label('visual.remove'), title: label('visual.remove'),
        'data-action': `${path}/remove`, 'data-testid': `remove-${path}`, disabled: noRemove, onclick: remove }, icon('remove')));
  }

  // --- fields ------------------------------------------------------------------------------

  fieldWrap(label, id, input, extra) {
    return h('div', { class: 'field' }, h('label', { for: id }, label, extra), input);
  }

  bind(input, path, parse, counter, limit) {
    input.addEventListener('input', () => {
      const value = parse(input.value);
      this.store.apply((doc) => set(doc.card, path, value), { source: 'visual-field', coalesce: path });
      if (counter) this.count(counter, input.value, limit);
    });
    input.addEventListener('focus', () => this.store.select(path, 'visual'));
  }

  count(counter, value, limit) {
    const n = [...value].length;
    counter.textContent = `${n}/${limit}`;
    counter.classList.toggle('over', n > limit);
  }

  text(label, path, limit, { multiline = false, optional = false, type = 'text', testid, rows = 3 } = {}) {
    const id = `f-${path}`;
    const value = get(this.card, path);
    const input = multiline
      ? h('textarea', { id, rows, 'data-field': path, 'data-testid': testid })
      : h('input', { id, type, 'data-field': path, 'data-testid': testid, autocomplete: 'off' });
    input.value = typeof value === 'string' || typeof value === 'number' ? String(value) : '';
    const counter = h('span', { class: 'counter', 'aria-hidden': 'true' });
    this.count(counter, input.value, limit);
    this.bind(input, path, (v) => (optional && v === '' ? undefined : v), counter, limit);
    return this.fieldWrap(label, id, input, counter);
  }

  number(label, path, { min, max, step, testid } = {}) {
    const id = `f-${path}`;
    const value = get(this.card, path);
    const input = h('input', { id, type: 'number', min, max, step, 'data-field': path, 'data-testid': testid });
    input.value = typeof value === 'number' ? String(value) : '';
    this.bind(input, path, (v) => (v === '' || Number.isNaN(Number(v)) ? undefined : Number(v)));
    return this.fieldWrap(label, id, input);
  }

  datetime(label, path, testid) {
    const id = `f-${path}`;
    const input = h('input', { id, type: 'datetime-local', 'data-field': path, 'data-testid': testid });
    input.value = rfc3339ToLocal(get(this.card, path));
    this.bind(input, path, localToRfc3339);
    return this.fieldWrap(label, id, input);
  }

  select(label, path, options, i18nGroup, required = false, testid = undefined) {
    const id = `f-${path}`;
    const value = get(this.card, path);
    const input = h('select', {
      id, 'data-field': path, 'data-testid': testid,
      onchange: () => this.edit((c) => set(c, path, input.value === '' ? undefined : input.value)),
      onfocus: () => this.store.select(path, 'visual'),
    },
    required ? null : h('option', { value: '' }, '—'),
    options.map((o) => h('option', { value: o, selected: o === value }, i18nGroup ? t(`${i18nGroup}.${o}`) : o)));
    if (value !== undefined && !options.includes(value)) input.append(h('option', { value, selected: true }, String(value)));
    return this.fieldWrap(label, id, input);
  }

  // --- commands ----------------------------------------------------------------------------

  defaults() {
    return { text: t('visual.new_button_text'), postback: `action-${Math.random().toString(36).slice(2, 8)}` };
  }

  addCard() {
    const n = cardsOf(this.card).length;
    this.edit((c) => c.message.generalPurposeCardCarousel.content.push({ title: t('visual.new_card_title') }));
    this.store.select(`${CAROUSEL}/content/${n}`, 'visual');
    this.focusSoon(`${CAROUSEL}/content/${n}/title`);
  }

  removeCard(index) {
    this.edit((c) => c.message.generalPurposeCardCarousel.content.splice(index, 1));
  }

  moveCard(index, delta) {
    this.moveItem(`${CAROUSEL}/content`, index, delta);
  }

  moveItem(listPath, index, delta) {
    const list = get(this.card, listPath);
    const to = index + delta;
    if (!Array.isArray(list) || to < 0 || to >= list.length) return;
    this.edit((c) => {
      const arr = get(c, listPath);
      const [item] = arr.splice(index, 1);
      arr.splice(to, 0, item);
    });
    this.store.select(`${listPath}/${to}`, 'visual');
    const moved = this.root.querySelector(`[data-path="${CSS.escape(`${listPath}/${to}`)}"]`);
    moved?.querySelector(`[data-action$="/${delta < 0 ? 'up' : 'down'}"]:not([disabled])`)?.focus() || moved?.focus();
  }

  addSuggestion(listPath) {
    const list = get(this.card, listPath);
    const n = Array.isArray(list) ? list.length : 0;
    this.edit((c) => {
      if (!Array.isArray(get(c, listPath))) set(c, listPath, []);
      get(c, listPath).push(makeSuggestion('reply', null, this.defaults()));
    });
    this.store.select(`${listPath}/${n}`, 'visual');
    this.focusSoon(`${listPath}/${n}#kind`);
  }

  focusSoon(field) {
    this.root.querySelector(`[data-field="${CSS.escape(field)}"]`)?.focus();
  }

  // --- selection ---------------------------------------------------------------------------

  /** Mark the element the selection points at (the deepest one holding it). */
  highlight(source) {
    const sel = this.store.selection;
    for (const el of $$('.selected', this.root)) el.classList.remove('selected');
    if (!sel) return;
    let best = null;
    for (const el of $$('[data-path],[data-field]', this.root)) {
      const p = el.dataset.field ?? el.dataset.path;
      if (within(sel, p) && (!best || p.length > (best.dataset.field ?? best.dataset.path).length)) best = el;
    }
    if (!best) return;
    const box = best.dataset.field ? best.closest('.field') || best : best;
    box.classList.add('selected');
    // Selecting elsewhere (outline, JSON, error list) brings the element into view.
    if (source && source !== 'visual') {
      box.scrollIntoView({ block: 'nearest', behavior: 'auto' });
      if (source === 'issues' && best.dataset.field) best.focus({ preventScroll: true });
      // A click on the phone preview: its field, or the first field of the card or media clicked.
      if (source === 'phone') (best.dataset.field ? best : box.querySelector('[data-field]'))?.focus({ preventScroll: true });
    }
  }
}

/** The list a card or button path belongs to ("…/content/2" → "…/content"). */
function listOf(path) {
  return path.slice(0, path.lastIndexOf('/'));
}
