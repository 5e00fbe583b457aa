"""Retention settings, erasure receipts and the purge job's lock row.

An erasure receipt names the person only by the blind index (HMAC-SM3) of the number, as every
other table does: it proves the erasure happened without keeping what was erased.
"""

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, LargeBinary, String, Table

from store.tables import metadata

privacy_retention = Table(
    "privacy_retention",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    # {kind: days or null}, only the kinds the tenant set; the others take the defaults.
    Column("days", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

privacy_erasures = Table(
    "privacy_erasures",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("subject_bidx", LargeBinary, nullable=False),
    Column("source", String(16), nullable=False),  # api | cli
    Column("counts", JSON, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_privacy_erasures_tenant", "tenant_id", "id"),
)

# One row per background job ("purge"): who holds it until when, and where a run got to, so a
# run that stopped half-way resumes at the next tenant and two processes never purge at once.
privacy_jobs = Table(
    "privacy_jobs",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("cursor", String(32), nullable=True),
    Column("finished_ms", BigInteger, nullable=True),
)
