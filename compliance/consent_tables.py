"""Consent records and their chained history (SQLModel tables on the shared metadata).

A consent names a recipient (blind index, and the number sealed), the traffic types it covers
(`scope`, e.g. ["marketing"]), the brand (signature) it was given to, where it came from
(`source`) and its proof (sealed: the form, the keyword reply and its MO id, the import file
and line). Every grant, withdrawal and opt-out removal is a `consent_events` record chained per
tenant: `hash` = SM3(domain ‖ prev_hash ‖ facts), the facts canonical JSON holding blind
indexes and HMACs, never a number or ciphertext. Times are Unix milliseconds.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, String, Table, Text
from sqlmodel import Field

from store.models import Model
from store.sealed import SealedColumn


class Consent(Model, table=True):
    """One recipient's consent to a tenant's messages of the traffic types in `scope`."""

    __tablename__ = "consents"
    __table_args__ = (
        Index("ix_consents_tenant_bidx", "tenant_id", "to_bidx"),
        Index("ix_consents_tenant_id", "tenant_id", "id"),
    )

    id: str = Field(sa_type=String(32), primary_key=True)
    tenant_id: str = Field(sa_type=String(32), foreign_key="tenants.id")
    to_bidx: bytes = Field(sa_type=LargeBinary)
    to_enc: bytes = Field(sa_type=LargeBinary)
    scope: list = Field(sa_column=Column(JSON, nullable=False))
    brand: str | None = Field(default=None, sa_type=String(32))
    source: str = Field(sa_type=String(32))
    granted_ms: int = Field(sa_type=BigInteger)
    proof_enc: bytes | None = Field(default=None, sa_type=LargeBinary)
    withdrawn_ms: int | None = Field(default=None, sa_type=BigInteger)
    created_ms: int = Field(sa_type=BigInteger)


class ConsentEvent(Model, table=True):
    """A grant, a withdrawal or an opt-out removal, chained per tenant (`subject`: the consent
    or opt-out id)."""

    __tablename__ = "consent_events"

    tenant_id: str = Field(sa_type=String(32), primary_key=True)
    seq: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    subject: str = Field(sa_type=String(32), index=True)
    facts: str = Field(sa_type=Text)
    prev_hash: bytes = Field(sa_type=LargeBinary)
    hash: bytes = Field(sa_type=LargeBinary)
    at_ms: int = Field(sa_type=BigInteger)


consents: Table = Consent.__table__  # type: ignore[attr-defined]
consent_events: Table = ConsentEvent.__table__  # type: ignore[attr-defined]

SEALED_COLUMNS = (
    SealedColumn(consents, "to_enc", "to"),
    SealedColumn(consents, "proof_enc", "proof"),
)
