// UI strings: every visible string comes from i18n/<locale>.json.

const LOCALES = ['zh-CN', 'en'];
const STORAGE_KEY = 'hongyan.editor.locale';
let strings = {};
let current = 'en';
const listeners = new Set();

export const locale = () => current;

function initialLocale() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LOCALES.includes(saved)) return saved;
  const preferred = navigator.languages?.[0] || navigator.language || 'en';
  return preferred.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export async function setLocale(next, { remember = true } = {}) {
  const resp = await fetch(`/editor/static/i18n/${next}.json`, { credentials: 'same-origin' });
  strings = await resp.json();
  current = next;
  if (remember) localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next;
  translate(document);
  for (const fn of listeners) fn(next);
}

export const initI18n = () => setLocale(initialLocale(), { remember: false });
export const onLocale = (fn) => listeners.add(fn);
export const otherLocale = () => (current === 'en' ? 'zh-CN' : 'en');

/** The string for `key`, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const s = strings[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** A server finding (`{path, message, code?, params?}`) in the user's language: its code's
 * string when this locale has one, else the server's English message. */
export function describeFinding(finding) {
  const key = finding?.code ? `problem.${finding.code}` : null;
  if (!key || !(key in strings)) return finding?.message ?? '';
  const vars = { ...(finding.params || {}) };
  if (vars.unit) vars.unit = t(`problem.unit.${vars.unit}`);
  if (vars.what) vars.what = t(`problem.what.${vars.what}`);
  for (const name of ['allowed', 'kinds', 'categories']) if (Array.isArray(vars[name])) vars[name] = vars[name].join(', ');
  return t(key, vars);
}

/** Fill elements marked data-i18n (text), data-i18n-aria (aria-label), data-i18n-title, data-i18n-placeholder. */
export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}
