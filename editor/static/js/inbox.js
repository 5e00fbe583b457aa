// The agent inbox: the tenant's open conversations (the queue first, longest waiting on top),
// live through the server-sent events of GET /v1/conversations/events; one conversation's thread
// both ways; assign to me, back to the queue, take over from the bot, close; a reply with text
// or a card from the library (GET /v1/templates); the queue and response-time figures of
// GET /v1/conversations/stats. Signed in like the editor (session cookie, CSRF token on writes);
// a person's role or a key needs `conversations` (write to answer).

import { api, ApiError, currentSession, setCsrf } from './api.js';
import { h } from './dom.js';
import { startLanguage, wireSignIn } from './pageshell.js';
import { locale, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const STATS_MS = 15000; // the figures again at least this often (and soon after each change)
const MAX_THREAD = 500; // messages kept on the page for the open conversation
const FILTERS = {
  open: { states: ['queued', 'assigned'], keep: (c) => c.state === 'queued' || c.state === 'assigned' },
  mine: { states: ['assigned'], assignee: 'me', keep: (c) => c.state === 'assigned' && c.assignee === me() },
  bot: { states: ['bot'], keep: (c) => c.state === 'bot' },
  closed: { states: ['closed'], keep: (c) => c.state === 'closed' },
};
const STATE_ORDER = { queued: 0, assigned: 1, bot: 2, closed: 3 };

let session = null;
let canWrite = false;
const conversations = new Map(); // id → Conversation (every one seen)
let openId = null; // the conversation shown
let thread = []; // its messages, oldest first
let events = null; // the EventSource
let statsTimer = null;
let statsSoon = null;
let clock = null;

const me = () => session?.user?.id ?? null;
const filter = () => document.querySelector('input[name=filter]:checked')?.value || 'open';

/** Milliseconds since the epoch of an API time (ISO 8601, or seconds since the epoch). */
function ms(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

/** "45 s", "3 min", "2 h 5 min". */
function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t('inbox.seconds', { n: s });
  if (s < 3600) return t('inbox.minutes', { n: Math.floor(s / 60) });
  return t('inbox.hours', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

const describe = (err) => (err instanceof ApiError ? err.describe() : String(err));

// -- sign-in ------------------------------------------------------------------------------------

function showSignIn() {
  stopLive();
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-login').focus();
}

async function start(s) {
  session = s;
  setCsrf(s.csrf_token);
  $('signin').hidden = true;
  $('app').hidden = false;
  $('tenant-name').textContent = s.user ? `${s.tenant_name} · ${s.user.login} (${s.user.role})` : s.tenant_name;
  const level = s.can?.conversations;
  if (!level) {
    $('status').textContent = t('inbox.no.scope');
    return;
  }
  canWrite = level === 'write';
  $('filter-mine-label')?.toggleAttribute('hidden', !s.user);
  loadTemplates();
  startLive();
  await Promise.all([reload(), loadStats()]);
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted) await openConversation(wanted);
  clock = setInterval(tickTimes, 1000);
}

// -- the list -----------------------------------------------------------------------------------

async function reload() {
  const f = FILTERS[filter()];
  try {
    const pages = await Promise.all(f.states.map((state) => {
      const q = new URLSearchParams({ state, limit: '100' });
      if (f.assignee) q.set('assignee', f.assignee);
      return api('GET', `/v1/conversations?${q}`);
    }));
    for (const page of pages) for (const c of page.conversations) conversations.set(c.id, c);
    $('status').textContent = '';
  } catch (err) {
    $('status').textContent = describe(err);
  }
  renderList();
}

function ordered() {
  const keep = FILTERS[filter()].keep;
  return [...conversations.values()].filter(keep).sort((a, b) => {
    const byState = STATE_ORDER[a.state] - STATE_ORDER[b.state];
    if (byState) return byState;
    if (a.state === 'queued') return (ms(a.waiting_since) ?? 0) - (ms(b.waiting_since) ?? 0);
    if (a.state === 'assigned' && (a.assignee === me()) !== (b.assignee === me())) return a.assignee === me() ? -1 : 1;
    return (ms(b.updated_at) ?? 0) - (ms(a.updated_at) ?? 0);
  });
}

function preview(m) {
  if (!m) return '';
  if (m.text) return m.text;
  if (m.kind === 'card') return `[${t('inbox.kind.card')}] ${cardTitle(m.card) || ''}`;
  if (m.kind === 'template') return `[${t('inbox.kind.template')}] ${m.template?.name || ''}`;
  return `[${t(`inbox.kind.${m.kind}`)}]`;
}

function waitingText(c) {
  const since = ms(c.waiting_since);
  return since === null ? '' : t('inbox.waiting', { time: duration((Date.now() - since) / 1000) });
}

function assigneeText(c) {
  if (!c.assignee) return '';
  return c.assignee === me() ? t('inbox.assignee.me') : t('inbox.assignee.other');
}

function row(c) {
  return h('li', {
    class: `conversation ${c.state}${c.id === openId ? ' selected' : ''}`,
    'data-testid': 'conversation', 'data-id': c.id, 'data-state': c.state,
  },
  h('a', { href: `#${encodeURIComponent(c.id)}`, 'data-testid': 'conversation-open' },
    h('div', { class: 'conv-head' },
      h('span', { class: 'number', 'data-testid': 'conversation-number' }, c.contact?.number_masked || '–'),
      h('span', { class: 'chip' }, t(`inbox.channel.${c.channel}`)),
      h('span', { class: `state ${c.state}`, 'data-testid': 'conversation-state' }, t(`inbox.state.${c.state}`)),
      c.unanswered ? h('span', { class: 'badge', 'data-testid': 'conversation-unanswered', 'aria-label': t('inbox.unanswered', { n: c.unanswered }) }, String(c.unanswered)) : null),
    h('div', { class: 'conv-meta' },
      h('span', { class: 'waiting', 'data-since': c.waiting_since ?? '', 'data-testid': 'conversation-waiting' }, waitingText(c)),
      h('span', { class: 'assignee' }, assigneeText(c))),
    h('div', { class: 'conv-last muted', 'data-testid': 'conversation-last' }, preview(c.last_message))));
}

function renderList() {
  const rows = ordered().map(row);
  $('conversations').replaceChildren(...rows);
  $('list-empty').hidden = rows.length > 0;
}

function tickTimes() {
  for (const el of document.querySelectorAll('.waiting[data-since]')) {
    const since = ms(el.dataset.since);
    el.textContent = since === null ? '' : t('inbox.waiting', { time: duration((Date.now() - since) / 1000) });
  }
}

// -- one conversation ---------------------------------------------------------------------------

async function openConversation(id) {
  if (!id) {
    openId = null;
    $('detail').hidden = true;
    renderList();
    return;
  }
  try {
    const view = await api('GET', `/v1/conversations/${encodeURIComponent(id)}`);
    const { messages, ...conversation } = view;
    conversations.set(conversation.id, conversation);
    openId = conversation.id;
    thread = (messages || []).slice(-MAX_THREAD);
    $('reply-error').textContent = '';
    renderDetail();
    renderList();
  } catch (err) {
    $('status').textContent = describe(err);
  }
}

function cardTitle(card) {
  // The first title (or description) anywhere in a GSMA card.
  const seen = [card];
  while (seen.length) {
    const node = seen.shift();
    if (node && typeof node === 'object') {
      if (typeof node.title === 'string') return node.title;
      if (typeof node.description === 'string') return node.description;
      seen.push(...Object.values(node));
    }
  }
  return '';
}

function authorText(m) {
  if (m.author === 'agent') return m.agent_id && m.agent_id === me() ? t('inbox.author.you') : t('inbox.author.agent');
  return t(`inbox.author.${m.author}`);
}

function matchedText(m) {
  // What the bot's answer came from (or what the user's message was): a rule, an FAQ entry,
  // the AI answerer, an ask-back, a hand-off, an opt-out.
  const found = m.matched;
  if (!found) return null;
  let what;
  if (found.rule_id) what = t('inbox.matched.rule', { id: found.rule_id });
  else if (found.faq_id) what = t('inbox.matched.faq', { id: found.faq_id });
  else if (found.ask_back) what = t('inbox.matched.ask_back');
  else if (found.handoff) what = t('inbox.matched.handoff');
  else if (found.opt_out) what = t('inbox.matched.opt_out');
  else if (found.answerer) what = t('inbox.matched.answerer');
  else return null;
  const confidence = typeof found.confidence === 'number' ? ` · ${(found.confidence * 100).toFixed(0)}%` : '';
  return h('span', { class: 'matched', 'data-testid': 'message-matched' }, what + confidence);
}

function bubble(m) {
  const at = ms(m.at);
  const body = [];
  if (m.kind === 'card') {
    body.push(h('div', { class: 'card-preview' }, h('strong', {}, t('inbox.kind.card')), ' ', cardTitle(m.card)));
  } else if (m.kind === 'template') {
    const version = m.template?.version ? ` v${m.template.version}` : '';
    body.push(h('div', { class: 'card-preview', 'data-testid': 'message-template' }, h('strong', {}, t('inbox.kind.template')), ' ', `${m.template?.name || ''}${version}`));
  }
  if (m.text) body.push(h('p', { class: 'text', 'data-testid': 'message-text' }, m.text));
  if (!m.text && m.kind !== 'card' && m.kind !== 'template') body.push(h('p', { class: 'text muted' }, `[${t(`inbox.kind.${m.kind}`)}]`));
  return h('li', {
    class: `message ${m.direction} ${m.author}`, 'data-testid': 'message', 'data-id': m.id,
    'data-direction': m.direction, 'data-author': m.author,
  },
  h('div', { class: 'message-meta muted' },
    h('span', {}, authorText(m)),
    at === null ? null : h('time', { datetime: new Date(at).toISOString() }, new Date(at).toLocaleTimeString(locale())),
    m.status ? h('span', { class: 'status', 'data-testid': 'message-status' }, m.status) : null,
    matchedText(m)),
  body);
}

function renderThread() {
  const list = $('thread');
  const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
  list.replaceChildren(...thread.map(bubble));
  if (stick) list.scrollTop = list.scrollHeight;
}

function renderDetail() {
  const c = conversations.get(openId);
  if (!c) return;
  $('detail').hidden = false;
  $('detail').dataset.id = c.id;
  $('detail').dataset.state = c.state;
  $('d-number').textContent = c.contact?.number_masked || '–';
  $('d-channel').textContent = t(`inbox.channel.${c.channel}`);
  $('d-state').textContent = t(`inbox.state.${c.state}`);
  $('d-state').className = `state ${c.state}`;
  $('d-assignee').textContent = c.assignee ? assigneeText(c) : waitingText(c);
  const mine = c.state === 'assigned' && (c.assignee === me() || !session?.user);
  // An API key is nobody: it cannot take a conversation (it may answer one a person holds).
  $('btn-assign').hidden = !canWrite || !session?.user || c.state === 'closed' || (c.state === 'assigned' && c.assignee === me());
  $('btn-unassign').hidden = !canWrite || c.state !== 'assigned';
  $('btn-handoff').hidden = !canWrite || c.state !== 'bot';
  $('btn-close').hidden = !canWrite || c.state === 'closed';
  $('reply-form').hidden = !canWrite || !mine;
  $('d-readonly').hidden = !canWrite || mine || c.state === 'closed';
  renderThread();
}

async function act(path, body) {
  $('reply-error').textContent = '';
  try {
    const view = await api('POST', `/v1/conversations/${encodeURIComponent(openId)}/${path}`, body);
    if (view && view.id) {
      const { messages, ...conversation } = view;
      conversations.set(conversation.id, conversation);
    }
    await openConversation(openId);
    scheduleStats();
  } catch (err) {
    $('reply-error').textContent = describe(err);
  }
}

async function send(body) {
  $('reply-error').textContent = '';
  const id = openId;
  try {
    const { message } = await api('POST', `/v1/conversations/${encodeURIComponent(id)}/messages`, body);
    if (id === openId) addMessage(message);
    return true;
  } catch (err) {
    $('reply-error').textContent = describe(err);
    return false;
  }
}

function addMessage(message) {
  const at = thread.findIndex((m) => m.id === message.id);
  if (at >= 0) thread[at] = message;
  else thread.push(message);
  if (thread.length > MAX_THREAD) thread.splice(0, thread.length - MAX_THREAD);
  renderThread();
}

// -- the card library ---------------------------------------------------------------------------

let templateNames = [];

async function loadTemplates() {
  try {
    const page = await api('GET', '/v1/templates?limit=100');
    // A reply names the template (its current version), as a send does.
    templateNames = page.data.map((tpl) => tpl.name).filter(Boolean);
    renderTemplates();
  } catch (err) {
    $('reply-template').disabled = true; // no read access to the library: text only
  }
}

function renderTemplates() {
  const chosen = $('reply-template').value;
  const options = templateNames.map((name) => h('option', { value: name }, name));
  $('reply-template').replaceChildren(h('option', { value: '' }, t('inbox.reply.choose')), ...options);
  $('reply-template').value = chosen;
}

// -- live: server-sent events and the figures ---------------------------------------------------

function setLive(state) {
  $('live').dataset.state = state;
  $('live').textContent = t(`inbox.live.${state}`);
}

function startLive() {
  stopLive();
  events = new EventSource('/v1/conversations/events');
  setLive('connecting');
  events.addEventListener('open', () => setLive('on'));
  events.addEventListener('error', () => setLive(events.readyState === EventSource.CLOSED ? 'off' : 'connecting'));
  events.addEventListener('conversation', (e) => {
    const c = JSON.parse(e.data);
    conversations.set(c.id, c);
    renderList();
    if (c.id === openId) renderDetail();
    scheduleStats();
  });
  events.addEventListener('message', (e) => {
    const { conversation_id: id, message } = JSON.parse(e.data);
    if (id === openId) addMessage(message);
  });
  // The server dropped events for this page (it fell behind): read everything again.
  events.addEventListener('resync', () => { reload(); if (openId) openConversation(openId); scheduleStats(); });
  statsTimer = setInterval(loadStats, STATS_MS);
}

function stopLive() {
  if (events) events.close();
  events = null;
  clearInterval(statsTimer);
  clearInterval(clock);
  clearTimeout(statsSoon);
}

function scheduleStats() {
  clearTimeout(statsSoon);
  statsSoon = setTimeout(loadStats, 500);
}

async function loadStats() {
  try {
    const s = await api('GET', '/v1/conversations/stats?hours=24');
    $('stat-queued').textContent = String(s.queued ?? '–');
    $('stat-assigned').textContent = String(s.assigned ?? '–');
    $('stat-oldest').textContent = s.oldest_waiting_s === null || s.oldest_waiting_s === undefined ? '–' : duration(s.oldest_waiting_s);
    $('stat-p50').textContent = duration(s.first_response_s?.p50);
    $('stat-p90').textContent = duration(s.first_response_s?.p90);
    $('stat-bot').textContent = typeof s.handled_by_bot_pct === 'number' ? `${s.handled_by_bot_pct.toFixed(0)}%` : '–';
  } catch (err) {
    /* the figures wait for the next round */
  }
}

// -- start --------------------------------------------------------------------------------------

async function main() {
  await startLanguage(() => { renderList(); renderTemplates(); if (openId) renderDetail(); loadStats(); setLive($('live').dataset.state); });
  wireSignIn({ start, showSignIn, describe });
  for (const radio of document.querySelectorAll('input[name=filter]')) radio.addEventListener('change', reload);
  window.addEventListener('hashchange', () => openConversation(decodeURIComponent(location.hash.slice(1))));
  $('btn-assign').addEventListener('click', () => act('assign', { assignee: 'me' }));
  $('btn-unassign').addEventListener('click', () => act('assign', { assignee: null }));
  $('btn-handoff').addEventListener('click', () => act('handoff'));
  $('btn-close').addEventListener('click', () => act('close'));
  $('reply-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('reply-text').value.trim();
    if (!text) return;
    if (await send({ text })) $('reply-text').value = '';
  });
  $('reply-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('reply-form').requestSubmit();
  });
  $('btn-send-card').addEventListener('click', async () => {
    const name = $('reply-template').value;
    if (!name) {
      $('reply-error').textContent = t('inbox.reply.no.card');
      return;
    }
    if (await send({ template_id: name })) $('reply-template').value = '';
  });
  const s = await currentSession();
  if (s) await start(s);
  else showSignIn();
}

main();
