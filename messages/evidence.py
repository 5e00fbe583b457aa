"""The evidence chain kept in the database.

Every message event (accepted, sent, delivered, fallback…) is committed first with its status
change; an appender then chains it, in order, into its tenant's SM3 chain. Chaining after the
commit keeps the hot accept path free of a per-tenant serialisation point, and because the
facts are canonical (ids, event type, time, recipient blind index, SM3 of the content) and
never ciphertext, key rotation leaves the chain valid.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Index,
    LargeBinary,
    String,
    Table,
    and_,
    select,
    text,
    update,
)

from messages import lifecycle
from messages.status import Status
from security.evidence import (
    ChainReport,
    ChainVerifier,
    EvidenceChain,
    EvidenceRecord,
    content_digest,
    prove_inclusion,
)
from security.keyring import Keyring
from store import metadata
from store.bulk import executemany
from store.writer import WriteBatch

log = logging.getLogger(__name__)

evidence_records = Table(
    "evidence_records",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("message_id", String(32), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("facts", JSON, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Index("ix_evidence_records_message", "message_id"),
)

evidence_heads = Table(
    "evidence_heads",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("next_seq", BigInteger, nullable=False),
    Column("head", LargeBinary, nullable=False),
)

BATCH = 1000
PROOF_LIMIT = 10_000
_PG_LOCK = 0x486F6E67  # "Hong": one appender at a time across processes


@functools.lru_cache(maxsize=1024)
def _second(seconds: int) -> str:
    # Events come in bursts within the same few seconds: format each second once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def event_facts(message_id: str, event: str, at_ms: int, recipient_bidx: bytes, content_sm3: str) -> bytes:
    """The canonical facts (`security.evidence.canonical_facts`) of one message event, built
    straight from its typed columns: the appender's hot path skips re-validating them."""
    seconds, ms = divmod(at_ms, 1000)
    at = f"{_second(seconds)}.{ms:03d}000Z"
    return orjson.dumps(
        {
            "at": at,
            "content_sm3": content_sm3,
            "event": event,
            "message_id": message_id,
            "recipient": recipient_bidx.hex(),
        }
    )


def _record(row) -> EvidenceRecord:
    return EvidenceRecord(row.tenant_id, row.seq, row.facts, row.prev_hash, row.hash)


class EvidenceLog:
    """Appends committed message events to per-tenant chains; proves and verifies them."""

    def __init__(self, db, writer, keyring: Keyring, *, interval: float = 0.5):
        self.db = db
        self.writer = writer
        self.keyring = keyring
        self.interval = interval
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="evidence-appender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.append_pending()

    async def _loop(self) -> None:
        while True:
            try:
                while await self.append_pending() >= BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("evidence appender failed; retrying")
            await asyncio.sleep(self.interval)

    async def append_pending(self) -> int:
        """Chain the events committed but not chained yet; returns how many were chained."""
        result: list[int] = []
        await self.writer.write(WriteBatch().run(lambda conn: result.append(self._append(conn))))
        return result[0] if result else 0

    def _append(self, conn: Connection) -> int:
        from messages.tables import batches, message_events, messages

        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        e, m, b = message_events, messages, batches
        # Unchained events come from the partial index however late they committed (another
        # process, a slow transaction), so nothing depends on commit order.
        rows = conn.execute(
            select(
                e.c.id,
                e.c.tenant_id,
                e.c.message_id,
                e.c.type,
                e.c.at_ms,
                e.c.detail,
                m.c.to_bidx,
                m.c.variables_enc,
                b.c.card_enc,
                b.c.id.label("batch_id"),
            )
            .join(m, m.c.id == e.c.message_id)
            .join(b, b.c.id == m.c.batch_id)
            .where(text("NOT message_events.chained"))
            .order_by(e.c.at_ms, e.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return 0
        chains: dict[str, EvidenceChain] = {}
        cards: dict[str, bytes] = {}
        out = []
        for r in rows:
            chain = chains.get(r.tenant_id)
            if chain is None:
                head = conn.execute(select(evidence_heads).where(evidence_heads.c.tenant_id == r.tenant_id)).first()
                chain = chains[r.tenant_id] = (
                    EvidenceChain(r.tenant_id, head=head.head, next_seq=head.next_seq)
                    if head
                    else EvidenceChain(r.tenant_id)
                )
            facts = event_facts(r.message_id, r.type, r.at_ms, r.to_bidx, self._content(r, cards))
            seq, prev_hash, hash_ = chain.append_canonical(facts)
            # A Fragment: the canonical bytes go into the JSON column as they are.
            out.append(
                {
                    "tenant_id": r.tenant_id,
                    "seq": seq,
                    "event_id": r.id,
                    "message_id": r.message_id,
                    "at_ms": r.at_ms,
                    "facts": orjson.Fragment(facts),
                    "prev_hash": prev_hash,
                    "hash": hash_,
                }
            )
        executemany(conn, evidence_records, out)
        lifecycle.mark_chained(conn, [r.id for r in rows])
        for tenant_id, chain in chains.items():
            changed = conn.execute(
                update(evidence_heads)
                .where(evidence_heads.c.tenant_id == tenant_id)
                .values(next_seq=chain.next_seq, head=chain.head)
            ).rowcount
            if not changed:
                conn.execute(
                    evidence_heads.insert().values(tenant_id=tenant_id, next_seq=chain.next_seq, head=chain.head)
                )
        return len(out)

    def _content(self, r, cards: dict[str, bytes]) -> str:
        """SM3 of what the event is about: the card and variables at acceptance, else its detail."""
        if r.type == Status.ACCEPTED:
            card = cards.get(r.batch_id)
            if card is None:  # one card per batch: open it once per pass
                card = cards[r.batch_id] = (
                    self.keyring.open(r.tenant_id, "batches", "card", r.batch_id, r.card_enc) if r.card_enc else b""
                )
            variables = (
                self.keyring.open(r.tenant_id, "messages", "variables", r.message_id, r.variables_enc)
                if r.variables_enc
                else b""
            )
            return content_digest(card + b"\x00" + variables)
        return content_digest(orjson.dumps(r.detail or {}, option=orjson.OPT_SORT_KEYS))

    async def message_evidence(self, tenant_id: str, message_id: str) -> dict | None:
        """A message's records with an inclusion proof of each against the tenant's head."""
        async with self.db.read.connect() as conn:
            mine = (
                await conn.execute(
                    select(evidence_records)
                    .where(and_(evidence_records.c.tenant_id == tenant_id, evidence_records.c.message_id == message_id))
                    .order_by(evidence_records.c.seq)
                )
            ).all()
            if not mine:
                return None
            head = (await conn.execute(select(evidence_heads).where(evidence_heads.c.tenant_id == tenant_id))).first()
            later = (
                await conn.execute(
                    select(evidence_records)
                    .where(and_(evidence_records.c.tenant_id == tenant_id, evidence_records.c.seq >= mine[0].seq))
                    .order_by(evidence_records.c.seq)
                    .limit(PROOF_LIMIT)
                )
            ).all()
        records = [_record(r) for r in later]
        complete = len(later) < PROOF_LIMIT or later[-1].seq == head.next_seq - 1
        out = []
        for r in mine:
            item = {"seq": r.seq, "facts": r.facts, "prev_hash": r.prev_hash.hex(), "hash": r.hash.hex()}
            if complete:
                item["proof"] = prove_inclusion(records, r.seq).to_json()
            out.append(item)
        return {
            "message_id": message_id,
            "head": {"seq": head.next_seq - 1, "hash": head.head.hex()},
            "records": out,
            "proof_complete": complete,
        }


async def verify_all(db) -> list[tuple[str, ChainReport]]:
    """Recompute every tenant's chain from genesis; [(tenant_id, ChainReport)]."""
    async with db.read.connect() as conn:
        tenants = [
            r[0]
            for r in (
                await conn.execute(
                    select(evidence_records.c.tenant_id).distinct().order_by(evidence_records.c.tenant_id)
                )
            ).all()
        ]
    reports: list[tuple[str, ChainReport]] = []
    for tenant_id in tenants:
        verifier = ChainVerifier(tenant_id)
        after = -1
        while True:
            async with db.read.connect() as conn:
                rows = (
                    await conn.execute(
                        select(evidence_records)
                        .where(and_(evidence_records.c.tenant_id == tenant_id, evidence_records.c.seq > after))
                        .order_by(evidence_records.c.seq)
                        .limit(5000)
                    )
                ).all()
            if not rows or not verifier.feed(_record(r) for r in rows):
                break
            after = rows[-1].seq
        reports.append((tenant_id, verifier.report()))
    return reports
