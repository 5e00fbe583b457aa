// The dashboard: a tenant's funnel (accepted → delivered → read → clicked → replied →
// converted) over a period or a batch, by day, hour and channel, drawn with uPlot (served from
// the app) and refreshed every 10 seconds. Every figure comes from GET /v1/analytics/funnel;
// the campaigns' funnels and costs from GET /v1/campaigns and /v1/campaigns/{id}/results; the
// SMS routes' health per carrier from GET /v1/sms/routes.

import { api, ApiError, signedIn } from './api.js';
import { h } from './dom.js';
import { funnelBars, STAGES } from './funnelbars.js';

const $ = (id) => document.getElementById(id);
// Every 10 seconds; `?refresh=N` (1–3600 seconds) for a wall screen or a test.
const REFRESH_MS = 1000 * Math.min(3600, Math.max(1, Number(new URLSearchParams(location.search).get('refresh')) || 10));
const charts = {};
let timer = null;

function pct(part, whole) {
  return whole ? `${((100 * part) / whole).toFixed(1)} %` : '–';
}

function scope() {
  const q = new URLSearchParams();
  const batch = $('f-batch').value.trim();
  if (batch) q.set('batch_id', batch);
  else q.set('since', new Date(Date.now() - Number($('f-days').value) * 86_400_000).toISOString());
  return q;
}

async function funnel(groupBy) {
  const q = scope();
  q.set('group_by', groupBy);
  return (await api('GET', `/v1/analytics/funnel?${q}`)).data;
}

function kpis(all, channels) {
  const t = all[0] || Object.fromEntries([...STAGES, 'opted_out'].map((s) => [s, 0]));
  $('kpis').querySelector('[data-testid=kpi-accepted]').textContent = t.accepted.toLocaleString();
  for (const [stage, base] of [['delivered', 'accepted'], ['read', 'delivered'], ['clicked', 'delivered'], ['replied', 'delivered'], ['converted', 'delivered']]) {
    const el = $('kpis').querySelector(`[data-testid=kpi-${stage}]`);
    el.textContent = `${t[stage].toLocaleString()} · ${pct(t[stage], t[base])}`;
  }
  const sms = channels.find((c) => c.group === 'sms');
  $('kpis').querySelector('[data-testid=kpi-sms]').textContent = pct(sms ? sms.accepted : 0, t.accepted);
  const over = Boolean(t.complaint_rate_over_limit);
  $('kpi-complaints').classList.toggle('over', over);
  $('kpis').querySelector('[data-testid=kpi-complaints]').textContent = `${t.opted_out || 0} · ${pct(t.opted_out || 0, t.delivered)}`;
}

// Counts of messages: whole-number ticks only.
const COUNT_AXIS = { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7] };

// Days and hours are China's, whatever the browser's own time zone.
const chinaDate = (ts) => window.uPlot.tzDate(new Date(ts * 1000), 'Asia/Shanghai');

function draw(name, el, opts, data) {
  if (charts[name]) charts[name].destroy();
  const width = Math.max(320, el.clientWidth || 420);
  charts[name] = new window.uPlot({ width, height: 220, tzDate: chinaDate, ...opts }, data, el);
}

function rate(part, whole) {
  return whole ? (100 * part) / whole : null;
}

// Every day of the period (China time), those without messages empty: one point per day.
function periodDays(days) {
  const byDay = new Map(days.map((d) => [d.group, d]));
  const chinaDay = (ms) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);
  const batch = $('f-batch').value.trim();
  const first = batch && days.length ? days[0].group : chinaDay(Date.now() - (Number($('f-days').value) - 1) * 86_400_000);
  const last = batch && days.length ? days[days.length - 1].group : chinaDay(Date.now());
  const out = [];
  for (let t = Date.parse(`${first}T00:00:00+08:00`); t <= Date.parse(`${last}T00:00:00+08:00`); t += 86_400_000) {
    out.push([t / 1000, byDay.get(chinaDay(t))]);
  }
  return out;
}

function dayChart(days) {
  const period = periodDays(days);
  const x = period.map(([t]) => t);
  const of = (fn) => period.map(([, d]) => (d ? fn(d) : null));
  draw('days', $('chart-days'), {
    scales: { x: { range: [x[0] - 43_200, x[x.length - 1] + 43_200] }, y: { range: [0, 100] } },
    axes: [{}, { values: (_u, ticks) => ticks.map((v) => `${v} %`) }],
    series: [
      {},
      { label: 'Delivered', stroke: '#1565c0', value: (_u, v) => (v == null ? '–' : `${v.toFixed(1)} %`) },
      { label: 'Read', stroke: '#2e7d32', value: (_u, v) => (v == null ? '–' : `${v.toFixed(1)} %`) },
      { label: 'Clicked', stroke: '#ef6c00', value: (_u, v) => (v == null ? '–' : `${v.toFixed(1)} %`) },
    ],
  }, [x, of((d) => rate(d.delivered, d.accepted)), of((d) => rate(d.read, d.delivered)), of((d) => rate(d.clicked, d.delivered))]);
}

function hourChart(hours) {
  const byHour = new Map(hours.map((h) => [h.group, h]));
  const x = [...Array(24).keys()];
  const bars = window.uPlot.paths.bars({ size: [0.7, 40] });
  draw('hours', $('chart-hours'), {
    scales: { x: { time: false, range: [-0.5, 23.5] } },
    axes: [{ incrs: [1, 2, 3, 6], values: (_u, ticks) => ticks.map((v) => `${v}:00`) }, COUNT_AXIS],
    series: [
      { label: 'Hour' },
      { label: 'Accepted', stroke: '#1565c0', fill: 'rgba(21,101,192,0.3)', paths: bars },
      { label: 'Read', stroke: '#2e7d32', fill: 'rgba(46,125,50,0.3)', paths: bars },
    ],
  }, [x, x.map((h) => byHour.get(h)?.accepted ?? 0), x.map((h) => byHour.get(h)?.read ?? 0)]);
}

function funnelChart(all) {
  const t = all[0];
  const x = STAGES.map((_s, i) => i);
  draw('funnel', $('chart-funnel'), {
    scales: { x: { time: false, range: [-0.5, STAGES.length - 0.5] } },
    axes: [{ incrs: [1], values: (_u, ticks) => ticks.map((v) => STAGES[v] ?? '') }, COUNT_AXIS],
    series: [{ label: 'Stage' }, { label: 'Messages', stroke: '#6a1b9a', fill: 'rgba(106,27,154,0.3)', paths: window.uPlot.paths.bars({ size: [0.6, 80] }) }],
  }, [x, STAGES.map((s) => (t ? t[s] : 0))]);
}

function channelRows(channels) {
  $('channel-rows').replaceChildren(...channels.map((c) => {
    const tr = document.createElement('tr');
    tr.setAttribute('data-testid', `channel-${c.group}`);
    for (const v of [c.group.toUpperCase(), ...STAGES.map((s) => c[s]), c.opted_out]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  }));
}

// -- campaigns ----------------------------------------------------------------------------------

const CAMPAIGNS_SHOWN = 10; // the campaigns launched last
const CARRIERS = { cmcc: 'China Mobile', cucc: 'China Unicom', ctcc: 'China Telecom', other: 'Other' };

/** The launched campaigns (every page of the list), the latest first. */
async function launchedCampaigns() {
  const all = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ limit: '100' });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `/v1/campaigns?${q}`);
    all.push(...page.data.filter((c) => c.launched_at));
    cursor = page.next_cursor;
  } while (cursor && all.length < 1000);
  return all.sort((a, b) => b.launched_at.localeCompare(a.launched_at)).slice(0, CAMPAIGNS_SHOWN);
}

/** The first sends' funnel of a campaign: its variants' funnels added up. */
function firstSends(results) {
  const sum = Object.fromEntries(STAGES.map((s) => [s, 0]));
  for (const v of results.variants) for (const s of STAGES) sum[s] += v.funnel ? v.funnel[s] : 0;
  return sum;
}

function campaignTables(list) {
  const carriers = [...new Set(list.flatMap(({ results }) => Object.keys(results.cost).filter((k) => k !== 'total')))].sort();
  const cell = (text, testid) => h('td', { 'data-testid': testid }, text);
  $('campaign-funnel-rows').replaceChildren(...list.map(({ c, results, funnel }) => h('tr', { 'data-testid': 'campaign-funnel-row', 'data-id': c.id },
    h('th', {}, h('a', { href: `/editor/campaigns#${encodeURIComponent(c.id)}` }, c.name)),
    cell(c.status),
    cell(String(c.audience ?? 0)),
    ...STAGES.map((s) => cell(funnel[s].toLocaleString(), `cf-${s}`)),
    cell(String(results.resend ? results.resend.accepted : 0), 'cf-resent'),
    cell(results.cost.total, 'cf-cost'))));
  $('campaign-cost-head').replaceChildren(h('th', {}, 'Campaign'), ...carriers.map((k) => h('th', {}, CARRIERS[k] || k)), h('th', {}, 'Total'));
  $('campaign-cost-rows').replaceChildren(...list.map(({ c, results }) => h('tr', { 'data-testid': 'campaign-cost-row', 'data-id': c.id },
    h('th', {}, c.name),
    ...carriers.map((k) => cell(results.cost[k] ?? '0.0000', `cost-${k}`)),
    cell(results.cost.total, 'cost-total'))));
}

async function loadCampaigns() {
  let list;
  try {
    list = await launchedCampaigns();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) { // no access to campaigns: no section
      $('campaigns').hidden = true;
      return;
    }
    throw err;
  }
  const shown = await Promise.all(list.map(async (c) => {
    const results = await api('GET', `/v1/campaigns/${encodeURIComponent(c.id)}/results`);
    return { c, results, funnel: firstSends(results) };
  }));
  $('campaigns').hidden = false;
  $('campaigns-note').textContent = shown.length ? `(the ${shown.length} launched last, all time)` : '(none launched yet)';
  funnelBars($('campaign-funnels'), shown.map(({ c, funnel }) => ({ name: c.name, row: funnel })), (s) => s[0].toUpperCase() + s.slice(1));
  campaignTables(shown);
}

// -- SMS routes -----------------------------------------------------------------------------------

const CARRIER_NAMES = {
  china_mobile: 'China Mobile', china_unicom: 'China Unicom', china_telecom: 'China Telecom',
  china_broadnet: 'China Broadnet', default: 'Other numbers',
};
const STATES = { in_rotation: 'in rotation', probing: 'probing', out_of_rotation: 'out of rotation' };

function seconds(v) {
  return v >= 1 ? `${v.toFixed(2)} s` : `${Math.round(v * 1000)} ms`;
}

/** One row per carrier and route (a route serving several carriers shows under each). */
function routeRows(routes) {
  const rows = routes.flatMap((r) => (r.carriers && r.carriers.length ? r.carriers : [{ carrier: '–', role: '–', tier: 0 }]).map((c) => ({ c, r })));
  rows.sort((a, b) => a.c.carrier.localeCompare(b.c.carrier) || a.c.tier - b.c.tier || a.r.route.localeCompare(b.r.route));
  const cell = (text, testid) => h('td', { 'data-testid': testid }, text);
  $('route-rows').replaceChildren(...rows.map(({ c, r }) => h('tr', { 'data-testid': 'route-row', 'data-carrier': c.carrier, 'data-route': r.route },
    h('th', {}, CARRIER_NAMES[c.carrier] || c.carrier),
    cell(c.role, 'route-tier'),
    cell(r.route, 'route-name'),
    cell(r.kind || '–', 'route-kind'),
    h('td', { 'data-testid': 'route-state', class: `route-state ${r.state}`, title: r.reason || '' }, STATES[r.state] || r.state),
    cell(r.samples ? `${(100 * r.error_rate).toFixed(1)} % of ${r.samples}` : '–', 'route-errors'),
    cell(r.samples ? `${seconds(r.latency_p50 ?? 0)} / ${seconds(r.latency_p95 ?? 0)}` : '–', 'route-latency'),
    cell(r.throttled ? `yes (${r.throttles})` : (r.throttles ? `no (${r.throttles} before)` : 'no'), 'route-throttled'),
    cell(r.last_error ? `${r.last_error} at ${new Date(r.last_error_at).toLocaleTimeString()}` : '–', 'route-last-error'),
    cell(r.changed_at ? new Date(r.changed_at).toLocaleString() : '–', 'route-changed'))));
}

async function loadRoutes() {
  let body;
  try {
    body = await api('GET', '/v1/sms/routes');
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) { // no access: no section
      $('routes').hidden = true;
      return;
    }
    throw err;
  }
  $('routes').hidden = false;
  const out = body.data.filter((r) => r.state !== 'in_rotation').length;
  const from = body.source === 'shared' ? ' · as the dispatch processes reported' : '';
  $('routes-note').textContent = body.data.length ? `(${body.data.length} routes, ${out} not in rotation${from})` : '(no SMS route is configured)';
  routeRows(body.data);
}

async function load() {
  clearTimeout(timer);
  try {
    const [all, days, hours, channels] = await Promise.all(['none', 'day', 'hour', 'channel'].map(funnel));
    await loadCampaigns();
    await loadRoutes();
    kpis(all, channels);
    dayChart(days);
    hourChart(hours);
    funnelChart(all);
    channelRows(channels);
    const csv = scope();
    csv.set('group_by', 'day');
    csv.set('format', 'csv');
    $('csv').href = `/v1/analytics/funnel?${csv}`;
    $('status').textContent = `Updated ${new Date().toLocaleTimeString()}`;
    $('app').dataset.loaded = String(Number($('app').dataset.loaded || 0) + 1);
  } catch (err) {
    $('status').textContent = err instanceof ApiError ? err.describe() : String(err);
  }
  timer = setTimeout(load, REFRESH_MS);
}

async function main() {
  if (!(await signedIn($('status'), $('tenant-name')))) return;
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); load(); });
  await load();
}

main();
