"""Creating tenants, authenticating API keys, keeping the keyring loaded."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import Integer, cast, func, select, update
from sqlalchemy.exc import IntegrityError

import security
from accounts.tables import api_keys, data_keys, tenants
from security import SCOPES, api_key_id, check_api_key, format_scopes, new_api_key
from security.apikeys import TEST_SCOPES, api_key_environment
from store import Clock, Database, SystemClock, new_id

SANDBOX_SIGNATURE = "【鸿雁测试】"
FIRST_SMS_EXT = 1001  # four-digit extension codes first, as aggregators usually allot them
# Huawei Cloud allows 2–16 characters between the brackets.
_SIGNATURE = re.compile(r"^【([^【】]{2,16})】$")
# A revoked key stops working across processes within this many seconds.
log = logging.getLogger(__name__)
AUTH_CACHE_SECONDS = 10.0
LAST_USED_EVERY_MS = 60_000  # a key's last-used time is written at most this often
MAX_KEY_NAME = 100


class SignatureInvalid(ValueError):
    pass


class TenantNameInvalid(ValueError):
    pass


MAX_TENANT_NAME = 200


def validate_tenant_name(name: str) -> str:
    """The tenant's name stripped, if it is 1–200 characters without control characters, else raise."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_TENANT_NAME:
        raise TenantNameInvalid(f"a tenant name is 1 to {MAX_TENANT_NAME} characters (not blank)")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise TenantNameInvalid("a tenant name cannot contain control characters")
    return name.strip()


def validate_signature(signature: str) -> str:
    """Return the signature if it is `【…】` with 2–16 characters inside, else raise."""
    if not _SIGNATURE.match(signature or ""):
        raise SignatureInvalid("a signature is 【name】 with 2 to 16 characters between the brackets")
    return signature


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    signature: str
    rate_limit: int | None
    sms_price: str | None
    sms_ext: str | None = None

    def as_mapping(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "signature": self.signature,
            "rate_limit": self.rate_limit,
            "sms_price": self.sms_price,
            "sms_ext": self.sms_ext,
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, and the key with its scopes."""

    tenant: Tenant
    key_id: str
    scopes: frozenset[str]
    environment: str = "live"

    # The middleware reads these as it would a Tenant.
    @property
    def id(self) -> str:
        return self.tenant.id

    @property
    def test(self) -> bool:
        """A test key: what it sends goes only to the simulators and is never billed."""
        return self.environment == "test"

    def as_mapping(self) -> dict:
        return self.tenant.as_mapping()


def _tenant(row) -> Tenant:
    return Tenant(row.id, row.name, row.signature, row.rate_limit, row.sms_price, row.sms_ext)


def record_row(rec: security.DataKeyRecord) -> dict:
    return {
        "tenant_id": rec.tenant_id,
        "key_id": rec.key_id,
        "purpose": rec.purpose,
        "wrapped": rec.wrapped,
        "master_key_id": rec.master_key_id,
        "state": rec.state,
        "created_ms": int(rec.created_at.timestamp() * 1000),
    }


class Accounts:
    """Tenant store: creation, API-key authentication (cached), data keys into the keyring."""

    def __init__(self, db: Database, keyring: security.Keyring, clock: Clock | None = None):
        self.db = db
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self._auth_cache: dict[str, tuple[float, asyncio.Future]] = {}
        self._marking: set[asyncio.Task] = set()  # last-used writes in flight

    async def create_tenant(
        self,
        name: str,
        *,
        signature: str | None = None,
        rate_limit: int | None = None,
        sms_price: str | None = None,
    ) -> tuple[Tenant, str]:
        """Create a tenant with its data keys and a first (live) API key; return the key (shown
        once). A test key is one more `create_api_key(…, environment="test")`."""
        name = validate_tenant_name(name)
        signature = validate_signature(signature or SANDBOX_SIGNATURE)
        now = self.clock.now()
        now_ms = int(now.timestamp() * 1000)
        tenant_id = new_id()
        records = self.keyring.create_tenant_keys(tenant_id, now=now)
        key_string, key_id, key_hash = new_api_key()
        for attempt in range(5):
            try:
                async with self.db.write.begin() as conn:
                    # The next free extension code; two processes racing for it retry (unique index).
                    top = (await conn.execute(select(func.max(cast(tenants.c.sms_ext, Integer))))).scalar()
                    sms_ext = str(max(top or 0, FIRST_SMS_EXT - 1) + 1)
                    await conn.execute(
                        tenants.insert().values(
                            id=tenant_id,
                            name=name,
                            signature=signature,
                            rate_limit=rate_limit,
                            sms_price=sms_price,
                            created_ms=now_ms,
                            sms_ext=sms_ext,
                        )
                    )
                    await conn.execute(data_keys.insert(), [record_row(r) for r in records])
                    await conn.execute(
                        api_keys.insert().values(
                            id=key_id,
                            tenant_id=tenant_id,
                            key_hash=key_hash,
                            scopes=format_scopes(SCOPES),
                            created_ms=now_ms,
                        )
                    )
                break
            except IntegrityError:
                if attempt == 4:
                    raise
        return Tenant(tenant_id, name, signature, rate_limit, sms_price, sms_ext), key_string

    async def tenant_by_sms_ext(self, sms_ext: str) -> Tenant | None:
        """The tenant whose SMS extension code this is (a reply's destination ends with it)."""
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(tenants).where(tenants.c.sms_ext == sms_ext))).first()
        return _tenant(row) if row else None

    async def first_tenant(self) -> Tenant | None:
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(tenants).order_by(tenants.c.created_ms).limit(1))).first()
        return _tenant(row) if row else None

    async def set_signature(self, tenant_id: str, signature: str) -> None:
        """Change a tenant's SMS signature (after its review); raises SignatureInvalid."""
        validate_signature(signature)
        async with self.db.write.begin() as conn:
            await conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(signature=signature))
        self._auth_cache.clear()  # authenticated principals carry the tenant's signature

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
        return _tenant(row) if row else None

    async def authenticate(self, key_string: str) -> Principal | None:
        """The tenant and scopes of this API key, or None for a missing, wrong or revoked key."""
        hit = self._auth_cache.get(key_string)
        mono = time.monotonic()
        if hit is not None and hit[0] > mono:
            return await hit[1]
        # Cache the pending look-up itself so a burst of requests costs one query.
        pending = asyncio.ensure_future(self._authenticate(key_string))
        if len(self._auth_cache) > 10_000:
            self._auth_cache.clear()
        self._auth_cache[key_string] = (mono + AUTH_CACHE_SECONDS, pending)
        try:
            return await pending
        except Exception:
            self._auth_cache.pop(key_string, None)
            raise

    async def _authenticate(self, key_string: str) -> Principal | None:
        key_id = api_key_id(key_string)
        if key_id is None:
            return None
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        api_keys.c.key_hash,
                        api_keys.c.revoked_ms,
                        api_keys.c.scopes,
                        api_keys.c.last_used_ms,
                        api_keys.c.environment,
                        tenants,
                    )
                    .join(tenants, tenants.c.id == api_keys.c.tenant_id)
                    .where(api_keys.c.id == key_id)
                )
            ).first()
        if row is None or row.revoked_ms is not None:
            return None
        if not check_api_key(key_string, row.key_hash) or api_key_environment(key_string) != row.environment:
            return None
        tenant = _tenant(row)
        await self.ensure_keys(tenant.id)
        now_ms = int(self.clock.now().timestamp() * 1000)
        if row.last_used_ms is None or now_ms - row.last_used_ms >= LAST_USED_EVERY_MS:
            # Off the request's path: a busy writer never holds an authentication up.
            task = asyncio.create_task(self._mark_used(key_id, now_ms))
            self._marking.add(task)
            task.add_done_callback(self._marking.discard)
        return Principal(tenant, key_id, frozenset(row.scopes.split()), row.environment)

    async def _mark_used(self, key_id: str, now_ms: int) -> None:
        try:
            async with self.db.write.begin() as conn:
                await conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id)
                    .where((api_keys.c.last_used_ms.is_(None)) | (api_keys.c.last_used_ms < now_ms))
                    .values(last_used_ms=now_ms)
                )
        except Exception:  # the time is a convenience; the request was served
            log.warning("recording when API key %s was last used failed", key_id, exc_info=True)

    async def create_api_key(
        self, tenant_id: str, scopes, name: str | None = None, *, environment: str = "live"
    ) -> dict:
        """Another key for a tenant, limited to `scopes`; the key string is in the answer once.
        A test key (`environment="test"`) holds only `TEST_SCOPES`; others raise ValueError."""
        scopes_text = format_scopes(scopes)
        if environment == "test" and not set(scopes_text.split()) <= TEST_SCOPES:
            beyond = ", ".join(sorted(set(scopes_text.split()) - TEST_SCOPES))
            raise ValueError(f"a test key cannot hold: {beyond}")
        key_string, key_id, key_hash = new_api_key(environment=environment)
        now_ms = int(self.clock.now().timestamp() * 1000)
        async with self.db.write.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    tenant_id=tenant_id,
                    key_hash=key_hash,
                    scopes=scopes_text,
                    created_ms=now_ms,
                    name=name,
                    environment=environment,
                )
            )
        view = _key_view(key_id, scopes_text, now_ms, None, name, None, environment)
        return {**view, "api_key": key_string}

    async def create_test_key(self, tenant_id: str, name: str | None = "test") -> str:
        """A test key with every scope a test key may hold; the key string (shown once)."""
        return (await self.create_api_key(tenant_id, TEST_SCOPES, name, environment="test"))["api_key"]

    async def list_api_keys(self, tenant_id: str) -> list[dict]:
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(api_keys).where(api_keys.c.tenant_id == tenant_id).order_by(api_keys.c.created_ms)
                )
            ).all()
        return [
            _key_view(r.id, r.scopes, r.created_ms, r.revoked_ms, r.name, r.last_used_ms, r.environment) for r in rows
        ]

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        """Revoke a key now in this process (others stop accepting it within the auth cache time)."""
        now_ms = int(self.clock.now().timestamp() * 1000)
        async with self.db.write.begin() as conn:
            done = (
                await conn.execute(
                    update(api_keys)
                    .where(
                        (api_keys.c.id == key_id)
                        & (api_keys.c.tenant_id == tenant_id)
                        & api_keys.c.revoked_ms.is_(None)
                    )
                    .values(revoked_ms=now_ms)
                )
            ).rowcount
        self._auth_cache.clear()
        return bool(done)

    async def ensure_keys(self, tenant_id: str) -> None:
        """Load a tenant's data keys if this process has not seen them (made by another process)."""
        if self.keyring.has_tenant(tenant_id):
            return
        await self.load_keys(tenant_id)

    async def load_keys(self, tenant_id: str | None = None) -> None:
        """Load wrapped data keys from the database into the keyring (all tenants by default)."""
        query = select(data_keys)
        if tenant_id is not None:
            query = query.where(data_keys.c.tenant_id == tenant_id)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        self.keyring.load(
            security.DataKeyRecord(
                tenant_id=r.tenant_id,
                key_id=r.key_id,
                purpose=r.purpose,
                wrapped=r.wrapped,
                master_key_id=r.master_key_id,
                state=r.state,
                created_at=_from_ms(r.created_ms),
            )
            for r in rows
        )


def _key_view(
    key_id: str,
    scopes: str,
    created_ms: int,
    revoked_ms: int | None,
    name: str | None,
    last_used_ms: int | None,
    environment: str = "live",
) -> dict:
    from store.clock import rfc3339

    return {
        "id": key_id,
        "name": name,
        "environment": environment,
        "scopes": scopes.split(),
        "created_at": rfc3339(_from_ms(created_ms)),
        "last_used_at": rfc3339(_from_ms(last_used_ms)) if last_used_ms else None,
        "revoked_at": rfc3339(_from_ms(revoked_ms)) if revoked_ms else None,
    }


def _from_ms(ms: int):
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000, UTC)
