"""Uploaded media: brand content (not recipient data), kept in the database so every process
and both SQLite and PostgreSQL serve the same bytes."""

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from store.tables import metadata

media = Table(
    "media",
    metadata,
    # secrets.token_urlsafe(16): 128 random bits, the only secret guarding a public URL.
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("file_size", Integer, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("thumb_content_type", String(32), nullable=False),
    Column("thumb_data", LargeBinary, nullable=False),
    Column("thumb_file_size", Integer, nullable=False),
    Column("thumb_width", Integer, nullable=False),
    Column("thumb_height", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # A crop names the media it was cut from (kept) and the focal point chosen in it (0..1 of
    # the cropped width and height); videos and audio carry their length.
    Column("source_id", String(32), nullable=True),
    Column("focus_x", Float, nullable=True),
    Column("focus_y", Float, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    UniqueConstraint("tenant_id", "sha256"),
    Index("ix_media_tenant_id_created_ms", "tenant_id", "created_ms"),
)
