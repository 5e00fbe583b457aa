"""SM3 evidence chain: a per-tenant hash chain over message events.

Each record hashes canonical *facts* — message id, event type, time, the recipient's blind
index and the SM3 of the content — never ciphertext bytes, so key rotation keeps the chain
valid and the chain itself holds no PII::

    digest_i = SM3("hongyan/evidence/facts/v1" ‖ canonical_facts_i)
    hash_i   = SM3("hongyan/evidence/link/v1" ‖ hash_{i-1} ‖ digest_i),   hash_{-1} = genesis(tenant)

Because a link needs only the facts' digest, an inclusion proof for one record is its facts,
its predecessor hash and the digests of the records after it, checked against a trusted head.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from cryptography.hazmat.primitives import hashes

HASH_SIZE = 32
REQUIRED_FACTS = ("message_id", "event", "at", "recipient", "content_sm3")
_HEX_FIELDS = ("recipient", "content_sm3")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_GENESIS = b"hongyan/evidence/genesis/v1\x00"
_FACTS = b"hongyan/evidence/facts/v1\x00"
_LINK = b"hongyan/evidence/link/v1\x00"


def _sm3_cryptography(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def _sm3_hashlib(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


# Both are OpenSSL's SM3; hashlib's costs about a third less per call (the chain hashes three
# times per event), but only some OpenSSL builds expose it there.
sm3 = _sm3_hashlib if "sm3" in hashlib.algorithms_available else _sm3_cryptography
sm3.__doc__ = "SM3 digest (OpenSSL)."


def content_digest(content: bytes) -> str:
    """Lowercase hex SM3 of message content, for the ``content_sm3`` fact."""
    return sm3(content).hex()


def genesis_hash(tenant_id: str) -> bytes:
    """The value before a tenant's first record: chains of two tenants never coincide."""
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


def canonical_facts(facts: Mapping) -> bytes:
    """The canonical bytes of one record's facts: compact JSON, keys sorted, UTF-8.

    Required: ``message_id``, ``event``, ``at`` (datetime or RFC 3339), ``recipient`` (blind
    index, bytes or 64 hex digits) and ``content_sm3`` (bytes or 64 hex digits). Extra facts
    must be strings, integers, booleans or null and must not carry PII.
    """
    missing = [name for name in REQUIRED_FACTS if name not in facts]
    if missing:
        raise ValueError(f"evidence facts lack {', '.join(missing)}")
    out = {}
    for name, value in facts.items():
        if not isinstance(name, str):
            raise ValueError("fact names are strings")
        if name == "at":
            value = evidence_time(value)
        elif name in _HEX_FIELDS:
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


def facts_digest(facts: Mapping) -> bytes:
    """SM3 of the canonical facts."""
    return sm3(_FACTS + canonical_facts(facts))


def link_hash(prev_hash: bytes, digest: bytes) -> bytes:
    """One chain step from the previous hash and a facts digest."""
    if len(prev_hash) != HASH_SIZE or len(digest) != HASH_SIZE:
        raise ValueError("chain hashes are 32 bytes")
    return sm3(_LINK + prev_hash + digest)


def evidence_hash(prev_hash: bytes, facts: Mapping) -> bytes:
    """The hash of a record whose predecessor hash is ``prev_hash``."""
    return link_hash(prev_hash, facts_digest(facts))


@dataclass(frozen=True)
class EvidenceRecord:
    """One chained record as stored: position ``seq`` (0, 1, …) in its tenant's chain."""

    tenant_id: str
    seq: int
    facts: Mapping
    prev_hash: bytes
    hash: bytes


class EvidenceChain:
    """Appends records to one tenant's chain; resume with the stored head and next seq."""

    def __init__(self, tenant_id: str, *, head: bytes | None = None, next_seq: int = 0) -> None:
        if (head is None) != (next_seq == 0):
            raise ValueError("give the head together with a non-zero next_seq")
        self.tenant_id = tenant_id
        self.head = head if head is not None else genesis_hash(tenant_id)
        self.next_seq = next_seq

    def append(self, facts: Mapping) -> EvidenceRecord:
        """Chain ``facts`` after the head; returns the record to persist."""
        canonical = canonical_facts(facts)  # once: it is both what is stored and what is hashed
        seq, prev_hash, hash_ = self.append_canonical(canonical)
        return EvidenceRecord(self.tenant_id, seq, orjson.loads(canonical), prev_hash, hash_)

    def append_canonical(self, canonical: bytes) -> tuple[int, bytes, bytes]:
        """Chain facts already in canonical form (see `canonical_facts`); (seq, prev_hash, hash)."""
        prev_hash, seq = self.head, self.next_seq
        self.head, self.next_seq = link_hash(prev_hash, sm3(_FACTS + canonical)), seq + 1
        return seq, prev_hash, self.head


@dataclass(frozen=True)
class ChainReport:
    """Result of `verify_chain`: intact, or the first break (which record and why)."""

    intact: bool
    checked: int
    head: bytes | None  # hash of the last record that verified
    broken_seq: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.intact:
            head = self.head.hex() if self.head else "genesis"
            return f"intact: {self.checked} records, head {head}"
        return f"broken at record seq {self.broken_seq}: {self.reason}"


class ChainVerifier:
    """Streaming verifier: feed records in order (e.g. from a database cursor in batches)."""

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
            reason = self._check(record)
            if reason is not None:
                self._break = (record.seq, reason)
                return False
            self._checked += 1
            self._head = self._expected_prev = record.hash
            self._expected_seq += 1
        return self._break is None

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
    """Verify one tenant's whole chain from genesis; reports the first break.

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


@dataclass(frozen=True)
class InclusionProof:
    """Proof that ``facts`` sit at ``seq`` in a chain ending at some head."""

    tenant_id: str
    seq: int
    facts: Mapping
    prev_hash: bytes
    later_digests: tuple[bytes, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """A JSON-ready form to hand to an auditor."""
        return {
            "tenant_id": self.tenant_id,
            "seq": self.seq,
            "facts": orjson.loads(canonical_facts(self.facts)),
            "prev_hash": self.prev_hash.hex(),
            "later_digests": [d.hex() for d in self.later_digests],
        }

    @classmethod
    def from_json(cls, data: Mapping) -> InclusionProof:
        return cls(
            tenant_id=data["tenant_id"],
            seq=int(data["seq"]),
            facts=data["facts"],
            prev_hash=bytes.fromhex(data["prev_hash"]),
            later_digests=tuple(bytes.fromhex(d) for d in data["later_digests"]),
        )


def prove_inclusion(records: Iterable[EvidenceRecord], seq: int) -> InclusionProof:
    """Build the proof for record ``seq`` from that record and every record after it."""
    target: EvidenceRecord | None = None
    later: list[bytes] = []
    for record in records:
        if record.seq == seq:
            target = record
        elif target is not None and record.seq > seq:
            later.append(facts_digest(record.facts))
    if target is None:
        raise LookupError(f"no record with seq {seq}")
    return InclusionProof(target.tenant_id, seq, target.facts, target.prev_hash, tuple(later))


def check_inclusion(proof: InclusionProof, head: bytes) -> bool:
    """Whether ``proof`` leads to the trusted chain ``head`` (e.g. a published checkpoint)."""
    try:
        current = evidence_hash(proof.prev_hash, proof.facts)
        for digest in proof.later_digests:
            current = link_hash(current, digest)
    except ValueError:
        return False
    if proof.seq == 0 and not hmac.compare_digest(proof.prev_hash, genesis_hash(proof.tenant_id)):
        return False
    return hmac.compare_digest(current, head)
