"""The evidence log kept in the database.

Every message event (accepted, sent, delivered, fallback…) is committed first with its status
change; an appender then adds it, in order, to its tenant's log (`security.evidence`): a record
of canonical facts, which is the next leaf of the tenant's RFC 6962 Merkle tree. Each pass of
the appender commits its records, the tree's new right edge, the perfect subtrees proofs will
need and one tree head per tenant, signed with the platform's key — all in one transaction.
Chaining after the commit keeps the hot accept path free of a per-tenant serialisation point,
and because the facts are canonical (ids, event type, time, recipient blind index, a keyed
commitment to the content) and never ciphertext, key rotation leaves the log valid.

A record is proven by an audit path (about log2(n) hashes) to the latest signed tree head:
leaves come from the records, subtrees of 2**KEEP_LEVEL leaves and more from `evidence_nodes`,
so a proof reads at most two runs of 2**KEEP_LEVEL records and a few dozen nodes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    case,
    null,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field

from messages import lifecycle
from messages.status import Status
from security.evidence import ChainReport, EvidenceRecord, LogVerifier
from security.keyring import Keyring
from security.merkle import (
    Frontier,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
    perfect_parts,
    root_of,
)
from security.sealing import SealError
from security.signing import ALGORITHM, TreeHead, TreeHeadSigner, public_key_pem
from store import metadata
from store.background import Pacer, Timer, wait_event
from store.bulk import AnyOf, executemany, named
from store.clock import Clock, SystemClock, rfc3339
from store.models import Model
from store.sealed import SealedColumn
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
    # Format v2 (the tree): empty, and `hash` is the leaf hash. Format v1: the hash chain.
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    # Format v1 only: its unkeyed content digest, sealed and taken out of `facts` (an SM3 of
    # guessable content is a copy of it); the facts are whole again once it is put back.
    Column("content_enc", LargeBinary, nullable=True),
    Index("ix_evidence_records_message", "message_id"),
)

# Sealed columns, for the key-rotation job (event_id names a record across tenants).
SEALED_COLUMNS = (
    SealedColumn(
        evidence_records, "content_enc", "content_sm3", row_id=lambda row: row.event_id, order_by=("event_id",)
    ),
)

evidence_heads = Table(
    "evidence_heads",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("next_seq", BigInteger, nullable=False),
    # The root of the tree over `tree_size` records (before the tree: the v1 chain's head).
    Column("head", LargeBinary, nullable=False),
    # Records in the tree: less than next_seq only while v1 records are being added to it.
    Column("tree_size", BigInteger, nullable=False, server_default=text("0")),
    # The tree's right edge (security.merkle.Frontier): what the next append starts from.
    Column("frontier", LargeBinary, nullable=True),
)


class EvidenceTreeHead(Model, table=True):
    """A tenant's tree at one size, signed by the platform key `key_id` (one per appender pass)."""

    __tablename__ = "evidence_tree_heads"

    tenant_id: str = Field(sa_type=String(32), primary_key=True)
    tree_size: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    at_ms: int = Field(sa_type=BigInteger)
    root: bytes = Field(sa_type=LargeBinary)
    key_id: str = Field(sa_type=String(64))
    signature: bytes = Field(sa_type=LargeBinary)


class EvidenceNode(Model, table=True):
    """A perfect subtree of 2**level leaves starting at leaf idx * 2**level, for proofs."""

    __tablename__ = "evidence_nodes"

    tenant_id: str = Field(sa_type=String(32), primary_key=True)
    level: int = Field(sa_type=Integer, primary_key=True, sa_column_kwargs={"autoincrement": False})
    idx: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_type=LargeBinary)


class EvidenceSigningKey(Model, table=True):
    """A platform key that signs tree heads: the private half only wrapped by the master key."""

    __tablename__ = "evidence_signing_keys"

    key_id: str = Field(sa_type=String(64), primary_key=True)
    algorithm: str = Field(sa_type=String(16))
    public_key: bytes = Field(sa_type=LargeBinary)
    private_wrapped: bytes = Field(sa_type=LargeBinary)
    master_key_id: str = Field(sa_type=String(64))
    created_ms: int = Field(sa_type=BigInteger)


evidence_tree_heads: Table = EvidenceTreeHead.__table__  # type: ignore[attr-defined]
evidence_nodes: Table = EvidenceNode.__table__  # type: ignore[attr-defined]
evidence_signing_keys: Table = EvidenceSigningKey.__table__  # type: ignore[attr-defined]

BATCH = 1000
IDLE_S = 10.0  # the longest wait between passes with nothing to append (commits wake it)
# What a leaf is computed from (v1 records: their facts, the sealed digest put back).
_LEAF_COLUMNS = tuple(
    evidence_records.c[name] for name in ("tenant_id", "seq", "event_id", "facts", "prev_hash", "hash", "content_enc")
)
KEEP_LEVEL = 6  # subtrees of 64 leaves and up are stored: 1 node row per ~32 records
CATCH_UP = 5000  # v1 records added to the tree (and their digests sealed) per pass, after an upgrade
_PG_LOCK = 0x486F6E67  # "Hong": one appender at a time across processes


def _secret_name(key_id: str) -> str:
    return f"evidence-signing/{key_id}"


@functools.lru_cache(maxsize=1024)
def _second(seconds: int) -> str:
    # Events come in bursts within the same few seconds: format each second once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def event_facts(message_id: str, event: str, at_ms: int, recipient_bidx: bytes, content_mac: bytes) -> bytes:
    """The canonical facts (`security.evidence.canonical_facts`) of one message event, built
    straight from its typed columns: the appender's hot path skips re-validating them."""
    seconds, ms = divmod(at_ms, 1000)
    at = f"{_second(seconds)}.{ms:03d}000Z"
    return orjson.dumps(
        {
            "at": at,
            "content_mac": content_mac.hex(),
            "event": event,
            "message_id": message_id,
            "recipient": recipient_bidx.hex(),
        }
    )


def event_content(event: str, card: bytes, variables: bytes, detail: dict | None) -> bytes:
    """What an event's content commitment covers: the card and variables as accepted, else the
    event's detail (canonical JSON, ``{}`` when it has none)."""
    if event == Status.ACCEPTED:
        return card + b"\x00" + variables
    return orjson.dumps(detail or {}, option=orjson.OPT_SORT_KEYS)


_NO_DETAIL = event_content("", b"", b"", None)


def _facts(keyring: Keyring, row) -> dict:
    """A record's facts as hashed: a v1 record's sealed content digest put back in."""
    if row.content_enc is None:
        return row.facts
    digest = keyring.open(row.tenant_id, "evidence_records", "content_sm3", row.event_id, row.content_enc)
    return {**row.facts, "content_sm3": digest.hex()}


def _stored_leaf(keyring: Keyring, row) -> bytes:
    # v2 rows keep their leaf hash; a v1 row's leaf is computed from its facts, as stored.
    if row.prev_hash:
        return leaf_hash(orjson.dumps(_facts(keyring, row), option=orjson.OPT_SORT_KEYS))
    return row.hash


def _record(keyring: Keyring, row) -> EvidenceRecord:
    try:
        facts = _facts(keyring, row)
    except (SealError, LookupError):
        facts = {**row.facts, "content_sm3": "(sealed digest does not open)"}  # the verifier names it
    return EvidenceRecord(row.tenant_id, row.seq, facts, row.prev_hash, row.hash)


def _tree_head(row) -> TreeHead:
    return TreeHead(row.tenant_id, row.tree_size, row.at_ms, row.root, row.key_id, row.signature)


@dataclass
class _TenantLog:
    """One tenant's log while a pass appends to it."""

    tenant_id: str
    next_seq: int
    frontier: Frontier
    known: bool  # it has a row in evidence_heads
    new: list[bytes] = field(default_factory=list)  # leaves of this pass's records


class EvidenceLog:
    """Appends committed message events to per-tenant logs; proves and verifies them."""

    def __init__(
        self,
        db,
        writer,
        keyring: Keyring,
        *,
        clock: Clock | None = None,
        interval: float = 0.5,
        idle_s: float = IDLE_S,
        timer: Timer = wait_event,
    ):
        self.db = db
        self.writer = writer
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.interval = interval
        # Busy: a pass every `interval` (commits do not hurry it: passes stay large). Idle: ever
        # less often up to `idle_s`, and at once after the writer commits (events, most likely).
        self.pacer = Pacer(interval, idle_s, wake_cuts_busy=False, timer=timer)
        self._signer: TreeHeadSigner | None = None
        self._authentic: dict[str, bool] = {}
        self._caught_up = False  # no tenant's tree lags its records (v1 ones after an upgrade)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._ensure_signer()
        self.writer.on_commit.append(self.pacer.wake)
        self._task = asyncio.create_task(self._loop(), name="evidence-appender")

    async def stop(self) -> None:
        await self.pause()
        await self.append_pending()

    async def pause(self) -> None:
        """Stop the background passes (a caller then runs them: `append_pending`)."""
        if self.pacer.wake in self.writer.on_commit:
            self.writer.on_commit.remove(self.pacer.wake)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            appended = 0
            try:
                while (n := await self.append_pending(wait=False)) >= BATCH:
                    appended += n
                appended += n
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("evidence appender failed; retrying")
                appended = 1  # try again at the busy pace
            await self.pacer.wait(appended > 0)

    # -- the signing key ------------------------------------------------------------------

    async def _ensure_signer(self) -> TreeHeadSigner:
        """The newest signing key this process can open, else a new one (stored wrapped)."""
        if self._signer is not None:
            return self._signer
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(select(evidence_signing_keys).order_by(evidence_signing_keys.c.created_ms.desc()))
            ).all()
        for row in rows:
            signer = self._open_key(row)
            if signer is None:
                continue
            if row.master_key_id != self.keyring.master_key_id:
                await self.writer.write(WriteBatch().run(functools.partial(_rewrap, keyring=self.keyring, row=row)))
            self._signer = signer
            return signer
        if rows:
            log.warning("no evidence signing key opens under the master key; making a new one")
        private = TreeHeadSigner.new_private_key()
        signer = TreeHeadSigner(private)
        master_id, wrapped = self.keyring.wrap_secret(_secret_name(signer.key_id), private)
        row = {
            "key_id": signer.key_id,
            "algorithm": ALGORITHM,
            "public_key": signer.public_key,
            "private_wrapped": wrapped,
            "master_key_id": master_id,
            "created_ms": int(self.clock.now().timestamp() * 1000),
        }
        await self.writer.write(WriteBatch().insert(evidence_signing_keys, row))
        self._authentic[signer.key_id] = True
        self._signer = signer
        return signer

    def _open_key(self, row) -> TreeHeadSigner | None:
        signer = _open_signing_key(self.keyring, row)
        self._authentic[row.key_id] = signer is not None
        return signer

    async def signing_keys(self) -> list[dict]:
        """The public keys that signed (or sign) tree heads, oldest first."""
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(select(evidence_signing_keys).order_by(evidence_signing_keys.c.created_ms))
            ).all()
        out = []
        for row in rows:
            if self._authentic.get(row.key_id) is None:
                self._open_key(row)
            if self._authentic[row.key_id]:
                out.append(
                    {
                        "key_id": row.key_id,
                        "algorithm": row.algorithm,
                        "public_key": row.public_key.hex(),
                        "public_key_pem": public_key_pem(row.public_key),
                        "created_at": _rfc3339_ms(row.created_ms),
                    }
                )
        return out

    # -- appending ------------------------------------------------------------------------

    async def append_pending(self, *, wait: bool = True) -> int:
        """Add the events committed but not in the log yet; returns how many were added. On
        PostgreSQL one process appends at a time: `wait=False` (the background passes) gives the
        pass up when another process is appending, rather than holding this process's group
        commit — and every write in it — until that one's commits."""
        signer = await self._ensure_signer()
        if self._caught_up and not await self._anything_unchained():
            return 0  # a read, not a write transaction: idle passes cost next to nothing
        result: list[int] = []
        now_ms = int(self.clock.now().timestamp() * 1000)
        await self.writer.write(
            WriteBatch().run(lambda conn: result.append(self._append(conn, signer, now_ms, wait=wait)))
        )
        return result[0] if result else 0

    async def _anything_unchained(self) -> bool:
        from messages.tables import message_events

        query = select(message_events.c.id).where(text("NOT message_events.chained")).limit(1)
        async with self.db.read.connect() as conn:
            return (await conn.execute(query)).first() is not None

    def _append(self, conn: Connection, signer: TreeHeadSigner, now_ms: int, *, wait: bool = True) -> int:
        from messages.tables import batches, message_events, messages

        if conn.dialect.name == "postgresql":
            if wait:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            elif not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK}).scalar():
                return 0
        e, m, b = message_events, messages, batches
        # Unchained events come from the partial index however late they committed (another
        # process, a slow transaction), so nothing depends on commit order. Only an acceptance
        # without the commitment made at accept needs the sealed variables, and the card is read
        # once per batch below, not per event.
        to_open = and_(e.c.type == Status.ACCEPTED.value, e.c.content_mac.is_(None))
        rows = named(
            conn.execute(
                select(
                    e.c.id,
                    e.c.tenant_id,
                    e.c.message_id,
                    e.c.type,
                    e.c.at_ms,
                    e.c.detail,
                    m.c.to_bidx,
                    m.c.batch_id,
                    e.c.content_mac,
                    case((to_open, m.c.variables_enc), else_=null()).label("variables_enc"),
                )
                .join(m, m.c.id == e.c.message_id)
                .where(text("NOT message_events.chained"))
                .order_by(e.c.at_ms, e.c.id)
                .limit(BATCH)
            )
        )
        wanted = sorted({r.batch_id for r in rows if r.type == Status.ACCEPTED and r.content_mac is None})
        sealed_cards = (
            {
                row.id: row.card_enc
                for row in conn.execute(select(b.c.id, b.c.card_enc).where(AnyOf(b.c.id, "ids")), {"ids": wanted})
            }
            if wanted
            else {}
        )
        logs: dict[str, _TenantLog] = {}
        if not self._caught_up:
            # Tenants whose older (v1) records are not all in the tree yet. Once none is, none
            # can be again: every record written since is added to the tree as it is written.
            behind = conn.execute(
                select(evidence_heads.c.tenant_id).where(evidence_heads.c.tree_size < evidence_heads.c.next_seq)
            ).scalars()
            for tenant_id in behind:
                logs[tenant_id] = self._open_log(conn, tenant_id)
            self._caught_up = not logs
        if not rows and not logs:
            return 0
        cards: dict[str, bytes] = {}
        commitments: dict[tuple[str, bytes], bytes] = {}
        out = []
        for r in rows:
            tenant_log = logs.get(r.tenant_id) or logs.setdefault(r.tenant_id, self._open_log(conn, r.tenant_id))
            mac = self._commitment(r, sealed_cards, cards, commitments)
            facts = event_facts(r.message_id, r.type, r.at_ms, r.to_bidx, mac)
            leaf = leaf_hash(facts)
            # A Fragment: the canonical bytes go into the JSON column as they are.
            out.append(
                {
                    "tenant_id": r.tenant_id,
                    "seq": tenant_log.next_seq,
                    "event_id": r.id,
                    "message_id": r.message_id,
                    "at_ms": r.at_ms,
                    "facts": orjson.Fragment(facts),
                    "prev_hash": b"",
                    "hash": leaf,
                }
            )
            tenant_log.next_seq += 1
            tenant_log.new.append(leaf)
        executemany(conn, evidence_records, out)
        if rows:
            lifecycle.mark_chained(conn, [r.id for r in rows])
        nodes: list[dict] = []
        heads: list[dict] = []
        for tenant_log in logs.values():
            before = tenant_log.frontier.size
            self._grow(conn, tenant_log, nodes)
            tree = tenant_log.frontier
            root = tree.root()
            values = {
                "next_seq": tenant_log.next_seq,
                "head": root,
                "tree_size": tree.size,
                "frontier": tree.to_bytes(),
            }
            if tenant_log.known:
                conn.execute(
                    update(evidence_heads).where(evidence_heads.c.tenant_id == tenant_log.tenant_id).values(**values)
                )
            else:
                conn.execute(evidence_heads.insert(), {"tenant_id": tenant_log.tenant_id, **values})
            if tree.size != before:
                head = signer.sign(tenant_log.tenant_id, tree.size, now_ms, root)
                heads.append(
                    {
                        "tenant_id": head.tenant_id,
                        "tree_size": head.tree_size,
                        "at_ms": head.timestamp_ms,
                        "root": head.root,
                        "key_id": head.key_id,
                        "signature": head.signature,
                    }
                )
        executemany(conn, evidence_nodes, nodes)
        executemany(conn, evidence_tree_heads, heads)
        return len(out)

    @staticmethod
    def _open_log(conn: Connection, tenant_id: str) -> _TenantLog:
        row = conn.execute(select(evidence_heads).where(evidence_heads.c.tenant_id == tenant_id)).first()
        if row is None:
            return _TenantLog(tenant_id, 0, Frontier(), known=False)
        return _TenantLog(tenant_id, row.next_seq, Frontier.from_bytes(row.tree_size, row.frontier), known=True)

    def _grow(self, conn: Connection, tenant_log: _TenantLog, nodes: list[dict]) -> None:
        """Add leaves to the tenant's tree: older records first (v1 ones, after an upgrade, a
        bounded number a pass), then this pass's own once the tree has reached them."""
        tree, tenant_id = tenant_log.frontier, tenant_log.tenant_id
        first_new = tenant_log.next_seq - len(tenant_log.new)
        runs: list[list[bytes]] = []
        if tree.size < first_new:
            r = evidence_records.c
            upto = min(first_new, tree.size + CATCH_UP)
            older = conn.execute(
                select(*_LEAF_COLUMNS)
                .where(and_(r.tenant_id == tenant_id, r.seq >= tree.size, r.seq < upto))
                .order_by(r.seq)
            ).all()
            if [row.seq for row in older] != list(range(tree.size, upto)):
                log.error("evidence records of tenant %s are not contiguous from seq %d", tenant_id, tree.size)
                return
            runs.append([_stored_leaf(self.keyring, row) for row in older])
            self._seal_digests(conn, [row for row in older if row.prev_hash and "content_sm3" in row.facts])
        if tree.size + sum(len(run) for run in runs) == first_new:  # caught up: this pass's records follow
            runs.append(tenant_log.new)
        for leaves in runs:
            for leaf in leaves:
                for level, index, value in tree.append(leaf):
                    if level >= KEEP_LEVEL:
                        nodes.append({"tenant_id": tenant_id, "level": level, "idx": index, "hash": value})

    def _seal_digests(self, conn: Connection, rows: Sequence) -> None:
        """Take v1 records' unkeyed content digests out of their facts, sealed beside them."""
        for row in rows:
            facts = dict(row.facts)
            digest = bytes.fromhex(facts.pop("content_sm3"))
            try:
                sealed = self.keyring.seal(row.tenant_id, "evidence_records", "content_sm3", row.event_id, digest)
            except LookupError:  # a tenant without keys any more: nothing can seal it
                continue
            conn.execute(
                update(evidence_records)
                .where(evidence_records.c.event_id == row.event_id)
                .values(facts=facts, content_enc=sealed)
            )

    def _commitment(
        self,
        r,
        sealed_cards: dict[str, bytes | None],
        cards: dict[str, bytes],
        commitments: dict[tuple[str, bytes], bytes],
    ) -> bytes:
        """The keyed commitment (HMAC-SM3) to what the event is about."""
        if r.type == Status.ACCEPTED:
            if r.content_mac is not None:
                return r.content_mac
            card = cards.get(r.batch_id)
            if card is None:  # one card per batch: open it once per pass
                sealed = sealed_cards.get(r.batch_id)
                card = cards[r.batch_id] = (
                    self.keyring.open(r.tenant_id, "batches", "card", r.batch_id, sealed) if sealed else b""
                )
            variables = (
                self.keyring.open(r.tenant_id, "messages", "variables", r.message_id, r.variables_enc)
                if r.variables_enc
                else b""
            )
            return self.keyring.content_commitment(r.tenant_id, event_content(r.type, card, variables, None))
        # Most later events carry no detail or the same few (a receipt code): commit once each.
        key = (r.tenant_id, event_content(r.type, b"", b"", r.detail) if r.detail else _NO_DETAIL)
        mac = commitments.get(key)
        if mac is None:
            mac = commitments[key] = self.keyring.content_commitment(*key)
        return mac

    # -- proofs ---------------------------------------------------------------------------

    async def _latest_head(self, conn: AsyncConnection, tenant_id: str) -> TreeHead | None:
        row = (
            await conn.execute(
                select(evidence_tree_heads)
                .where(evidence_tree_heads.c.tenant_id == tenant_id)
                .order_by(evidence_tree_heads.c.tree_size.desc())
                .limit(1)
            )
        ).first()
        return _tree_head(row) if row else None

    async def tree_head(self, tenant_id: str) -> dict | None:
        """The tenant's latest signed tree head."""
        async with self.db.read.connect() as conn:
            head = await self._latest_head(conn, tenant_id)
        return head.to_json() if head else None

    async def message_evidence(self, tenant_id: str, message_id: str) -> dict | None:
        """A message's records, each with its audit path to the tenant's latest signed head."""
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
            head = await self._latest_head(conn, tenant_id)
            size = head.tree_size if head else 0
            paths = {r.seq: inclusion_ranges(r.seq, size) for r in mine if r.seq < size}
            hashes = await _range_hashes(
                conn, self.keyring, tenant_id, [rng for path in paths.values() for rng in path]
            )
        records = []
        for r in mine:
            item = {
                "seq": r.seq,
                "format": 1 if r.prev_hash else 2,
                "facts": _facts(self.keyring, r),
                "leaf_hash": _stored_leaf(self.keyring, r).hex(),
                "proof": None,
            }
            if r.seq in paths:
                item["proof"] = {
                    "leaf_index": r.seq,
                    "tree_size": size,
                    "audit_path": [hashes[rng].hex() for rng in paths[r.seq]],
                }
            records.append(item)
        return {"message_id": message_id, "tree_head": head.to_json() if head else None, "records": records}

    async def consistency(self, tenant_id: str, first: int, second: int) -> list[str] | None:
        """RFC 6962 consistency proof between two sizes of the tenant's tree; None when the
        tree has not reached ``second`` yet."""
        async with self.db.read.connect() as conn:
            head = await self._latest_head(conn, tenant_id)
            if head is None or second > head.tree_size:
                return None
            ranges = consistency_ranges(first, second)
            hashes = await _range_hashes(conn, self.keyring, tenant_id, ranges)
        return [hashes[rng].hex() for rng in ranges]


async def _range_hashes(
    conn: AsyncConnection, keyring: Keyring, tenant_id: str, ranges: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """MTH of each subtree [start, end): stored perfect subtrees where there are, else leaves."""
    parts = {part for start, end in ranges for part in perfect_parts(start, end)}
    stored: dict[tuple[int, int], bytes] = {}
    big = sorted((level, start >> level) for start, level in parts if level >= KEEP_LEVEL)
    if big:
        n = evidence_nodes.c
        wanted = or_(*(and_(n.level == level, n.idx == index) for level, index in big))
        rows = await conn.execute(select(n.level, n.idx, n.hash).where(and_(n.tenant_id == tenant_id, wanted)))
        stored = {(r.level, r.idx): r.hash for r in rows}
    spans = sorted((start, start + (1 << level)) for start, level in parts if (level, start >> level) not in stored)
    if len(stored) < len(big):
        log.warning("evidence nodes of tenant %s are missing: proofs are built from the records", tenant_id)
    leaves: dict[int, bytes] = {}
    if spans:
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        c = evidence_records.c
        wanted = or_(*(and_(c.seq >= start, c.seq < end) for start, end in merged))
        rows = await conn.execute(select(*_LEAF_COLUMNS).where(and_(c.tenant_id == tenant_id, wanted)))
        leaves = {r.seq: _stored_leaf(keyring, r) for r in rows}

    def part_hash(start: int, level: int) -> bytes:
        kept = stored.get((level, start >> level))
        if kept is not None:
            return kept
        return root_of(leaves[seq] for seq in range(start, start + (1 << level)))

    return {(start, end): fold([part_hash(*p) for p in perfect_parts(start, end)]) for start, end in ranges}


def _rfc3339_ms(ms: int) -> str:
    return rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


def _rewrap(conn: Connection, *, keyring: Keyring, row) -> None:
    private = keyring.unwrap_secret(_secret_name(row.key_id), row.master_key_id, row.private_wrapped)
    master_id, wrapped = keyring.wrap_secret(_secret_name(row.key_id), private)
    conn.execute(
        update(evidence_signing_keys)
        .where(evidence_signing_keys.c.key_id == row.key_id)
        .values(private_wrapped=wrapped, master_key_id=master_id)
    )


async def rewrap_signing_keys(db, keyring: Keyring) -> int:
    """Re-wrap the signing keys under the current master key (with `keys rotate-master`);
    returns how many changed. A key that does not open is left as it is (and reported)."""
    async with db.write.begin() as conn:
        rows = (await conn.execute(select(evidence_signing_keys))).all()
        changed = 0
        for row in rows:
            if row.master_key_id == keyring.master_key_id:
                continue
            try:
                await conn.run_sync(functools.partial(_rewrap, keyring=keyring, row=row))
            except SealError:
                log.error("evidence signing key %s does not open under the master keys given", row.key_id[:16])
                continue
            changed += 1
    return changed


def _open_signing_key(keyring: Keyring, row) -> TreeHeadSigner | None:
    """The signer of a stored key if its private half opens under the master key and matches
    its public half: a key row someone inserted without the master key is not one."""
    try:
        private = keyring.unwrap_secret(_secret_name(row.key_id), row.master_key_id, row.private_wrapped)
        signer = TreeHeadSigner(private)
    except (SealError, ValueError):
        return None
    return signer if signer.public_key == row.public_key and signer.key_id == row.key_id else None


async def authentic_keys(db, keyring: Keyring) -> dict[str, bytes]:
    """key_id -> public key of every stored signing key that is the platform's own."""
    async with db.read.connect() as conn:
        rows = (await conn.execute(select(evidence_signing_keys))).all()
    return {row.key_id: row.public_key for row in rows if _open_signing_key(keyring, row) is not None}


async def verify_all(db, keyring: Keyring, *, chunk: int = 5000) -> list[tuple[str, ChainReport]]:
    """Check every tenant's log from its first record against its signed tree heads."""
    keys = await authentic_keys(db, keyring)
    async with db.read.connect() as conn:
        tenants = (
            await conn.execute(
                union(
                    select(evidence_records.c.tenant_id),
                    select(evidence_tree_heads.c.tenant_id),
                    select(evidence_heads.c.tenant_id),
                )
            )
        ).scalars()
        tenants = sorted(set(tenants))
    reports: list[tuple[str, ChainReport]] = []
    for tenant_id in tenants:
        reports.append((tenant_id, await _verify_tenant(db, keyring, tenant_id, keys, chunk)))
    return reports


async def _verify_tenant(db, keyring: Keyring, tenant_id: str, keys: dict[str, bytes], chunk: int) -> ChainReport:
    verifier = LogVerifier(tenant_id, keys, keep_level=KEEP_LEVEL)
    r, h, n = evidence_records.c, evidence_tree_heads.c, evidence_nodes.c
    after = -1
    while True:
        async with db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(evidence_records)
                    .where(and_(r.tenant_id == tenant_id, r.seq > after))
                    .order_by(r.seq)
                    .limit(chunk)
                )
            ).all()
            # The heads these records reach (all that remain, after the last record).
            reach = [h.tenant_id == tenant_id, h.tree_size > after + 1]
            if rows:
                reach.append(h.tree_size <= rows[-1].seq + 1)
            verifier.add_heads(
                _tree_head(x) for x in await conn.execute(select(evidence_tree_heads).where(and_(*reach)))
            )
            if not rows:
                break
            ok = verifier.feed(_record(keyring, x) for x in rows)
            expected = verifier.take_nodes()
            stored: dict[tuple[int, int], bytes] = {}
            for level in sorted({lv for lv, _, _ in expected}):
                indexes = [i for lv, i, _ in expected if lv == level]
                found = await conn.execute(
                    select(n.level, n.idx, n.hash).where(
                        and_(n.tenant_id == tenant_id, n.level == level, n.idx >= min(indexes), n.idx <= max(indexes))
                    )
                )
                stored.update(((x.level, x.idx), x.hash) for x in found)
            verifier.check_nodes(expected, stored)
        if not ok:
            break
        after = rows[-1].seq
    async with db.read.connect() as conn:
        next_seq = (
            await conn.execute(select(evidence_heads.c.next_seq).where(evidence_heads.c.tenant_id == tenant_id))
        ).scalar()
    return verifier.report(next_seq=next_seq)
