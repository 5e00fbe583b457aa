"""Contacts, their attributes and tags as rows (for filters that index), import jobs, segments.

A contact's number is sealed (`number_enc`, under the contact id) and blind-indexed
(`number_bidx`, unique per tenant: an upsert by number is an upsert by blind index). The
contact row keeps its attributes sealed (as JSON) and its tags as JSON for reading back;
`contact_attributes` and `contact_tags` hold the same facts one row each, so that a segment
filter compiles to indexed sub-queries that read alike on SQLite and PostgreSQL. An attribute
row keeps its kind (`s` string, `n` number, `d` date) and its text: for a string only a blind
index of (name, value) — equality is all a filter asks of text —, for a date its ISO form (which
sorts as a date), for a number its canonical text, with the value as a double. Times are Unix ms.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from store.sealed import SealedColumn
from store.tables import metadata

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("number_bidx", LargeBinary, nullable=False),
    Column("number_enc", LargeBinary, nullable=False),
    # The attributes as JSON, sealed under the number's blind index (stable across upserts).
    Column("attributes_enc", LargeBinary, nullable=False),
    Column("tags", JSON, nullable=False),
    # An IANA name the tenant set; NULL: the number's own zone (Asia/Shanghai when unknown).
    Column("time_zone", String(64), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("uq_contacts_tenant_bidx", "tenant_id", "number_bidx", unique=True),
    Index("ix_contacts_tenant_id", "tenant_id", "id"),
)

contact_attributes = Table(
    "contact_attributes",
    metadata,
    Column("contact_id", String(32), ForeignKey("contacts.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("kind", String(1), nullable=False),  # s | n | d
    Column("text_value", String(500), nullable=False),
    Column("num_value", Float, nullable=True),
    Index("ix_contact_attributes_text", "tenant_id", "name", "text_value", "contact_id"),
    Index("ix_contact_attributes_num", "tenant_id", "name", "num_value", "contact_id"),
)

contact_tags = Table(
    "contact_tags",
    metadata,
    Column("contact_id", String(32), ForeignKey("contacts.id"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Index("ix_contact_tags_tenant_tag", "tenant_id", "tag", "contact_id"),
)

contact_imports = Table(
    "contact_imports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | finished | failed | cancelled
    Column("rows_done", Integer, nullable=False),
    Column("rows_failed", Integer, nullable=False),
    # The first errors: [{"line": n, "field": column, "message": …}] (never a cell's value).
    Column("errors", JSON, nullable=False),
    Column("error", String(500), nullable=True),  # why a failed import stopped
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger, nullable=True),
    # The stored upload: csv | xlsx, its size, its header's columns.
    Column("format", String(8), nullable=False, server_default="csv"),
    Column("size_bytes", BigInteger, nullable=False, server_default="0"),
    Column("header", JSON, nullable=True),
    # Where the rows committed so far end: CSV the byte offset and physical lines read, XLSX
    # the sheet row number (both); `total` the size in those units (XLSX: the sheet's rows when
    # it says, else NULL).
    Column("position", BigInteger, nullable=False, server_default="0"),
    Column("line", BigInteger, nullable=False, server_default="0"),
    Column("total", BigInteger, nullable=True),
    # The process importing it and until when (a running job past its lease is taken over).
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Index("ix_contact_imports_tenant_id", "tenant_id", "id"),
    Index("ix_contact_imports_status", "status", "lease_until_ms"),
)

# An upload, stored before its job is queued: parts of exactly PART_BYTES (the last shorter),
# so a byte offset names its part. Deleted when the job ends.
contact_import_parts = Table(
    "contact_import_parts",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

segments = Table(
    "segments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("filter", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_segments_tenant_id", "tenant_id", "id"),
)

SEALED_COLUMNS = (
    SealedColumn(contacts, "number_enc", "number"),
    SealedColumn(contacts, "attributes_enc", "attributes", lambda r: r.number_bidx.hex(), ("id", "number_bidx")),
)
