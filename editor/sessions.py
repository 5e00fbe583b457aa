"""Editor sign-in: a person's login and password (and TOTP code), or an API key, exchanged for
a server-side session (cookie + CSRF token).

The cookie carries a random session id; the database keeps only its SHA-256, the tenant, the
person (user_sessions) or the API key (editor_sessions) it was made with, and the CSRF token. A
session ends after 8 h idle, 24 h at most, on sign-out, as soon as its API key is revoked or
its person is disabled in the tenant; a person's role is read on every use, so a change of
role takes effect on their next request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update

from accounts.service import Principal, Tenant
from accounts.tables import api_keys, tenants
from accounts.users import UserPrincipal, principal_of
from accounts.users_tables import memberships, user_sessions, users
from api.middleware import SESSION_COOKIE
from api.ratelimit import WindowLimiter
from editor.tables import editor_sessions
from store import Clock, Database
from store.clock import rfc3339

log = logging.getLogger(__name__)

COOKIE_NAME = SESSION_COOKIE
IDLE_TIMEOUT_MS = 8 * 3600 * 1000
ABSOLUTE_TIMEOUT_MS = 24 * 3600 * 1000
# last_seen is written at most this often: idle expiry is coarse (hours), writes per request are not.
TOUCH_INTERVAL_MS = 60 * 1000
PURGE_INTERVAL_S = 3600.0
SESSION_ID_BYTES = 32  # 256 bits in the cookie
CSRF_TOKEN_BYTES = 32

# Sign-in attempts per client address (a guessed key costs a request each).
LOGIN_ATTEMPTS = 10
LOGIN_WINDOW_S = 60.0


def hash_session_id(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, as browsers send it in the Origin header."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True)
class EditorSession:
    """A live session: who it signs in and the token unsafe requests must echo."""

    principal: Principal  # a UserPrincipal for a person
    csrf_token: str
    created_ms: int
    last_seen_ms: int
    absolute_expiry_ms: int

    @property
    def tenant(self) -> Tenant:
        return self.principal.tenant

    @property
    def expires_ms(self) -> int:
        return min(self.last_seen_ms + IDLE_TIMEOUT_MS, self.absolute_expiry_ms)

    @property
    def expires_at(self) -> str:
        return rfc3339(_ms_to_dt(self.expires_ms))


class EditorSessions:
    """The session store; also the `api.middleware.SESSION_AUTH` hook of the app."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        public_base_url: str | None = None,
        ensure_keys: Callable[[str], Awaitable[None]] | None = None,
        purge_interval_s: float = PURGE_INTERVAL_S,
    ):
        self.db = db
        self.clock = clock
        # Load a tenant's data keys when another process made the tenant (as key auth does).
        self.ensure_keys = ensure_keys
        self.trusted_origins = frozenset({origin_of(public_base_url)} if public_base_url else ())
        self.purge_interval_s = purge_interval_s
        self._task: asyncio.Task | None = None

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def create(self, principal: Principal) -> tuple[str, EditorSession]:
        """A new session for an authenticated API key; returns (session id for the cookie, session)."""
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        csrf = secrets.token_urlsafe(CSRF_TOKEN_BYTES)
        now = self.now_ms()
        session = EditorSession(principal, csrf, now, now, now + ABSOLUTE_TIMEOUT_MS)
        common = {
            "id_hash": hash_session_id(session_id),
            "tenant_id": principal.tenant.id,
            "csrf_token": csrf,
            "created_ms": now,
            "last_seen_ms": now,
            "expires_ms": session.absolute_expiry_ms,
        }
        async with self.db.write.begin() as conn:
            if isinstance(principal, UserPrincipal):
                await conn.execute(user_sessions.insert().values(user_id=principal.user_id, **common))
            else:
                await conn.execute(editor_sessions.insert().values(api_key_id=principal.key_id, **common))
        return session_id, session

    async def authenticate(self, session_id: str) -> EditorSession | None:
        """The live session for a cookie value, or None (unknown, expired, or its key revoked)."""
        if not session_id or len(session_id) > 128:
            return None
        id_hash = hash_session_id(session_id)
        query = (
            select(
                editor_sessions,
                api_keys.c.revoked_ms,
                api_keys.c.scopes,
                tenants.c.name,
                tenants.c.signature,
                tenants.c.rate_limit,
                tenants.c.sms_price,
                tenants.c.sms_ext,
            )
            .join(api_keys, api_keys.c.id == editor_sessions.c.api_key_id)
            .join(tenants, tenants.c.id == editor_sessions.c.tenant_id)
            .where(editor_sessions.c.id_hash == id_hash)
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return await self._person(id_hash)
        now = self.now_ms()
        if row.revoked_ms is not None or now >= min(row.last_seen_ms + IDLE_TIMEOUT_MS, row.expires_ms):
            await self._delete(id_hash)
            return None
        last_seen = row.last_seen_ms
        if now - last_seen >= TOUCH_INTERVAL_MS:
            last_seen = now
            async with self.db.write.begin() as conn:
                await conn.execute(
                    update(editor_sessions).where(editor_sessions.c.id_hash == id_hash).values(last_seen_ms=now)
                )
        tenant = Tenant(row.tenant_id, row.name, row.signature, row.rate_limit, row.sms_price, row.sms_ext)
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant.id)
        principal = Principal(tenant, row.api_key_id, frozenset(row.scopes.split()))
        return EditorSession(principal, row.csrf_token, row.created_ms, last_seen, row.expires_ms)

    async def _person(self, id_hash: bytes) -> EditorSession | None:
        """A person's session: None when unknown, expired, or the person disabled in its tenant."""
        query = (
            select(
                user_sessions,
                memberships.c.role,
                memberships.c.disabled_ms,
                users.c.login,
                tenants.c.id,
                tenants.c.name,
                tenants.c.signature,
                tenants.c.rate_limit,
                tenants.c.sms_price,
                tenants.c.sms_ext,
            )
            .join(users, users.c.id == user_sessions.c.user_id)
            .join(tenants, tenants.c.id == user_sessions.c.tenant_id)
            .outerjoin(
                memberships,
                (memberships.c.user_id == user_sessions.c.user_id)
                & (memberships.c.tenant_id == user_sessions.c.tenant_id),
            )
            .where(user_sessions.c.id_hash == id_hash)
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        now = self.now_ms()
        if (
            row.role is None
            or row.disabled_ms is not None
            or now >= min(row.last_seen_ms + IDLE_TIMEOUT_MS, row.expires_ms)
        ):
            await self._delete(id_hash)
            return None
        last_seen = row.last_seen_ms
        if now - last_seen >= TOUCH_INTERVAL_MS:
            last_seen = now
            async with self.db.write.begin() as conn:
                await conn.execute(
                    update(user_sessions).where(user_sessions.c.id_hash == id_hash).values(last_seen_ms=now)
                )
        if self.ensure_keys is not None:
            await self.ensure_keys(row.tenant_id)
        principal = principal_of(row, row.user_id)
        return EditorSession(principal, row.csrf_token, row.created_ms, last_seen, row.expires_ms)

    async def end(self, session_id: str) -> None:
        """Sign out: forget the session."""
        await self._delete(hash_session_id(session_id))

    async def _delete(self, id_hash: bytes) -> None:
        async with self.db.write.begin() as conn:
            await conn.execute(delete(editor_sessions).where(editor_sessions.c.id_hash == id_hash))
            await conn.execute(delete(user_sessions).where(user_sessions.c.id_hash == id_hash))

    async def purge_expired(self) -> int:
        """Delete sessions past their absolute or idle end; returns how many went."""
        now = self.now_ms()
        expired = (editor_sessions.c.expires_ms <= now) | (editor_sessions.c.last_seen_ms <= now - IDLE_TIMEOUT_MS)
        people = (user_sessions.c.expires_ms <= now) | (user_sessions.c.last_seen_ms <= now - IDLE_TIMEOUT_MS)
        async with self.db.write.begin() as conn:
            gone = (await conn.execute(delete(editor_sessions).where(expired))).rowcount or 0
            return gone + ((await conn.execute(delete(user_sessions).where(people))).rowcount or 0)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._purge_loop(), name="editor-session-purge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.purge_expired()
            except Exception:
                log.exception("purging expired editor sessions failed; will retry")
            await asyncio.sleep(self.purge_interval_s)


class LoginLimiter(WindowLimiter):
    """At most `attempts` sign-in attempts per client (its address and the key it presents) in
    any `window_s` seconds: one client behind a NAT cannot lock the others out."""

    def __init__(
        self,
        attempts: int = LOGIN_ATTEMPTS,
        window_s: float = LOGIN_WINDOW_S,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        super().__init__(attempts, window_s, monotonic)
