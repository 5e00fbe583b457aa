"""People who sign in to the web UI, their role in each tenant, their sessions, and the
append-only audit log of administrative actions. Times are Unix milliseconds.

A password is kept only as an argon2id hash; a TOTP secret only wrapped under the master key
(`Keyring.wrap_secret`, bound to the user's id), its recovery codes only as argon2id hashes; a
session id and a password-set token only as
their SHA-256. The audit log carries no personal data beyond who acted (a user's login or a key's
id): its `detail` holds ids and names of settings, never message content or numbers.
"""

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, LargeBinary, String, Table, Text
from sqlmodel import Field

from accounts.tables import AccountsModel


class User(AccountsModel, table=True):
    """A person; `login` is unique across the platform (one person, several tenants)."""

    __tablename__ = "users"
    __table_args__ = (Index("uq_users_login", "login", unique=True),)

    id: str = Field(sa_type=String(32), primary_key=True)
    login: str = Field(sa_type=String(64))
    display_name: str = Field(sa_type=String(200))
    # argon2id, PHC string form; NULL until the person sets one through their link
    password_hash: str | None = Field(default=None, sa_type=Text)
    # SHA-256 of the one-time password-set token, and when it stops working
    password_token_hash: bytes | None = Field(default=None, sa_type=LargeBinary)
    password_token_expires_ms: int | None = Field(default=None, sa_type=BigInteger)
    # TOTP: the secret wrapped under the master key; `totp_enabled` once confirmed with a code
    totp_master_key_id: str | None = Field(default=None, sa_type=String(64))
    totp_wrapped: bytes | None = Field(default=None, sa_type=LargeBinary)
    totp_enabled: bool = Field(default=False, sa_type=Boolean)
    # The last TOTP time step accepted: a code is good once
    totp_last_step: int | None = Field(default=None, sa_type=BigInteger)
    created_ms: int = Field(sa_type=BigInteger)
    updated_ms: int = Field(sa_type=BigInteger)


users: Table = User.__table__  # type: ignore[attr-defined]


class RecoveryCode(AccountsModel, table=True):
    """One of a person's one-time TOTP recovery codes: the code's public id (its first group)
    and an argon2id hash of the rest; `used_ms` once it signed someone in."""

    __tablename__ = "user_recovery_codes"

    user_id: str = Field(sa_type=String(32), foreign_key="users.id", primary_key=True)
    code_id: str = Field(sa_type=String(8), primary_key=True)
    code_hash: str = Field(sa_type=Text)
    used_ms: int | None = Field(default=None, sa_type=BigInteger)
    created_ms: int = Field(sa_type=BigInteger)


recovery_codes: Table = RecoveryCode.__table__  # type: ignore[attr-defined]


class Membership(AccountsModel, table=True):
    """A person's one role in one tenant (disabling a person is per tenant)."""

    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_tenant", "tenant_id", "user_id"),)

    user_id: str = Field(sa_type=String(32), foreign_key="users.id", primary_key=True)
    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id", primary_key=True)
    # owner | admin | designer | sender | reviewer | auditor | read-only
    role: str = Field(sa_type=String(16))
    # Disabled in this tenant: no sign-in to it, its sessions end
    disabled_ms: int | None = Field(default=None, sa_type=BigInteger)
    created_ms: int = Field(sa_type=BigInteger)


memberships: Table = Membership.__table__  # type: ignore[attr-defined]


class UserSession(AccountsModel, table=True):
    """A person's web session in one tenant (the editor's cookie); only the id's SHA-256 is kept."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id"), Index("ix_user_sessions_expires", "expires_ms"))

    id_hash: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    user_id: str = Field(sa_type=String(32), foreign_key="users.id")
    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id")
    csrf_token: str = Field(sa_type=Text)
    created_ms: int = Field(sa_type=BigInteger)
    last_seen_ms: int = Field(sa_type=BigInteger)
    expires_ms: int = Field(sa_type=BigInteger)


user_sessions: Table = UserSession.__table__  # type: ignore[attr-defined]


class AuditRecord(AccountsModel, table=True):
    """One administrative action: who (a user or an API key, and how they showed), what (action,
    target), when, from where (client address) and how it ended (HTTP status). Append-only: the
    database refuses UPDATE and DELETE (triggers, migration accounts_0004)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant", "tenant_id", "id"),
        Index("ix_audit_log_actor", "tenant_id", "actor_id", "id"),
        Index("ix_audit_log_action", "tenant_id", "action", "id"),
    )

    # UUIDv7: sorts by time, the cursor of the searches
    id: str = Field(sa_type=String(32), primary_key=True)
    # NULL for a failed sign-in that names no tenant
    tenant_id: str | None = Field(default=None, sa_type=String(32))
    at_ms: int = Field(sa_type=BigInteger)
    # user | key | anonymous | cli
    actor_type: str = Field(sa_type=String(16))
    actor_id: str = Field(sa_type=String(64))
    actor_display: str = Field(sa_type=String(200))
    action: str = Field(sa_type=String(64))
    target_type: str = Field(sa_type=String(32))
    target_id: str | None = Field(default=None, sa_type=String(200))
    detail: dict = Field(sa_type=JSON)
    client: str = Field(sa_type=String(64))
    status: int = Field(sa_type=Integer)


audit_log: Table = AuditRecord.__table__  # type: ignore[attr-defined]
