// Calls to the platform: the session cookie authenticates, the CSRF token guards unsafe methods.
import { describeFinding } from './i18n.js';

let csrfToken = null;
let unauthorized = () => {};
export const setCsrf = (token) => { csrfToken = token; };
/** Called when an API call answers 401: the session expired or was revoked. */
export const onUnauthorized = (fn) => { unauthorized = fn; };

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  /** The problem's field errors as "path: message" lines (each in the user's language where
   * the server gave its code), or its title. */
  describe() {
    const errs = this.problem.errors || [];
    return errs.length ? errs.map((e) => `${e.path}: ${describeFinding(e)}`).join('\n') : this.message;
  }
}

/** fetch JSON: `api('POST', '/v1/…', body, {signal})` → parsed body (null for 204). */
export async function api(method, path, body, { signal, headers = {}, raw = false } = {}) {
  const init = { method, credentials: 'same-origin', signal, headers: { Accept: 'application/json', ...headers } };
  if (!['GET', 'HEAD'].includes(method) && csrfToken) init.headers['X-CSRF-Token'] = csrfToken;
  if (body instanceof FormData || raw) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 204) return null;
  const type = resp.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await resp.json() : await resp.text();
  if (resp.status === 401 && !path.startsWith('/editor/session')) unauthorized();
  if (!resp.ok) throw new ApiError(resp.status, typeof data === 'object' ? data : { title: data });
  return data;
}

// The editor's session (its user, tenant, rights and CSRF token); null when nobody is signed in.
export async function currentSession() {
  try {
    return await api('GET', '/editor/session');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

// The pages beside the editor (audit log, dashboard) share its session: the session with its
// CSRF token set for later writes, the tenant (and person) shown in `tenantEl`; null, said in
// `statusEl`, when nobody is signed in.
export async function signedIn(statusEl, tenantEl) {
  let session;
  try {
    session = await api('GET', '/editor/session');
  } catch (err) {
    statusEl.textContent = 'Not signed in: sign in on the review queue or the editor first.';
    return null;
  }
  setCsrf(session.csrf_token);
  tenantEl.textContent = session.user ? `${session.tenant_name} · ${session.user.login} (${session.user.role})` : session.tenant_name;
  return session;
}
