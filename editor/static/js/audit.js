// The audit log: who did what, when, from where, and how it ended; filtered, page by page.

import { api, ApiError, signedIn } from './api.js';

const $ = (id) => document.getElementById(id);
let next = null;

function cell(text, testid) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  if (testid) td.setAttribute('data-testid', testid);
  return td;
}

function row(rec) {
  const tr = document.createElement('tr');
  tr.setAttribute('data-testid', 'audit-row');
  tr.setAttribute('data-action', rec.action);
  tr.append(
    cell(rec.at, 'audit-at'),
    cell(`${rec.actor.display} (${rec.actor.type})`, 'audit-actor'),
    cell(rec.action, 'audit-action'),
    cell(rec.target.id ? `${rec.target.type}/${rec.target.id}` : rec.target.type, 'audit-target'),
    cell(rec.client, 'audit-client'),
    cell(String(rec.status), 'audit-status'),
    cell(JSON.stringify(rec.detail), 'audit-detail'),
  );
  return tr;
}

function query() {
  const q = new URLSearchParams();
  for (const name of ['actor', 'action', 'target']) {
    const v = $(`f-${name}`).value.trim();
    if (v) q.set(name, v);
  }
  for (const name of ['since', 'until']) {
    const v = $(`f-${name}`).value;
    if (v) q.set(name, new Date(v).toISOString());
  }
  return q;
}

async function load(more = false) {
  const q = query();
  if (more && next) q.set('cursor', next);
  $('status').textContent = 'Loading…';
  try {
    const page = await api('GET', `/v1/audit?${q}`);
    const rows = page.data.map(row);
    if (more) $('audit-rows').append(...rows);
    else $('audit-rows').replaceChildren(...rows);
    next = page.next_cursor;
    $('more').hidden = !next;
    $('status').textContent = $('audit-rows').children.length ? '' : 'No records.';
  } catch (err) {
    $('status').textContent = err instanceof ApiError ? err.describe() : String(err);
  }
}

async function main() {
  if (!(await signedIn($('status'), $('tenant-name')))) return;
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); load(); });
  $('more').addEventListener('click', () => load(true));
  await load();
}

main();
