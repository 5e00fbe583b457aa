"""Tenants, their API keys and their wrapped data keys."""

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

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
