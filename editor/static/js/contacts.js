// Contacts import: upload a CSV or XLSX file (POST /v1/contacts/imports stores it and queues a
// job), and follow the tenant's import jobs — status, a progress bar, rows done and failed, the
// first errors by line — polling each job that is queued or running (every second; `?refresh=N`
// seconds), with cancel. Signs in like the editor (session cookie, CSRF token on unsafe calls);
// the key or role needs `audiences` (read shows the jobs, write uploads and cancels).

import { api, ApiError, currentSession, setCsrf, onUnauthorized } from './api.js';
import { initI18n, locale, onLocale, otherLocale, setLocale, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const ACTIVE = new Set(['queued', 'running']);
const POLL_MS = 1000 * Math.min(60, Math.max(0.2, Number(new URLSearchParams(location.search).get('refresh')) || 1));
const LIST_EVERY = 10; // polls between reloads of the whole list (jobs started elsewhere)
let jobs = []; // newest first
let canWrite = false;
let timer = null;
let ticks = 0;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const describe = (err) => (err instanceof ApiError ? (err.problem.errors?.length ? err.describe() : err.problem.detail || err.message) : String(err));

function showSignIn() {
  clearTimeout(timer);
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-key').focus();
}

async function start(session) {
  setCsrf(session.csrf_token);
  $('signin').hidden = true;
  $('app').hidden = false;
  $('tenant-name').textContent = session.user ? `${session.tenant_name} · ${session.user.login}` : session.tenant_name;
  const level = (session.can || {}).audiences;
  if (!level) {
    $('status').textContent = t('contacts.no.scope');
    $('contacts').hidden = true;
    return;
  }
  canWrite = level === 'write';
  $('upload-form').hidden = !canWrite;
  $('contacts').hidden = false;
  await reload();
}

// -- the jobs ------------------------------------------------------------------------------------

function percent(job) {
  if (job.status === 'finished') return 100;
  return job.progress === null ? null : Math.floor(job.progress * 100);
}

function jobItem(job) {
  const pct = percent(job);
  const head = el(
    'div', { class: 'job-head' },
    el('span', { class: `state ${job.status}`, 'data-testid': 'job-status' }, t(`contacts.status.${job.status}`)),
    el('span', { class: 'format' }, job.format.toUpperCase()),
    el('span', { class: 'when' }, new Date(job.created_at).toLocaleString(locale())),
  );
  if (canWrite && ACTIVE.has(job.status)) {
    const cancel = el('button', { type: 'button', class: 'small', 'data-testid': 'job-cancel' }, t('contacts.cancel'));
    cancel.addEventListener('click', () => cancelJob(job.id, cancel));
    head.append(cancel);
  }
  const bar = el('div', {
    class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-label': t('contacts.progress'), 'data-testid': 'job-progress',
  }, el('span', { style: `width: ${pct ?? 0}%` }));
  if (pct !== null) bar.setAttribute('aria-valuenow', String(pct));
  const counts = el(
    'div', { class: 'counts' },
    el('span', { 'data-testid': 'job-done' }, t('contacts.rows.done', { n: job.rows_done.toLocaleString(locale()) })),
    el('span', { class: job.rows_failed ? 'failed' : '', 'data-testid': 'job-failed' }, t('contacts.rows.failed', { n: job.rows_failed.toLocaleString(locale()) })),
    el('span', { class: 'muted' }, pct === null ? '' : `${pct} %`),
  );
  const item = el('li', { class: `job ${job.status}`, 'data-testid': 'job', 'data-job-id': job.id }, head, bar, counts);
  if (job.error) item.append(el('p', { class: 'error', 'data-testid': 'job-error' }, job.error));
  if (job.errors.length) {
    const list = el('ol', { class: 'errors', 'data-testid': 'job-errors' });
    for (const e of job.errors) {
      list.append(el(
        'li', {},
        el('span', { class: 'line' }, t('contacts.error.line', { line: e.line })), ' · ',
        e.field ? `${e.field}: ` : `${t('contacts.error.record')}: `,
        e.message,
      ));
    }
    item.append(list);
    if (job.rows_failed > job.errors.length) {
      item.append(el('p', { class: 'muted' }, t('contacts.errors.more', { n: (job.rows_failed - job.errors.length).toLocaleString(locale()) })));
    }
  }
  return item;
}

function render() {
  $('jobs').replaceChildren(...jobs.map(jobItem));
  $('no-jobs').hidden = jobs.length > 0;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(poll, POLL_MS);
}

async function reload() {
  try {
    jobs = (await api('GET', '/v1/contacts/imports?limit=20')).data;
    render();
  } catch (err) {
    $('status').textContent = describe(err);
  }
  schedule();
}

// Each queued or running job is read again; every LIST_EVERY polls, the whole list.
async function poll() {
  ticks += 1;
  if (ticks % LIST_EVERY === 0) return reload();
  const active = jobs.filter((j) => ACTIVE.has(j.status));
  try {
    const fresh = await Promise.all(active.map((j) => api('GET', `/v1/contacts/imports/${encodeURIComponent(j.id)}`)));
    const byId = new Map(fresh.map((j) => [j.id, j]));
    jobs = jobs.map((j) => byId.get(j.id) || j);
    if (fresh.length) render();
  } catch (err) {
    $('status').textContent = describe(err);
  }
  schedule();
}

async function cancelJob(id, button) {
  button.disabled = true;
  try {
    const job = await api('POST', `/v1/contacts/imports/${encodeURIComponent(id)}/cancel`);
    jobs = jobs.map((j) => (j.id === id ? job : j));
    render();
  } catch (err) {
    $('status').textContent = describe(err);
    await reload();
  }
}

async function upload(e) {
  e.preventDefault();
  $('upload-error').textContent = '';
  const file = $('file').files[0];
  if (!file) {
    $('upload-error').textContent = t('contacts.upload.choose');
    return;
  }
  const type = /\.xlsx$/i.test(file.name) || file.type === XLSX ? XLSX : 'text/csv';
  const submit = $('upload-form').querySelector('[type=submit]');
  submit.disabled = true;
  $('status').textContent = t('contacts.uploading', { name: file.name });
  try {
    const job = await api('POST', '/v1/contacts/imports', file, { raw: true, headers: { 'Content-Type': type } });
    jobs = [job, ...jobs.filter((j) => j.id !== job.id)];
    render();
    $('status').textContent = t('contacts.uploaded', { name: file.name });
    $('file').value = '';
    schedule();
  } catch (err) {
    $('status').textContent = '';
    $('upload-error').textContent = describe(err);
  } finally {
    submit.disabled = false;
  }
}

function langButton() {
  $('btn-lang').textContent = otherLocale() === 'en' ? 'English' : '中文';
  $('btn-lang').setAttribute('lang', otherLocale());
}

async function main() {
  await initI18n();
  langButton();
  onLocale(() => {
    langButton();
    $('status').textContent = '';
    render();
  });
  onUnauthorized(showSignIn);
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('signin-error').textContent = '';
    try {
      await start(await api('POST', '/editor/session', { api_key: $('signin-key').value }));
      $('signin-key').value = '';
    } catch (err) {
      $('signin-error').textContent = describe(err);
    }
  });
  $('btn-signout').addEventListener('click', async () => {
    await api('DELETE', '/editor/session');
    showSignIn();
  });
  $('btn-lang').addEventListener('click', () => setLocale(otherLocale()));
  $('upload-form').addEventListener('submit', upload);
  const session = await currentSession();
  if (session) await start(session);
  else showSignIn();
}

main();
