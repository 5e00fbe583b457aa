"""A brand's knowledge base: FAQ entries (question variants and an answer: text and/or card)
and its answering settings (synonyms, the external AI answerer with its API key sealed; the
threshold and what a miss does are the bot rules', conversations_rules). Times are Unix ms. FAQ text is the brand's own content, not personal data."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary, String, Table, Text
from sqlmodel import Field

from store.models import Model
from store.sealed import SealedColumn


class KnowledgeFaq(Model, table=True):
    """One FAQ entry of a tenant."""

    __tablename__ = "knowledge_faqs"
    __table_args__ = (Index("ix_knowledge_faqs_tenant_id", "tenant_id", "id"),)

    id: str = Field(sa_type=String(32), primary_key=True)
    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id")
    questions: list = Field(sa_column=Column(JSON, nullable=False))
    answer: dict = Field(sa_column=Column(JSON, nullable=False))  # {"text"?, "card"?}
    enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    tags: list = Field(sa_column=Column(JSON, nullable=False))
    created_ms: int = Field(sa_type=BigInteger)
    updated_ms: int = Field(sa_type=BigInteger)


class KnowledgeSettings(Model, table=True):
    """A tenant's answering settings; `version` moves on every change to its FAQ or synonyms,
    so every process rebuilds its cached index."""

    __tablename__ = "knowledge_settings"

    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id", primary_key=True)
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    synonyms: dict = Field(sa_column=Column(JSON, nullable=False))
    # The external answerer (OpenAI-compatible chat completions); kind NULL: none.
    ai_kind: str | None = Field(default=None, sa_type=String(16))
    ai_enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    ai_base_url: str | None = Field(default=None, sa_type=String(500))
    ai_model: str | None = Field(default=None, sa_type=String(200))
    ai_key_enc: bytes | None = Field(default=None, sa_type=LargeBinary)
    ai_timeout_s: float = Field(sa_column=Column(Float, nullable=False))
    ai_system_prompt: str | None = Field(default=None, sa_type=Text)
    updated_ms: int = Field(sa_type=BigInteger)


knowledge_faqs: Table = KnowledgeFaq.__table__  # type: ignore[attr-defined]
knowledge_settings: Table = KnowledgeSettings.__table__  # type: ignore[attr-defined]

SEALED_COLUMNS = (SealedColumn(knowledge_settings, "ai_key_enc", "ai_key", lambda r: r.tenant_id, ("tenant_id",)),)
