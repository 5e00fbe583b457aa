// Sharing a version for approval: a signed link (1, 7 or 30 days) to a read-only preview that
// someone without an account opens, approves or asks changes on. The dialog creates, copies and
// revokes links; each version in the list shows the latest decision made through its links.

import { api, ApiError } from './api.js';
import { h } from './dom.js';
import { t, locale } from './i18n.js';

const DAYS = [1, 7, 30];

export class Shares {
  constructor(els, { toast }) {
    Object.assign(this, { els, toast });
    this.templateId = null;
    this.version = null;
    this.all = []; // every link of the open template (GET /v1/templates/{id}/shares)
    this.onChange = null; // called after the list was read again (the version list redraws)
    els.form.addEventListener('submit', (e) => { e.preventDefault(); this.create(); });
  }

  /** Read the open template's links (with their decisions) again. */
  async refresh(templateId) {
    this.templateId = templateId;
    if (!templateId) { this.all = []; return; }
    try {
      this.all = (await api('GET', `/v1/templates/${encodeURIComponent(templateId)}/shares`)).data;
    } catch {
      this.all = [];
    }
    if (this.version !== null && this.els.dialog.open) this.drawList();
    this.onChange?.();
  }

  /** What the version list shows under a version: its latest decision and who made it. */
  summary(templateId, version) {
    const decisions = this.all.filter((s) => s.template_id === templateId && s.version === version).flatMap((s) => s.decisions);
    if (!decisions.length) return null;
    const last = decisions.reduce((a, b) => (a.at > b.at ? a : b));
    return h('div', { class: `share-summary decision-${last.decision}`, 'data-testid': `version-${version}-decision` },
      t(`share.decision.${last.decision}`), ' · ', last.name, last.comment ? `: ${last.comment}` : '');
  }

  open(version) {
    this.version = version;
    const { dialog, title, days, error } = this.els;
    title.textContent = t('share.title', { n: version });
    days.replaceChildren(...DAYS.map((d) => h('option', { value: String(d), selected: d === 7 }, t('share.days', { n: d }))));
    error.textContent = '';
    this.drawList();
    if (!dialog.open) dialog.showModal();
    this.refresh(this.templateId); // decisions made since the template was opened
  }

  async create() {
    const { days, error } = this.els;
    error.textContent = '';
    try {
      const share = await api('POST', `/v1/templates/${encodeURIComponent(this.templateId)}/versions/${this.version}/shares`,
        { expires_in_days: Number(days.value) });
      await this.refresh(this.templateId);
      this.toast(t('share.created'));
      this.els.list.querySelector(`[data-share="${share.id}"] input`)?.select();
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.describe() : err.message;
    }
  }

  async revoke(share) {
    try {
      await api('POST', `/v1/templates/${encodeURIComponent(this.templateId)}/versions/${share.version}/shares/${encodeURIComponent(share.id)}/revoke`);
      await this.refresh(this.templateId);
      this.toast(t('share.revoked'));
    } catch (err) {
      this.els.error.textContent = err instanceof ApiError ? err.describe() : err.message;
    }
  }

  drawList() {
    const mine = this.all.filter((s) => s.version === this.version);
    const when = (at) => new Date(at).toLocaleString(locale());
    this.els.list.replaceChildren(...mine.map((s, i) => h('li', { class: `share share-${s.state}`, 'data-share': s.id, 'data-testid': `share-link-${i}` },
      h('div', { class: 'share-row' },
        h('input', { class: 'share-url', readonly: true, value: s.url, 'aria-label': t('share.url'), 'data-testid': `share-url-${i}`,
          onfocus: (e) => e.target.select() }),
        s.state === 'active' ? h('button', { type: 'button', class: 'small', 'data-testid': `share-copy-${i}`,
          onclick: () => navigator.clipboard?.writeText(s.url).then(() => this.toast(t('share.copied')), () => {}) }, t('share.copy')) : null,
        s.state === 'active' ? h('button', { type: 'button', class: 'small danger', 'data-testid': `share-revoke-${i}`,
          onclick: () => this.revoke(s) }, t('share.revoke')) : null),
      h('div', { class: 'muted small-text', 'data-testid': `share-state-${i}` },
        t(`share.state.${s.state}`), ' · ',
        s.state === 'revoked' ? t('share.revoked_at', { at: when(s.revoked_at) }) : t('share.expires_at', { at: when(s.expires_at) })),
      s.decisions.length ? h('ul', { class: 'share-decisions', 'data-testid': `share-decisions-${i}` },
        ...s.decisions.map((d) => h('li', { class: `decision-${d.decision}` },
          h('strong', {}, t(`share.decision.${d.decision}`)), ' · ', d.name,
          h('span', { class: 'muted small-text' }, ` · ${when(d.at)}`),
          d.comment ? h('div', { class: 'share-comment' }, d.comment) : null)))
        : h('p', { class: 'muted small-text' }, t('share.no_decisions')))));
    if (!mine.length) this.els.list.replaceChildren(h('li', { class: 'muted small-text' }, t('share.none')));
  }
}
