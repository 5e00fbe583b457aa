"""Share links of template versions, the decisions made through them, and the chain recording both.

A link's id is random (128 bits) and public; the link itself adds an HMAC the database does not
hold, so a copy of this table cannot be turned into working links. A decision's name and comment
are sealed (`content_enc`, the JSON `{"name", "comment"}`). Times are Unix milliseconds.
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from store.sealed import SealedColumn
from store.tables import metadata

share_links = Table(
    "share_links",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("template_id", String(32), ForeignKey("templates.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    Index("ix_share_links_template", "tenant_id", "template_id", "version"),
)

share_decisions = Table(
    "share_decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("share_id", String(32), ForeignKey("share_links.id"), nullable=False, index=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("decision", String(24), nullable=False),  # approved | changes_requested
    Column("content_enc", LargeBinary, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
)

# Each link's creation, revocation and every decision, chained per tenant (compliance.chain).
share_events = Table(
    "share_events",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("share_id", String(32), nullable=False, index=True),
    Column("facts", Text, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
)

SEALED_COLUMNS = (SealedColumn(share_decisions, "content_enc", "content"),)
