// The chatbot panel: the menu bar as the phone shows it, publishing the document's persistent
// menu to one of the tenant's channels and following the operator's audit, and the chatbot's
// profile (the optional information the operator lets it update) in a dialog.

import { api, ApiError } from './api.js';
import { h } from './dom.js';
import { t, locale, onLocale, describeFinding } from './i18n.js';
import { hasMenu } from './cardmodel.js';
import { within } from './pointer.js';
import { MenuBar } from './menu.js';

const POLL_MS = 400;
const GIVE_UP_MS = 120000;
const CARD_PROFILE = { ct: 'cn_csp', cu: 'cn_csp', sandbox: 'cn_csp' };

function stateText(state) {
  switch (state) {
    case 'submitted': return t('chatbot.state_submitted');
    case 'approved': return t('chatbot.state_approved');
    case 'rejected': return t('chatbot.state_rejected');
    case 'refused': return t('chatbot.state_refused');
    case 'failed': return t('chatbot.state_failed');
    default: return t('chatbot.state_none');
  }
}

// The profile fields: this API's names, their input type and the interface's lengths.
function profileFields() {
  return [
    { name: 'service_description', label: t('profile.service_description'), max: 500, multiline: true },
    { name: 'category', label: t('profile.category'), max: 50, hint: t('profile.category_hint') },
    { name: 'callback_number', label: t('profile.callback_number'), max: 21, type: 'tel' },
    { name: 'provider', label: t('profile.provider'), max: 100 },
    { name: 'theme_colour', label: t('profile.theme_colour'), max: 7, hint: '#RRGGBB' },
    { name: 'service_website', label: t('profile.service_website'), max: 150, type: 'url' },
    { name: 'email_address', label: t('profile.email_address'), max: 50, type: 'email' },
    { name: 'background_image', label: t('profile.background_image'), max: 150, type: 'url' },
    { name: 'address', label: t('profile.address'), max: 200 },
    { name: 'longitude', label: t('profile.longitude'), type: 'number', min: -180, max: 180 },
    { name: 'latitude', label: t('profile.latitude'), type: 'number', min: -90, max: 90 },
    { name: 'css_style', label: t('profile.css_style'), max: 150, type: 'url' },
    { name: 'autograph', label: t('profile.autograph'), max: 50, hint: t('profile.autograph_hint') },
  ];
}

export class ChatbotPanel {
  constructor(els, store, { toast, onIssue, onProfile }) {
    Object.assign(this, { els, store, toast, onIssue, onProfile });
    this.channels = [];
    this.valid = false;
    this.errors = [];
    this.polling = 0;
    this.shown = { menu: null, profile: null }; // the publish each state line shows
    this.bar = new MenuBar(els.menubar);
    onLocale(() => {
      this.drawState('menu', this.shown.menu);
      this.drawState('profile', this.shown.profile);
      this.drawMenu();
    });
    store.subscribe((change) => {
      if (change.type !== 'select' && change.type !== 'saved') this.drawMenu();
    });
    els.channel.addEventListener('change', () => this.chooseChannel());
    els.publish.addEventListener('click', () => this.publishMenu());
    els.profileButton.addEventListener('click', () => this.openProfile());
    els.profileForm.addEventListener('submit', (e) => { e.preventDefault(); this.publishProfile(); });
  }

  get channelId() {
    return this.els.channel.value;
  }

  /** The tenant's channels into the chooser (keeps the choice when it still exists). */
  async refresh() {
    const { channel } = this.els;
    const before = channel.value;
    try {
      this.channels = (await api('GET', '/v1/channels?limit=200')).data;
    } catch {
      this.channels = []; // a key without the channels scope: nothing to publish to
    }
    channel.replaceChildren(...this.channels.map((c) => h('option', { value: c.id, selected: c.id === before },
      `${c.chatbot_id} · ${c.operator}${c.status === 'active' ? '' : ` (${c.status})`}`)));
    this.els.noChannels.hidden = this.channels.length > 0;
    channel.disabled = !this.channels.length;
    this.els.profileButton.disabled = !this.channels.length;
    await this.chooseChannel();
  }

  async chooseChannel() {
    const chosen = this.channels.find((c) => c.id === this.channelId);
    if (chosen) this.onProfile?.(CARD_PROFILE[chosen.operator] || 'cn_csp');
    this.drawState('menu', null);
    this.drawState('profile', null);
    this.drawButton();
    if (!chosen) return;
    const run = ++this.polling;
    for (const kind of ['menu', 'profile']) {
      try {
        const current = await api('GET', `/v1/channels/${encodeURIComponent(chosen.id)}/${kind}`);
        if (run !== this.polling) return;
        this.drawState(kind, current.latest);
        if (current.latest?.state === 'submitted') this.follow(kind, run);
      } catch { /* shown as no publish */ }
    }
  }

  /** The preview's checks of the document: publishing waits until the menu has no errors. */
  setResult(result) {
    this.errors = (result?.errors || []).filter((e) => within(e.path, '/menu'));
    this.valid = Boolean(result) && !this.errors.length;
    this.drawButton();
  }

  drawMenu() {
    const card = this.store.doc?.card;
    const shown = hasMenu(card);
    this.els.menubarWrap.hidden = !shown;
    if (shown) this.bar.draw(card.menu);
    this.drawButton();
  }

  drawButton() {
    const card = this.store.doc?.card;
    const ready = hasMenu(card) && this.valid && Boolean(this.channelId);
    this.els.publish.disabled = !ready;
    this.els.publishHint.textContent = !hasMenu(card) ? t('chatbot.no_menu')
      : !this.valid ? t('chatbot.fix_first') : !this.channelId ? t('chatbot.no_channel') : '';
  }

  drawState(kind, publish) {
    const el = kind === 'menu' ? this.els.menuState : this.els.profileState;
    this.shown[kind] = publish;
    el.dataset.state = publish?.state || 'none';
    const when = publish ? new Date(publish.audited_at || publish.submitted_at).toLocaleString(locale()) : '';
    el.replaceChildren(h('div', {},
      h('span', { class: 'muted' }, kind === 'menu' ? t('chatbot.menu_state') : t('chatbot.profile_state'), ' '),
      h('span', { class: `status status-${publish?.state || 'none'}`, 'data-testid': `${kind}-state-badge` }, stateText(publish?.state)),
      when ? h('span', { class: 'muted small-text' }, ` · ${when}`) : null,
      publish?.reason ? h('div', { class: 'small-text state-reason', 'data-testid': `${kind}-state-reason` }, publish.reason) : null));
  }

  async publishMenu() {
    const card = this.store.doc?.card;
    if (!hasMenu(card) || !this.channelId) return;
    const { publish, issues } = this.els;
    publish.disabled = true;
    issues.replaceChildren();
    const run = ++this.polling;
    try {
      const made = await api('PUT', `/v1/channels/${encodeURIComponent(this.channelId)}/menu`, { menu: card.menu });
      this.drawState('menu', made);
      this.toast(t('chatbot.menu_submitted'));
      await this.follow('menu', run);
    } catch (err) {
      if (err instanceof ApiError && err.problem.publish) this.drawState('menu', err.problem.publish);
      this.showIssues(err);
    } finally {
      this.drawButton();
    }
  }

  /** Poll the latest publish of `kind` until the operator's audit settles it. */
  async follow(kind, run) {
    const deadline = Date.now() + GIVE_UP_MS;
    while (run === this.polling && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (run !== this.polling) return;
      const current = await api('GET', `/v1/channels/${encodeURIComponent(this.channelId)}/${kind}`);
      if (run !== this.polling) return;
      this.drawState(kind, current.latest);
      if (current.latest?.state !== 'submitted') return;
    }
  }

  /** A refusal's field errors as clickable items that select the entry in the editor. */
  showIssues(err) {
    const errors = err instanceof ApiError ? err.problem.errors || [] : [];
    const title = err instanceof ApiError ? err.problem.detail || err.message : err.message;
    this.els.issues.replaceChildren(h('li', { class: 'error-text', 'data-testid': 'publish-error' }, title),
      ...errors.map((e, i) => h('li', {}, h('button', { type: 'button', class: 'issue error', 'data-testid': `publish-issue-${i}`,
        onclick: () => this.onIssue?.(e.path) }, h('span', { class: 'issue-message' }, describeFinding(e)), ' ', h('code', { class: 'issue-path' }, e.path || '/')))));
  }

  // --- the profile dialog ----------------------------------------------------------------

  async openProfile() {
    const { profileDialog, profileFieldsEl, profileError, profileChannel } = this.els;
    const chosen = this.channels.find((c) => c.id === this.channelId);
    if (!chosen) return;
    profileChannel.textContent = chosen.chatbot_id;
    profileError.textContent = '';
    let known = {};
    try {
      const current = await api('GET', `/v1/channels/${encodeURIComponent(chosen.id)}/profile`);
      known = (current.latest || current.approved)?.body || {};
    } catch { /* an empty form */ }
    profileFieldsEl.replaceChildren(...profileFields().map((f) => {
      const id = `profile-${f.name}`;
      const value = f.name === 'category' ? (known.category || [])[0] : known[f.name];
      const attrs = { id, name: f.name, 'data-testid': id, maxlength: f.type === 'number' ? null : f.max, type: f.type || 'text', min: f.min, max: f.type === 'number' ? f.max : null, step: f.type === 'number' ? 'any' : null, value: value ?? '' };
      const input = f.multiline ? h('textarea', { ...attrs, rows: 3, type: null }) : h('input', { ...attrs, autocomplete: 'off' });
      if (f.multiline) input.value = value ?? '';
      return h('div', { class: 'field', 'data-field': `/${f.name}` }, h('label', { for: id }, f.label, f.hint ? h('span', { class: 'muted' }, f.hint) : null), input);
    }));
    profileDialog.showModal();
  }

  async publishProfile() {
    const { profileFieldsEl, profileError, profileDialog, profileSubmit } = this.els;
    const body = {};
    for (const el of profileFieldsEl.querySelectorAll('input, textarea')) {
      const v = el.value.trim();
      if (!v) continue;
      if (el.name === 'category') body.category = [v];
      else if (el.type === 'number') body[el.name] = Number(v);
      else body[el.name] = v;
    }
    for (const el of profileFieldsEl.querySelectorAll('.field-error')) el.remove();
    for (const el of profileFieldsEl.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    profileError.textContent = '';
    profileSubmit.disabled = true;
    const run = ++this.polling;
    try {
      const made = await api('PUT', `/v1/channels/${encodeURIComponent(this.channelId)}/profile`, body);
      profileDialog.close();
      this.drawState('profile', made);
      this.toast(t('chatbot.profile_submitted'));
      await this.follow('profile', run);
    } catch (err) {
      if (err instanceof ApiError && err.problem.publish) this.drawState('profile', err.problem.publish);
      const errors = err instanceof ApiError ? err.problem.errors || [] : [];
      profileError.textContent = err instanceof ApiError ? err.problem.detail || err.message : err.message;
      for (const e of errors) {
        const field = profileFieldsEl.querySelector(`[data-field="${CSS.escape(e.path)}"]`);
        if (!field) continue;
        field.querySelector('input, textarea')?.setAttribute('aria-invalid', 'true');
        field.append(h('p', { class: 'field-error', 'data-testid': 'profile-field-error' }, e.message));
      }
    } finally {
      profileSubmit.disabled = false;
    }
  }
}
