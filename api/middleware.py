"""Middlewares: problem+json for every error; authentication under /v1/ by bearer API key or by
the editor's session cookie (with a CSRF token and an Origin check on unsafe methods)."""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from api.problems import Problem
from api.query import check_query
from api.ratelimit import WindowLimiter, retry_after_header
from api.responses import problem_response

log = logging.getLogger("hongyan.api")

Authenticate = Callable[[str], Awaitable[object | None]]
AUTHENTICATE = web.AppKey("authenticate", object)
# Who is asking, set by auth_middleware for every /v1/ handler.
TENANT_ID = web.RequestKey("tenant_id", str)
TENANT = web.RequestKey("tenant", dict)
# The scopes of the key (or editor session) asking; None when the principal carries no limit.
SCOPES = web.RequestKey("scopes", object)
# The id of the API key behind the request (also for the editor's session), for records of who did what.
API_KEY_ID = web.RequestKey("api_key_id", str)
# The principal itself (an API key's, or a signed-in person's with `.role` and `.user_id`).
PRINCIPAL = web.RequestKey("principal", object)
# Whether the caller is a test API key (`hy_test_…`): what it sends goes only to the simulators.
TEST_MODE = web.RequestKey("test_mode", bool)

# The editor's sign-in (editor/sessions.py) plugs in here; api/ stays below the domains.
SESSION_COOKIE = "hongyan_editor"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Session(Protocol):
    principal: object  # what AUTHENTICATE returns for a key: .id, .scopes, .as_mapping()
    csrf_token: str


class SessionAuth(Protocol):
    # Origins besides the request's own that a cookie-authenticated unsafe request may come
    # from (the public base URL, when a proxy in front terminates TLS).
    trusted_origins: frozenset[str]

    async def authenticate(self, session_id: str) -> Session | None: ...


SESSION_AUTH = web.AppKey("session_auth", SessionAuth)

# Failed bearer authentications per client (`client_key`): past the limit a 429 with
# Retry-After, without looking the key up. A good key is never held back by others' failures.
AUTH_FAILURES = web.AppKey("auth_failures", WindowLimiter)
AUTH_FAILURE_ATTEMPTS, AUTH_FAILURE_WINDOW_S = 10, 60.0
# Proxies whose X-Forwarded-For is believed (HONGYAN_TRUSTED_PROXIES); none by default.
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)
# A key's public part: "hy_live_" and its 16-hex-digit id (the secret follows).
KEY_PREFIX_CHARS = 24

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(values) -> tuple[Network, ...]:
    """Addresses or CIDR blocks of the reverse proxies in front (ValueError names a bad one)."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR block: {value!r}") from None
    return tuple(networks)


def client_address(request: web.Request) -> str:
    """Who is asking: the peer address, or — when the peer is a trusted proxy — the nearest
    X-Forwarded-For hop that is not one (what a client writes further left proves nothing)."""
    remote = request.remote or "unknown"
    trusted = request.app.get(TRUSTED_PROXIES, ())
    if not trusted or not _within(remote, trusted):
        return remote
    hops = [h.strip() for header in request.headers.getall("X-Forwarded-For", []) for h in header.split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _within(hop, trusted):
            return hop
    return remote


def client_key(request: web.Request, api_key: str) -> str:
    """A client for rate limits on authentication: its address and the public part of the key it
    presents, so one client behind a NAT guessing at a key locks out nobody else there."""
    return f"{client_address(request)} {api_key[:KEY_PREFIX_CHARS]}"


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in net for net in networks)


@web.middleware
async def problem_middleware(request: web.Request, handler):
    """Render Problems, HTTP errors and crashes under /v1/ as application/problem+json."""
    try:
        return await handler(request)
    except Problem as problem:
        # Where the request went wrong, never what it carried: JSON Pointers name places only.
        log.debug(
            "%s %s answered %d at %s",
            request.method,
            request.match_info.route.resource and request.match_info.route.resource.canonical,
            problem.status,
            [e.path for e in problem.errors[:20]],
        )
        return problem_response(problem)
    except web.HTTPException as exc:
        if not request.path.startswith("/v1/") or exc.status < 400:
            raise
        if isinstance(exc, web.HTTPRequestEntityTooLarge):
            return problem_response(Problem(413, "request body is too large"))
        return problem_response(Problem(exc.status, exc.reason or "error", headers=_keep_headers(exc)))
    except Exception:
        if not request.path.startswith("/v1/"):
            raise
        log.exception(
            "unhandled error on %s %s",
            request.method,
            request.match_info.route.resource and request.match_info.route.resource.canonical,
        )
        return problem_response(Problem(500, "internal error; the request was not completed"))


def _keep_headers(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


@web.middleware
async def auth_middleware(request: web.Request, handler):
    """Require `Authorization: Bearer <api key>` (or the editor's session cookie) on /v1/ and put
    the tenant on the request; a query parameter holding a control character is a 422 naming it."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not header and cookie and SESSION_AUTH in request.app:
        tenant = await session_principal(request, cookie)
    else:
        tenant = await _bearer_principal(request, header)
    scope = required_scope(request.path)
    scopes = getattr(tenant, "scopes", None)
    # Who asked is known before the checks, so that the audit log can name who was refused.
    request[TENANT_ID] = tenant.id
    request[TENANT] = tenant.as_mapping()
    request[SCOPES] = frozenset(scopes) if scopes is not None else None
    request[API_KEY_ID] = getattr(tenant, "key_id", "")
    request[PRINCIPAL] = tenant
    request[TEST_MODE] = getattr(tenant, "test", False) is True
    role = getattr(tenant, "role", None)
    if role is not None:
        # A person: their role in this tenant decides, per area and method (security/roles.py,
        # asked through the principal: api/ stays below security's siblings).
        refused = tenant.refusal(role_area(request.path), request.method)
        if refused:
            raise Problem(403, refused, extra={"role": role})
    elif scopes is not None and scope not in scopes:
        raise Problem(403, f"this API key lacks the `{scope}` scope")
    check_query(request.query)
    return await handler(request)


# Which scope a path needs; the first matching prefix wins.
_SCOPE_BY_PREFIX = (
    ("/v1/api-keys", "keys"),
    ("/v1/channels", "channels"),
    ("/v1/compliance", "compliance"),
    ("/v1/consents", "compliance"),
    ("/v1/opt-outs", "compliance"),
    ("/v1/reviews", "reviews"),
    ("/v1/privacy", "privacy"),
    ("/v1/billing", "billing"),
    ("/v1/webhook", "webhooks"),
    ("/v1/template", "templates"),
    ("/v1/media", "templates"),
    ("/v1/cards", "cards"),
    ("/v1/editor", "cards"),
    ("/v1/users", "users"),
    ("/v1/audit", "users"),
    ("/v1/contacts", "audiences"),
    ("/v1/segments", "audiences"),
    ("/v1/campaigns", "campaigns"),
    ("/v1/journeys", "campaigns"),
    ("/v1/conversations", "conversations"),
    ("/v1/knowledge", "conversations"),
)


def role_area(path: str) -> str:
    """The area of security/roles.py a path is in: its scope, or `self` (a person's own
    account) or `audit` (the audit log)."""
    if path == "/v1/users/me" or path.startswith("/v1/users/me/"):
        return "self"
    if path.startswith("/v1/audit"):
        return "audit"
    return required_scope(path)


async def _bearer_principal(request: web.Request, header: str):
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(
            401,
            "missing API key: send `Authorization: Bearer <api key>`",
            headers={"WWW-Authenticate": 'Bearer realm="hongyan"'},
        )
    key = key.strip()
    failures = request.app.get(AUTH_FAILURES)
    client = client_key(request, key)
    wait = failures.wait(client) if failures is not None else 0.0
    if wait:
        raise Problem(
            429,
            "too many failed authentications from this client; try again later",
            headers={"Retry-After": retry_after_header(wait)},
        )
    tenant = await request.app[AUTHENTICATE](key)
    if tenant is None:
        if failures is not None:
            failures.add(client)
        raise Problem(
            401,
            "the API key is not valid or has been revoked",
            headers={"WWW-Authenticate": 'Bearer realm="hongyan", error="invalid_token"'},
        )
    return tenant


async def session_principal(request: web.Request, session_id: str):
    """The principal of a live editor session; unsafe methods must pass `check_csrf`."""
    session = await request.app[SESSION_AUTH].authenticate(session_id)
    if session is None:
        raise Problem(401, "the editor session has expired or was ended; sign in again")
    check_csrf(request, session)
    return session.principal


def check_csrf(request: web.Request, session: Session) -> None:
    """403 unless a cookie-authenticated unsafe request echoes the session's CSRF token and,
    when the browser names its Origin, comes from this server's own origin."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise Problem(403, f"missing or wrong {CSRF_HEADER} header: send the csrf_token of the editor session")
    origin = request.headers.get("Origin")
    if origin is not None and origin not in _own_origins(request):
        raise Problem(403, "cross-origin request refused: the Origin header is not this server's")


def _own_origins(request: web.Request) -> frozenset[str]:
    own = f"{request.scheme}://{request.host}"
    return request.app[SESSION_AUTH].trusted_origins | {own}


@functools.lru_cache(maxsize=4096)  # asked on every request; most paths repeat
def required_scope(path: str) -> str:
    for prefix, scope in _SCOPE_BY_PREFIX:
        if path.startswith(prefix):
            return scope
    return "messages"
