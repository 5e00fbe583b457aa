"""Tenants, their API keys, their wrapped data keys and their own chatbot channels.

The first three are Core tables; `Channel` is an SQLModel table class declared on the same
`store.metadata` (through its own registry), so alembic and the group-commit writer see it
like any other table, and Core statements use `channels` (its `__table__`).
"""

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from store.sealed import SealedColumn
from store.tables import metadata

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("signature", Text, nullable=False),
    # Recipients per second; NULL means no limit (the sandbox default).
    Column("rate_limit", Integer, nullable=True),
    # Price of one SMS segment as a decimal string; NULL when none is set.
    Column("sms_price", String(32), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # The tenant's SMS extension code (扩展码): appended to the platform's sender number so
    # that a recipient's reply (e.g. an opt-out "TD") reaches the right brand.
    Column("sms_ext", String(6), nullable=True),
    Index("uq_tenants_sms_ext", "sms_ext", unique=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("key_hash", LargeBinary, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("name", String(100), nullable=True),  # what the integrator calls it ("billing system")
    # When it last authenticated a request, to the minute (written at most once a minute).
    Column("last_used_ms", BigInteger, nullable=True),
    # "live", or "test": a test key's messages go only to the simulators and are never billed.
    Column("environment", String(8), nullable=False, server_default="live"),
)

data_keys = Table(
    "data_keys",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("key_id", Integer, primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("master_key_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)


class AccountsModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of the accounts domain's SQLModel tables: a registry of its own over the shared
    MetaData (SQLModel's default registry keeps its own MetaData, which alembic never reads)."""


class Channel(AccountsModel, table=True):
    """A tenant's own chatbot at an operator, used instead of the platform's default channel.

    `app_key` and `callback_token` are stored only sealed (`*_enc`, SM4-GCM bound to the
    tenant, table, column and row id). Times are Unix milliseconds; `updated_ms` grows with
    every change of a row, so a client built from it knows when to rebuild.
    """

    __tablename__ = "channels"
    __table_args__ = (
        Index("ix_channels_tenant_id", "tenant_id", "id"),
        # Callbacks are routed by the chatbot's SIP URI: one channel per chatbot, across tenants.
        Index("uq_channels_chatbot_id", "chatbot_id", unique=True),
        # At most one active channel per tenant: the one its messages go out on.
        Index(
            "uq_channels_active_tenant",
            "tenant_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: str = Field(sa_type=String(32), primary_key=True)
    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id")
    # ct (China Telecom) | cu (China Unicom) | sandbox
    operator: str = Field(sa_type=String(16))
    # host[:port][/base], without the scheme
    server_root: str = Field(sa_type=String(255))
    # https; http only for the sandbox
    scheme: str = Field(sa_type=String(8))
    # The chatbot's SIP URI, canonical form (sip:<digits>@<lowercase domain>)
    chatbot_id: str = Field(sa_type=String(300))
    app_id: str = Field(sa_type=String(128))
    app_key_enc: bytes = Field(sa_type=LargeBinary)
    callback_token_enc: bytes = Field(sa_type=LargeBinary)
    # active | disabled
    status: str = Field(sa_type=String(16))
    # The chatbot profile's audit at the operator: none | in_review | approved | rejected
    profile_audit: str = Field(sa_type=String(16))
    profile_audit_reason: str | None = Field(default=None, sa_type=String(500))
    profile_audit_ms: int | None = Field(default=None, sa_type=BigInteger)
    created_ms: int = Field(sa_type=BigInteger)
    updated_ms: int = Field(sa_type=BigInteger)


channels: Table = Channel.__table__  # type: ignore[attr-defined]


class ChatbotPublish(AccountsModel, table=True):
    """One submission of a chatbot's persistent menu or profile (optional information) to its
    operator through a brand's channel, and the operator's audit of it.

    `body` is what was submitted (the brand's public chatbot information: nothing secret, no
    recipient data), `api_key_id` which key submitted it. `state`: submitted → approved |
    rejected (from the operator's audit notice, with its reason); refused when the operator
    turned the request down at once, failed when it could not be reached.
    """

    __tablename__ = "chatbot_publishes"
    __table_args__ = (
        Index("ix_chatbot_publishes_channel", "tenant_id", "channel_id", "id"),
        # Audit notices name no submission: the oldest one still waiting gets the verdict.
        Index("ix_chatbot_publishes_waiting", "channel_id", "state", "id"),
    )

    id: str = Field(sa_type=String(32), primary_key=True)
    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id")
    channel_id: str = Field(sa_type=String(32))
    # The chatbot it went to (a channel's chatbot may change later)
    chatbot_id: str = Field(sa_type=String(300))
    # menu | profile
    kind: str = Field(sa_type=String(16))
    body: dict = Field(sa_type=JSON)
    api_key_id: str | None = Field(default=None, sa_type=String(64))
    # submitted | approved | rejected | refused | failed
    state: str = Field(sa_type=String(16))
    reason: str | None = Field(default=None, sa_type=String(500))
    # The operator's errorCode when it refused the request
    operator_code: int | None = Field(default=None, sa_type=Integer)
    submitted_ms: int = Field(sa_type=BigInteger)
    audited_ms: int | None = Field(default=None, sa_type=BigInteger)


chatbot_publishes: Table = ChatbotPublish.__table__  # type: ignore[attr-defined]

# Sealed columns, for the key-rotation job: (table, column, the name the associated data binds).
SEALED_COLUMNS = (
    SealedColumn(channels, "app_key_enc", "app_key"),
    SealedColumn(channels, "callback_token_enc", "callback_token"),
)
