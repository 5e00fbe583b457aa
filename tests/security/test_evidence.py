"""SM3 evidence chain: golden hashes, verification, breaks, inclusion proofs, rotation."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from security.evidence import (
    ChainVerifier,
    EvidenceChain,
    EvidenceRecord,
    InclusionProof,
    canonical_facts,
    check_inclusion,
    content_digest,
    evidence_hash,
    evidence_time,
    facts_digest,
    genesis_hash,
    prove_inclusion,
    verify_chain,
)

GOLDEN = json.loads((Path(__file__).parent / "golden" / "evidence_chain_v1.json").read_text())
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW = T0


def _facts(i: int, **extra) -> dict:
    return {
        "message_id": f"msg-{i // 3}",
        "event": ["accepted", "queued", "rcs_sent"][i % 3],
        "at": T0 + timedelta(milliseconds=250 * i),
        "recipient": bytes([i % 256]) * 32,
        "content_sm3": content_digest(f"content {i // 3}".encode()),
        **extra,
    }


def _chain(n: int, tenant: str = "tenant-a") -> list[EvidenceRecord]:
    chain = EvidenceChain(tenant)
    return [chain.append(_facts(i)) for i in range(n)]


def test_golden_chain():
    assert genesis_hash(GOLDEN["tenant_id"]).hex() == GOLDEN["genesis"]
    chain = EvidenceChain(GOLDEN["tenant_id"])
    for expected in GOLDEN["records"]:
        facts = dict(expected["facts"], at=datetime.fromisoformat(expected["facts"]["at"]))
        facts["content_sm3"] = bytes.fromhex(facts["content_sm3"])  # bytes or hex: same encoding
        assert canonical_facts(facts).decode() == expected["canonical"]
        assert facts_digest(facts).hex() == expected["digest"]
        record = chain.append(facts)
        assert (record.seq, record.prev_hash.hex(), record.hash.hex()) == (
            expected["seq"],
            expected["prev_hash"],
            expected["hash"],
        )
    assert GOLDEN["records"][0]["facts"]["content_sm3"] == content_digest(GOLDEN["content_utf8"].encode())


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        (datetime(2026, 1, 2, 11, 4, 5, 123000, tzinfo=timezone(timedelta(hours=8))), "2026-01-02T03:04:05.123000Z"),
        ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000000Z"),
        ("2026-01-02T11:04:05.5+08:00", "2026-01-02T03:04:05.500000Z"),
    ],
)
def test_time_is_canonical(given, canonical):
    assert evidence_time(given) == canonical


@pytest.mark.parametrize(
    "bad",
    [
        {"at": datetime(2026, 1, 1)},  # naive
        {"at": "yesterday"},
        {"recipient": "+8613812341234"},  # a phone number is not a blind index
        {"content_sm3": b"short"},
        {"detail": 1.5},
        {"detail": {"nested": True}},
        {"big": 2**70},
    ],
)
def test_invalid_facts(bad):
    with pytest.raises(ValueError):
        canonical_facts(_facts(0) | bad)


def test_missing_fact():
    facts = _facts(0)
    del facts["recipient"]
    with pytest.raises(ValueError, match="recipient"):
        evidence_hash(genesis_hash("t"), facts)


def test_intact_chain_and_streaming():
    records = _chain(10)
    report = verify_chain(records)
    assert report.intact and report.checked == 10 and report.head == records[-1].hash
    assert verify_chain(iter(records)) == report  # a one-shot iterator (database cursor)
    assert verify_chain([]).intact
    verifier = ChainVerifier("tenant-a")
    for start in range(0, 10, 4):
        assert verifier.feed(records[start : start + 4])
    assert verifier.report() == report
    # Resume from a trusted checkpoint: verify only the tail.
    tail = ChainVerifier("tenant-a", trusted_head=records[5].hash, next_seq=6)
    tail.feed(records[6:])
    assert tail.report().intact and tail.report().head == report.head


def _replace_fact(records, i, **facts):
    records[i] = dataclasses.replace(records[i], facts=dict(records[i].facts, **facts))


def _breaks():
    def altered_fact(r):
        _replace_fact(r, 4, event="rcs_delivered")

    def altered_hash(r):
        r[4] = dataclasses.replace(r[4], hash=bytes(32))

    def relinked(r):  # an attacker rewrites record 4 and its hash; record 5 still points at the old one
        _replace_fact(r, 4, event="rcs_delivered")
        r[4] = dataclasses.replace(r[4], hash=evidence_hash(r[4].prev_hash, r[4].facts))

    def deleted(r):
        del r[4]

    def swapped(r):
        r[4], r[5] = r[5], r[4]

    def duplicated(r):
        r.insert(5, r[4])

    def other_tenant(r):
        r[4] = dataclasses.replace(r[4], tenant_id="tenant-b")

    def bad_facts(r):
        _replace_fact(r, 4, recipient="not hex")

    return [
        # (tamper, seq reported, records verified before the break, reason)
        (altered_fact, 4, 4, "hash does not match"),
        (altered_hash, 4, 4, "hash does not match"),
        (relinked, 5, 5, "prev_hash does not match the previous"),
        (deleted, 5, 4, "expected seq 4"),
        (swapped, 5, 4, "expected seq 4"),
        (duplicated, 4, 5, "expected seq 5"),
        (other_tenant, 4, 4, "tenant"),
        (bad_facts, 4, 4, "facts are not valid"),
    ]


@pytest.mark.parametrize(("tamper", "seq", "checked", "reason"), _breaks(), ids=lambda x: getattr(x, "__name__", None))
def test_first_break_is_reported(tamper, seq, checked, reason):
    records = _chain(8)
    tamper(records)
    report = verify_chain(records)
    assert not report.intact
    assert report.broken_seq == seq
    assert reason in report.reason
    assert report.checked == checked and report.head == records[checked - 1].hash
    assert f"seq {seq}" in str(report)


def test_chain_must_start_at_the_tenants_genesis():
    records = _chain(3, tenant="tenant-b")
    forged = [dataclasses.replace(r, tenant_id="tenant-a") for r in records]
    report = verify_chain(forged)
    assert (report.intact, report.broken_seq) == (False, 0)
    assert "genesis" in report.reason


def test_resume_appending_from_stored_head():
    records = _chain(5)
    resumed = EvidenceChain("tenant-a", head=records[2].hash, next_seq=3)
    again = [resumed.append(_facts(i)) for i in (3, 4)]
    assert again == records[3:]
    with pytest.raises(ValueError):
        EvidenceChain("tenant-a", head=records[2].hash)


@pytest.mark.parametrize("seq", [0, 3, 6])
def test_inclusion_proof(seq):
    records = _chain(7)
    head = records[-1].hash
    proof = prove_inclusion(records, seq)
    assert len(proof.later_digests) == 6 - seq
    assert check_inclusion(proof, head)
    assert check_inclusion(InclusionProof.from_json(json.loads(json.dumps(proof.to_json()))), head)
    assert not check_inclusion(proof, records[-2].hash)
    assert not check_inclusion(dataclasses.replace(proof, facts=dict(proof.facts, event="sms_sent")), head)
    if proof.later_digests:
        wrong = (bytes(32),) + proof.later_digests[1:]
        assert not check_inclusion(dataclasses.replace(proof, later_digests=wrong), head)
    assert not check_inclusion(dataclasses.replace(proof, prev_hash=b"short"), head)


def test_inclusion_proof_of_first_record_is_bound_to_genesis():
    records = _chain(2, tenant="tenant-b")
    proof = dataclasses.replace(prove_inclusion(records, 0), tenant_id="tenant-a")
    assert not check_inclusion(proof, records[-1].hash)
    with pytest.raises(LookupError):
        prove_inclusion(records, 9)


def test_key_rotation_keeps_the_chain_valid(keyring):
    # Facts come from the blind index and the plaintext content, never from ciphertext.
    number, content = "+8613812341234", "您的验证码是 1234".encode()
    sealed = keyring.seal("tenant-a", "messages", "content", "m1", content)
    chain = EvidenceChain("tenant-a")
    record = chain.append(
        {
            "message_id": "m1",
            "event": "accepted",
            "at": NOW,
            "recipient": keyring.blind_index("tenant-a", number),
            "content_sm3": content_digest(content),
        }
    )
    keyring.rotate("tenant-a", now=NOW)
    resealed = keyring.reseal("tenant-a", "messages", "content", "m1", sealed)
    keyring.retire("tenant-a", 1)
    assert resealed != sealed
    recomputed = {
        "message_id": "m1",
        "event": "accepted",
        "at": NOW,
        "recipient": keyring.blind_index("tenant-a", number),
        "content_sm3": content_digest(keyring.open("tenant-a", "messages", "content", "m1", resealed)),
    }
    assert evidence_hash(genesis_hash("tenant-a"), recomputed) == record.hash
    assert verify_chain([record]).intact


def _rewritten(records, from_seq):
    # Someone with write access to the table alters a fact and recomputes every later hash.
    chain = EvidenceChain("tenant-a", head=records[from_seq - 1].hash, next_seq=from_seq)
    forged = list(records[:from_seq])
    for record in records[from_seq:]:
        facts = dict(record.facts)
        if record.seq == from_seq:
            facts["event"] = "sms_delivered"
        forged.append(chain.append(facts))
    return forged


def test_anchored_checkpoints_catch_a_recomputed_chain(keyring):
    records = _chain(8)
    tag = keyring.checkpoint_tag("tenant-a", 5, records[5].hash)
    assert keyring.check_checkpoint("tenant-a", 5, records[5].hash, tag)
    anchors = {5: records[5].hash}
    assert verify_chain(records, anchors=anchors).intact

    forged = _rewritten(records, 2)
    assert verify_chain(forged).intact  # a bare hash chain cannot tell
    # The forger cannot make a tag for the new head without the master key.
    assert not keyring.check_checkpoint("tenant-a", 5, forged[5].hash, tag)
    report = verify_chain(forged, anchors=anchors)
    assert (report.intact, report.broken_seq) == (False, 5)
    assert "anchored checkpoint" in report.reason


@pytest.mark.parametrize("kept", [0, 3, 5])
def test_anchors_catch_truncation(kept):
    records = _chain(8)
    report = verify_chain(records[:kept], anchors={5: records[5].hash})
    assert not report.intact and report.broken_seq == 5 and "truncated" in report.reason
    verifier = ChainVerifier("tenant-a", anchors={5: records[5].hash})
    verifier.feed(records[:3])
    assert verifier.report(complete=False).intact  # mid-stream: more may come
    assert verifier.unreached_anchors() == [5]
    verifier.feed(records[3:])
    assert verifier.report().intact


def test_checkpoint_tags_are_bound_to_tenant_seq_and_head(keyring):
    head = bytes(range(32))
    tag = keyring.checkpoint_tag("tenant-a", 7, head)
    assert len(tag) == 32 and tag == keyring.checkpoint_tag("tenant-a", 7, head)
    assert not keyring.check_checkpoint("tenant-b", 7, head, tag)
    assert not keyring.check_checkpoint("tenant-a", 8, head, tag)
    assert not keyring.check_checkpoint("tenant-a", 7, bytes(32), tag)
    keyring.rotate("tenant-a", now=NOW)
    assert keyring.check_checkpoint("tenant-a", 7, head, tag)  # data-key rotation keeps them
