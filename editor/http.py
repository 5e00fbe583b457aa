"""The editor's routes: the single-page app and its assets under /editor, sign-in sessions at
/editor/session, and the live preview at POST /v1/editor/preview.

GET /editor, /editor/ and /editor/{anything not an asset} → static/index.html (client routing),
with a strict Content-Security-Policy; GET /editor/static/{path} → the asset with an ETag; GET /editor/looks.css → the handset looks.
POST /editor/session {"login", "password", "totp"?, "tenant_id"?} (a person) or {"api_key"}
→ 201 session + cookie; GET → 200 session; DELETE (CSRF) → 204. POST /editor/password
{"token", "password"}: set a password with an invitation's one-time link. Sign-ins, failed ones
included, go to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import web

from accounts.users import UserPrincipal
from accounts.users_http import USERS
from api.audit import record as audit_record
from api.bodies import read_json
from api.middleware import AUTHENTICATE, SESSION_AUTH, SESSION_COOKIE, TENANT, TENANT_ID, check_csrf, client_key
from api.problems import FieldError, Problem
from api.ratelimit import retry_after_header
from cards.compose import off_loop
from cards.looks import looks_css
from editor import openapi as _openapi  # noqa: F401  (registers the API description)
from editor.preview import Previewer, parse_request
from editor.sessions import ABSOLUTE_TIMEOUT_MS, EditorSession, EditorSessions, LoginLimiter
from fallback.compose import MARKETING_TRAFFIC
from fallback.http import UNSUBSCRIBE_TEXT
from security.roles import WRITE, role_levels

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSIONS = web.AppKey("editor_sessions", EditorSessions)

# Types set explicitly: the platform's mimetypes table varies (.js as application/javascript).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}
ASSET_CACHE = "public, max-age=60, must-revalidate"  # short: a new release shows within a minute
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class EditorConfig:
    """What the editor's routes need from the server's settings."""

    base_url: str
    secure_cookie: bool = False  # the public base URL is https
    sandbox: bool = False
    handset_url: Callable[[], str | None] = lambda: None
    static_dir: Path = STATIC_DIR
    login_limiter: LoginLimiter = field(default_factory=LoginLimiter)


# Everything from this origin and no inline script. Inline style is allowed: the previews are
# HTML documents in sandboxed srcdoc iframes, which inherit this policy, and the editor adds its
# theme (light/dark, phone frame) to them as style blocks.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; frame-src 'self'; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class _Shell:
    """index.html, re-read when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp = None
        self._body = b""

    def load(self) -> tuple[bytes, str] | None:
        """(body, ETag), or None when the editor's files are not installed."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._body = self.path.read_bytes()
            self._stamp = stamp
        return self._body, f'"{stamp[0]:x}-{stamp[1]:x}"'


def editor_routes(config: EditorConfig) -> list[web.RouteDef]:
    """The editor's routes for these settings (register /editor/session before the catch-all)."""
    static_root = config.static_dir.resolve()
    shell = _Shell(static_root / "index.html")
    previewer = Previewer(config.base_url)

    def page(shell: _Shell):
        async def serve(request: web.Request) -> web.StreamResponse:
            loaded = shell.load()
            if loaded is None:
                raise web.HTTPNotFound(text="the editor's files are not installed")
            body, etag = loaded
            headers = {
                **_SECURITY_HEADERS,
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "ETag": etag,
            }
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers=headers)
            return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)

        return serve

    app_shell = page(shell)
    # The reviewers' page (the review queue), signed in like the editor.
    review_page = page(_Shell(static_root / "reviews.html"))
    # The audit log's page (roles auditor, admin, owner; the API decides what it shows).
    audit_page = page(_Shell(static_root / "audit.html"))
    # Where an invitation's one-time link leads (the token stays in the fragment).
    password_page = page(_Shell(static_root / "password.html"))
    rules_page = page(_Shell(static_root / "rules.html"))  # the tenant's send rules
    dashboard_page = page(_Shell(static_root / "dashboard.html"))  # funnels and rates, live
    campaigns_page = page(_Shell(static_root / "campaigns.html"))  # campaigns, their progress and results
    contacts_page = page(_Shell(static_root / "contacts.html"))  # contacts imports and their progress
    inbox_page = page(_Shell(static_root / "inbox.html"))  # the agents' inbox of conversations, live
    bot_rules_page = page(_Shell(static_root / "bot-rules.html"))  # the bot's rules and their test console

    async def asset(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        try:
            path = (static_root / rel).resolve()
        except (OSError, ValueError):
            raise web.HTTPNotFound() from None
        # No way out of the static folder, no dotfiles, only known types.
        if (
            not path.is_relative_to(static_root)
            or any(p.startswith(".") for p in path.relative_to(static_root).parts)
            or not path.is_file()
            or path.suffix.lower() not in CONTENT_TYPES
        ):
            raise web.HTTPNotFound()
        return web.FileResponse(
            path,
            headers={
                "Content-Type": CONTENT_TYPES[path.suffix.lower()],
                "Cache-Control": ASSET_CACHE,
                **_SECURITY_HEADERS,
            },
        )

    async def looks(request: web.Request) -> web.Response:
        # The handset looks' style sheets (cards/looks.py): the phone preview puts the one chosen
        # into its frame, the same sheets the sandbox's virtual handset uses.
        return web.Response(
            text=looks_css(),
            content_type="text/css",
            charset="utf-8",
            headers={"Cache-Control": ASSET_CACHE, **_SECURITY_HEADERS},
        )

    def session_body(session: EditorSession) -> dict:
        tenant = session.tenant
        principal = session.principal
        person = isinstance(principal, UserPrincipal)
        # What the page may offer: area → read | write (a key's scopes are all write).
        can = role_levels(principal.role) if person else {scope: WRITE for scope in principal.scopes}
        return {
            "user": {"id": principal.user_id, "login": principal.login, "role": principal.role} if person else None,
            "role": principal.role if person else None,
            "can": can,
            "tenant_id": tenant.id,
            "tenant_name": tenant.name,
            "csrf_token": session.csrf_token,
            "expires_at": session.expires_at,
            "scopes": sorted(session.principal.scopes),
            "sandbox": config.sandbox,
            "handset_url": config.handset_url(),
            "signature": tenant.signature,
            "sms_price": tenant.sms_price,
        }

    def json_response(body: dict, status: int = 200) -> web.Response:
        return web.Response(
            status=status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def current(request: web.Request) -> EditorSession:
        session_id = request.cookies.get(SESSION_COOKIE)
        session = await request.app[SESSION_AUTH].authenticate(session_id) if session_id else None
        if session is None:
            # A stale cookie is dropped so the browser stops sending it.
            headers = {"Set-Cookie": clear_cookie()} if session_id else {}
            raise Problem(401, "not signed in to the editor (or the session has expired)", headers=headers)
        return session

    def clear_cookie() -> str:
        resp = web.Response()
        resp.del_cookie(SESSION_COOKIE, path="/", secure=config.secure_cookie, httponly=True, samesite="Strict")
        return resp.cookies[SESSION_COOKIE].OutputString()

    async def sign_in(request: web.Request) -> web.Response:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in request.app[SESSION_AUTH].trusted_origins | {
            f"{request.scheme}://{request.host}"
        }:
            raise Problem(403, "cross-origin sign-in refused: the Origin header is not this server's")
        body = await read_json(request)
        if "login" in body:
            return await person_sign_in(request, body)
        key = body.get("api_key")
        if not isinstance(key, str) or not key.strip():
            raise Problem(422, "an API key is required", [FieldError("/api_key", "required; the tenant's API key")])
        # Per client: its address and the key it presents (others behind the same NAT sign in).
        wait = config.login_limiter.take(client_key(request, key.strip()))
        if wait:
            raise Problem(
                429,
                "too many sign-in attempts with this key from this address; try again later",
                headers={"Retry-After": retry_after_header(wait)},
            )
        principal = await request.app[AUTHENTICATE](key.strip())
        if principal is None or not hasattr(principal, "key_id"):
            raise Problem(
                401, "the API key is not valid or has been revoked", [FieldError("/api_key", "not a valid API key")]
            )
        await audit_record(
            request,
            "session.sign_in",
            ("api-keys", principal.key_id),
            201,
            tenant_id=principal.tenant.id,
            actor=("key", principal.key_id, f"API key {principal.key_id}"),
        )
        return await start_session(request, principal)

    async def person_sign_in(request: web.Request, body: dict) -> web.Response:
        login, password, tenant_id = body.get("login"), body.get("password"), body.get("tenant_id")
        errors = [
            FieldError(f"/{name}", "required")
            for name, value in (("login", login), ("password", password))
            if not isinstance(value, str) or not value
        ]
        if tenant_id is not None and not isinstance(tenant_id, str):
            errors.append(FieldError("/tenant_id", "a tenant id"))
        if errors:
            raise Problem(422, "a login and a password are required", errors)
        assert isinstance(login, str) and isinstance(password, str)
        login = login.strip().lower()[:64]
        wait = config.login_limiter.take(client_key(request, login))
        anonymous = ("anonymous", "", login)
        if wait:
            await audit_record(
                request, "session.sign_in", ("users", None), 429, actor=anonymous, detail={"login": login}
            )
            raise Problem(
                429,
                "too many sign-in attempts for this login from this address; try again later",
                headers={"Retry-After": retry_after_header(wait)},
            )
        try:
            principal = await request.app[USERS].sign_in(login, password, totp=body.get("totp"), tenant_id=tenant_id)
        except Problem as problem:
            # Logged in each tenant the login belongs to (none for an unknown login).
            tenants = await request.app[USERS].tenants_of(login)
            for tenant in [t for t in tenants if t == tenant_id] if tenant_id else tenants:
                await audit_record(
                    request,
                    "session.sign_in",
                    ("users", None),
                    problem.status,
                    tenant_id=tenant,
                    actor=anonymous,
                    detail={"login": login, "failed": problem.errors[0].path if problem.errors else problem.detail},
                )
            raise
        await audit_record(
            request,
            "session.sign_in",
            ("users", principal.user_id),
            201,
            tenant_id=principal.tenant.id,
            actor=("user", principal.user_id, principal.login),
        )
        return await start_session(request, principal)

    async def set_password(request: web.Request) -> web.Response:
        body = await read_json(request)
        wait = config.login_limiter.take(f"{client_key(request, '')} password-link")
        if wait:
            raise Problem(429, "too many attempts; try again later", headers={"Retry-After": retry_after_header(wait)})
        login = await request.app[USERS].set_password_with_token(body.get("token"), body.get("password"))
        return json_response({"login": login})

    async def start_session(request: web.Request, principal) -> web.Response:
        session_id, session = await request.app[SESSIONS].create(principal)
        resp = json_response(session_body(session), 201)
        resp.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=ABSOLUTE_TIMEOUT_MS // 1000,
            path="/",
            secure=config.secure_cookie,
            httponly=True,
            samesite="Strict",
        )
        return resp

    async def show(request: web.Request) -> web.Response:
        return json_response(session_body(await current(request)))

    async def sign_out(request: web.Request) -> web.Response:
        session = await current(request)
        check_csrf(request, session)
        await request.app[SESSIONS].end(request.cookies[SESSION_COOKIE])
        return web.Response(status=204, headers={"Cache-Control": "no-store", "Set-Cookie": clear_cookie()})

    async def preview(request: web.Request) -> web.Response:
        req = parse_request(await read_json(request))
        tenant = request[TENANT]
        unsubscribe = request.app.get(UNSUBSCRIBE_TEXT)
        if unsubscribe is not None and req.traffic_type in MARKETING_TRAFFIC:  # the SMS preview ends with it
            tenant = {**tenant, "unsubscribe_text": await unsubscribe(request[TENANT_ID])}
        # Compiling and composing can take a while (bounded: cards.sandbox): off the event loop.
        return json_response(await off_loop(previewer.preview, req, tenant))

    return [
        web.get("/editor", app_shell),
        web.get("/editor/", app_shell),
        web.get("/editor/static/{path:.+}", asset),
        web.get("/editor/looks.css", looks),
        web.post("/editor/session", sign_in),
        web.post("/editor/password", set_password),
        web.get("/editor/session", show),
        web.delete("/editor/session", sign_out),
        web.get("/editor/reviews", review_page),
        web.get("/editor/audit", audit_page),
        web.get("/editor/password", password_page),
        web.get("/editor/rules", rules_page),
        web.get("/editor/dashboard", dashboard_page),
        web.get("/editor/campaigns", campaigns_page),
        web.get("/editor/contacts", contacts_page),
        web.get("/editor/inbox", inbox_page),
        web.get("/editor/inbox/rules", bot_rules_page),
        web.get("/editor/{tail:.*}", app_shell),
        web.post("/v1/editor/preview", preview),
    ]
