// Templates: the list, new (blank or from the library), open, autosaved drafts, submitting
// versions, the version list with diffs, duplicate, import and export.

import { api, ApiError } from './api.js';
import { h, debounce } from './dom.js';
import { t, locale } from './i18n.js';
import { blankCard, blankDocument, blankMenu } from './cardmodel.js';

const AUTOSAVE_MS = 800;
const MENU_SOURCE = 'persistent-menu'; // a document of only the chatbot's persistent menu
// The message kinds a blank template can start as (a source value → the kind).
const KIND_SOURCES = { 'text-message': 'text', 'file-message': 'file', 'location-message': 'location' };

export class Templates {
  constructor(els, store, { toast, onOpen }) {
    Object.assign(this, { els, store, toast, onOpen });
    this.current = null; // {id, name, versions}
    this.library = null;
    this.saving = null;
    this.saveError = null;
    this.valid = false;
    this.autosave = debounce(() => this.save(), AUTOSAVE_MS);
    store.subscribe((change) => {
      if (['edit', 'undo', 'redo'].includes(change.type) && this.current) this.autosave();
      if (change.type !== 'select') this.showState();
    });
  }

  // --- list --------------------------------------------------------------------------------

  async refreshList() {
    const { data } = await api('GET', '/v1/templates?limit=200');
    this.els.list.replaceChildren(...data.map((item) => h('li', {},
      h('button', {
        type: 'button', class: `template-item${this.current?.id === item.id ? ' current' : ''}`,
        'data-testid': 'template-item', 'aria-current': this.current?.id === item.id ? 'true' : null,
        onclick: () => this.open(item.id),
      },
      h('span', { class: 'template-item-name' }, item.name),
      h('span', { class: 'muted small-text' },
        item.latest_version ? t('templates.version_n', { n: item.latest_version }) : t('templates.no_version'),
        item.has_draft ? ` · ${t('templates.draft')}` : '')))));
    if (!data.length) this.els.list.replaceChildren(h('li', { class: 'muted small-text' }, t('templates.none')));
    this.els.filter?.dispatchEvent(new Event('input'));
  }

  async loadLibrary() {
    if (!this.library) this.library = (await api('GET', '/v1/template-library')).data;
    return this.library;
  }

  async showNewDialog() {
    const { newDialog, newName, newSources, newError } = this.els;
    newError.textContent = '';
    newName.value = '';
    const lib = await this.loadLibrary().catch(() => []);
    const option = (value, title, hint, checked) => h('label', { class: 'source' },
      h('input', { type: 'radio', name: 'source', value, checked, 'data-testid': `source-${value}` }),
      h('span', {}, h('strong', {}, title), hint ? h('span', { class: 'muted small-text' }, hint) : null));
    newSources.replaceChildren(
      h('p', { class: 'new-group' }, t('new.kinds')),
      option('', t('new.blank'), t('new.blank_hint'), true),
      option('text-message', t('new.text'), t('new.text_hint'), false),
      option('file-message', t('new.file'), t('new.file_hint'), false),
      option('location-message', t('new.location'), t('new.location_hint'), false),
      option(MENU_SOURCE, t('new.menu'), t('new.menu_hint'), false),
      lib.length ? h('p', { class: 'new-group' }, t('new.library')) : null,
      ...lib.map((tpl) => option(tpl.name, locale() === 'en' ? tpl.title_en || tpl.title : tpl.title, tpl.name, false)));
    newDialog.showModal();
    newName.focus();
  }

  async createFromDialog() {
    const { newDialog, newName, newError } = this.els;
    const name = newName.value.trim();
    if (!name) { newError.textContent = t('new.name_required'); newName.focus(); return; }
    const source = newDialog.querySelector('input[name=source]:checked')?.value || '';
    const ours = source === MENU_SOURCE || source in KIND_SOURCES;
    const lib = source && !ours ? (await this.loadLibrary()).find((x) => x.name === source) : null;
    const blank = source === MENU_SOURCE ? blankMenu(t('menu.first_entry'))
      : blankDocument(KIND_SOURCES[source] || 'single',
        { title: t('new.blank_title'), text: t('new.blank_text'), label: t('new.blank_label') });
    const body = lib
      ? { name, card: lib.card, sample: lib.sample, traffic_type: lib.traffic_type, draft: true }
      : { name, card: blank, sample: {}, traffic_type: 'notification', draft: true };
    try {
      const created = await api('POST', '/v1/templates', body);
      newDialog.close();
      await this.open(created.id);
      this.toast(t('new.created', { name }));
    } catch (err) {
      newError.textContent = err instanceof ApiError ? err.describe() : err.message;
    }
  }

  // --- open and save ----------------------------------------------------------------------

  async open(id) {
    if (this.current && this.store.dirty) await this.save();
    const tpl = await api('GET', `/v1/templates/${encodeURIComponent(id)}`);
    let draft = null;
    if (tpl.has_draft) draft = await api('GET', `/v1/templates/${encodeURIComponent(id)}/draft`).catch(() => null);
    const src = draft || tpl;
    this.current = { id, name: tpl.name, versions: tpl.versions || [], latest: latestOf(tpl), hasDraft: Boolean(tpl.has_draft) };
    // The address names the open template, so a reload (or a shared link) opens it again.
    const here = `/editor/t/${encodeURIComponent(id)}`;
    if (location.pathname !== here) history.replaceState(null, '', here);
    this.store.load({ card: src.card || blankCard(t('new.blank_title')), sample: src.sample || {}, traffic_type: src.traffic_type || 'notification' });
    this.drawVersions();
    this.onOpen?.(this.current);
    await this.refreshList();
  }

  /** PUT the draft (invalid cards too); returns once the server has it. A draft that is the
   * latest version again (a version restored, an edit undone) is no draft: it is deleted, unless
   * `keep` (a submit needs the draft). */
  async save({ keep = false } = {}) {
    this.autosave.cancel();
    if (!this.current) return;
    if (this.saving) await this.saving;
    if (!this.store.dirty) return;
    const rev = this.store.rev;
    const doc = this.store.doc;
    const id = this.current.id;
    this.saving = (async () => {
      try {
        const current = this.current;
        const unchanged = !keep && current?.latest && sameContent(doc, current.latest);
        const saved = unchanged
          ? (current.hasDraft ? await api('DELETE', `/v1/templates/${encodeURIComponent(id)}/draft`) : null)
          : await api('PUT', `/v1/templates/${encodeURIComponent(id)}/draft`,
            { card: doc.card, sample: doc.sample || {}, traffic_type: doc.traffic_type || 'notification' });
        this.saveError = null;
        if (this.current?.id === id) {
          this.store.markSaved(rev);
          if (current.hasDraft === Boolean(unchanged)) { // the list's "· draft" changes
            current.hasDraft = !unchanged;
            this.refreshList();
          }
        }
        return saved;
      } catch (err) {
        this.saveError = err instanceof ApiError ? err.describe() : err.message;
        return null;
      } finally {
        this.saving = null;
        this.showState();
      }
    })();
    this.showState();
    return this.saving;
  }

  showState() {
    const el = this.els.saveState;
    if (!this.current) {
      el.textContent = '';
      for (const b of [this.els.saveButton, this.els.undo, this.els.redo]) b.disabled = true;
      this.updateSubmit();
      return;
    }
    let key = 'save.saved';
    if (this.saving) key = 'save.saving';
    else if (this.saveError) key = 'save.failed';
    else if (this.store.dirty) key = 'save.unsaved';
    el.textContent = t(key);
    el.dataset.state = key.split('.')[1];
    el.title = this.saveError || '';
    this.els.saveButton.disabled = !this.store.dirty && !this.saving;
    this.els.undo.disabled = !this.store.undoStack.length;
    this.els.redo.disabled = !this.store.redoStack.length;
    this.updateSubmit();
  }

  setValid(valid) {
    this.valid = valid;
    this.updateSubmit();
  }

  updateSubmit() {
    const { submit, submitHint } = this.els;
    submit.disabled = !this.current || !this.valid;
    submitHint.textContent = !this.current ? '' : this.valid ? t('submit.ready') : t('submit.fix_first');
  }

  async submit() {
    if (!this.current || !this.valid) return;
    const note = this.els.note.value.trim();
    this.els.submit.disabled = true;
    try {
      // The version is made from the saved draft: save whatever is on screen first.
      await this.forceSave();
      const v = await api('POST', `/v1/templates/${encodeURIComponent(this.current.id)}/versions`,
        { from_draft: true, ...(note ? { note } : {}) });
      this.els.note.value = '';
      this.toast(t('submit.done', { n: v.version, status: t(`status.${v.status}`) }));
      await this.reloadVersions();
      await this.refreshList();
    } catch (err) {
      this.toast(err instanceof ApiError ? err.describe() : err.message, true);
    } finally {
      this.updateSubmit();
    }
  }

  /** Save the draft even when nothing changed since the last save (a submitted draft is gone). */
  async forceSave() {
    if (this.saving) await this.saving;
    this.store.savedRev = -1;
    await this.save({ keep: true });
  }

  async reloadVersions() {
    const tpl = await api('GET', `/v1/templates/${encodeURIComponent(this.current.id)}`);
    this.current.versions = tpl.versions || [];
    this.current.latest = latestOf(tpl);
    this.current.hasDraft = Boolean(tpl.has_draft);
    this.drawVersions();
  }

  /** The version list and the diff form; `keepDiff` (a language switch) redraws an open diff
   * in the new language instead of closing it. */
  drawVersions({ keepDiff = false } = {}) {
    const shown = keepDiff ? this.shownDiff : null;
    this.shownDiff = null;
    const versions = this.current?.versions || [];
    const { versionList, diffFrom, diffTo, diffForm, diffView } = this.els;
    versionList.replaceChildren(...versions.map((v) => h('li', { 'data-testid': `version-${v.version}` },
      h('strong', {}, `v${v.version}`), ' ',
      h('span', { class: `status status-${v.status}` }, t(`status.${v.status}`)),
      v.note ? h('span', { class: 'version-note' }, ` · ${v.note}`) : null,
      h('div', { class: 'muted small-text' }, new Date(v.created_at).toLocaleString(locale())),
      v.status_reason ? h('div', { class: 'muted small-text' }, v.status_reason) : null,
      h('div', { class: 'version-actions' },
        h('button', { type: 'button', class: 'link small-text restore', 'data-testid': `restore-${v.version}`,
          onclick: () => this.restore(v.version) }, t('versions.restore')),
        this.shares ? h('button', { type: 'button', class: 'link small-text', 'data-testid': `share-${v.version}`,
          onclick: () => this.shares.open(v.version) }, t('share.button')) : null),
      this.shares?.summary(this.current.id, v.version))));
    if (!versions.length) versionList.replaceChildren(h('li', { class: 'muted small-text' }, t('versions.none')));
    const options = (selected) => [...versions.map((v) => h('option', { value: String(v.version), selected: v.version === selected }, `v${v.version}`)),
      h('option', { value: 'draft' }, t('versions.draft'))];
    const last = versions.length ? versions[versions.length - 1].version : null;
    diffFrom.replaceChildren(...options(versions.length > 1 ? last - 1 : last));
    diffTo.replaceChildren(...options(last));
    if (versions.length <= 1) diffTo.value = 'draft';
    diffForm.hidden = !versions.length;
    diffView.replaceChildren();
    if (shown) {
      diffFrom.value = String(shown.from);
      diffTo.value = String(shown.to);
      this.drawDiff(shown);
    }
  }

  /** Bring a version's card back into the draft (one undo step; the version itself never changes). */
  async restore(n) {
    try {
      const v = await api('GET', `/v1/templates/${encodeURIComponent(this.current.id)}/versions/${n}`);
      this.store.apply((doc) => {
        doc.card = v.card;
        doc.sample = v.sample || {};
        doc.traffic_type = v.traffic_type || doc.traffic_type;
      }, { source: 'restore' });
      this.toast(t('versions.restored', { n }));
    } catch (err) {
      this.toast(err instanceof ApiError ? err.describe() : err.message, true);
    }
  }

  async diff() {
    const { diffFrom, diffTo, diffView } = this.els;
    try {
      if (diffFrom.value === 'draft' || diffTo.value === 'draft') await this.save();
      // No draft: what is on screen is the latest version (a draft that came back to it is deleted).
      const last = this.current.versions.at(-1)?.version;
      const side = (v) => (v === 'draft' && !this.current.hasDraft && last ? String(last) : v);
      this.drawDiff(await api('GET', `/v1/templates/${encodeURIComponent(this.current.id)}/diff?from=${side(diffFrom.value)}&to=${side(diffTo.value)}`));
    } catch (err) {
      diffView.replaceChildren(h('p', { class: 'error-text' }, err instanceof ApiError ? err.describe() : err.message));
    }
  }

  drawDiff(result) {
    this.shownDiff = result;
    const show = (v) => (v === undefined ? '' : truncate(JSON.stringify(v)));
    const note = (side) => result.notes?.[side] ? h('span', { class: 'version-note' }, ` · ${result.notes[side]}`) : null;
    this.els.diffView.replaceChildren(
      h('p', { class: 'muted small-text', 'data-testid': 'diff-head' },
        t('versions.diff_head', { from: label(result.from), to: label(result.to), n: result.changes.length })),
      this.onVisualDiff ? h('button', { type: 'button', class: 'small', 'data-testid': 'diff-visual',
        onclick: () => this.onVisualDiff(result) }, t('vdiff.button')) : null,
      (note('from') || note('to')) ? h('p', { class: 'muted small-text', 'data-testid': 'diff-notes' },
        label(result.from), note('from'), ' → ', label(result.to), note('to')) : null,
      ...result.changes.map((c, i) => h('div', { class: `change change-${c.op}`, 'data-testid': `change-${i}` },
        h('span', { class: 'op' }, t(`diff.${c.op}`)), ' ', h('code', { class: 'change-path' }, c.path),
        c.op !== 'add' ? h('div', { class: 'old' }, h('span', { class: 'sr' }, t('diff.old')), show(c.old)) : null,
        c.op !== 'remove' ? h('div', { class: 'new' }, h('span', { class: 'sr' }, t('diff.new')), show(c.new)) : null)));
    if (!result.changes.length) this.els.diffView.append(h('p', { class: 'muted' }, t('versions.same')));
  }

  // --- duplicate, import, export ---------------------------------------------------------

  async duplicate(name) {
    await this.save();
    const copy = await api('POST', `/v1/templates/${encodeURIComponent(this.current.id)}/duplicate`, { name });
    await this.open(copy.id);
    this.toast(t('file.duplicated', { name }));
  }

  exportJson() {
    const doc = this.store.doc;
    const data = { name: this.current.name, card: doc.card, sample: doc.sample || {}, traffic_type: doc.traffic_type };
    const blob = new Blob([JSON.stringify(data, null, 2) + '\n'], { type: 'application/json' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `${this.current.name.replace(/[\\/:*?"<>|]+/g, '_')}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  /** Import an export (`{card, sample?, traffic_type?}`) or a bare card; one undo step. */
  importJson(text) {
    let data;
    try { data = JSON.parse(text); } catch (err) { throw new Error(t('file.import_bad', { reason: err.message })); }
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Error(t('json.not_object'));
    const wrapped = data.card && typeof data.card === 'object';
    const card = wrapped ? data.card : data;
    if (!card.message && !card.suggestions && !card.menu) throw new Error(t('file.import_not_card'));
    this.store.apply((doc) => {
      doc.card = card;
      if (wrapped && data.sample && typeof data.sample === 'object') doc.sample = data.sample;
      if (wrapped && typeof data.traffic_type === 'string') doc.traffic_type = data.traffic_type;
    }, { source: 'import' });
  }
}

/** The latest version's content from a template summary (null while it has none). */
const latestOf = (tpl) => (tpl.version ? { card: tpl.card, sample: tpl.sample, traffic_type: tpl.traffic_type } : null);

/** Whether a draft holds what a version holds (key order aside; no sample is an empty one). */
function sameContent(doc, version) {
  const canon = (v) => (Array.isArray(v) ? v.map(canon)
    : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
  const key = (d) => JSON.stringify(canon([d.card, d.sample || {}, d.traffic_type || 'notification']));
  return key(doc) === key(version);
}

const label = (side) => (side === 'draft' ? t('versions.draft') : `v${side}`);
const truncate = (s) => (s.length > 160 ? `${s.slice(0, 159)}…` : s);
