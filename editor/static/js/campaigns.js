// The campaigns page: the tenant's campaigns with their state and progress, live while they
// run; a form that creates a draft (each API field error shown next to its field); launch,
// pause, resume, cancel; one campaign's results (funnel per variant, the A/B test, the winner,
// the resend, the cost) and its funnel as CSV. Reads and writes /v1/campaigns (the templates,
// segments and segment counts for the form); signed in like the editor.

import { api, ApiError, currentSession, setCsrf } from './api.js';
import { h } from './dom.js';
import { startLanguage, wireSignIn } from './pageshell.js';
import { funnelBars, STAGES } from './funnelbars.js';
import { locale, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
// Every 2 seconds; `?refresh=N` (0.2–3600 seconds) for a wall screen or a test.
const REFRESH_MS = 1000 * Math.min(3600, Math.max(0.2, Number(new URLSearchParams(location.search).get('refresh')) || 2));
const ACTIONS = { draft: ['launch', 'delete'], scheduled: ['pause', 'cancel'], running: ['pause', 'cancel'], paused: ['resume', 'cancel'] };
const ENDED = new Set(['finished', 'cancelled']);
const MAX_LIST = 1000; // campaigns listed (pages of 100)
const PARALLEL = 6; // progress requests at a time

let campaigns = [];
const progressOf = new Map(); // id → {status, progress} (fetched again while a campaign moves)
let templates = [];
let segments = [];
let timer = null;
let busy = false;
let canWrite = false; // the session may create and act (a person's role, or a key with `campaigns`)

const selected = () => decodeURIComponent(location.hash.slice(1));

// -- sign-in ----------------------------------------------------------------------------------

function showSignIn() {
  clearTimeout(timer);
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-login').focus();
}

async function start(s) {
  setCsrf(s.csrf_token);
  $('signin').hidden = true;
  $('app').hidden = false;
  $('tenant-name').textContent = s.user ? `${s.tenant_name} · ${s.user.login} (${s.user.role})` : s.tenant_name;
  canWrite = s.can?.campaigns === 'write';
  $('btn-new').hidden = !canWrite;
  segments = (await api('GET', '/v1/segments?limit=100').catch(() => ({ data: [] }))).data;
  await tick();
}

// -- the list ---------------------------------------------------------------------------------

async function loadList() {
  const all = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ limit: '100' });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `/v1/campaigns?${q}`);
    all.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && all.length < MAX_LIST);
  // The list has no progress: each campaign's own view has it (once more after it ended),
  // a few requests at a time.
  const due = all.filter((c) => {
    const known = progressOf.get(c.id);
    return c.status !== 'draft' && !(known && known.status === c.status && ENDED.has(c.status));
  });
  await Promise.all(Array.from({ length: Math.min(PARALLEL, due.length) }, async () => {
    for (let c = due.shift(); c; c = due.shift()) {
      const view = await api('GET', `/v1/campaigns/${encodeURIComponent(c.id)}`);
      progressOf.set(c.id, { status: view.status, progress: view.progress });
    }
  }));
  all.sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id));
  campaigns = all;
}

function badge(status) {
  return h('span', { class: `state ${status}`, 'data-testid': 'campaign-status', 'data-status': status }, t(`campaigns.status.${status}`));
}

/** "sent / pending / skipped / resent out of the audience" with a bar. */
function progress(c) {
  const p = progressOf.get(c.id)?.progress;
  if (c.status === 'draft' || !p) return h('span', { class: 'muted' }, '–');
  const audience = c.audience ?? 0;
  const done = p.sent + p.skipped + p.held_out;
  const pct = (n) => (audience ? `${((100 * n) / audience).toFixed(1)}%` : '0%');
  const n = (key, v) => h('span', { class: 'count', 'data-testid': `progress-${key}` }, v.toLocaleString());
  return h('div', { class: 'progress' },
    h('div', { class: 'progress-bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': audience, 'aria-valuenow': done },
      h('span', { class: 'sent', style: `width: ${pct(p.sent)}` }),
      h('span', { class: 'skipped', style: `width: ${pct(p.skipped + p.held_out)}` })),
    h('div', { class: 'progress-text' },
      n('sent', p.sent), ` ${t('campaigns.p.sent')} · `,
      n('pending', p.pending), ` ${t('campaigns.p.pending')} · `,
      n('skipped', p.skipped), ` ${t('campaigns.p.skipped')} · `,
      n('resent', p.resent), ` ${t('campaigns.p.resent')}`,
      p.held_out ? [' · ', n('held_out', p.held_out), ` ${t('campaigns.p.held_out')}`] : null,
      ` / `, n('audience', audience), ` ${t('campaigns.p.audience')}`));
}

function actionButtons(c) {
  if (!canWrite) return [];
  return (ACTIONS[c.status] || []).map((action) => h('button', {
    type: 'button',
    class: action === 'launch' || action === 'resume' ? 'primary' : action === 'cancel' || action === 'delete' ? 'danger' : '',
    'data-testid': `action-${action}`,
    onclick: (e) => { e.stopPropagation(); act(c, action); },
  }, t(`campaigns.action.${action}`)));
}

function renderList() {
  const rows = campaigns.map((c) => h('tr', {
    'data-testid': 'campaign-row', 'data-id': c.id, 'data-status': c.status, class: c.id === selected() ? 'selected' : '',
  },
  h('td', {}, h('a', { href: `#${encodeURIComponent(c.id)}`, 'data-testid': 'campaign-open' }, c.name)),
  h('td', {}, badge(c.status)),
  h('td', { 'data-testid': 'campaign-phase' }, c.phase ? t(`campaigns.phase.${c.phase}`) : ''),
  h('td', {}, progress(c)),
  h('td', { class: 'actions' }, actionButtons(c))));
  $('campaign-rows').replaceChildren(...rows);
  $('list-empty').hidden = campaigns.length > 0;
}

async function act(c, action) {
  $('d-error').textContent = '';
  $('status').textContent = '';
  try {
    if (action === 'delete') {
      if (!window.confirm(t('campaigns.confirm.delete', { name: c.name }))) return;
      await api('DELETE', `/v1/campaigns/${encodeURIComponent(c.id)}`);
      if (selected() === c.id) location.hash = '';
    } else {
      if (action === 'cancel' && !window.confirm(t('campaigns.confirm.cancel', { name: c.name }))) return;
      const view = await api('POST', `/v1/campaigns/${encodeURIComponent(c.id)}/${action}`);
      progressOf.set(view.id, { status: view.status, progress: view.progress });
    }
  } catch (err) {
    const text = err instanceof ApiError ? `${t(`campaigns.action.${action}`)}: ${err.describe()}` : String(err);
    if (selected() === c.id) $('d-error').textContent = text;
    else $('status').textContent = text;
  }
  await tick();
}

// -- one campaign -----------------------------------------------------------------------------

const when = (at) => (at ? new Date(at).toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'medium' }) : '–');
const tplName = (ref) => (!ref ? '' : typeof ref === 'string' ? ref : ref.version ? `${ref.name} v${ref.version}` : ref.name);

function definition(c) {
  const seg = segments.find((s) => s.id === c.segment_id);
  const items = [
    ['template', tplName(c.template)],
    ['segment', seg ? seg.name : c.segment_id],
    ['traffic', t(`rules.traffic.${c.traffic_type}`)],
    ['throttle', t('campaigns.d.per.second', { n: c.throttle })],
    ['window', c.window ? `${c.window.start}–${c.window.end} (${c.time_zone || 'Asia/Shanghai'})` : t('campaigns.d.any.time')],
    ['start', c.start_at ? when(c.start_at) : t('campaigns.d.at.launch')],
    ['ab', c.ab ? c.ab.variants.map((v) => `${v.name} ${Math.round(v.share * 100)}%${v.template ? ` (${tplName(v.template)})` : ''}`).join(', ')
      + (c.ab.holdout ? ` · ${t('campaigns.d.holdout')} ${Math.round(c.ab.holdout * 100)}%` : '')
      + (c.ab.winner ? ` · ${t('campaigns.d.winner.after', { hours: c.ab.winner.after_hours, metric: t(`campaigns.stage.${c.ab.winner.metric}`) })}` : '') : t('campaigns.d.none')],
    ['resend', c.resend ? t('campaigns.d.resend.value', {
      hours: c.resend.after_hours,
      unless: t(`campaigns.f.unless.${c.resend.unless}`),
      as: c.resend.template ? tplName(c.resend.template) : t('campaigns.f.resend.sms'),
    }) : t('campaigns.d.none')],
    ['launched', when(c.launched_at)],
    ['finished', when(c.finished_at)],
  ];
  if (c.error) items.push(['error', c.error]);
  $('d-definition').replaceChildren(...items.flatMap(([key, value]) => [
    h('dt', {}, t(`campaigns.d.${key}`)), h('dd', { 'data-testid': `d-${key}` }, value)]));
}

function funnelCells(row) {
  return [...STAGES, 'rejected', 'failed'].map((s) => h('td', { 'data-stage': s }, row ? String(row[s] ?? 0) : '0'));
}

function variantName(v) {
  return v === 'holdout' || v === 'rest' || v === 'main' ? t(`campaigns.variant.${v}`) : v;
}

function renderResults(r) {
  $('results-head').replaceChildren(...[t('campaigns.r.variant'), t('campaigns.r.contacts'), t('campaigns.r.skipped'),
    ...[...STAGES, 'rejected', 'failed'].map((s) => t(`campaigns.stage.${s}`))].map((x) => h('th', {}, x)));
  $('results-rows').replaceChildren(...r.variants.map((v) => h('tr', { 'data-testid': 'result-row', 'data-variant': v.variant },
    h('th', {}, variantName(v.variant)),
    h('td', { 'data-stage': 'contacts' }, String(v.contacts)),
    h('td', { 'data-stage': 'skipped' }, String(v.skipped)),
    ...funnelCells(v.funnel))));
  funnelBars($('results-chart'), r.variants.filter((v) => v.variant !== 'holdout').map((v) => ({ name: variantName(v.variant), row: v.funnel })),
    (s) => t(`campaigns.stage.${s}`));

  // The A/B test: each arm against the first on the metric.
  const metric = t(`campaigns.stage.${r.metric}`);
  if (!r.test) {
    $('r-test').replaceChildren(h('p', { class: 'muted', 'data-testid': 'test-none' }, t('campaigns.r.test.none')));
  } else {
    const arms = r.test.arms.map((a) => h('tr', { 'data-testid': 'arm-row', 'data-variant': a.variant },
      h('th', {}, a.variant),
      h('td', {}, `${a.successes} / ${a.trials}`),
      h('td', { 'data-testid': 'arm-rate' }, a.rate === null ? '–' : `${(100 * a.rate).toFixed(1)} %`),
      h('td', { 'data-testid': 'arm-p' }, a.p_value === null ? t('campaigns.r.control') : a.p_value.toFixed(4)),
      h('td', { 'data-testid': 'arm-significant' }, a.p_value === null ? '' : a.significant ? t('campaigns.r.yes') : t('campaigns.r.no'))));
    $('r-test').replaceChildren(
      h('table', { class: 'campaign-table numbers' },
        h('thead', {}, h('tr', {}, ...['variant', 'metric.count', 'rate', 'p', 'significant'].map((k) => h('th', {}, t(`campaigns.r.${k}`, { metric }))))),
        h('tbody', {}, arms)),
      h('p', { 'data-testid': 'test-verdict', class: r.test.significant ? 'good' : 'muted' },
        t(r.test.significant ? 'campaigns.r.best.significant' : 'campaigns.r.best.not', { best: r.test.best, metric })));
  }
  $('r-winner').textContent = r.winner
    ? t('campaigns.r.winner', { winner: r.winner, metric: t(`campaigns.stage.${r.winner_detail?.metric || r.metric}`) })
    : '';

  // The resend's funnel.
  $('r-resend').replaceChildren(r.resend
    ? h('table', { class: 'campaign-table numbers' },
      h('thead', {}, h('tr', {}, ...[...STAGES, 'rejected', 'failed'].map((s) => h('th', {}, t(`campaigns.stage.${s}`))))),
      h('tbody', {}, h('tr', { 'data-testid': 'resend-row' }, ...funnelCells(r.resend))))
    : h('p', { class: 'muted', 'data-testid': 'resend-none' }, t('campaigns.r.resend.none')));

  // The cost: the total, then each carrier.
  const { total, ...carriers } = r.cost;
  $('cost-rows').replaceChildren(
    ...Object.entries(carriers).sort().map(([carrier, amount]) => h('tr', { 'data-testid': 'cost-row', 'data-carrier': carrier },
      h('th', {}, t(`campaigns.carrier.${carrier}`) === `campaigns.carrier.${carrier}` ? carrier : t(`campaigns.carrier.${carrier}`)),
      h('td', { 'data-testid': `cost-${carrier}` }, amount))),
    h('tr', { class: 'total' }, h('th', {}, t('campaigns.r.total')), h('td', { 'data-testid': 'cost-total' }, total)));
}

function csvLink(id) {
  const q = new URLSearchParams({ group_by: $('csv-group').value, format: 'csv' });
  $('csv-link').href = `/v1/campaigns/${encodeURIComponent(id)}/funnel?${q}`;
}

async function loadDetail() {
  const id = selected();
  if (!id) {
    $('detail').hidden = true;
    return;
  }
  let c = campaigns.find((x) => x.id === id);
  if (!c) {
    $('detail').hidden = true;
    return;
  }
  // A draft has sent nothing: no results to show.
  const r = c.status === 'draft' ? null : await api('GET', `/v1/campaigns/${encodeURIComponent(id)}/results`);
  c = campaigns.find((x) => x.id === id) || c;
  $('detail').hidden = false;
  $('detail').dataset.id = id;
  $('detail').dataset.status = c.status;
  $('d-name').textContent = c.name;
  $('d-status').className = `state ${c.status}`;
  $('d-status').textContent = t(`campaigns.status.${c.status}`);
  $('d-actions').replaceChildren(...actionButtons(c));
  definition(c);
  $('d-progress').replaceChildren(c.status === 'draft' ? '' : progress(c));
  $('d-results').hidden = r === null;
  if (r) renderResults(r);
  csvLink(id);
  $('detail').dataset.loaded = String(Number($('detail').dataset.loaded || 0) + 1);
}

/** One refresh of everything shown; again in REFRESH_MS. */
async function tick() {
  clearTimeout(timer);
  if (!busy) {
    busy = true;
    try {
      await loadList();
      renderList();
      await loadDetail();
      $('app').dataset.loaded = String(Number($('app').dataset.loaded || 0) + 1);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) $('status').textContent = err instanceof ApiError ? err.describe() : String(err);
    } finally {
      busy = false;
    }
  }
  if (!$('app').hidden) timer = setTimeout(tick, REFRESH_MS);
}

// -- the form ---------------------------------------------------------------------------------

async function loadChoices() {
  const [tpl, seg] = await Promise.all([api('GET', '/v1/templates?limit=100'), api('GET', '/v1/segments?limit=100')]);
  // Only templates with a version can be sent (launch checks that it is approved).
  templates = tpl.data.filter((x) => x.latest_version !== null).sort((a, b) => a.name.localeCompare(b.name));
  segments = seg.data;
  const opts = (list, first) => [first, ...list.map((x) => h('option', { value: x.name }, x.name))].filter(Boolean);
  $('c-template').replaceChildren(...opts(templates, h('option', { value: '' }, t('campaigns.f.choose'))));
  for (const select of document.querySelectorAll('#variants select')) fillVariantTemplates(select);
  $('c-resend-as').replaceChildren(
    h('option', { value: '' }, t('campaigns.f.resend.sms')),
    ...templates.map((x) => h('option', { value: x.name }, t('campaigns.f.resend.card', { name: x.name }))));
  $('c-segment').replaceChildren(h('option', { value: '' }, t('campaigns.f.choose')),
    ...segments.map((s) => h('option', { value: s.id }, s.name)));
  $('segment-count').textContent = '';
}

function fillVariantTemplates(select) {
  const value = select.value;
  select.replaceChildren(h('option', { value: '' }, t('campaigns.f.same.template')),
    ...templates.map((x) => h('option', { value: x.name }, x.name)));
  select.value = value;
}

async function showCount() {
  const id = $('c-segment').value;
  $('segment-count').textContent = '';
  if (!id) return;
  $('segment-count').textContent = t('campaigns.f.counting');
  try {
    const { count } = await api('GET', `/v1/segments/${encodeURIComponent(id)}/count`);
    if ($('c-segment').value === id) $('segment-count').textContent = t('campaigns.f.count', { n: count.toLocaleString() });
  } catch (err) {
    $('segment-count').textContent = err instanceof ApiError ? err.describe() : String(err);
  }
}

function renumber(tbody, base) {
  [...tbody.children].forEach((row, i) => {
    for (const slot of row.querySelectorAll('[data-slot]')) slot.dataset.errorFor = `${base}/${i}${slot.dataset.slot ? `/${slot.dataset.slot}` : ''}`;
  });
}

function variantRow(name = '', share = '') {
  const select = h('select', { 'data-testid': 'v-template', 'aria-label': t('campaigns.f.template') });
  fillVariantTemplates(select);
  const row = h('tr', { 'data-testid': 'variant-row' },
    h('td', {}, h('input', { class: 'short', value: name, 'data-testid': 'v-name', 'aria-label': t('campaigns.f.variant') }),
      h('span', { class: 'error-text', 'data-slot': 'name' }), h('span', { class: 'error-text', 'data-slot': '' })),
    h('td', {}, h('input', { class: 'short', value: share, 'data-testid': 'v-share', 'aria-label': t('campaigns.f.share') }),
      h('span', { class: 'error-text', 'data-slot': 'share' })),
    h('td', {}, select, h('span', { class: 'error-text', 'data-slot': 'template' })),
    h('td', {}, h('button', { type: 'button', 'data-testid': 'v-remove', onclick: () => { row.remove(); renumber($('variants'), '/ab/variants'); } }, t('rules.caps.remove'))));
  $('variants').append(row);
  renumber($('variants'), '/ab/variants');
}

function variableRow() {
  const row = h('tr', { 'data-testid': 'variable-row' },
    h('td', {}, h('input', { class: 'var', 'data-testid': 'var-name', 'aria-label': t('campaigns.f.var') }), h('span', { class: 'error-text', 'data-var-slot': 'variables' })),
    h('td', {}, h('input', { class: 'var', 'data-testid': 'var-attribute', 'aria-label': t('campaigns.f.attr') })),
    h('td', {}, h('input', { 'data-testid': 'var-default', 'aria-label': t('campaigns.f.default') }), h('span', { class: 'error-text', 'data-var-slot': 'defaults' })),
    h('td', {}, h('button', { type: 'button', onclick: () => row.remove() }, t('rules.caps.remove'))));
  $('variables').append(row);
}

function resetForm() {
  $('campaign-form').reset();
  $('variants').replaceChildren();
  $('variables').replaceChildren();
  variantRow('A', '0.5');
  variantRow('B', '0.5');
  syncToggles();
  clearErrors();
}

function syncToggles() {
  const windowOn = $('c-window-on').checked;
  for (const id of ['c-window-start', 'c-window-end', 'c-zone']) $(id).disabled = !windowOn;
  $('ab').hidden = !$('c-ab-on').checked;
  $('resend').hidden = !$('c-resend-on').checked;
  $('c-winner-hours').disabled = $('c-winner-metric').disabled = !$('c-winner-on').checked;
}

// A number typed as one goes as a number; anything else as typed (the API says what is wrong).
const num = (s) => (s.trim() !== '' && Number.isFinite(Number(s.trim())) ? Number(s.trim()) : s.trim());

/** The POST body; `slots` gains the error places of the variables (their pointers name the variable). */
function readForm() {
  const body = {
    name: $('c-name').value.trim(),
    segment_id: $('c-segment').value,
    traffic_type: $('c-traffic').value,
    fallback: $('c-fallback').value,
    throttle: num($('c-throttle').value),
  };
  if ($('c-template').value) body.template = $('c-template').value;
  if ($('c-window-on').checked) {
    body.window = { start: $('c-window-start').value.trim(), end: $('c-window-end').value.trim() };
    body.time_zone = $('c-zone').value.trim();
  }
  if ($('c-start').value) {
    const at = new Date($('c-start').value);
    body.start_at = Number.isNaN(at.getTime()) ? $('c-start').value : at.toISOString();
  }
  for (const row of $('variables').children) {
    const name = row.querySelector('[data-testid=var-name]').value.trim();
    const attribute = row.querySelector('[data-testid=var-attribute]').value.trim();
    const fallback = row.querySelector('[data-testid=var-default]').value;
    if (!name) continue;
    const ptr = name.replace(/~/g, '~0').replace(/\//g, '~1');
    row.querySelector('[data-var-slot=variables]').dataset.errorFor = `/variables/${ptr}`;
    row.querySelector('[data-var-slot=defaults]').dataset.errorFor = `/defaults/${ptr}`;
    if (attribute) (body.variables ??= {})[name] = attribute;
    if (fallback) (body.defaults ??= {})[name] = fallback;
  }
  if ($('c-ab-on').checked) {
    body.ab = {
      variants: [...$('variants').children].map((row) => {
        const v = { name: row.querySelector('[data-testid=v-name]').value.trim(), share: num(row.querySelector('[data-testid=v-share]').value) };
        const tpl = row.querySelector('[data-testid=v-template]').value;
        if (tpl) v.template = tpl;
        return v;
      }),
    };
    const holdout = num($('c-holdout').value);
    if (holdout !== '' && holdout !== 0) body.ab.holdout = holdout;
    if ($('c-winner-on').checked) body.ab.winner = { after_hours: num($('c-winner-hours').value), metric: $('c-winner-metric').value };
  }
  if ($('c-resend-on').checked) {
    body.resend = { after_hours: num($('c-resend-hours').value), unless: $('c-resend-unless').value };
    if ($('c-resend-as').value) body.resend.template = $('c-resend-as').value;
    else body.resend.channel = 'sms';
  }
  return body;
}

function clearErrors() {
  for (const slot of $('campaign-form').querySelectorAll('.error-text')) slot.textContent = '';
  for (const input of $('campaign-form').querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/** The field an error slot speaks of: named by data-field, else the only one beside it. */
function fieldOf(slot) {
  if (slot.dataset.field) return $(slot.dataset.field);
  const fields = slot.parentElement.querySelectorAll('input:not([type=checkbox]), select');
  return fields.length === 1 ? fields[0] : null;
}

/** Each field error next to the field its pointer names (or the nearest enclosing one). */
function showErrors(err) {
  const slots = new Map([...$('campaign-form').querySelectorAll('[data-error-for]')].map((s) => [s.dataset.errorFor, s]));
  const unplaced = [];
  for (const e of err.problem.errors || []) {
    let path = e.path;
    while (path && !slots.has(path)) path = path.slice(0, path.lastIndexOf('/'));
    const slot = path ? slots.get(path) : null;
    if (!slot) {
      unplaced.push(`${e.path || '/'}: ${e.message}`);
      continue;
    }
    slot.textContent = slot.textContent ? `${slot.textContent}; ${e.message}` : e.message;
    fieldOf(slot)?.setAttribute('aria-invalid', 'true');
  }
  $('form-error').textContent = unplaced.length ? unplaced.join('\n') : (err.problem.errors || []).length ? '' : err.describe();
}

async function create(e) {
  e.preventDefault();
  clearErrors();
  const body = readForm();
  try {
    const view = await api('POST', '/v1/campaigns', body);
    $('campaign-form').hidden = true;
    $('status').textContent = t('campaigns.created', { name: view.name });
    location.hash = encodeURIComponent(view.id);
    await tick();
  } catch (err) {
    if (err instanceof ApiError) showErrors(err);
    else $('form-error').textContent = String(err);
  }
}

async function openForm() {
  resetForm();
  $('campaign-form').hidden = false;
  $('campaign-form').scrollIntoView({ block: 'start' });
  try {
    await loadChoices();
  } catch (err) {
    $('form-error').textContent = err instanceof ApiError ? err.describe() : String(err);
  }
  $('c-name').focus();
}

// -- start ------------------------------------------------------------------------------------

async function main() {
  await startLanguage(() => { renderList(); loadDetail().catch(() => {}); });
  wireSignIn({ start, showSignIn });
  $('btn-new').addEventListener('click', openForm);
  $('btn-cancel-form').addEventListener('click', () => { $('campaign-form').hidden = true; });
  $('campaign-form').addEventListener('submit', create);
  $('campaign-form').addEventListener('change', syncToggles);
  $('c-segment').addEventListener('change', showCount);
  $('add-variant').addEventListener('click', () => variantRow());
  $('add-variable').addEventListener('click', variableRow);
  $('csv-group').addEventListener('change', () => csvLink(selected()));
  window.addEventListener('hashchange', () => tick());
  const s = await currentSession();
  if (s) await start(s);
  else showSignIn();
}

main();
