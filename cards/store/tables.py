"""Templates, their versions and drafts.

A template's card and sample values are brand content and sample personal data: they are stored
only sealed (`content_enc`, SM4-GCM under the tenant's data key, the JSON `{"card", "sample"}`).
Names, traffic types, notes and review states stay readable: listing and search need them.
The plaintext `card` / `sample` columns are what databases from before sealing held; they are
NULL once `seal_plaintext` has run (the server runs it at start, `migrate` after the schema).
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from store.sealed import SealedColumn
from store.tables import metadata

templates = Table(
    "templates",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # None while the template has only a draft (made blank in the editor, never submitted).
    Column("latest_version", Integer, nullable=True),
    # Last change to the template, a version or its draft (the editor's list sorts by it).
    Column("updated_ms", BigInteger, nullable=True),
    UniqueConstraint("tenant_id", "name"),
)

template_versions = Table(
    "template_versions",
    metadata,
    Column("template_id", String(32), ForeignKey("templates.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    # "<template id>.<version>": the row id a sealed value is bound to (and key rotation walks).
    Column("id", String(48), nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("content_enc", LargeBinary, nullable=True),
    Column("card", JSON, nullable=True),  # plaintext from before sealing; NULL once sealed
    Column("sample", JSON, nullable=True),  # likewise
    Column("traffic_type", String(16), nullable=False),
    Column("note", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # The CN consoles' approval step: in_review → approved | rejected (with a reason).
    # The only mutable part of a version; its content never changes.
    Column("status", String(16), nullable=False, server_default="approved"),
    Column("status_reason", Text, nullable=True),
    Column("reviewed_ms", BigInteger, nullable=True),
    Index("uq_template_versions_id", "id", unique=True),
    Index("ix_template_versions_tenant_id", "tenant_id", "id"),
)

template_drafts = Table(
    "template_drafts",
    metadata,
    # One mutable draft per template, saved even when invalid.
    Column("template_id", String(32), ForeignKey("templates.id"), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("content_enc", LargeBinary, nullable=True),
    Column("card", JSON, nullable=True),  # plaintext from before sealing; NULL once sealed
    Column("sample", JSON, nullable=True),  # likewise
    Column("traffic_type", String(16), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_template_drafts_tenant_id", "tenant_id", "template_id"),
)


def version_row_id(template_id: str, version: int) -> str:
    """The id a version's sealed content is bound to."""
    return f"{template_id}.{version}"


SEALED_COLUMNS = (
    SealedColumn(template_versions, "content_enc", "content"),
    SealedColumn(template_drafts, "content_enc", "content", lambda r: r.template_id, ("template_id",)),
)
