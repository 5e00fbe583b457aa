"""The compliance tables: word lists (platform and per tenant), their categories and versions,
tenants' review policies, the review queue and its chained decisions.

SQLModel table classes (store.models.Model, on the shared `store.metadata`); Core statements
use their `__table__`. A list's `scope` is `platform` or a
tenant id. Times are Unix milliseconds.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, LargeBinary, String, Table, Text, false
from sqlmodel import Field

from store.models import Model
from store.sealed import SealedColumn


class Category(Model, table=True):
    """A category of words and what a match does: `block` (refused) or `review` (held)."""

    __tablename__ = "compliance_categories"
    __table_args__ = (Index("uq_compliance_categories_scope_name", "scope", "name", unique=True),)

    id: str = Field(sa_type=String(32), primary_key=True)
    scope: str = Field(sa_type=String(32))
    name: str = Field(sa_type=String(64))
    action: str = Field(sa_type=String(16))
    description: str | None = Field(default=None, sa_type=String(500))
    created_ms: int = Field(sa_type=BigInteger)
    updated_ms: int = Field(sa_type=BigInteger)


class Word(Model, table=True):
    """A listed word (`kind` word, in a category) or a whitelisted phrase (`kind` allow).
    `norm` is its matching form (compliance.normalise); one entry per scope, kind and form."""

    __tablename__ = "compliance_words"
    __table_args__ = (
        Index("uq_compliance_words_scope_kind_norm", "scope", "kind", "norm", unique=True),
        Index("ix_compliance_words_scope_id", "scope", "id"),
    )

    id: str = Field(sa_type=String(32), primary_key=True)
    scope: str = Field(sa_type=String(32))
    kind: str = Field(sa_type=String(8))
    category: str | None = Field(default=None, sa_type=String(64))
    term: str = Field(sa_type=String(200))
    norm: str = Field(sa_type=String(200))
    created_ms: int = Field(sa_type=BigInteger)


class ListVersion(Model, table=True):
    """Bumped with every change of a scope's words or categories: matchers rebuild on a new one."""

    __tablename__ = "compliance_versions"

    scope: str = Field(sa_type=String(32), primary_key=True)
    version: int = Field(sa_type=Integer)
    updated_ms: int = Field(sa_type=BigInteger)


class Policy(Model, table=True):
    """A tenant's review policy: template versions reviewed `always`, or only when a review
    category `matched` (the default, also for tenants without a row)."""

    __tablename__ = "compliance_policies"

    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id", primary_key=True)
    template_review: str = Field(sa_type=String(16))
    updated_ms: int = Field(sa_type=BigInteger)
    # Consent and opt-out (compliance.consent): marketing refused without a consent when true;
    # the marketing SMS's unsubscribe text (None: the default); keywords a reply grants with.
    marketing_requires_consent: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    unsubscribe_text: str | None = Field(default=None, sa_type=String(40))
    consent_keywords: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ReviewItem(Model, table=True):
    """Something held for a reviewer: a message batch's held messages, a template version or a
    signature. `matches_enc` (sealed: a match may quote a recipient's variable) says why;
    `detail` is what a decision needs (the held messages' due times, the template version…)."""

    __tablename__ = "review_items"
    __table_args__ = (
        Index("ix_review_items_tenant_state", "tenant_id", "state", "id"),
        Index("ix_review_items_tenant_kind", "tenant_id", "kind", "id"),
        Index("ix_review_items_subject", "kind", "subject"),
    )

    id: str = Field(sa_type=String(32), primary_key=True)
    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id")
    kind: str = Field(sa_type=String(16))
    subject: str = Field(sa_type=String(100))
    state: str = Field(sa_type=String(24))  # up to operator_approved / operator_rejected
    matches_enc: bytes | None = Field(default=None, sa_type=LargeBinary)
    detail: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str | None = Field(default=None, sa_type=Text)
    created_ms: int = Field(sa_type=BigInteger)
    decided_ms: int | None = Field(default=None, sa_type=BigInteger)


class ReviewEvent(Model, table=True):
    """A review decision, chained per tenant: `hash` = SM3(domain ‖ prev_hash ‖ facts), the
    facts canonical JSON (review id, kind, subject, decision, reason's SM3, who, when)."""

    __tablename__ = "review_events"

    tenant_id: str = Field(sa_type=String(32), primary_key=True)
    seq: int = Field(sa_type=BigInteger, primary_key=True)
    review_id: str = Field(sa_type=String(32), index=True)
    facts: str = Field(sa_type=Text)
    prev_hash: bytes = Field(sa_type=LargeBinary)
    hash: bytes = Field(sa_type=LargeBinary)
    at_ms: int = Field(sa_type=BigInteger)


categories: Table = Category.__table__  # type: ignore[attr-defined]
words: Table = Word.__table__  # type: ignore[attr-defined]
versions: Table = ListVersion.__table__  # type: ignore[attr-defined]
policies: Table = Policy.__table__  # type: ignore[attr-defined]
review_items: Table = ReviewItem.__table__  # type: ignore[attr-defined]
review_events: Table = ReviewEvent.__table__  # type: ignore[attr-defined]

SEALED_COLUMNS = (SealedColumn(review_items, "matches_enc", "matches"),)
