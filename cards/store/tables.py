"""Templates, their versions and drafts (a template is brand content, not recipient data: stored as JSON)."""

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

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
    Column("card", JSON, nullable=False),
    Column("sample", JSON, nullable=True),
    Column("traffic_type", String(16), nullable=False),
    Column("note", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # The CN consoles' approval step: in_review → approved | rejected (with a reason).
    # The only mutable part of a version; its content never changes.
    Column("status", String(16), nullable=False, server_default="approved"),
    Column("status_reason", Text, nullable=True),
    Column("reviewed_ms", BigInteger, nullable=True),
)

template_drafts = Table(
    "template_drafts",
    metadata,
    # One mutable draft per template, saved even when invalid.
    Column("template_id", String(32), ForeignKey("templates.id"), primary_key=True),
    Column("card", JSON, nullable=False),
    Column("sample", JSON, nullable=True),
    Column("traffic_type", String(16), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
