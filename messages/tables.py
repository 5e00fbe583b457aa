"""The message ledger: batches, messages, their event history, idempotent replays.

Everything derived from a recipient is sealed (`*_enc`, SM4-GCM) or blind-indexed
(`*_bidx`, HMAC-SM3); times are Unix milliseconds so both databases compare them alike.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    false,
    text,
)

from store.sealed import SealedColumn
from store.tables import metadata

batches = Table(
    "batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # The card as submitted (it may carry personal text), sealed; NULL when a template is used.
    Column("card_enc", LargeBinary, nullable=True),
    Column("template_ref", String(200), nullable=True),
    Column("traffic_type", String(16), nullable=False),
    Column("ttl_s", Integer, nullable=False),
    Column("send_at_ms", BigInteger, nullable=True),
    Column("client_ref_enc", LargeBinary, nullable=True),
    Column("recipient_count", Integer, nullable=False),
    # What happens when RCS cannot deliver: "sms" (the fallback SMS) or "none" (the message
    # ends `failed`, or `expired` once its TTL is over).
    Column("fallback", String(8), nullable=False, server_default="sms"),
    # "rcs" (RCS first) or "sms" (straight to the SMS the fallback would send).
    Column("channel", String(8), nullable=False, server_default="rcs"),
    # The card's RCS kind (cards.model.kind_of), kept at accept so billing prices a batch without
    # opening its sealed card; null for batches from before 0010.
    Column("kind", String(16), nullable=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("batch_id", String(32), ForeignKey("batches.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("to_enc", LargeBinary, nullable=False),
    Column("to_bidx", LargeBinary, nullable=False),
    Column("variables_enc", LargeBinary, nullable=True),
    Column("status", String(24), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    # When the dispatcher should next look at it (send_at, retry time, TTL check).
    Column("due_ms", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    # Accepted with a test key: it goes only to the simulators, is never billed and is not
    # counted in the tenant's daily volume or frequency caps.
    Column("test", Boolean, nullable=False, server_default=false()),
    # The number's carrier by its prefix (security.numbers.carrier_of), kept at accept so billing
    # prices a message without opening its sealed number; null for messages from before 0009.
    Column("carrier", String(8), nullable=True),
    Index("ix_messages_batch_seq", "batch_id", "seq"),
    Index("ix_messages_tenant_bidx", "tenant_id", "to_bidx"),
    Index("ix_messages_due", "due_ms"),
    # A tenant's messages by time (funnels over a period); appended to in time order.
    Index("ix_messages_tenant_created", "tenant_id", "created_ms"),
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("message_id", String(32), ForeignKey("messages.id"), nullable=False),
    Column("tenant_id", String(32), nullable=False),
    Column("type", String(32), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("source", String(32), nullable=False),
    Column("detail", JSON, nullable=True),
    # An acceptance's content commitment (messages.evidence.event_content), made at accept where
    # the card and variables are in hand, so the evidence appender chains it without opening
    # them; null for other events, and for acceptances from before 0010 or after a review.
    Column("content_mac", LargeBinary, nullable=True),
    # False until the evidence appender has chained the event (messages/evidence.py); the
    # partial index keeps finding the unchained ones O(pending), however large the table grows.
    Column("chained", Boolean, nullable=False, server_default=false()),
    Index("ix_message_events_message", "message_id", "at_ms"),
    Index(
        "ix_message_events_unchained",
        "at_ms",
        "id",
        sqlite_where=text("NOT chained"),
        postgresql_where=text("NOT chained"),
    ),
)

# What recipients did in answer to a message (a reply, a tapped suggestion, a location, a file,
# a spam report), kept for segments, funnels and conversations: the kind, where and when — never
# the content (the text or the location go to the tenant in the `message.user_event` webhook).
message_interactions = Table(
    "message_interactions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("message_id", String(32), ForeignKey("messages.id"), nullable=False),
    Column("batch_id", String(32), nullable=False),
    # The recipient (blind index): segments ask who answered lately without the messages table.
    Column("to_bidx", LargeBinary, nullable=False),
    # text | suggestion_response | location | file | spam_report | opt_out (a TD/R reply) | device_specifics
    Column("kind", String(32), nullable=False),
    # rcs | sms | sms_link
    Column("source", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_message_interactions_message", "message_id"),
    Index("ix_message_interactions_tenant_batch", "tenant_id", "batch_id"),
    Index("ix_message_interactions_tenant_bidx", "tenant_id", "to_bidx", "at_ms"),
)
# The interactions that count as the recipient answering (funnels' "replied", segments), and
# those that are complaints (funnels' "opted_out").
REPLY_KINDS = ("text", "suggestion_response", "location", "file")
COMPLAINT_KINDS = ("opt_out", "spam_report")

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    # Blind index of the Idempotency-Key header (an integrator may put anything in it).
    Column("key_bidx", LargeBinary, primary_key=True),
    Column("body_hmac", LargeBinary, nullable=False),
    Column("status", Integer, nullable=False),
    Column("response_enc", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# Numbers that asked a brand to stop marketing (reply R/TD/退订/STOP, or the link page's form);
# honoured before every marketing send. Looked up by blind index; the number is kept sealed
# (`to_enc`, NULL for the opt-outs recorded before it was kept) so the list can be read back.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("to_bidx", LargeBinary, primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("source", String(32), nullable=False),
    Column("id", String(32), nullable=True),
    Column("to_enc", LargeBinary, nullable=True),
    Index("uq_opt_outs_id", "id", unique=True),
    Index("ix_opt_outs_tenant_id", "tenant_id", "id"),
)

SEALED_COLUMNS = (
    SealedColumn(messages, "to_enc", "to"),
    SealedColumn(messages, "variables_enc", "variables"),
    SealedColumn(batches, "card_enc", "card"),
    SealedColumn(batches, "client_ref_enc", "client_ref"),
    SealedColumn(opt_outs, "to_enc", "to"),
    SealedColumn(idempotency_keys, "response_enc", "response", lambda r: r.key_bidx.hex(), ("key_bidx",)),
)
