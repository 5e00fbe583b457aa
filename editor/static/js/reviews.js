// The review queue: held messages, template versions and signatures, approved or rejected with a
// reason. Signs in like the editor (session cookie, CSRF token on unsafe calls).

import { api, ApiError, setCsrf, onUnauthorized } from './api.js';
import { initI18n, t } from './i18n.js';

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}


async function signedIn() {
  try {
    return await api('GET', '/editor/session');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

function showSignIn() {
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-login').focus();
}

// What the signed-in person (their role) or key (its scopes) may do with reviews.
let mayDecide = false;

async function start(session) {
  setCsrf(session.csrf_token);
  $('signin').hidden = true;
  $('app').hidden = false;
  $('tenant-name').textContent = session.tenant_name;
  $('who').textContent = session.user ? `${session.user.login} (${session.user.role})` : '';
  const level = (session.can || {}).reviews;
  mayDecide = level === 'write';
  if (!level) {
    $('status').textContent = t('reviews.no.scope');
    return;
  }
  await load();
}

function subjectLine(item) {
  const d = item.subject_detail || {};
  if (item.kind === 'message') return `${t('reviews.batch', { id: item.subject })} · ${t('reviews.held', { n: item.held })}`;
  if (item.kind === 'template') return t('reviews.template', { name: d.name, version: d.version });
  if (item.kind === 'chatbot') return t(`reviews.chatbot.${d.kind === 'menu' ? 'menu' : 'profile'}`, { channel: d.channel_id || '' });
  return t('reviews.signature', { signature: d.signature, previous: d.previous });
}

function contentOf(item) {
  const d = item.subject_detail || {};
  const doc = item.kind === 'message' ? d.content : item.kind === 'template' ? d.card : item.kind === 'chatbot' ? d.body : null;
  return doc ? JSON.stringify(doc, null, 2) : null;
}

function render(item) {
  const matches = item.matches.length
    ? el('ul', { class: 'matches' }, ...item.matches.map((m) => el('li', {}, `${m.term} — ${m.category} (${m.action}) `, el('code', {}, m.path))))
    : el('p', { class: 'muted' }, t('reviews.matched.none'));
  const body = [
    el('h2', {}, el('span', {}, subjectLine(item)), el('span', { class: `state ${item.state}`, 'data-testid': 'state' }, t(`reviews.state.${item.state}`))),
    el('p', { class: 'muted' }, t('reviews.matched')),
    matches,
  ];
  const content = contentOf(item);
  if (content) body.push(el('pre', { class: 'content' }, content));
  if (item.state === 'pending' && mayDecide) {
    const reason = el('input', { type: 'text', maxLength: 500, 'data-testid': 'reason' });
    reason.setAttribute('aria-label', t('reviews.reason'));
    reason.placeholder = t('reviews.reason');
    const error = el('p', { class: 'error-text', role: 'alert', 'data-testid': 'error' });
    const decide = async (verdict) => {
      error.textContent = '';
      if (verdict === 'reject' && !reason.value.trim()) {
        error.textContent = t('reviews.reason.needed');
        return;
      }
      try {
        await api('POST', `/v1/reviews/${encodeURIComponent(item.id)}/${verdict}`, reason.value.trim() ? { reason: reason.value.trim() } : {});
        await load();
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.describe() : String(err);
      }
    };
    const form = el('form', {},
      reason,
      el('button', { type: 'button', class: 'primary', 'data-testid': 'approve', onclick: () => decide('approve') }, t('reviews.approve')),
      el('button', { type: 'button', 'data-testid': 'reject', onclick: () => decide('reject') }, t('reviews.reject')),
      error);
    form.addEventListener('submit', (e) => e.preventDefault());
    body.push(form);
  } else if (item.state === 'pending_operator') {
    body.push(el('p', { class: 'muted', 'data-testid': 'decision' }, t('reviews.operator.waiting')));
  } else if (item.decided_at) {
    body.push(el('p', { class: 'muted', 'data-testid': 'decision' }, t('reviews.decided', { at: item.decided_at, reason: item.reason || '—' })));
  }
  return el('li', { class: 'review-item', 'data-testid': 'review-item', 'data-id': item.id, 'data-kind': item.kind }, ...body);
}

async function load() {
  const query = new URLSearchParams();
  if ($('filter-kind').value) query.set('kind', $('filter-kind').value);
  if ($('filter-state').value) query.set('state', $('filter-state').value);
  $('status').textContent = t('reviews.loading');
  try {
    const page = await api('GET', `/v1/reviews?${query}`);
    // Each item in full: what it is about (the held content, the template version).
    const items = await Promise.all(page.data.map((i) => api('GET', `/v1/reviews/${encodeURIComponent(i.id)}`)));
    $('review-list').replaceChildren(...items.map(render));
    $('status').textContent = items.length ? '' : t('reviews.empty');
  } catch (err) {
    $('status').textContent = err instanceof ApiError ? err.describe() : String(err);
  }
}

async function main() {
  await initI18n();
  onUnauthorized(showSignIn);
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('signin-error').textContent = '';
    const login = $('signin-login').value.trim();
    const body = login
      ? { login, password: $('signin-password').value, ...($('signin-totp').value.trim() ? { totp: $('signin-totp').value.trim() } : {}) }
      : { api_key: $('signin-key').value };
    try {
      await start(await api('POST', '/editor/session', body));
      for (const id of ['signin-key', 'signin-password', 'signin-totp']) $(id).value = '';
    } catch (err) {
      $('signin-error').textContent = err instanceof ApiError ? err.describe() : String(err);
    }
  });
  $('btn-signout').addEventListener('click', async () => {
    await api('DELETE', '/editor/session');
    showSignIn();
  });
  for (const id of ['filter-kind', 'filter-state']) $(id).addEventListener('change', load);
  const session = await signedIn();
  if (session) await start(session);
  else showSignIn();
}

main();
