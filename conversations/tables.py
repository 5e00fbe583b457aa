"""Conversations (one per brand and recipient number), their threads both ways, and each brand's
ordered bot rules. The number and everything a person typed is sealed; a conversation is found
by the number's blind index. Times are Unix ms."""

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Table
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from store.sealed import SealedColumn
from store.tables import metadata


class ConversationsModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of this domain's SQLModel tables, on the shared MetaData alembic reads."""


class Conversation(ConversationsModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("uq_conversations_tenant_bidx", "tenant_id", "number_bidx", unique=True),
        Index("ix_conversations_tenant_state", "tenant_id", "state", "updated_ms"),
    )

    id: str = Field(sa_type=String(32), primary_key=True)
    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id")
    number_bidx: bytes = Field(sa_type=LargeBinary)
    number_enc: bytes = Field(sa_type=LargeBinary)
    contact_id: str | None = Field(default=None, sa_type=String(32))
    # bot (rules and the answerer reply) | queued (waits for a person) | assigned | closed
    state: str = Field(sa_type=String(8))
    assignee: str | None = Field(default=None, sa_type=String(32))  # a user id
    channel: str = Field(sa_type=String(4))  # rcs | sms: where the user last wrote from
    # The operator's conversationId and the contributionId of the user's last RCS message: a
    # reply carries them (conversationId, inReplyTo).
    operator_conversation_id: str | None = Field(default=None, sa_type=String(64))
    last_contribution_id: str | None = Field(default=None, sa_type=String(64))
    # The menu level shown last (a rule id): numbered replies "1", "2" choose among its options.
    menu: str | None = Field(default=None, sa_type=String(32))
    misses: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    unanswered: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    opened_ms: int = Field(sa_type=BigInteger)
    updated_ms: int = Field(sa_type=BigInteger)
    last_inbound_ms: int | None = Field(default=None, sa_type=BigInteger)
    waiting_since_ms: int | None = Field(default=None, sa_type=BigInteger)  # handed off, unanswered
    handoff_ms: int | None = Field(default=None, sa_type=BigInteger)  # the last hand-off
    closed_ms: int | None = Field(default=None, sa_type=BigInteger)


class ConversationMessage(ConversationsModel, table=True):
    __tablename__ = "conversation_messages"
    __table_args__ = (
        Index("ix_conversation_messages_thread", "conversation_id", "id"),
        Index("ix_conversation_messages_message", "message_id"),
        Index("ix_conversation_messages_tenant_at", "tenant_id", "at_ms"),
    )

    id: str = Field(sa_type=String(32), primary_key=True)  # time-ordered (store.ids.new_id)
    conversation_id: str = Field(sa_type=String(32), foreign_key="conversations.id")
    tenant_id: str = Field(sa_type=String(32))
    direction: str = Field(sa_type=String(3))  # in | out
    author: str = Field(sa_type=String(5))  # user | bot | agent | api
    agent_id: str | None = Field(default=None, sa_type=String(32))
    kind: str = Field(sa_type=String(10))  # text | suggestion | menu | location | file | card | template
    # What was said (text, postback, card, location, file) as JSON, sealed under the row id.
    body_enc: bytes | None = Field(default=None, sa_type=LargeBinary)
    message_id: str | None = Field(default=None, sa_type=String(32))  # the outbound in `messages`
    channel: str = Field(sa_type=String(4))
    # How the bot chose: {"rule_id"} | {"answerer", "faq_id"?, "confidence"} | {"ask_back"} | …
    matched: dict | None = Field(default=None, sa_type=JSON)
    # The operator's ids: an inbound's contributionId; an outbound's conversationId and the
    # contributionId it answers (dispatch sends them with the message).
    contribution_id: str | None = Field(default=None, sa_type=String(64))
    operator_conversation_id: str | None = Field(default=None, sa_type=String(64))
    in_reply_to: str | None = Field(default=None, sa_type=String(64))
    # A person's first answer after a hand-off: how long the user had waited (ms).
    response_ms: int | None = Field(default=None, sa_type=BigInteger)
    at_ms: int = Field(sa_type=BigInteger)


class ConversationRules(ConversationsModel, table=True):
    """A brand's bot rules as one ordered document (replaced whole, like the send rules), with
    the answerer's threshold and what a miss does."""

    __tablename__ = "conversation_rules"

    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id", primary_key=True)
    rules: list = Field(sa_type=JSON)
    settings: dict = Field(sa_type=JSON)
    updated_ms: int = Field(sa_type=BigInteger)


conversations: Table = Conversation.__table__  # type: ignore[attr-defined]
conversation_messages: Table = ConversationMessage.__table__  # type: ignore[attr-defined]
conversation_rules: Table = ConversationRules.__table__  # type: ignore[attr-defined]

SEALED_COLUMNS = (
    SealedColumn(conversations, "number_enc", "number"),
    SealedColumn(conversation_messages, "body_enc", "body"),
)
