"""Conversations (one per brand and recipient number), their threads both ways, and each brand's
ordered bot rules. The number and everything a person typed is sealed; a conversation is found
by the number's blind index. Times are Unix ms."""

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table

from store.sealed import SealedColumn
from store.tables import metadata

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("number_bidx", LargeBinary, nullable=False),
    Column("number_enc", LargeBinary, nullable=False),
    Column("contact_id", String(32), nullable=True),
    # bot (the rules and the answerer reply) | queued (waits for a person) | assigned | closed
    Column("state", String(8), nullable=False),
    Column("assignee", String(32), nullable=True),  # a user id
    Column("channel", String(4), nullable=False),  # rcs | sms: where the user last wrote from
    # The operator's conversationId and the contributionId of the user's last RCS message: a
    # reply carries them (conversationId, inReplyToContributionId).
    Column("operator_conversation_id", String(64), nullable=True),
    Column("last_contribution_id", String(64), nullable=True),
    # The SMS menu shown last (a rule id): numbered replies "1", "2" choose among its options.
    Column("menu", String(32), nullable=True),
    Column("misses", Integer, nullable=False, server_default="0"),  # answerer misses in a row
    Column("unanswered", Integer, nullable=False, server_default="0"),  # inbound since the last reply
    Column("opened_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("last_inbound_ms", BigInteger, nullable=True),
    Column("waiting_since_ms", BigInteger, nullable=True),  # handed off, no person answered yet
    Column("handoff_ms", BigInteger, nullable=True),  # the last hand-off
    Column("closed_ms", BigInteger, nullable=True),
    Index("uq_conversations_tenant_bidx", "tenant_id", "number_bidx", unique=True),
    Index("ix_conversations_tenant_state", "tenant_id", "state", "updated_ms"),
)

conversation_messages = Table(
    "conversation_messages",
    metadata,
    Column("id", String(32), primary_key=True),  # time-ordered (store.ids.new_id)
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=False),
    Column("tenant_id", String(32), nullable=False),
    Column("direction", String(3), nullable=False),  # in | out
    Column("author", String(5), nullable=False),  # user | bot | agent | api
    Column("agent_id", String(32), nullable=True),
    Column("kind", String(10), nullable=False),  # text | suggestion | menu | location | file | card
    # What was said (text, postback, card, location, file), as JSON, sealed under the row id.
    Column("body_enc", LargeBinary, nullable=True),
    Column("message_id", String(32), nullable=True),  # the outbound message in `messages`
    Column("channel", String(4), nullable=False),
    # How the bot chose an answer: {"rule_id"} | {"faq_id", "confidence"} | {"answerer", …}
    Column("matched", JSON, nullable=True),
    # The operator's ids: an inbound's contributionId; an outbound's conversationId and the
    # contributionId it answers (dispatch sends them with the message).
    Column("contribution_id", String(64), nullable=True),
    Column("operator_conversation_id", String(64), nullable=True),
    Column("in_reply_to", String(64), nullable=True),
    # A person's first answer after a hand-off: how long the user waited (ms), for the stats.
    Column("response_ms", BigInteger, nullable=True),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_conversation_messages_thread", "conversation_id", "id"),
    Index("ix_conversation_messages_message", "message_id"),
    Index("ix_conversation_messages_tenant_at", "tenant_id", "at_ms"),
)

# A brand's bot rules as one ordered document (replaced whole, like the send rules), with how
# the bot treats an answer below the threshold.
conversation_rules = Table(
    "conversation_rules",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("rules", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

SEALED_COLUMNS = (
    SealedColumn(conversations, "number_enc", "number"),
    SealedColumn(conversation_messages, "body_enc", "body"),
)
