// The editor app: sign-in, wiring the views to the store, shortcuts and layout.

import { api, ApiError, onUnauthorized, setCsrf } from './api.js';
import { $, $$, icon } from './dom.js';
import { initI18n, onLocale, otherLocale, setLocale, t, translate } from './i18n.js';
import { store } from './store.js';
import { VisualEditor } from './visual.js';
import { Outline } from './outline.js';
import { JsonView } from './jsonview.js';
import { Preview } from './preview.js';
import { Templates } from './templates.js';
import { SendTest } from './send.js';
import { ChatbotPanel } from './chatbot.js';
import { Shares } from './share.js';
import { VisualDiff } from './visualdiff.js';
import { Palette } from './palette.js';
import { get } from './pointer.js';

let session = null;
let templates;
let chatbot;
let started = false;

function toast(message, bad = false) {
  const el = $('#toast');
  el.textContent = message;
  el.classList.toggle('bad', bad);
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

function showSignIn(message = '') {
  session = null;
  setCsrf(null);
  $('#app').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message;
  $('#signin-key').focus();
}

/** Forget the open template (signing out, or another tenant signing in). */
function closeTemplate() {
  if (!templates) return;
  templates.current = null;
  store.doc = null;
  history.replaceState(null, '', '/editor');
  store.undoStack = [];
  store.redoStack = [];
  $('#template-name').textContent = '';
  $('#editor-area').hidden = true;
  $('#empty-state').hidden = false;
  $('#version-list').replaceChildren();
  $('#diff-view').replaceChildren();
  $('#outline').replaceChildren();
  templates.showState();
}

let lastTenant = null;

async function showApp(s) {
  if (lastTenant && s.tenant_id !== lastTenant) closeTemplate();
  lastTenant = s.tenant_id;
  session = s;
  setCsrf(s.csrf_token);
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#tenant-name').textContent = s.tenant_name;
  $('#sandbox-badge').hidden = !s.sandbox;
  $('#phone-brand').textContent = s.signature || s.tenant_name;
  if (!started) start();
  await templates.refreshList();
  chatbot.refresh();
  const wanted = location.pathname.match(/^\/editor\/t\/([^/]+)$/);
  if (wanted && !templates.current) {
    try {
      await templates.open(decodeURIComponent(wanted[1]));
    } catch {
      history.replaceState(null, '', '/editor'); // not this tenant's, or gone
    }
  }
  // Back from an expired session: what was typed meanwhile is saved now.
  if (templates.current && store.dirty) templates.save();
}

async function signIn(e) {
  e.preventDefault();
  const key = $('#signin-key');
  const error = $('#signin-error');
  const login = $('#signin-login').value.trim();
  error.textContent = '';
  // A person signs in with login and password (and a TOTP code once enabled); a key still works.
  if (!login && !key.value.trim()) { error.textContent = t('signin.required'); $('#signin-login').focus(); return; }
  const totp = $('#signin-totp').value.trim();
  const body = login ? { login, password: $('#signin-password').value, ...(totp ? { totp } : {}) } : { api_key: key.value.trim() };
  try {
    const s = await api('POST', '/editor/session', body);
    for (const id of ['#signin-key', '#signin-password', '#signin-totp']) $(id).value = '';
    await showApp(s);
  } catch (err) {
    const unauthorized = err instanceof ApiError && err.status === 401;
    error.textContent = unauthorized && login ? t(err.problem.totp_required ? 'signin.totp_needed' : 'signin.bad_login')
      : unauthorized ? t('signin.bad_key')
      : err instanceof ApiError && err.status === 429 ? t('signin.too_many') : t('signin.failed');
    (login ? $('#signin-password') : key).select();
  }
}

async function signOut() {
  if (templates?.current && store.dirty) await templates.save();
  try { await api('DELETE', '/editor/session'); } catch { /* already gone */ }
  closeTemplate();
  showSignIn();
}

function setPane(name) {
  document.body.dataset.pane = name;
  for (const b of $$('.mobile-tabs [role=tab]')) b.setAttribute('aria-selected', String(b.dataset.pane === name));
}

function setView(which) {
  const json = which === 'json';
  $('#visual').hidden = json;
  $('#json-pane').hidden = !json;
  $('#tab-visual').setAttribute('aria-selected', String(!json));
  $('#tab-json').setAttribute('aria-selected', String(json));
  if (json) jsonView.highlight(true);
}

let jsonView;

function start() {
  started = true;
  $('#btn-undo').append(icon('undo'));
  $('#btn-redo').append(icon('redo'));
  const visual = new VisualEditor($('#visual'), store, {
    upload: (file) => {
      const form = new FormData();
      form.append('file', file, file.name);
      return api('POST', '/v1/media', form);
    },
    mediaLibrary: (cursor, limit) => api('GET', `/v1/media?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
    profile: () => $('#profile').value,
  });
  new Palette($('#palette'), store, visual);
  new Outline($('#outline'), store);
  jsonView = new JsonView({ text: $('#json-text'), gutter: $('#json-gutter'), backdrop: $('#json-backdrop'), error: $('#json-error') }, store);
  const preview = new Preview({
    root: $('.pane-right'), phone: $('#phone'), phoneFrame: $('#phone-frame'), phoneEmpty: $('#phone-empty'),
    theme: $('#btn-theme'), wide: $('#btn-wide'), placeholders: $('#placeholders'), profile: $('#profile'), sms: $('#sms'),
    h5Frame: $('#h5-frame'), errors: $('#errors'), warnings: $('#warnings'), badge: $('#validation-badge'),
    variables: $('#variables'),
  }, store, () => session);
  templates = new Templates({
    list: $('#template-list'), filter: $('#template-filter'), saveState: $('#save-state'), saveButton: $('#btn-save'), undo: $('#btn-undo'),
    redo: $('#btn-redo'), submit: $('#btn-submit'), submitHint: $('#submit-hint'), note: $('#submit-note'),
    versionList: $('#version-list'), diffFrom: $('#diff-from'), diffTo: $('#diff-to'), diffForm: $('#diff-form'),
    diffView: $('#diff-view'), newDialog: $('#new-dialog'), newName: $('#new-name'), newSources: $('#new-sources'),
    newError: $('#new-error'),
  }, store, {
    toast,
    onOpen: (tpl) => {
      $('#template-name').textContent = tpl.name;
      $('#empty-state').hidden = true;
      $('#editor-area').hidden = false;
      document.title = `${tpl.name} · ${t('app.title')}`;
      shares.refresh(tpl.id);
    },
  });
  // Share a version for approval; the side-by-side visual diff beside the JSON diff.
  const shares = new Shares({ dialog: $('#share-dialog'), title: $('#share-title'), form: $('#share-form'),
    days: $('#share-days'), error: $('#share-error'), list: $('#share-list') }, { toast });
  templates.shares = shares;
  shares.onChange = () => { if (templates.current) templates.drawVersions({ keepDiff: true }); };
  const visualDiff = new VisualDiff({ dialog: $('#vdiff-dialog'), head: $('#vdiff-head'), old: $('#vdiff-old'),
    new: $('#vdiff-new'), notes: $('#vdiff-notes'), darkToggle: $('#btn-theme') });
  templates.onVisualDiff = (result) => visualDiff.show(templates.current.id, result);
  new SendTest({ form: $('#send-form'), to: $('#send-to'), status: $('#send-status'), link: $('#handset-link'),
    button: $('#send-form button[type=submit]') }, store, () => session);

  const showIssue = (path) => {
    setPane('centre');
    store.select(path, 'issues');
  };
  chatbot = new ChatbotPanel({
    channel: $('#chatbot-channel'), noChannels: $('#chatbot-no-channels'), publish: $('#btn-publish-menu'),
    publishHint: $('#publish-hint'), issues: $('#publish-issues'), menuState: $('#menu-state'), profileState: $('#profile-state'),
    menubar: $('#menubar-phone'), menubarWrap: $('#menubar-wrap'), profileButton: $('#btn-profile'),
    profileDialog: $('#profile-dialog'), profileForm: $('#profile-form'), profileFieldsEl: $('#profile-fields'),
    profileError: $('#profile-error'), profileChannel: $('#profile-channel'), profileSubmit: $('#profile-submit'),
  }, store, {
    toast,
    onIssue: showIssue,
    // The chosen channel's operator sets the rules the menu is checked against.
    onProfile: (profile) => {
      if ($('#profile').value === profile) return;
      $('#profile').value = profile;
      $('#profile').dispatchEvent(new Event('change'));
    },
  });
  $('#profile').addEventListener('change', () => visual.render());

  preview.onResult = (r) => {
    templates.setValid(Boolean(r.valid));
    visual.markErrors(r.errors);
    chatbot.setResult(r);
  };
  preview.onIssue = showIssue;
  // A click on the phone preview edits what was clicked: a button or chip by its text.
  preview.onPick = (path) => {
    const node = get(store.doc?.card, path);
    const body = node && typeof node === 'object' ? (node.reply ? 'reply' : node.action ? 'action' : null) : null;
    setPane('centre');
    setView('visual');
    store.select(body ? `${path}/${body}/displayText` : path, 'phone');
  };

  $('#template-filter').addEventListener('input', (e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const li of $$('#template-list li')) {
      li.hidden = Boolean(q) && !li.textContent.toLowerCase().includes(q);
    }
  });
  $('#btn-undo').addEventListener('click', () => store.undo());
  $('#btn-redo').addEventListener('click', () => store.redo());
  $('#btn-save').addEventListener('click', () => templates.save());
  $('#btn-signout').addEventListener('click', signOut);
  $('#btn-new').addEventListener('click', () => templates.showNewDialog());
  $('[data-testid=empty-new]').addEventListener('click', () => templates.showNewDialog());
  $('#new-form').addEventListener('submit', (e) => { e.preventDefault(); templates.createFromDialog(); });
  $('#btn-submit').addEventListener('click', () => templates.submit());
  $('#diff-form').addEventListener('submit', (e) => { e.preventDefault(); templates.diff(); });
  $('#tab-visual').addEventListener('click', () => setView('visual'));
  $('#tab-json').addEventListener('click', () => setView('json'));
  for (const b of $$('.mobile-tabs [role=tab]')) b.addEventListener('click', () => setPane(b.dataset.pane));
  for (const b of $$('dialog .cancel')) b.addEventListener('click', () => b.closest('dialog').close());

  $('#btn-export').addEventListener('click', () => templates.exportJson());
  $('#btn-import').addEventListener('click', () => {
    $('#import-error').textContent = '';
    $('#import-text').value = '';
    $('#import-file').value = '';
    $('#import-dialog').showModal();
  });
  $('#import-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (file) $('#import-text').value = await file.text();
  });
  $('#import-form').addEventListener('submit', (e) => {
    e.preventDefault();
    try {
      templates.importJson($('#import-text').value);
      $('#import-dialog').close();
      toast(t('file.imported'));
    } catch (err) {
      $('#import-error').textContent = err.message;
    }
  });
  $('#btn-duplicate').addEventListener('click', () => {
    $('#dup-error').textContent = '';
    $('#dup-name').value = t('file.copy_name', { name: templates.current?.name || '' });
    $('#dup-dialog').showModal();
  });
  $('#dup-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await templates.duplicate($('#dup-name').value.trim());
      $('#dup-dialog').close();
    } catch (err) {
      $('#dup-error').textContent = err instanceof ApiError ? err.describe() : err.message;
    }
  });

  // Undo/redo everywhere, including while typing in a field (the store's history, not the input's).
  window.addEventListener('keydown', (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || !store.doc || e.target.closest?.('dialog')) return;
    const key = e.key.toLowerCase();
    if (key === 'z' && !e.shiftKey) { e.preventDefault(); store.undo(); }
    else if ((key === 'z' && e.shiftKey) || key === 'y') { e.preventDefault(); store.redo(); }
    else if (key === 's') { e.preventDefault(); templates.save(); }
  }, true);

  window.addEventListener('beforeunload', (e) => {
    if (store.doc && (store.dirty || templates.saving)) {
      e.preventDefault();
      e.returnValue = '';
    }
  });
  onLocale(() => {
    templates.showState();
    store.emit({ type: 'locale' });
    if (templates.current) templates.drawVersions({ keepDiff: true });
    if (session) templates.refreshList();
  });
  setPane('centre');
}

function langButtons() {
  for (const b of $$('.lang-switch')) {
    b.textContent = otherLocale() === 'en' ? 'English' : '中文';
    b.setAttribute('lang', otherLocale());
    b.setAttribute('aria-label', t('top.language'));
  }
}

async function boot() {
  await initI18n();
  onUnauthorized(() => { if (session) showSignIn(t('session.expired')); });
  langButtons();
  onLocale(langButtons);
  for (const b of $$('.lang-switch')) b.addEventListener('click', () => setLocale(otherLocale()));
  $('#signin-form').addEventListener('submit', signIn);
  translate(document);
  try {
    await showApp(await api('GET', '/editor/session'));
  } catch {
    showSignIn();
  }
}

boot();
