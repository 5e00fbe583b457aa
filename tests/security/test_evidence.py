"""The evidence log: v1 chain golden hashes and breaks, v2 facts and keyed commitments, the log
verifier against signed tree heads, signing keys (RFC 8032 vectors), rotation."""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from security.evidence import (
    ChainVerifier,
    EvidenceChain,
    EvidenceRecord,
    LogVerifier,
    canonical_facts,
    content_digest,
    evidence_hash,
    evidence_time,
    facts_digest,
    genesis_hash,
    record_leaf,
    verify_chain,
)
from security.keyring import EnvMasterKeyProvider
from security.merkle import MemoryTree, leaf_hash, sm3
from security.signing import TreeHead, TreeHeadSigner, public_key_pem, tree_head_message

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


def _v2_facts(i: int) -> dict:
    facts = _facts(i)
    del facts["content_sm3"]
    return {**facts, "content_mac": bytes([i % 256, 7]) * 16}


def _chain(n: int, tenant: str = "tenant-a") -> list[EvidenceRecord]:
    chain = EvidenceChain(tenant)
    return [chain.append(_facts(i)) for i in range(n)]


def test_golden_chain():
    assert genesis_hash(GOLDEN["tenant_id"]).hex() == GOLDEN["genesis"]
    chain = EvidenceChain(GOLDEN["tenant_id"])
    for expected in GOLDEN["records"]:
        facts = dict(expected["facts"], at=datetime.fromisoformat(expected["facts"]["at"]))
        facts["content_sm3"] = bytes.fromhex(facts["content_sm3"])  # bytes or hex: same encoding
        assert canonical_facts(facts, version=1).decode() == expected["canonical"]
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
        canonical_facts(_facts(0) | bad, version=1)
    with pytest.raises(ValueError):
        canonical_facts(_v2_facts(0) | bad)


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


def test_key_rotation_keeps_commitments_and_the_log_valid(keyring, master):
    # Facts come from the blind index and a keyed commitment to the plaintext, never from
    # ciphertext: new data keys, retired ones and a new master key change none of them.
    number, content = "+8613812341234", "您的验证码是 1234".encode()
    sealed = keyring.seal("tenant-a", "messages", "content", "m1", content)

    def facts():
        return {
            "message_id": "m1",
            "event": "accepted",
            "at": NOW,
            "recipient": keyring.blind_index("tenant-a", number),
            "content_mac": keyring.content_commitment("tenant-a", content),
        }

    leaf = record_leaf(facts())
    keyring.rotate("tenant-a", now=NOW)
    resealed = keyring.reseal("tenant-a", "messages", "content", "m1", sealed)
    keyring.retire("tenant-a", 1)
    assert resealed != sealed
    assert keyring.open("tenant-a", "messages", "content", "m1", resealed) == content
    keyring.rewrap_all(EnvMasterKeyProvider(os.urandom(16).hex()))
    assert record_leaf(facts()) == leaf


def test_content_commitments_are_keyed(keyring):
    content = b'{"code":"482913"}'
    mac = keyring.content_commitment("tenant-a", content)
    assert len(mac) == 32 and mac == keyring.content_commitment("tenant-a", content)
    assert mac != sm3(content) and mac != keyring.content_commitment("tenant-b", content)
    assert mac != keyring.content_commitment("tenant-a", b'{"code":"482914"}')
    # Another purpose of the same tenant's index key gives another value.
    assert mac != keyring.blind_index("tenant-a", content.decode())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"content_mac": None}, "lack content_mac"),
        ({"content_sm3": "ab" * 32}, "unkeyed content_sm3"),
        ({"content_mac": "short"}, "64 hex digits"),
    ],
)
def test_v2_facts_commit_to_content_with_a_key(change, message):
    facts = _v2_facts(0)
    for name, value in change.items():
        if value is None:
            del facts[name]
        else:
            facts[name] = value
    with pytest.raises(ValueError, match=message):
        canonical_facts(facts)


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


# -- the log: v2 records in a tree with signed heads -------------------------------------------

SIGNER = TreeHeadSigner(bytes(range(32)))
KEYS = {SIGNER.key_id: SIGNER.public_key}


def _log(n: int, sizes=(3, 8), *, v1: int = 0, tenant: str = "tenant-a"):
    """n records (the first v1 of them in the old chain format) and heads signed at ``sizes``."""
    records = _chain(v1, tenant) if v1 else []
    for seq in range(v1, n):
        facts = orjson.loads(canonical_facts(_v2_facts(seq)))
        records.append(EvidenceRecord(tenant, seq, facts, b"", record_leaf(facts)))
    tree = MemoryTree([leaf_hash(canonical_facts(r.facts, version=r.version)) for r in records])
    heads = [SIGNER.sign(tenant, size, 1_764_000_000_000 + size, tree.root(size)) for size in sizes]
    return records, heads


def _verify_log(records, heads, keys=KEYS, *, next_seq=None, keep_level=None):
    verifier = LogVerifier("tenant-a", keys, keep_level=keep_level)
    verifier.add_heads(heads)
    verifier.feed(records)
    return verifier.report(next_seq=next_seq)


def test_an_intact_log_verifies():
    records, heads = _log(8)
    report = _verify_log(records, heads, next_seq=8)
    assert report.intact and report.checked == 8 and report.head == heads[-1].root
    # v1 records from before the tree are its first leaves, and still a chain.
    records, heads = _log(8, v1=5)
    assert [r.version for r in records] == [1] * 5 + [2] * 3
    assert _verify_log(records, heads).intact


def _log_breaks():
    def edited(r, h):
        r[4] = dataclasses.replace(r[4], facts={**r[4].facts, "event": "rcs_delivered"})

    def rewritten(r, h):  # the record's own hash recomputed too: only the signed head can tell
        facts = {**r[4].facts, "event": "rcs_delivered"}
        r[4] = dataclasses.replace(r[4], facts=facts, hash=record_leaf(facts))

    def deleted(r, h):
        del r[4]

    def swapped(r, h):
        r[4], r[5] = r[5], r[4]

    def other_tenant(r, h):
        r[4] = dataclasses.replace(r[4], tenant_id="tenant-b")

    def bad_facts(r, h):
        r[4] = dataclasses.replace(r[4], facts={**r[4].facts, "recipient": "not hex"})

    def unkeyed(r, h):
        r[4] = dataclasses.replace(r[4], facts={**r[4].facts, "content_sm3": "ab" * 32})

    def v1_after_v2(r, h):
        r[4] = dataclasses.replace(r[4], prev_hash=r[3].hash)

    def bad_signature(r, h):
        h[1] = dataclasses.replace(h[1], signature=bytes(64))

    def unknown_key(r, h):
        forger = TreeHeadSigner(bytes(32))
        h[1] = forger.sign("tenant-a", 8, 1, h[1].root)

    def wrong_root(r, h):
        h[1] = SIGNER.sign("tenant-a", 8, 1, bytes(32))

    def other_tenants_head(r, h):
        h[1] = SIGNER.sign("tenant-b", 8, 1, h[1].root)

    def truncated(r, h):
        del r[6:]

    return [
        # (tamper, seq reported, reason)
        (edited, 4, "hash does not match the record's facts"),
        (rewritten, 3, "seq 3–7 do not match the tree head signed at size 8"),
        (deleted, 5, "expected seq 4"),
        (swapped, 5, "expected seq 4"),
        (other_tenant, 4, "tenant"),
        (bad_facts, 4, "facts are not valid"),
        (unkeyed, 4, "unkeyed content_sm3"),
        (v1_after_v2, 4, "format v1 record after format v2"),
        (bad_signature, 3, "bad signature"),
        (unknown_key, 3, "unknown key"),
        (wrong_root, 3, "do not match the tree head"),
        (other_tenants_head, 3, "names tenant 'tenant-b'"),
        (truncated, 6, "truncated"),
    ]


@pytest.mark.parametrize(("tamper", "seq", "reason"), _log_breaks(), ids=lambda x: getattr(x, "__name__", None))
def test_the_log_verifier_names_the_first_break(tamper, seq, reason):
    records, heads = _log(8)
    tamper(records, heads)
    report = _verify_log(records, heads)
    assert (report.intact, report.broken_seq) == (False, seq), report.reason
    assert reason in report.reason and f"seq {seq}" in str(report)


def test_the_log_verifier_checks_what_it_is_told_the_log_holds():
    records, heads = _log(8)
    report = _verify_log(records, heads, next_seq=9)
    assert (report.intact, report.broken_seq) == (False, 8) and "says it holds 9" in report.reason
    report = _verify_log(records, heads, next_seq=7)
    assert (report.intact, report.broken_seq) == (False, 7) and "past the 7" in report.reason


def test_every_v2_record_is_under_a_signed_head():
    # Records appended behind the appender's back, with no head over them:
    records, heads = _log(10, sizes=(3, 8))
    report = _verify_log(records, heads)
    assert (report.intact, report.broken_seq) == (False, 8) and "seq 8–9 are in no signed tree head" in report.reason
    # … whereas after an upgrade, old (v1) records join the tree over a few passes, and the
    # records written meanwhile wait for them.
    records, heads = _log(10, sizes=(3,), v1=6)
    assert _verify_log(records, heads).intact


def test_the_log_verifier_checks_stored_subtrees():
    records, heads = _log(130, sizes=(130,))
    verifier = LogVerifier("tenant-a", KEYS, keep_level=6)
    verifier.add_heads(heads)
    assert verifier.feed(records)
    expected = verifier.take_nodes()
    assert [(level, index) for level, index, _ in expected] == [(6, 0), (6, 1), (7, 0)]
    stored = {(level, index): value for level, index, value in expected}
    verifier.check_nodes(expected, stored)
    assert verifier.report().intact
    verifier.check_nodes(expected, {**stored, (6, 1): bytes(32)})
    report = verifier.report()
    assert (report.intact, report.broken_seq) == (False, 64) and "level 6, index 1" in report.reason


# -- signed tree heads ----------------------------------------------------------------------

ED25519 = json.loads((Path(__file__).parent / "vectors" / "rfc6962_merkle.json").read_text())["ed25519"]


@pytest.mark.parametrize("vector", ED25519["vectors"], ids=lambda v: v["public_key"][:8])
def test_signing_keys_are_rfc8032_ed25519(vector):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signer = TreeHeadSigner(bytes.fromhex(vector["secret_key"]))
    assert signer.public_key.hex() == vector["public_key"]
    assert signer.key_id == sm3(signer.public_key).hex()
    head = signer.sign("tenant-a", 5, 1_764_000_000_000, bytes(range(32)))
    # Checked with the published public key alone, outside our code.
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(vector["public_key"])).verify(head.signature, head.message())
    assert "BEGIN PUBLIC KEY" in public_key_pem(signer.public_key)


def test_tree_head_layout_and_checks():
    root = bytes(range(32))
    expected = (
        b"hongyan-evidence-tree-head-v1\x00"
        + struct.pack(">H", 8)
        + b"tenant-a"
        + struct.pack(">Q", 1_764_000_000_123)
        + struct.pack(">Q", 4445)
        + root
    )
    assert tree_head_message("tenant-a", 4445, 1_764_000_000_123, root) == expected
    head = SIGNER.sign("tenant-a", 4445, 1_764_000_000_123, root)
    assert head.verify(SIGNER.public_key)
    assert TreeHead.from_json(json.loads(json.dumps(head.to_json()))) == head
    for changed in (
        {"tree_size": 4446},
        {"timestamp_ms": 1},
        {"root": bytes(32)},
        {"tenant_id": "tenant-b"},
        {"signature": bytes(64)},
    ):
        assert not dataclasses.replace(head, **changed).verify(SIGNER.public_key)
    assert not head.verify(TreeHeadSigner(bytes(32)).public_key)
    with pytest.raises(ValueError):
        tree_head_message("tenant-a", 2**64, 0, root)
