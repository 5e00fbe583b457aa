"""Short links and their clicks.

The composed card is personal (it carries the recipient's variables), so it is stored only
sealed; a click keeps no IP address or user agent, only a coarse agent class and an HMAC of
both (per tenant) for counting unique visitors. Times are Unix milliseconds.
"""

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, LargeBinary, String, Table

from store.sealed import SealedColumn
from store.tables import metadata

short_links = Table(
    "short_links",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("message_id", String(32), ForeignKey("messages.id"), nullable=False),
    Column("batch_id", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    # NULL once the link has expired and the card was purged (reports keep working).
    Column("card_enc", LargeBinary, nullable=True),
    Index("ix_short_links_tenant_message", "tenant_id", "message_id"),
    Index("ix_short_links_tenant_batch", "tenant_id", "batch_id"),
)

link_clicks = Table(
    "link_clicks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("tenant_id", String(32), nullable=False),
    Column("message_id", String(32), nullable=False),
    Column("batch_id", String(32), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    # page | action | postback | ics | map | dial | opt_out
    Column("kind", String(16), nullable=False),
    # The suggestion index for action/postback/ics/map; NULL for page views.
    Column("action", Integer, nullable=True),
    Column("head", Boolean, nullable=False),
    Column("bot", Boolean, nullable=False),
    Column("preview", Boolean, nullable=False),
    Column("agent", String(16), nullable=False),
    Column("fingerprint", LargeBinary, nullable=False),
    Index("ix_link_clicks_tenant_message", "tenant_id", "message_id"),
    Index("ix_link_clicks_tenant_batch", "tenant_id", "batch_id"),
)

SEALED_COLUMNS = (SealedColumn(short_links, "card_enc", "card", lambda r: r.token, ("token",)),)
