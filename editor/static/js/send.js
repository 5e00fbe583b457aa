// Send a test to a sandbox number, follow its status, link to the virtual handset.

import { api, ApiError } from './api.js';
import { t } from './i18n.js';

const FINAL = new Set(['rcs_read', 'sms_delivered', 'sms_failed', 'failed', 'expired', 'revoked', 'rejected']);
const POLL_MS = 400;
const GIVE_UP_MS = 30000;

export class SendTest {
  constructor(els, store, session) {
    Object.assign(this, { els, store, session });
    this.polling = 0;
    els.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
  }

  async send() {
    const { to, status, link, button } = this.els;
    const doc = this.store.doc;
    if (!doc) return;
    const run = ++this.polling;
    link.hidden = true;
    button.disabled = true;
    status.dataset.state = 'sending';
    status.textContent = t('send.sending');
    try {
      const sent = await api('POST', '/v1/messages', {
        to: to.value.trim(), card: doc.card, variables: doc.sample || {}, traffic_type: doc.traffic_type || 'notification',
      }, { headers: { 'Idempotency-Key': `editor-${crypto.randomUUID()}` } });
      const id = sent.messages[0].id;
      status.dataset.messageId = id;
      const handset = this.session().handset_url;
      if (handset) {
        link.href = `${handset}/message/${encodeURIComponent(id)}`;
        link.hidden = false;
      }
      await this.follow(id, run);
    } catch (err) {
      status.dataset.state = 'error';
      status.textContent = t('send.failed', { reason: err instanceof ApiError ? err.describe() : err.message });
    } finally {
      button.disabled = false;
    }
  }

  async follow(id, run) {
    const { status } = this.els;
    const deadline = Date.now() + GIVE_UP_MS;
    for (;;) {
      const view = await api('GET', `/v1/messages/${encodeURIComponent(id)}`);
      if (run !== this.polling) return;
      status.dataset.state = view.status;
      status.textContent = t('send.status', { status: t(`msg.${view.status}`) });
      if (FINAL.has(view.status) || Date.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
