"""People who sign in to the web UI: accounts, passwords (argon2id), TOTP, roles per tenant.

Raises `api.problems.Problem` with JSON Pointers to the fields at fault; the HTTP edge
(accounts/users_http.py, editor/http.py) answers them as problem+json.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, delete, func, select, update

import security
from accounts.service import Principal, Tenant
from accounts.tables import tenants
from accounts.users_tables import memberships, recovery_codes, user_sessions, users
from api.problems import FieldError, Problem
from security.roles import ROLES, outranks, refusal, role_permits, role_scopes
from store import Clock, Database, SystemClock, new_id
from store.clock import rfc3339

LOGIN = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
USER_ID = re.compile(r"^[0-9a-f]{32}$")
TENANT_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 200
PASSWORD_TOKEN_MS = 72 * 3600 * 1000  # an invitation's password-set link works three days
TOTP_ISSUER = "Hongyan"
# A code from the previous or next 30-second step still counts (clock drift), each step once.
TOTP_DRIFT_STEPS = 1
# One-time recovery codes given when TOTP is turned on: `xxxx-xxxx-xxxx` from an alphabet without
# look-alikes; the first group names the code (so sign-in verifies one hash, not ten), the other
# two (40 bits from the system's CSPRNG) are kept only as an argon2id hash.
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE = re.compile(r"^([a-z2-9]{4})-?([a-z2-9]{4})-?([a-z2-9]{4})$")
# A dummy hash verified when the login is unknown, so that a wrong login costs what a wrong
# password costs (no timing tells which logins exist).
_DUMMY_PASSWORD = "not-a-password-of-anyone"


@dataclass(frozen=True)
class UserPrincipal(Principal):
    """A person signed in to one tenant with one role; `scopes` are what the role may write
    (the most an API key they mint may hold). The middleware checks `role` on every request."""

    user_id: str = ""
    login: str = ""
    role: str = "read-only"

    @property
    def display(self) -> str:
        return self.login

    def refusal(self, area: str, method: str) -> str | None:
        """Why this person's role may not use `method` on `area` (the 403's text), or None."""
        return None if role_permits(self.role, area, method) else refusal(self.role, area, method)


def password_problem(password: object, path: str) -> FieldError | None:
    """Why `password` is not acceptable (a FieldError at `path`), or None."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return FieldError(path, f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return None


def login_problem(login: object, path: str = "/login") -> FieldError | None:
    if not isinstance(login, str) or not LOGIN.fullmatch(login):
        return FieldError(path, "2 to 64 characters: lowercase letters, digits and . _ @ - (a letter or digit first)")
    return None


def role_problem(role: object, path: str = "/role") -> FieldError | None:
    if role not in ROLES:
        return FieldError(path, f"one of: {', '.join(ROLES)}")
    return None


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _secret_name(user_id: str) -> str:
    return f"users/{user_id}/totp"


class Users:
    """The people store: creation and invitations, roles, disabling, passwords and TOTP, sign-in."""

    def __init__(
        self,
        db: Database,
        keyring: security.Keyring,
        clock: Clock | None = None,
        *,
        hasher: PasswordHasher | None = None,
    ):
        self.db = db
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- passwords ---------------------------------------------------------------------------
    async def hash_password(self, password: str) -> str:
        # argon2 is deliberately slow (tens of ms): off the event loop.
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, stored: str | None, password: str) -> bool:
        if stored is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash_password(_DUMMY_PASSWORD)
            stored, ok_anyway = self._dummy_hash, False
        else:
            ok_anyway = True

        def check() -> bool:
            try:
                return self.hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check) and ok_anyway

    # -- administration (within one tenant) ----------------------------------------------------
    async def create(
        self,
        tenant_id: str,
        login: str,
        role: str,
        *,
        display_name: str | None = None,
        password: str | None = None,
        actor_role: str | None = None,
    ) -> tuple[dict, str | None]:
        """A person with `role` in the tenant: a new account (with `password`, else a one-time
        password-set token, returned), or — when the login exists already — a membership of
        this tenant for that person (their password unchanged). `actor_role` None: no limit
        (the command line); else an admin cannot make owners."""
        errors = [e for e in (login_problem(login), role_problem(role)) if e]
        if password is not None and (bad := password_problem(password, "/password")):
            errors.append(bad)
        if display_name is not None and (
            not isinstance(display_name, str)
            or not 1 <= len(display_name) <= 200
            or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in display_name)
        ):
            errors.append(FieldError("/display_name", "1 to 200 characters, no control characters"))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        self._may_grant(actor_role, role)
        now = self.now_ms()
        token = None
        # Hashed before the transaction: argon2 takes a while, the write lock should not wait for it.
        password_hash = await self.hash_password(password) if password is not None else None
        async with self.db.write.begin() as conn:
            existing = (await conn.execute(select(users.c.id).where(users.c.login == login))).first()
            if existing is not None:
                if password is not None:
                    raise Problem(
                        409,
                        "this login exists already: the person is added without a password (they keep theirs)",
                        [FieldError("/password", "not allowed for an existing login")],
                    )
                user_id = existing.id
            else:
                user_id = new_id()
                values: dict = {
                    "id": user_id,
                    "login": login,
                    "display_name": display_name or login,
                    "totp_enabled": False,
                    "created_ms": now,
                    "updated_ms": now,
                }
                if password_hash is not None:
                    values["password_hash"] = password_hash
                else:
                    token = secrets.token_urlsafe(32)
                    values["password_token_hash"] = _token_hash(token)
                    values["password_token_expires_ms"] = now + PASSWORD_TOKEN_MS
                await conn.execute(users.insert().values(**values))
            member = (
                await conn.execute(
                    select(memberships.c.role).where(
                        memberships.c.user_id == user_id, memberships.c.tenant_id == tenant_id
                    )
                )
            ).first()
            if member is not None:
                raise Problem(409, "this person belongs to the tenant already", [FieldError("/login", "a member")])
            await conn.execute(
                memberships.insert().values(user_id=user_id, tenant_id=tenant_id, role=role, created_ms=now)
            )
        return await self.get(tenant_id, user_id), token

    async def list(self, tenant_id: str) -> list[dict]:
        query = (
            select(users, memberships.c.role, memberships.c.disabled_ms, memberships.c.created_ms.label("member_ms"))
            .join(memberships, memberships.c.user_id == users.c.id)
            .where(memberships.c.tenant_id == tenant_id)
            .order_by(users.c.login)
        )
        async with self.db.read.connect() as conn:
            return [_view(r) for r in (await conn.execute(query)).all()]

    async def get(self, tenant_id: str, user_id: str) -> dict:
        query = (
            select(users, memberships.c.role, memberships.c.disabled_ms, memberships.c.created_ms.label("member_ms"))
            .join(memberships, memberships.c.user_id == users.c.id)
            .where(memberships.c.tenant_id == tenant_id, users.c.id == user_id)
        )
        if not USER_ID.fullmatch(user_id):
            raise Problem(404, "no such person in this tenant")
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise Problem(404, "no such person in this tenant")
        return _view(row)

    async def change(
        self,
        tenant_id: str,
        user_id: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        actor_role: str | None = None,
        actor_id: str | None = None,
    ) -> dict:
        """Change a member's role and/or disable (or enable) them in this tenant; disabling ends
        their sessions in it at once. Nobody changes themselves this way (no self-lockout)."""
        if role is not None and (bad := role_problem(role)):
            raise Problem(422, "1 field(s) are invalid", [bad])
        current = await self.get(tenant_id, user_id)
        if actor_id is not None and actor_id == user_id:
            raise Problem(403, "you cannot change your own role or disable yourself; ask another owner or admin")
        self._may_grant(actor_role, current["role"])
        if role is not None:
            self._may_grant(actor_role, role)
        values: dict = {}
        if role is not None:
            values["role"] = role
        if disabled is not None:
            values["disabled_ms"] = self.now_ms() if disabled else None
        if values:
            async with self.db.write.begin() as conn:
                if current["role"] == "owner" and (role not in (None, "owner") or disabled):
                    await self._keep_an_owner(conn, tenant_id, user_id)
                await conn.execute(
                    update(memberships)
                    .where(memberships.c.tenant_id == tenant_id, memberships.c.user_id == user_id)
                    .values(**values)
                )
                if disabled:
                    await conn.execute(
                        delete(user_sessions).where(
                            user_sessions.c.tenant_id == tenant_id, user_sessions.c.user_id == user_id
                        )
                    )
        return await self.get(tenant_id, user_id)

    async def _keep_an_owner(self, conn, tenant_id: str, user_id: str) -> None:
        others = (
            await conn.execute(
                select(memberships.c.user_id).where(
                    memberships.c.tenant_id == tenant_id,
                    memberships.c.role == "owner",
                    memberships.c.disabled_ms.is_(None),
                    memberships.c.user_id != user_id,
                )
            )
        ).first()
        if others is None:
            raise Problem(409, "a tenant keeps at least one active owner", [FieldError("/role", "the last owner")])

    @staticmethod
    def _may_grant(actor_role: str | None, role: str) -> None:
        if actor_role is not None and not outranks(actor_role, role):
            raise Problem(
                403,
                f"the `{actor_role}` role cannot manage people with the `{role}` role",
                [FieldError("/role", f"`{role}` is beyond the `{actor_role}` role")],
                extra={"role": actor_role},
            )

    # -- a person's own account ---------------------------------------------------------------
    async def _user(self, user_id: str):
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        if row is None:
            raise Problem(404, "no such person")
        return row

    async def me(self, principal: UserPrincipal) -> dict:
        view = await self.get(principal.tenant.id, principal.user_id)
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(memberships.c.tenant_id, memberships.c.role, tenants.c.name)
                    .join(tenants, tenants.c.id == memberships.c.tenant_id)
                    .where(memberships.c.user_id == principal.user_id, memberships.c.disabled_ms.is_(None))
                    .order_by(memberships.c.created_ms)
                )
            ).all()
        view["tenants"] = [{"id": r.tenant_id, "name": r.name, "role": r.role} for r in rows]
        if view.get("totp_enabled"):
            view["recovery_codes_left"] = await self.recovery_codes_left(principal.user_id)
        return view

    async def change_password(self, user_id: str, current: object, new: object) -> None:
        row = await self._user(user_id)
        errors = []
        if bad := password_problem(new, "/new_password"):
            errors.append(bad)
        if errors:
            raise Problem(422, "1 field(s) are invalid", errors)
        if not isinstance(current, str) or not await self._verify(row.password_hash, current):
            raise Problem(401, "the current password is wrong", [FieldError("/current_password", "wrong password")])
        assert isinstance(new, str)
        await self._set_password(user_id, await self.hash_password(new))

    async def set_password_with_token(self, token: object, password: object) -> str:
        """Set a password with the one-time token of an invitation; returns the login."""
        if bad := password_problem(password, "/password"):
            raise Problem(422, "1 field(s) are invalid", [bad])
        if not isinstance(token, str) or not 10 <= len(token) <= 100:
            raise Problem(422, "1 field(s) are invalid", [FieldError("/token", "the token from the link")])
        assert isinstance(password, str)
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.password_token_hash == _token_hash(token)))).first()
        if row is None or (row.password_token_expires_ms or 0) <= self.now_ms():
            raise Problem(410, "this link has been used or has expired; ask for a new invitation")
        await self._set_password(row.id, await self.hash_password(password))
        return row.login

    async def _set_password(self, user_id: str, password_hash: str) -> None:
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    password_hash=password_hash,
                    password_token_hash=None,
                    password_token_expires_ms=None,
                    updated_ms=self.now_ms(),
                )
            )

    async def totp_enrol(self, user_id: str) -> dict:
        """A new TOTP secret, not yet in force: confirm it with a code (`totp_confirm`)."""
        row = await self._user(user_id)
        if row.totp_enabled:
            raise Problem(409, "TOTP is on already: turn it off first to enrol a new device")
        secret = pyotp.random_base32()
        master_id, wrapped = self.keyring.wrap_secret(_secret_name(user_id), secret.encode())
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(totp_master_key_id=master_id, totp_wrapped=wrapped, updated_ms=self.now_ms())
            )
        uri = pyotp.TOTP(secret).provisioning_uri(name=row.login, issuer_name=TOTP_ISSUER)
        return {"secret": secret, "otpauth_uri": uri}

    async def totp_confirm(self, user_id: str, code: object) -> list[str]:
        """Turn TOTP on with a code from the authenticator; the recovery codes (shown once)."""
        row = await self._user(user_id)
        if row.totp_enabled:
            raise Problem(409, "TOTP is on already")
        if row.totp_wrapped is None:
            raise Problem(409, "enrol first: POST /v1/users/me/totp")
        step = self._check_code(row, code)
        codes, rows = await self._new_recovery_codes(user_id)
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(totp_enabled=True, totp_last_step=step, updated_ms=self.now_ms())
            )
            await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
            await conn.execute(recovery_codes.insert(), rows)
        return codes

    async def recovery_codes_renew(self, user_id: str, code: object) -> list[str]:
        """New recovery codes for a current TOTP code; the old ones stop working."""
        row = await self._user(user_id)
        if not row.totp_enabled:
            raise Problem(409, "TOTP is not on: recovery codes come with it")
        step = self._check_code(row, code)
        codes, rows = await self._new_recovery_codes(user_id)
        async with self.db.write.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(totp_last_step=step))
            await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
            await conn.execute(recovery_codes.insert(), rows)
        return codes

    async def _new_recovery_codes(self, user_id: str) -> tuple[list[str], list[dict]]:
        now_ms = self.now_ms()
        codes, rows, ids = [], [], set()
        while len(codes) < RECOVERY_CODES:
            code = "-".join("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(4)) for _ in range(3))
            if code[:4] in ids:
                continue  # the first group names the code: unique per person
            ids.add(code[:4])
            codes.append(code)
        hashes = await asyncio.gather(*(self.hash_password(c[5:].replace("-", "")) for c in codes))
        for c, h in zip(codes, hashes):
            rows.append({"user_id": user_id, "code_id": c[:4], "code_hash": h, "used_ms": None, "created_ms": now_ms})
        return codes, rows

    async def _use_recovery_code(self, row, given: str) -> bool:
        """Spend one of the person's recovery codes (each signs in once)."""
        found = RECOVERY_CODE.fullmatch(given.strip().lower())
        if found is None:
            return False
        code_id, secret = found.group(1), found.group(2) + found.group(3)
        rc = recovery_codes.c
        async with self.db.read.connect() as conn:
            stored = (
                await conn.execute(
                    select(rc.code_hash).where(rc.user_id == row.id, rc.code_id == code_id, rc.used_ms.is_(None))
                )
            ).scalar()
        if not await self._verify(stored, secret) or stored is None:
            return False
        async with self.db.write.begin() as conn:
            # Conditional: of two sign-ins racing with one code, one wins.
            done = await conn.execute(
                update(recovery_codes)
                .where(rc.user_id == row.id, rc.code_id == code_id, rc.used_ms.is_(None))
                .values(used_ms=self.now_ms())
            )
        return bool(done.rowcount)

    async def recovery_codes_left(self, user_id: str) -> int:
        rc = recovery_codes.c
        async with self.db.read.connect() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(recovery_codes)
                        .where(rc.user_id == user_id, rc.used_ms.is_(None))
                    )
                ).scalar_one()
            )

    async def totp_disable(self, user_id: str, code: object) -> None:
        row = await self._user(user_id)
        if not row.totp_enabled:
            raise Problem(409, "TOTP is not on")
        self._check_code(row, code)
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    totp_enabled=False,
                    totp_wrapped=None,
                    totp_master_key_id=None,
                    totp_last_step=None,
                    updated_ms=self.now_ms(),
                )
            )
            await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))

    def _check_code(self, row, code: object, path: str = "/code") -> int:
        """The time step `code` is good for; 401 naming `path` if it is wrong or used already."""
        if not isinstance(code, str) or not re.fullmatch(r"\d{6}", code.strip()):
            raise Problem(401, "the TOTP code is wrong", [FieldError(path, "six digits from the authenticator")])
        secret = self.keyring.unwrap_secret(_secret_name(row.id), row.totp_master_key_id, row.totp_wrapped).decode()
        totp = pyotp.TOTP(secret)
        now = self.clock.now()
        now_step = int(now.timestamp()) // totp.interval
        for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
            at = datetime.fromtimestamp(step * totp.interval, UTC)
            if secrets.compare_digest(totp.at(at), code.strip()) and step > (row.totp_last_step or -1):
                return step
        raise Problem(401, "the TOTP code is wrong", [FieldError(path, "wrong or used already")])

    # -- sign-in -------------------------------------------------------------------------------
    async def sign_in(
        self, login: str, password: str, *, totp: object = None, tenant_id: str | None = None
    ) -> UserPrincipal:
        """The person signed in to `tenant_id` (default: their first active membership); 401 for
        a wrong login, password or TOTP code, or no active membership."""
        row = None
        if LOGIN.fullmatch(login):  # anything else cannot be a login (and never reaches the database)
            async with self.db.read.connect() as conn:
                row = (await conn.execute(select(users).where(users.c.login == login))).first()
        if tenant_id is not None and not TENANT_ID.fullmatch(tenant_id):
            tenant_id = "-"  # no such tenant: the membership check below refuses
        wrong = Problem(401, "wrong login or password", [FieldError("/password", "wrong login or password")])
        if not await self._verify(row.password_hash if row is not None else None, password) or row is None:
            raise wrong
        if row.totp_enabled:
            await self._second_factor(row, totp)
        principal = await self.principal(row.id, tenant_id)
        if principal is None:
            raise Problem(
                401,
                "this account has no active membership of that tenant",
                [FieldError("/tenant_id" if tenant_id else "/login", "no active membership")],
            )
        return principal

    async def _second_factor(self, row, totp: object) -> None:
        """A TOTP code, or one of the person's recovery codes; 401 naming `/totp` otherwise."""
        if totp is None or totp == "":
            raise Problem(
                401,
                "this account needs a TOTP code",
                [FieldError("/totp", "required: the six digits from the authenticator, or a recovery code")],
                extra={"totp_required": True},
            )
        if isinstance(totp, str) and RECOVERY_CODE.fullmatch(totp.strip().lower()):
            if not await self._use_recovery_code(row, totp):
                raise Problem(401, "the recovery code is wrong", [FieldError("/totp", "wrong or used already")])
            return
        step = self._check_code(row, totp, "/totp")
        async with self.db.write.begin() as conn:
            # Conditional: of two sign-ins racing with one code, one wins.
            done = await conn.execute(
                update(users)
                .where(
                    users.c.id == row.id,
                    (users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
        if not done.rowcount:
            raise Problem(401, "the TOTP code is wrong", [FieldError("/totp", "wrong or used already")])

    async def tenants_of(self, login: str) -> list[str]:
        """The tenants a login belongs to (where its failed sign-ins are logged)."""
        if not LOGIN.fullmatch(login):
            return []
        query = (
            select(memberships.c.tenant_id)
            .join(users, users.c.id == memberships.c.user_id)
            .where(users.c.login == login)
            .order_by(memberships.c.created_ms)
        )
        async with self.db.read.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def principal(self, user_id: str, tenant_id: str | None = None) -> UserPrincipal | None:
        """The person in `tenant_id` (or their first tenant) as they are now: None when disabled there."""
        cond = [memberships.c.user_id == user_id, memberships.c.disabled_ms.is_(None)]
        if tenant_id is not None:
            cond.append(memberships.c.tenant_id == tenant_id)
        query = (
            select(memberships.c.role, users.c.login, tenants)
            .join(users, users.c.id == memberships.c.user_id)
            .join(tenants, tenants.c.id == memberships.c.tenant_id)
            .where(and_(*cond))
            .order_by(memberships.c.created_ms)
            .limit(1)
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return principal_of(row, user_id)


def principal_of(row, user_id: str) -> UserPrincipal:
    """A UserPrincipal from a row holding `role`, `login` and the tenant's columns."""
    tenant = Tenant(row.id, row.name, row.signature, row.rate_limit, row.sms_price, row.sms_ext)
    return UserPrincipal(
        tenant=tenant,
        key_id="",
        scopes=role_scopes(row.role),
        user_id=user_id,
        login=row.login,
        role=row.role,
    )


def _ms(ms: int | None) -> str | None:
    return rfc3339(datetime.fromtimestamp(ms / 1000, UTC)) if ms else None


def _view(row) -> dict:
    return {
        "id": row.id,
        "login": row.login,
        "display_name": row.display_name,
        "role": row.role,
        "totp_enabled": bool(row.totp_enabled),
        "password_set": row.password_hash is not None,
        "disabled": row.disabled_ms is not None,
        "disabled_at": _ms(row.disabled_ms),
        "created_at": _ms(row.created_ms),
    }
