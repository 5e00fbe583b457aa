"""Templates and their versions (a template is brand content, not recipient data: stored as JSON)."""
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from store.tables import metadata

templates = Table(
    "templates",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("latest_version", Integer, nullable=False),
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
)
