// The tenant's send rules: windows per traffic type, frequency caps per traffic type and
// segment, the daily volume threshold and limit, and today's volume. Reads and writes
// GET/PUT /v1/compliance/send-rules; the API checks every value and its errors are shown next
// to the field they name. Signs in like the editor (session cookie, CSRF token on unsafe calls).

import { api, ApiError, setCsrf, onUnauthorized } from './api.js';
import { initI18n, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const TYPES = ['notification', 'marketing', 'otp'];
let loadedSegments = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) node.setAttribute(k, v);
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
  $('signin-key').focus();
}

async function start(session) {
  setCsrf(session.csrf_token);
  $('signin').hidden = true;
  $('app').hidden = false;
  $('tenant-name').textContent = session.tenant_name;
  if (!session.scopes.includes('compliance')) {
    $('status').textContent = t('rules.no.scope');
    $('rules-form').hidden = true;
    return;
  }
  await load();
}

// -- the form ------------------------------------------------------------------------------------

const errorSlot = (pointer) => el('span', { class: 'error-text', 'data-error-for': pointer });

function windowRow(type, value) {
  const any = el('input', { type: 'checkbox', checked: value === null, 'data-testid': `window-any-${type}` });
  const start = el('input', { value: value ? value.start : '08:00', 'data-testid': `window-start-${type}`, 'aria-label': t('rules.windows.start') });
  const end = el('input', { value: value ? value.end : '21:00', 'data-testid': `window-end-${type}`, 'aria-label': t('rules.windows.end') });
  const sync = () => { start.disabled = end.disabled = any.checked; };
  any.addEventListener('change', sync);
  sync();
  const row = el('tr', { 'data-type': type },
    el('th', {}, t(`rules.traffic.${type}`)),
    el('td', {}, el('label', {}, any, ' ', t('rules.windows.any'))),
    el('td', {}, start, errorSlot(`/windows/${type}/start`)),
    el('td', {}, '–'),
    el('td', {}, end, errorSlot(`/windows/${type}/end`), errorSlot(`/windows/${type}`)));
  row.read = () => (any.checked ? null : { start: start.value.trim(), end: end.value.trim() });
  return row;
}

function capRow(segment = '', type = 'marketing', cap = { limit: 1, period: '1d' }) {
  const seg = el('input', { class: 'segment', value: segment, placeholder: t('rules.caps.everyone'), 'data-testid': 'cap-segment', 'aria-label': t('rules.caps.segment') });
  const traffic = el('select', { 'data-testid': 'cap-traffic', 'aria-label': t('rules.caps.traffic') },
    ...TYPES.map((ty) => el('option', { value: ty, selected: ty === type }, t(`rules.traffic.${ty}`))));
  const limit = el('input', { value: String(cap.limit), inputmode: 'numeric', 'data-testid': 'cap-limit', 'aria-label': t('rules.caps.limit') });
  const period = el('input', { value: cap.period, 'data-testid': 'cap-period', 'aria-label': t('rules.caps.period') });
  const row = el('tr', { 'data-testid': 'cap-row', 'data-segment': segment });
  const remove = el('button', { type: 'button', 'data-testid': 'cap-remove', onclick: () => row.remove() }, t('rules.caps.remove'));
  row.append(
    el('td', {}, seg, el('span', { class: 'error-text', 'data-slot': 'segment' })),
    el('td', {}, traffic),
    el('td', {}, limit, el('span', { class: 'error-text', 'data-slot': 'limit' })),
    el('td', {}, period, el('span', { class: 'error-text', 'data-slot': 'period' })),
    el('td', {}, remove));
  // A number when it is one (the API says what is wrong with anything else).
  const asNumber = (s) => (/^-?[0-9]+$/.test(s.trim()) ? Number(s.trim()) : s.trim());
  row.read = () => ({ segment: seg.value.trim(), type: traffic.value, cap: { limit: asNumber(limit.value), period: period.value.trim() } });
  return row;
}

function fill(rules) {
  $('windows').replaceChildren(...TYPES.map((ty) => windowRow(ty, rules.windows[ty] ?? null)));
  const rows = [];
  for (const ty of TYPES) for (const cap of rules.caps[ty] || []) rows.push(capRow('', ty, cap));
  const segments = rules.segment_caps || {};
  loadedSegments = Object.keys(segments);
  for (const [seg, byType] of Object.entries(segments)) {
    for (const [ty, caps] of Object.entries(byType || {})) for (const cap of caps) rows.push(capRow(seg, ty, cap));
  }
  $('caps').replaceChildren(...rows);
  $('alert-at').value = rules.daily_volume.alert_at ?? '';
  $('limit').value = rules.daily_volume.limit ?? '';
}

/** The PUT body, and where each of its fields' errors go (JSON Pointer → error element). */
function read() {
  const body = { windows: {}, caps: Object.fromEntries(TYPES.map((ty) => [ty, []])), segment_caps: {}, daily_volume: {} };
  const slots = new Map();
  for (const slot of document.querySelectorAll('[data-error-for]')) slots.set(slot.dataset.errorFor, slot);
  for (const row of $('windows').children) body.windows[row.dataset.type] = row.read();
  for (const row of $('caps').children) {
    const { segment, type, cap } = row.read();
    let list;
    let base;
    if (segment) {
      body.segment_caps[segment] ??= {};
      list = body.segment_caps[segment][type] ??= [];
      base = `/segment_caps/${segment.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      slots.set(base, row.querySelector('[data-slot=segment]'));
      base += `/${type}/${list.length}`;
    } else {
      list = body.caps[type];
      base = `/caps/${type}/${list.length}`;
    }
    slots.set(`${base}/limit`, row.querySelector('[data-slot=limit]'));
    slots.set(`${base}/period`, row.querySelector('[data-slot=period]'));
    slots.set(base, row.querySelector('[data-slot=limit]'));
    list.push(cap);
  }
  for (const seg of loadedSegments) if (!(seg in body.segment_caps)) body.segment_caps[seg] = null;
  const volume = (s) => (s.trim() === '' ? null : /^[0-9]+$/.test(s.trim()) ? Number(s.trim()) : s.trim());
  body.daily_volume = { alert_at: volume($('alert-at').value), limit: volume($('limit').value) };
  return { body, slots };
}

function clearErrors() {
  for (const slot of document.querySelectorAll('#rules-form .error-text')) slot.textContent = '';
  for (const input of document.querySelectorAll('#rules-form [aria-invalid]')) input.removeAttribute('aria-invalid');
}

function showErrors(err, slots) {
  const unplaced = [];
  for (const e of err.problem.errors || []) {
    const slot = slots.get(e.path);
    if (!slot) {
      unplaced.push(`${e.path}: ${e.message}`);
      continue;
    }
    slot.textContent = slot.textContent ? `${slot.textContent}\n${e.message}` : e.message;
    slot.previousElementSibling?.setAttribute('aria-invalid', 'true');
  }
  $('form-error').textContent = unplaced.length ? unplaced.join('\n') : (err.problem.errors || []).length ? '' : err.describe();
}

async function save(e) {
  e.preventDefault();
  clearErrors();
  const { body, slots } = read();
  try {
    fill(await api('PUT', '/v1/compliance/send-rules', body));
    $('status').textContent = t('rules.saved');
  } catch (err) {
    $('status').textContent = '';
    if (err instanceof ApiError) showErrors(err, slots);
    else $('form-error').textContent = String(err);
  }
}

async function showVolume() {
  const v = await api('GET', '/v1/compliance/volume');
  const parts = [t('rules.volume.count', { day: v.day, count: v.count.toLocaleString() })];
  if (v.alert_at !== null) parts.push(t('rules.volume.alert.at', { n: v.alert_at.toLocaleString() }));
  if (v.limit !== null) parts.push(t('rules.volume.limit.at', { n: v.limit.toLocaleString() }));
  $('volume').textContent = parts.join(' · ');
}

async function load() {
  $('status').textContent = t('reviews.loading');
  try {
    fill(await api('GET', '/v1/compliance/send-rules'));
    await showVolume();
    $('rules-form').hidden = false;
    $('status').textContent = '';
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
  $('add-cap').addEventListener('click', () => $('caps').append(capRow()));
  $('rules-form').addEventListener('submit', save);
  const session = await signedIn();
  if (session) await start(session);
  else showSignIn();
}

main();
