// What the pages beside the editor (campaigns, inbox, bot rules) share: the language switch and
// the sign-in / sign-out forms (#signin-form with #signin-login, #signin-password, #signin-key,
// #signin-error; #btn-signout).
import { api, ApiError, onUnauthorized } from './api.js';
import { initI18n, onLocale, otherLocale, setLocale } from './i18n.js';

const byId = (id) => document.getElementById(id);

function labelLanguage() {
  for (const b of document.querySelectorAll('.lang-switch')) {
    b.textContent = otherLocale() === 'en' ? 'English' : '中文';
    b.setAttribute('lang', otherLocale());
  }
}

/** Load the strings, label the language switches, and call `redraw` after every switch. */
export async function startLanguage(redraw) {
  await initI18n();
  labelLanguage();
  onLocale(() => { labelLanguage(); redraw(); });
  for (const b of document.querySelectorAll('.lang-switch')) b.addEventListener('click', () => setLocale(otherLocale()));
}

/** Sign in with a login and password, or an API key, into `start(session)`; signing out and an
 * expired session lead to `showSignIn()`; a refused sign-in is said by `describe(err)`. */
export function wireSignIn({ start, showSignIn, describe = (err) => (err instanceof ApiError ? err.describe() : String(err)) }) {
  onUnauthorized(showSignIn);
  byId('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    byId('signin-error').textContent = '';
    const login = byId('signin-login').value.trim();
    const body = login ? { login, password: byId('signin-password').value } : { api_key: byId('signin-key').value };
    try {
      await start(await api('POST', '/editor/session', body));
      byId('signin-key').value = byId('signin-password').value = '';
    } catch (err) {
      byId('signin-error').textContent = describe(err);
    }
  });
  byId('btn-signout').addEventListener('click', async () => {
    await api('DELETE', '/editor/session');
    showSignIn();
  });
}
