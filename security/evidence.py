"""The evidence log: per-tenant records of message events in an RFC 6962 Merkle tree.

Each record holds canonical *facts* — message id, event type, time, the recipient's blind index
and a keyed commitment to the content — never ciphertext bytes, so key rotation keeps the log
valid and the log itself holds no PII. Record ``seq`` is leaf ``seq`` of its tenant's tree
(`security.merkle`, SM3)::

    leaf_seq = SM3(0x00 ‖ canonical_facts_seq)

and the platform signs tree heads (`security.signing`), so one record is proven by an audit path
of about log2(n) hashes to a signed head.

Two record formats exist. **v2** (current) facts carry ``content_mac``, the HMAC-SM3 of the
content under the tenant's evidence key (`Keyring.content_commitment`); the stored ``hash`` is
the leaf hash and ``prev_hash`` is empty. **v1** (records written before the tree) carry
``content_sm3``, an unkeyed SM3, and are linked in a hash chain, which still verifies::

    digest_i = SM3("hongyan/evidence/facts/v1" 0x00 ‖ canonical_facts_i)
    hash_i   = SM3("hongyan/evidence/link/v1" 0x00 ‖ hash_{i-1} ‖ digest_i),   hash_{-1} = genesis(tenant)

v1 records are the first leaves of their tenant's tree, hashed like any other.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from security.merkle import HASH_SIZE, Frontier, leaf_hash, sm3
from security.signing import TreeHead

REQUIRED_FACTS = ("message_id", "event", "at", "recipient")
CONTENT_FACT = {1: "content_sm3", 2: "content_mac"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_GENESIS = b"hongyan/evidence/genesis/v1\x00"
_FACTS = b"hongyan/evidence/facts/v1\x00"
_LINK = b"hongyan/evidence/link/v1\x00"


def content_digest(content: bytes) -> str:
    """Lowercase hex SM3 of message content: the unkeyed ``content_sm3`` fact of format v1."""
    return sm3(content).hex()


def genesis_hash(tenant_id: str) -> bytes:
    """The value before a tenant's first v1 record: chains of two tenants never coincide."""
    return sm3(_GENESIS + tenant_id.encode("utf-8"))


def evidence_time(at: datetime | str) -> str:
    """Canonical RFC 3339 UTC time with microseconds, e.g. ``2026-11-23T09:00:00.000000Z``."""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"'at' is not an RFC 3339 time: {at!r}") from None
    if at.tzinfo is None:
        raise ValueError("'at' must carry a time zone")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_facts(facts: Mapping, *, version: int = 2) -> bytes:
    """The canonical bytes of one record's facts: compact JSON, keys sorted, UTF-8.

    Required: ``message_id``, ``event``, ``at`` (datetime or RFC 3339), ``recipient`` (blind
    index, bytes or 64 hex digits) and the content fact — ``content_mac`` in v2, ``content_sm3``
    in v1 (bytes or 64 hex digits). Extra facts must be strings, integers, booleans or null and
    must not carry PII; a v2 record must not carry an unkeyed ``content_sm3``.
    """
    content = CONTENT_FACT[version]
    missing = [name for name in (*REQUIRED_FACTS, content) if name not in facts]
    if missing:
        raise ValueError(f"evidence facts lack {', '.join(missing)}")
    if version == 2 and "content_sm3" in facts:
        raise ValueError("an unkeyed content_sm3 is not allowed in a v2 record: commit to content with content_mac")
    out = {}
    for name, value in facts.items():
        if not isinstance(name, str):
            raise ValueError("fact names are strings")
        if name == "at":
            value = evidence_time(value)
        elif name in ("recipient", content):
            value = value.hex() if isinstance(value, (bytes, bytearray)) else str(value).lower()
            if not _HEX64.fullmatch(value):
                raise ValueError(f"{name!r} must be 32 bytes or 64 hex digits")
        elif not (value is None or isinstance(value, (str, bool, int))):
            # floats and nested values have no single canonical spelling
            raise ValueError(f"fact {name!r} must be a string, integer, boolean or null")
        out[name] = value
    try:
        return orjson.dumps(out, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits
        raise ValueError(f"facts cannot be encoded: {exc}") from None


def record_leaf(facts: Mapping, *, version: int = 2) -> bytes:
    """The Merkle leaf hash of a record: SM3(0x00 ‖ canonical facts)."""
    return leaf_hash(canonical_facts(facts, version=version))


# -- format v1: the hash chain -------------------------------------------------------------


def facts_digest(facts: Mapping) -> bytes:
    """v1: SM3 of the canonical facts, domain-separated."""
    return sm3(_FACTS + canonical_facts(facts, version=1))


def link_hash(prev_hash: bytes, digest: bytes) -> bytes:
    """v1: one chain step from the previous hash and a facts digest."""
    if len(prev_hash) != HASH_SIZE or len(digest) != HASH_SIZE:
        raise ValueError("chain hashes are 32 bytes")
    return sm3(_LINK + prev_hash + digest)


def evidence_hash(prev_hash: bytes, facts: Mapping) -> bytes:
    """v1: the hash of a record whose predecessor hash is ``prev_hash``."""
    return link_hash(prev_hash, facts_digest(facts))


@dataclass(frozen=True)
class EvidenceRecord:
    """One record as stored: position ``seq`` (0, 1, …) in its tenant's log.

    v2: ``hash`` is the leaf hash and ``prev_hash`` is empty; v1: the chain link and its
    predecessor.
    """

    tenant_id: str
    seq: int
    facts: Mapping
    prev_hash: bytes
    hash: bytes

    @property
    def version(self) -> int:
        return 1 if self.prev_hash else 2


class EvidenceChain:
    """v1: appends records to one tenant's hash chain (how records were written before the
    tree; kept to describe, and to build in tests, the chains that must still verify)."""

    def __init__(self, tenant_id: str, *, head: bytes | None = None, next_seq: int = 0) -> None:
        if (head is None) != (next_seq == 0):
            raise ValueError("give the head together with a non-zero next_seq")
        self.tenant_id = tenant_id
        self.head = head if head is not None else genesis_hash(tenant_id)
        self.next_seq = next_seq

    def append(self, facts: Mapping) -> EvidenceRecord:
        """Chain ``facts`` after the head; returns the record to persist."""
        canonical = canonical_facts(facts, version=1)
        prev_hash, seq = self.head, self.next_seq
        self.head, self.next_seq = link_hash(prev_hash, sm3(_FACTS + canonical)), seq + 1
        return EvidenceRecord(self.tenant_id, seq, orjson.loads(canonical), prev_hash, self.head)


@dataclass(frozen=True)
class ChainReport:
    """The verdict on one tenant's log: intact, or the first break (which record and why)."""

    intact: bool
    checked: int
    head: bytes | None  # v1: the last verified chain hash; v2: the last verified signed root
    broken_seq: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.intact:
            head = self.head.hex() if self.head else "genesis"
            return f"intact: {self.checked} records, head {head}"
        return f"broken at record seq {self.broken_seq}: {self.reason}"


class ChainVerifier:
    """v1 streaming verifier: feed records in order (e.g. from a database cursor in batches)."""

    def __init__(
        self,
        tenant_id: str,
        *,
        trusted_head: bytes | None = None,
        next_seq: int = 0,
        anchors: Mapping[int, bytes] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        # seq -> head hash from authenticated checkpoints (see Keyring.checkpoint_tag)
        self._anchors = dict(anchors or {})
        self._expected_prev = trusted_head if trusted_head is not None else genesis_hash(tenant_id)
        self._expected_seq = next_seq
        self._checked = 0
        self._head: bytes | None = trusted_head
        self._break: tuple[int, str] | None = None

    def feed(self, records: Iterable[EvidenceRecord]) -> bool:
        """Check more records; False once a break is found (later records are ignored)."""
        for record in records:
            if self._break is not None:
                return False
            reason = self.check(record)
            if reason is not None:
                self._break = (record.seq, reason)
                return False
        return self._break is None

    def check(self, record: EvidenceRecord) -> str | None:
        """Check the next record; what is wrong with it, or None (and it becomes the head)."""
        reason = self._check(record)
        if reason is None:
            self._checked += 1
            self._head = self._expected_prev = record.hash
            self._expected_seq += 1
        return reason

    def report(self, *, complete: bool = True) -> ChainReport:
        """The verdict; ``complete`` says every record was fed, so missing anchors are a break."""
        found = self._break
        missing = self.unreached_anchors() if complete and found is None else []
        if missing:
            last = self._expected_seq - 1
            found = (missing[0], f"chain ends at seq {last}, before anchored seq {missing[0]} (truncated)")
        if found is None:
            return ChainReport(True, self._checked, self._head)
        seq, reason = found
        return ChainReport(False, self._checked, self._head, seq, reason)

    def _check(self, record: EvidenceRecord) -> str | None:
        if record.tenant_id != self.tenant_id:
            return f"record belongs to tenant {record.tenant_id!r}, not {self.tenant_id!r}"
        if record.seq != self._expected_seq:
            return f"expected seq {self._expected_seq}: a record is missing, repeated or out of order"
        if not hmac.compare_digest(record.prev_hash, self._expected_prev):
            what = "the tenant's genesis" if self._expected_seq == 0 else "the previous record's hash"
            return f"prev_hash does not match {what}"
        try:
            recomputed = evidence_hash(record.prev_hash, record.facts)
        except ValueError as exc:
            return f"facts are not valid: {exc}"
        if not hmac.compare_digest(recomputed, record.hash):
            return "hash does not match the record's facts (facts or hash altered)"
        anchored = self._anchors.get(record.seq)
        if anchored is not None and not hmac.compare_digest(anchored, record.hash):
            return "hash differs from the anchored checkpoint (chain rewritten)"
        return None

    def unreached_anchors(self) -> list[int]:
        """Anchored seqs not reached yet: after the last record, these mean a truncated chain."""
        return sorted(seq for seq in self._anchors if seq >= self._expected_seq)


def verify_chain(
    records: Iterable[EvidenceRecord],
    *,
    tenant_id: str | None = None,
    anchors: Mapping[int, bytes] | None = None,
) -> ChainReport:
    """v1: verify one tenant's whole chain from genesis; reports the first break.

    ``records`` may be any iterable in seq order (it is consumed once). The tenant is taken
    from the first record unless given; an empty chain is intact unless anchors say otherwise.
    ``anchors`` (seq -> head) come from checkpoints whose tags were checked: they catch a
    chain recomputed from scratch, and a chain cut short.
    """
    iterator = iter(records)
    first = next(iterator, None)
    if first is None:
        if anchors:
            seq = min(anchors)
            return ChainReport(False, 0, None, seq, f"chain is empty but anchored at seq {seq} (truncated)")
        return ChainReport(True, 0, None)
    verifier = ChainVerifier(tenant_id if tenant_id is not None else first.tenant_id, anchors=anchors)
    if verifier.feed([first]):
        verifier.feed(iterator)
    return verifier.report()


# -- the log: both formats, the tree and its signed heads -----------------------------------


class LogVerifier:
    """Streaming verifier of one tenant's whole log against its signed tree heads.

    Feed records in seq order and the tree heads as they come into reach (`add_heads`, any
    order); ``keys`` maps the id of every authentic platform signing key to its raw public
    key. Every record is checked on its own (v1 chain link, or v2 leaf hash against its facts),
    and every signed head against the tree rebuilt from the records, so an edit is named at its
    record — or, when the record's own hash was rewritten to match, at the first record the
    last good head does not cover. Perfect subtrees of ``keep_level`` and above are collected
    (`take_nodes`) so the caller can compare the copies it stores for proofs (`check_nodes`).
    """

    def __init__(self, tenant_id: str, keys: Mapping[str, bytes], *, keep_level: int | None = None) -> None:
        self.tenant_id = tenant_id
        self._keys = dict(keys)
        self._keep = keep_level
        self._chain = ChainVerifier(tenant_id)
        self._frontier = Frontier()
        self._heads: dict[int, TreeHead] = {}
        self._proven = 0  # records covered by the last head that verified
        self._root: bytes | None = None
        self._nodes: list[tuple[int, int, bytes]] = []
        self._seen_v2 = False
        self._unproven_v2 = False  # the first record no verified head covers is a v2 one
        self._break: tuple[int, str] | None = None

    @property
    def size(self) -> int:
        """Records checked so far."""
        return self._frontier.size

    def add_heads(self, heads: Iterable[TreeHead]) -> None:
        for head in heads:
            if head.tree_size <= self._frontier.size:
                self._fail(head.tree_size - 1, f"tree head of size {head.tree_size} arrived after its records")
            self._heads[head.tree_size] = head

    def feed(self, records: Iterable[EvidenceRecord]) -> bool:
        """Check more records; False once a break is found (later records are ignored)."""
        for record in records:
            if self._break is not None:
                return False
            reason = self._leaf(record)
            if reason is not None:
                self._fail(record.seq, reason)
                return False
            head = self._heads.pop(self._frontier.size, None)
            if head is not None:
                self._check_head(head)
        return self._break is None

    def take_nodes(self) -> list[tuple[int, int, bytes]]:
        """Perfect subtrees (level, index, hash) completed since the last call."""
        nodes, self._nodes = self._nodes, []
        return nodes

    def check_nodes(self, expected: Sequence[tuple[int, int, bytes]], stored: Mapping[tuple[int, int], bytes]) -> None:
        """Compare recomputed subtrees with the stored copies proofs are built from."""
        for level, index, value in expected:
            kept = stored.get((level, index))
            if kept is None or not hmac.compare_digest(kept, value):
                what = "is missing" if kept is None else "does not match the records"
                self._fail(index << level, f"stored tree node (level {level}, index {index}) {what}: proofs would fail")

    def report(self, *, next_seq: int | None = None) -> ChainReport:
        """The verdict once every record was fed; ``next_seq`` is how many the log says it has."""
        if self._break is None:
            size = self._frontier.size
            if next_seq is not None and next_seq > size:
                self._fail(size, f"the log ends at seq {size - 1} but says it holds {next_seq} records (truncated)")
            later = sorted(s for s in self._heads if s > size)
            if later:
                self._fail(
                    size, f"the log ends at seq {size - 1} but a tree head covers {later[0]} records (truncated)"
                )
            if next_seq is not None and size > next_seq:
                self._fail(next_seq, f"records from seq {next_seq} on are past the {next_seq} the log says it holds")
            # The appender signs a head over every v2 record it writes, in the same transaction;
            # only v1 records (joining the tree after an upgrade) may wait for one.
            if self._unproven_v2 and self._proven < size and not later:
                self._fail(self._proven, f"records seq {self._proven}–{size - 1} are in no signed tree head")
        if self._break is None:
            return ChainReport(True, self._frontier.size, self._root)
        seq, reason = self._break
        return ChainReport(False, min(seq, self._frontier.size), self._root, seq, reason)

    def _fail(self, seq: int, reason: str) -> None:
        if self._break is None or seq < self._break[0]:
            self._break = (max(seq, 0), reason)

    def _leaf(self, record: EvidenceRecord) -> str | None:
        if record.tenant_id != self.tenant_id:
            return f"record belongs to tenant {record.tenant_id!r}, not {self.tenant_id!r}"
        if record.seq != self._frontier.size:
            return f"expected seq {self._frontier.size}: a record is missing, repeated or out of order"
        if record.seq == self._proven:
            self._unproven_v2 = record.version == 2
        if record.version == 1:
            if self._seen_v2:
                return "a format v1 record after format v2 ones (only the oldest records are v1)"
            reason = self._chain.check(record)
            if reason is not None:
                return reason
            leaf = leaf_hash(canonical_facts(record.facts, version=1))
        else:
            self._seen_v2 = True
            try:
                leaf = record_leaf(record.facts)
            except ValueError as exc:
                return f"facts are not valid: {exc}"
            if not hmac.compare_digest(leaf, record.hash):
                return "hash does not match the record's facts (facts or hash altered)"
        for level, index, value in self._frontier.append(leaf):
            if self._keep is not None and level >= self._keep:
                self._nodes.append((level, index, value))
        return None

    def _check_head(self, head: TreeHead) -> None:
        first, last = self._proven, head.tree_size - 1
        span = f"seq {first}" if first == last else f"seq {first}–{last}"
        public = self._keys.get(head.key_id)
        if head.tenant_id != self.tenant_id:
            self._fail(first, f"the tree head of size {head.tree_size} names tenant {head.tenant_id!r}")
        elif public is None:
            self._fail(first, f"the tree head of size {head.tree_size} is signed by unknown key {head.key_id[:16]}…")
        elif not head.verify(public):
            self._fail(first, f"the tree head of size {head.tree_size} has a bad signature")
        elif not hmac.compare_digest(head.root, self._frontier.root()):
            self._fail(
                first,
                f"records {span} do not match the tree head signed at size {head.tree_size} "
                "(a record was rewritten together with its hash)",
            )
        else:
            self._proven, self._root = head.tree_size, head.root
