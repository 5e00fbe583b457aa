// The review queue: held messages, template versions and signatures, approved or rejected with a
// reason. Signs in like the editor (session cookie, CSRF token on unsafe calls).

import { api, ApiError, setCsrf, onUnauthorized } from './api.js';

const STRINGS = {
  en: {
    title: 'Review queue', 'signin.intro': 'Sign in with an API key that may decide reviews.',
    'signin.key': 'API key', 'signin.submit': 'Sign in', 'filter.kind': 'Kind', 'filter.state': 'State',
    'kind.all': 'All', 'kind.message': 'Messages', 'kind.template': 'Templates', 'kind.signature': 'Signatures',
    'state.pending': 'Pending', 'state.approved': 'Approved', 'state.rejected': 'Rejected', 'state.all': 'All',
    'to.editor': 'Card editor', signout: 'Sign out', empty: 'Nothing to review.', loading: 'Loading…',
    reason: 'Reason', approve: 'Approve', reject: 'Reject', 'reason.needed': 'A rejection needs a reason.',
    'no.scope': 'This key may not decide reviews (it needs the `reviews` scope).',
    matched: 'Matched', 'matched.none': 'Nothing matched: the policy reviews every version.',
    held: '{n} message(s) held', decided: 'Decided {at}: {reason}', 'batch': 'Batch {id}',
    'template': 'Template {name}, version {version}', 'signature': 'Signature {signature} (now {previous})',
  },
  'zh-CN': {
    title: '审核队列', 'signin.intro': '使用有审核权限的 API 密钥登录。',
    'signin.key': 'API 密钥', 'signin.submit': '登录', 'filter.kind': '类型', 'filter.state': '状态',
    'kind.all': '全部', 'kind.message': '消息', 'kind.template': '模板', 'kind.signature': '签名',
    'state.pending': '待审核', 'state.approved': '已通过', 'state.rejected': '已驳回', 'state.all': '全部',
    'to.editor': '卡片编辑器', signout: '退出', empty: '没有待审核的内容。', loading: '加载中…',
    reason: '理由', approve: '通过', reject: '驳回', 'reason.needed': '驳回需要填写理由。',
    'no.scope': '此密钥无审核权限（需要 `reviews` 权限）。',
    matched: '命中', 'matched.none': '未命中敏感词：按策略每个版本都需审核。',
    held: '暂停发送 {n} 条消息', decided: '{at} 审核：{reason}', 'batch': '批次 {id}',
    'template': '模板 {name}，版本 {version}', 'signature': '签名 {signature}（当前 {previous}）',
  },
};
const lang = (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
const t = (key, vars = {}) => (STRINGS[lang][key] ?? key).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k] ?? '') : m));
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

function translatePage() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
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
  $('signin-key').focus();
}

async function start(session) {
  setCsrf(session.csrf_token);
  $('signin').hidden = true;
  $('app').hidden = false;
  $('tenant-name').textContent = session.tenant_name;
  if (!session.scopes.includes('reviews')) {
    $('status').textContent = t('no.scope');
    return;
  }
  await load();
}

function subjectLine(item) {
  const d = item.subject_detail || {};
  if (item.kind === 'message') return `${t('batch', { id: item.subject })} · ${t('held', { n: item.held })}`;
  if (item.kind === 'template') return t('template', { name: d.name, version: d.version });
  return t('signature', { signature: d.signature, previous: d.previous });
}

function contentOf(item) {
  const d = item.subject_detail || {};
  const doc = item.kind === 'message' ? d.content : item.kind === 'template' ? d.card : null;
  return doc ? JSON.stringify(doc, null, 2) : null;
}

function render(item) {
  const matches = item.matches.length
    ? el('ul', { class: 'matches' }, ...item.matches.map((m) => el('li', {}, `${m.term} — ${m.category} (${m.action}) `, el('code', {}, m.path))))
    : el('p', { class: 'muted' }, t('matched.none'));
  const body = [
    el('h2', {}, el('span', {}, subjectLine(item)), el('span', { class: `state ${item.state}`, 'data-testid': 'state' }, t(`state.${item.state}`))),
    el('p', { class: 'muted' }, t('matched')),
    matches,
  ];
  const content = contentOf(item);
  if (content) body.push(el('pre', { class: 'content' }, content));
  if (item.state === 'pending') {
    const reason = el('input', { type: 'text', maxLength: 500, 'data-testid': 'reason' });
    reason.setAttribute('aria-label', t('reason'));
    reason.placeholder = t('reason');
    const error = el('p', { class: 'error-text', role: 'alert', 'data-testid': 'error' });
    const decide = async (verdict) => {
      error.textContent = '';
      if (verdict === 'reject' && !reason.value.trim()) {
        error.textContent = t('reason.needed');
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
      el('button', { type: 'button', class: 'primary', 'data-testid': 'approve', onclick: () => decide('approve') }, t('approve')),
      el('button', { type: 'button', 'data-testid': 'reject', onclick: () => decide('reject') }, t('reject')),
      error);
    form.addEventListener('submit', (e) => e.preventDefault());
    body.push(form);
  } else if (item.decided_at) {
    body.push(el('p', { class: 'muted', 'data-testid': 'decision' }, t('decided', { at: item.decided_at, reason: item.reason || '—' })));
  }
  return el('li', { class: 'review-item', 'data-testid': 'review-item', 'data-id': item.id, 'data-kind': item.kind }, ...body);
}

async function load() {
  const query = new URLSearchParams();
  if ($('filter-kind').value) query.set('kind', $('filter-kind').value);
  if ($('filter-state').value) query.set('state', $('filter-state').value);
  $('status').textContent = t('loading');
  try {
    const page = await api('GET', `/v1/reviews?${query}`);
    // Each item in full: what it is about (the held content, the template version).
    const items = await Promise.all(page.data.map((i) => api('GET', `/v1/reviews/${encodeURIComponent(i.id)}`)));
    $('review-list').replaceChildren(...items.map(render));
    $('status').textContent = items.length ? '' : t('empty');
  } catch (err) {
    $('status').textContent = err instanceof ApiError ? err.describe() : String(err);
  }
}

async function main() {
  translatePage();
  onUnauthorized(showSignIn);
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('signin-error').textContent = '';
    try {
      await start(await api('POST', '/editor/session', { api_key: $('signin-key').value }));
      $('signin-key').value = '';
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
