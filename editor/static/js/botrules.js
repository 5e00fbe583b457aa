// The bot rules page: the tenant's ordered rules (GET / PUT /v1/conversations/rules, the whole
// list at once; the first enabled rule that matches an inbound answers), the FAQ / AI confidence
// threshold and what happens below it, and a test console (POST /v1/conversations/rules/test:
// "if a user sends X, this happens", nothing sent). Each field error of the API's problem is
// shown under its rule. Signed in like the editor; writing needs `conversations` write.

import { api, ApiError, currentSession, setCsrf } from './api.js';
import { h } from './dom.js';
import { startLanguage, wireSignIn } from './pageshell.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const MATCH_KINDS = ['exact', 'prefix', 'regex', 'number', 'postback', 'menu', 'any'];
const ACTION_KINDS = ['text', 'card', 'template', 'menu', 'tag', 'handoff'];
const CHANNELS = ['rcs', 'sms'];

let rules = []; // the rules as the API holds them (unknown parts kept as they are)
let templateNames = [];
let canWrite = false;
let errors = []; // the last save's field errors

const describe = (err) => (err instanceof ApiError ? (err.problem.errors?.length ? err.describe() : err.problem.detail || err.message) : String(err));

// -- sign-in ------------------------------------------------------------------------------------

function showSignIn() {
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-login').focus();
}

async function start(s) {
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
  for (const id of ['btn-add', 'btn-save']) $(id).hidden = !canWrite;
  try {
    templateNames = (await api('GET', '/v1/templates?limit=100')).data.map((tpl) => tpl.name).filter(Boolean);
  } catch (err) {
    templateNames = [];
  }
  await load();
}

async function load() {
  try {
    const doc = await api('GET', '/v1/conversations/rules');
    rules = doc.rules;
    $('threshold').value = String(doc.threshold);
    $('on-miss').value = doc.on_miss;
    errors = [];
    render();
    $('main').hidden = false; // shown once loaded: nothing typed before is overwritten
  } catch (err) {
    $('status').textContent = describe(err);
  }
}

// -- one rule's form ----------------------------------------------------------------------------

function select(name, values, chosen, prefix) {
  return h('select', { 'data-field': name, 'data-testid': `rule-${name.replace('.', '-')}`, 'aria-label': t(`botrules.field.${name}`) },
    values.map((v) => h('option', { value: v, selected: v === chosen }, t(`${prefix}.${v}`))));
}

function input(name, value, attrs = {}) {
  return h('input', { 'data-field': name, 'data-testid': `rule-${name.replace('.', '-')}`, value: value ?? '', 'aria-label': t(`botrules.field.${name}`), ...attrs });
}

function area(name, value, rows = 2) {
  const label = t(`botrules.field.${name}`);
  return h('textarea', { 'data-field': name, 'data-testid': `rule-${name.replace('.', '-')}`, rows, 'aria-label': label, placeholder: label }, value ?? '');
}

function optionsText(options) {
  return (options || []).map((o) => (o.postback && o.postback !== o.label ? `${o.label} | ${o.postback}` : o.label)).join('\n');
}

function actionFields(action) {
  const kind = action.kind;
  const out = [];
  if (kind === 'card') out.push(area('action.card', action.card ? JSON.stringify(action.card, null, 2) : '', 6));
  if (kind === 'template') {
    const names = templateNames.includes(action.template) || !action.template ? templateNames : [action.template, ...templateNames];
    out.push(h('select', { 'data-field': 'action.template', 'data-testid': 'rule-action-template', 'aria-label': t('botrules.field.action.template') },
      h('option', { value: '' }, t('inbox.reply.choose')),
      names.map((n) => h('option', { value: n, selected: n === action.template }, n))));
  }
  if (kind === 'tag') out.push(input('action.tag', action.tag, { maxlength: 64 }));
  if (['text', 'menu', 'tag', 'handoff'].includes(kind)) {
    out.push(area('action.text', action.text, kind === 'text' || kind === 'menu' ? 3 : 1));
  }
  if (kind === 'menu') out.push(area('action.options', optionsText(action.options), 4));
  return out;
}

function ruleItem(rule, i) {
  const match = rule.match || { kind: 'exact' };
  const action = rule.action || { kind: 'text' };
  const channels = match.channels || CHANNELS;
  const mine = errors.filter((e) => e.path === `/rules/${i}` || e.path.startsWith(`/rules/${i}/`));
  const move = (delta) => () => { collect(); const [r] = rules.splice(i, 1); rules.splice(i + delta, 0, r); render(); };
  return h('li', { class: `rule${rule.enabled === false ? ' disabled' : ''}`, 'data-testid': 'rule', 'data-index': i },
    h('div', { class: 'reply-row' },
      h('label', {}, h('input', { type: 'checkbox', 'data-field': 'enabled', checked: rule.enabled !== false, 'data-testid': 'rule-enabled' }), ' ', t('botrules.enabled')),
      input('id', rule.id, { size: 10, maxlength: 32 }),
      input('name', rule.name, { maxlength: 200, class: 'grow' }),
      canWrite ? [
        h('button', { type: 'button', class: 'small', disabled: i === 0, onclick: move(-1), 'aria-label': t('botrules.up') }, '↑'),
        h('button', { type: 'button', class: 'small', disabled: i === rules.length - 1, onclick: move(1), 'aria-label': t('botrules.down') }, '↓'),
        h('button', { type: 'button', class: 'small danger', 'data-testid': 'rule-remove', onclick: () => { collect(); rules.splice(i, 1); render(); } }, t('botrules.remove')),
      ] : null),
    h('div', { class: 'reply-row' },
      h('span', { class: 'muted' }, t('botrules.when')),
      select('match.kind', MATCH_KINDS, match.kind, 'botrules.match'),
      match.kind === 'any' ? null : input('match.value', match.value, { maxlength: 500, class: 'grow' }),
      match.kind === 'number' ? input('match.menu', match.menu, { size: 10, maxlength: 32, placeholder: t('botrules.field.match.menu') }) : null,
      CHANNELS.map((c) => h('label', {}, h('input', { type: 'checkbox', 'data-field': `channel.${c}`, checked: channels.includes(c) }), ' ', t(`inbox.channel.${c}`)))),
    h('div', { class: 'reply-row' },
      h('span', { class: 'muted' }, t('botrules.then')),
      select('action.kind', ACTION_KINDS, action.kind, 'botrules.action'),
      actionFields(action)),
    mine.length ? h('ul', { class: 'error-text', 'data-testid': 'rule-errors' }, mine.map((e) => h('li', {}, `${e.path.slice(`/rules/${i}`.length) || '/'}: ${e.message}`))) : null);
}

function render() {
  const items = rules.map(ruleItem);
  $('rules').replaceChildren(...items);
  $('rules-empty').hidden = rules.length > 0;
  for (const el of document.querySelectorAll('[data-error-for]')) {
    el.textContent = errors.filter((e) => e.path === el.dataset.errorFor).map((e) => e.message).join(' · ');
  }
  for (const el of $('rules').querySelectorAll('[data-field="match.kind"], [data-field="action.kind"]')) {
    el.addEventListener('change', () => { collect(); render(); });
  }
  for (const el of $('rules-form').querySelectorAll('input, select, textarea, button.small')) {
    if (!canWrite) el.disabled = true;
  }
}

/** The form's rules as the API takes them (each starts from the rule as it was). */
function collect() {
  const items = [...$('rules').querySelectorAll('[data-testid=rule]')];
  rules = items.map((li, i) => {
    const before = rules[i] || {};
    const field = (name) => li.querySelector(`[data-field="${name}"]`);
    const value = (name) => field(name)?.value;
    const rule = { ...before, id: value('id').trim(), name: value('name').trim() || value('id').trim(), enabled: field('enabled').checked };
    const match = { kind: value('match.kind') };
    if (match.kind !== 'any') match.value = value('match.value') ?? before.match?.value ?? '';
    if (match.kind === 'number' && value('match.menu')?.trim()) match.menu = value('match.menu').trim();
    const channels = CHANNELS.filter((c) => field(`channel.${c}`).checked);
    if (channels.length !== CHANNELS.length) match.channels = channels;
    rule.match = match;
    const kind = value('action.kind');
    const old = before.action?.kind === kind ? before.action : {};
    const action = { ...old, kind };
    const text = value('action.text');
    if (text !== undefined) {
      if (text.trim()) action.text = text;
      else delete action.text;
    }
    if (kind === 'card') {
      const raw = value('action.card') || '';
      try {
        action.card = raw.trim() ? JSON.parse(raw) : undefined;
      } catch (err) {
        action.card = raw; // sent as it is: the API names the field
      }
    }
    if (kind === 'template') action.template = value('action.template') || undefined;
    if (kind === 'tag') action.tag = value('action.tag');
    if (kind === 'menu') {
      action.options = (value('action.options') || '').split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
        const [label, postback] = line.split('|').map((p) => p.trim());
        return postback ? { label, postback } : { label };
      });
    }
    rule.action = action;
    return rule;
  });
}

async function save(e) {
  e.preventDefault();
  collect();
  $('rules-error').textContent = '';
  const body = { rules, threshold: Number($('threshold').value), on_miss: $('on-miss').value };
  try {
    const doc = await api('PUT', '/v1/conversations/rules', body);
    rules = doc.rules;
    errors = [];
    render();
    $('status').textContent = t('botrules.saved');
  } catch (err) {
    errors = err instanceof ApiError ? err.problem.errors || [] : [];
    $('rules-error').textContent = errors.length ? t('botrules.errors', { n: errors.length }) : describe(err);
    render();
  }
}

function addRule() {
  collect();
  let n = rules.length + 1;
  while (rules.some((r) => r.id === `rule-${n}`)) n += 1;
  rules.push({ id: `rule-${n}`, name: '', enabled: true, match: { kind: 'exact', value: '' }, action: { kind: 'text', text: '' } });
  render();
  $('rules').lastElementChild?.querySelector('[data-field="match.value"]')?.focus();
}

// -- the test console ---------------------------------------------------------------------------

function replyText(reply) {
  if (!reply) return t('botrules.outcome.silent');
  if (reply.text) return reply.text;
  if (reply.template) return `${t('inbox.kind.template')} ${reply.template.name || ''}`;
  if (reply.card) return t('inbox.kind.card');
  return '';
}

async function runTest(e) {
  e.preventDefault();
  $('test-error').textContent = '';
  const body = { [$('test-what').value]: $('test-input').value, channel: $('test-channel').value };
  if ($('test-missed').checked) body.misses = 1;
  try {
    const { outcome } = await api('POST', '/v1/conversations/rules/test', body);
    const facts = [];
    if (outcome.rule_id) facts.push(t('inbox.matched.rule', { id: outcome.rule_id }));
    if (outcome.faq_id) facts.push(t('inbox.matched.faq', { id: outcome.faq_id }));
    if (typeof outcome.confidence === 'number') facts.push(`${(outcome.confidence * 100).toFixed(0)}%`);
    if (outcome.tag) facts.push(t('botrules.outcome.tag', { tag: outcome.tag }));
    if (outcome.handoff) facts.push(t('botrules.outcome.handoff'));
    $('test-outcome').replaceChildren(
      h('p', {}, h('strong', { 'data-testid': 'outcome-kind', 'data-kind': outcome.kind }, t(`botrules.outcome.${outcome.kind}`)),
        facts.length ? ` · ${facts.join(' · ')}` : ''),
      h('blockquote', { 'data-testid': 'outcome-reply' }, replyText(outcome.reply)),
      // The reply's chips (a menu level's options, an ask-back's FAQ entries) as the handset shows them.
      ...(outcome.reply?.suggestions?.length
        ? [h('p', { 'data-testid': 'outcome-chips' }, ...outcome.reply.suggestions.map((s) =>
          h('span', { class: 'chip', title: (s.reply || s.action)?.postback?.data || '' }, (s.reply || s.action)?.displayText || '')))]
        : []));
  } catch (err) {
    $('test-error').textContent = describe(err);
    $('test-outcome').replaceChildren();
  }
}

// -- start --------------------------------------------------------------------------------------

async function main() {
  await startLanguage(() => { collect(); render(); });
  wireSignIn({ start, showSignIn, describe });
  $('rules-form').addEventListener('submit', save);
  $('btn-add').addEventListener('click', addRule);
  $('test-form').addEventListener('submit', runTest);
  const s = await currentSession();
  if (s) await start(s);
  else showSignIn();
}

main();
