"""The evidence log in the database: records with short proofs over HTTP that an integrator's
own verifier accepts, keyed content commitments, signed tree heads, and a verifier (the CLI as
an operator runs it) that names the first broken record."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete, select, update

from messages.evidence import (
    evidence_heads,
    evidence_nodes,
    evidence_records,
    evidence_signing_keys,
    evidence_tree_heads,
    verify_all,
)
from messages.evidence_http import EVIDENCE
from security.evidence import EvidenceChain, content_digest, record_leaf
from server import DATABASE, KEYRING, Settings
from tests.conftest import TEST_MASTER_KEY, ApiClient, card
from tests.messages import evidence_verifier as integrator

ROOT = Path(__file__).resolve().parents[2]


async def _send(api, n: int, *, start: int = 0) -> list[str]:
    body = {
        "recipients": [{"to": f"+8613700{start + i:06d}", "variables": {"x": str(i)}} for i in range(n)],
        "card": card(title="{{ x }}"),
    }
    resp = await api.post("/v1/messages", body)
    assert resp.status == 202, await resp.text()
    return [m["id"] for m in (await resp.json())["messages"]]


async def _append_all(api) -> None:
    while await api.client.app[EVIDENCE].append_pending():
        pass


async def _keys(api) -> dict[str, str]:
    resp = await api.get("/v1/evidence/keys")
    assert resp.status == 200
    return {k["key_id"]: k["public_key"] for k in (await resp.json())["keys"]}


async def _verify(api):
    return await verify_all(api.client.app[DATABASE], api.client.app[KEYRING])


async def test_events_are_logged_and_proven(api):
    ids = await _send(api, 5)
    await _append_all(api)
    other = await api.new_tenant()
    assert (await other.get(f"/v1/evidence/{ids[0]}")).status == 404
    got = await (await api.get(f"/v1/evidence/{ids[2]}")).json()
    [rec] = got["records"]
    assert rec["facts"]["message_id"] == ids[2] and rec["facts"]["event"] == "accepted"
    assert rec["format"] == 2 and "content_sm3" not in rec["facts"]
    assert "+86" not in str(got)  # the recipient is a blind index, never the number
    keys = await _keys(api)
    assert integrator.record_proven(rec, got["tree_head"], keys)
    forged = {**rec, "facts": {**rec["facts"], "event": "rcs_read"}}
    assert not integrator.record_proven(forged, got["tree_head"], keys)
    assert [r.intact for _, r in await _verify(api)] == [True]


async def test_a_message_followed_by_4444_events_has_a_short_proof(api):
    """The proof of a message's record does not grow with what the tenant sent after it: about
    log2(n) hashes, checked by a verifier written from the RFC, not by the product's code."""
    [first] = await _send(api, 1)
    for start in range(0, 4444, 2000):
        await _send(api, min(2000, 4444 - start), start=1 + start)
    await _append_all(api)  # (the app's own appender may have done part of it)
    resp = await api.get(f"/v1/evidence/{first}")
    body = await resp.read()
    got = orjson.loads(body)
    head, [rec] = got["tree_head"], got["records"]
    n = head["tree_size"]
    assert n == 4445 and rec["proof"]["tree_size"] == n
    assert len(rec["proof"]["audit_path"]) <= math.log2(n) + 1
    assert len(body) < 4096  # was 1.2 MB, and no proof at all past 10,000 records
    keys = await _keys(api)
    assert integrator.record_proven(rec, head, keys)
    for tampered in (
        {**rec, "facts": {**rec["facts"], "event": "rcs_delivered"}},
        {**rec, "facts": {**rec["facts"], "at": "2020-01-01T00:00:00.000000Z"}},
        {**rec, "seq": rec["seq"] + 1, "proof": {**rec["proof"], "leaf_index": rec["seq"] + 1}},
        {**rec, "proof": {**rec["proof"], "audit_path": rec["proof"]["audit_path"][:-1]}},
    ):
        assert not integrator.record_proven(tampered, head, keys)
    assert not integrator.record_proven(rec, {**head, "tree_size": n + 1}, keys)
    assert not integrator.record_proven(rec, head, {k: "00" * 32 for k in keys})
    [(_, report)] = await _verify(api)
    assert report.intact and report.checked == n


async def test_a_one_time_code_cannot_be_recovered_from_the_evidence(api):
    """An attacker holding the evidence rows (and the card, and how variables are written) but
    not the keys hashes every 6-digit code: none matches, where the unkeyed digest gave the code
    away. The commitment is still evidence: with the tenant's key it is recomputed exactly."""
    code = "482913"
    otp = card(title="验证码", description="您的验证码是 {{ code }}，5 分钟内有效")
    resp = await api.post("/v1/messages", {"to": "+8613800138000", "card": otp, "variables": {"code": code}})
    assert resp.status == 202
    mid = (await resp.json())["messages"][0]["id"]
    await _append_all(api)
    app = api.client.app
    from messages.tables import batches, messages

    async with app[DATABASE].read.connect() as conn:
        rows = (await conn.execute(select(evidence_records))).all()
        message = (await conn.execute(select(messages).where(messages.c.id == mid))).one()
        batch = (await conn.execute(select(batches).where(batches.c.id == message.batch_id))).one()
    keyring = app[KEYRING]
    card_bytes = keyring.open(api.tenant_id, "batches", "card", batch.id, batch.card_enc)
    variables = keyring.open(api.tenant_id, "messages", "variables", mid, message.variables_enc)
    assert variables == orjson.dumps({"code": code})  # the attacker's model of the bytes is exact
    content = card_bytes + b"\x00" + variables

    stored = " ".join(orjson.dumps(r.facts).decode() + r.hash.hex() for r in rows)
    served = (await (await api.get(f"/v1/evidence/{mid}")).read()).decode()
    assert content_digest(content) not in stored and content_digest(content) not in served
    candidates = set()
    for row in rows:
        candidates |= {v for k, v in row.facts.items() if k.startswith("content")}
    prefix = hashlib.new("sm3", card_bytes + b'\x00{"code":"')
    recovered = []
    for guess in range(1_000_000):
        h = prefix.copy()
        h.update(b'%06d"}' % guess)
        if h.hexdigest() in candidates:
            recovered.append(guess)
    assert recovered == []

    [accepted] = [r for r in rows if r.facts["event"] == "accepted"]
    assert accepted.facts["content_mac"] == keyring.content_commitment(api.tenant_id, content).hex()
    assert [r.intact for _, r in await _verify(api)] == [True]


async def test_an_acceptance_from_before_the_accept_time_commitment_commits_to_the_same_content(api):
    """An acceptance carries its content commitment from accept; one without it (accepted before
    migration 0010) gets it from the opened card and variables — the same 32 bytes either way."""
    from messages.tables import batches, message_events, messages

    mids = await _send(api, 3)
    app = api.client.app
    async with app[DATABASE].write.begin() as conn:
        await conn.execute(
            update(message_events).where(message_events.c.message_id.in_(mids[1:])).values(content_mac=None)
        )
    await _append_all(api)
    keyring = app[KEYRING]
    async with app[DATABASE].read.connect() as conn:
        got = {
            r.message_id: r.facts["content_mac"]
            for r in (await conn.execute(select(evidence_records))).all()
            if r.facts["event"] == "accepted"
        }
        rows = (
            await conn.execute(
                select(messages.c.id, messages.c.variables_enc, batches.c.id.label("batch_id"), batches.c.card_enc)
                .join(batches, batches.c.id == messages.c.batch_id)
                .where(messages.c.id.in_(mids))
            )
        ).all()
    for r in rows:
        content = (
            keyring.open(api.tenant_id, "batches", "card", r.batch_id, r.card_enc)
            + b"\x00"
            + keyring.open(api.tenant_id, "messages", "variables", r.id, r.variables_enc)
        )
        assert got[r.id] == keyring.content_commitment(api.tenant_id, content).hex()
    assert len(set(got.values())) == 3 and [rep.intact for _, rep in await _verify(api)] == [True]


async def test_tree_heads_are_consistent_over_time(api):
    await _send(api, 3)
    await _append_all(api)
    old = await (await api.get("/v1/evidence/tree-head")).json()
    await _send(api, 70, start=100)
    await _append_all(api)
    new = await (await api.get("/v1/evidence/tree-head")).json()
    keys = await _keys(api)
    assert integrator.tree_head_signed(old, keys[old["key_id"]]) and integrator.tree_head_signed(
        new, keys[new["key_id"]]
    )
    first, second = old["tree_size"], new["tree_size"]
    assert (first, second) == (3, 73)
    got = await (await api.get(f"/v1/evidence/consistency?first={first}&second={second}")).json()
    proof = [bytes.fromhex(h) for h in got["consistency_path"]]
    roots = bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"])
    assert integrator.consistent(first, second, *roots, proof)
    assert not integrator.consistent(first, second, bytes(32), roots[1], proof)
    other = await api.new_tenant()
    assert (await other.get("/v1/evidence/tree-head")).status == 404


@pytest.mark.parametrize(
    ("query", "status", "pointer"),
    [
        ("first=x&second=3", 422, "/first"),
        ("first=1", 422, "/second"),
        ("first=١&second=3", 422, "/first"),  # an Arabic-Indic digit is not a size
        ("first=4&second=3", 422, "/first"),
        ("first=1&second=99999999999999999999", 422, "/second"),
        ("first=1&second=4", 404, "/second"),
    ],
)
async def test_consistency_queries_are_checked(api, query, status, pointer):
    await _send(api, 3)
    await _append_all(api)
    resp = await api.get(f"/v1/evidence/consistency?{query}")
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    assert [e["path"] for e in (await resp.json())["errors"]] == [pointer]


async def test_appending_twice_chains_each_event_once(api):
    ev = api.client.app[EVIDENCE]
    await ev.pause()  # the background appender, woken by every commit, would take them first
    await _send(api, 3)
    assert await ev.append_pending() == 3
    assert await ev.append_pending() == 0
    await _send(api, 2, start=10)
    assert await ev.append_pending() == 2
    [(_, report)] = await _verify(api)
    assert report.intact and report.checked == 5
    async with api.client.app[DATABASE].read.connect() as conn:
        sizes = (await conn.execute(select(evidence_tree_heads.c.tree_size))).scalars().all()
    assert sorted(sizes) == [3, 5]  # one signed head a pass, none for an empty pass


async def test_a_background_pass_gives_way_to_another_process_appending(api):
    """On PostgreSQL a background pass that finds another process appending adds nothing and
    does not wait in this process's group commit; an explicit pass (shutdown, erasure) waits."""
    from sqlalchemy import text

    from messages.evidence import _PG_LOCK

    db = api.client.app[DATABASE]
    if db.write.dialect.name != "postgresql":
        pytest.skip("SQLite has one writing process")
    ev = api.client.app[EVIDENCE]
    await ev.pause()
    await _send(api, 2)
    async with db.write.connect() as other:  # another process's pass, in progress
        assert (await other.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK})).scalar()
        assert await ev.append_pending(wait=False) == 0
        await other.rollback()
    assert await ev.append_pending(wait=False) == 2
    [(_, report)] = await _verify(api)
    assert report.intact and report.checked == 2


# -- the verifier ----------------------------------------------------------------------------


def _edit_fact(seq: int):
    async def tamper(conn, row_of):
        row = await row_of(seq)
        await conn.execute(_record_update(seq).values(facts={**row.facts, "event": "rcs_delivered"}))

    return tamper


def _rewrite_fact_and_hash(seq: int):
    async def tamper(conn, row_of):
        facts = {**(await row_of(seq)).facts, "event": "rcs_delivered"}
        await conn.execute(_record_update(seq).values(facts=facts, hash=record_leaf(facts)))

    return tamper


def _record_update(seq: int):
    return update(evidence_records).where(evidence_records.c.seq == seq)


async def _delete_last(conn, row_of):
    await conn.execute(delete(evidence_records).where(evidence_records.c.seq == 72))


async def _forged_key(conn, row_of):
    # Someone who can write the tables but has no master key signs heads with a key of their own.
    from security.signing import ALGORITHM, TreeHeadSigner

    forger = TreeHeadSigner(TreeHeadSigner.new_private_key())
    await conn.execute(
        evidence_signing_keys.insert().values(
            key_id=forger.key_id,
            algorithm=ALGORITHM,
            public_key=forger.public_key,
            private_wrapped=b"not wrapped by the master key",
            master_key_id="mk-000000000000",
            created_ms=1,
        )
    )
    for head in (await conn.execute(select(evidence_tree_heads))).all():
        forged = forger.sign(head.tenant_id, head.tree_size, head.at_ms, head.root)
        await conn.execute(
            update(evidence_tree_heads)
            .where(evidence_tree_heads.c.tree_size == head.tree_size)
            .values(key_id=forged.key_id, signature=forged.signature)
        )


async def _bad_signature(conn, row_of):
    head = (await conn.execute(select(evidence_tree_heads).where(evidence_tree_heads.c.tree_size == 73))).one()
    flipped = bytes([head.signature[0] ^ 1]) + head.signature[1:]
    await conn.execute(
        update(evidence_tree_heads).where(evidence_tree_heads.c.tree_size == 73).values(signature=flipped)
    )


async def _altered_node(conn, row_of):
    await conn.execute(update(evidence_nodes).where(evidence_nodes.c.level == 6).values(hash=bytes(32)))


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        (_edit_fact(71), 71, "hash does not match the record's facts"),
        (_rewrite_fact_and_hash(71), 70, "seq 70–72 do not match the tree head signed at size 73"),
        (_delete_last, 72, "truncated"),
        (_forged_key, 0, "unknown key"),
        (_bad_signature, 70, "bad signature"),
        (_altered_node, 0, "stored tree node (level 6, index 0)"),
    ],
    ids=["edited fact", "fact and hash rewritten", "last record deleted", "forged key", "bad signature", "node"],
)
async def test_the_verifier_names_the_first_broken_record(api, tamper, seq, reason):
    await _send(api, 70)
    await _append_all(api)
    await _send(api, 3, start=100)
    await _append_all(api)
    assert [r.intact for _, r in await _verify(api)] == [True]
    async with api.client.app[DATABASE].write.begin() as conn:

        async def row_of(s):
            return (await conn.execute(select(evidence_records).where(evidence_records.c.seq == s))).one()

        await tamper(conn, row_of)
    [(_, report)] = await _verify(api)
    assert (report.intact, report.broken_seq) == (False, seq), report.reason
    assert reason in report.reason


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


async def test_the_cli_verifies_across_key_rotations_and_names_the_edited_row(aiohttp_client, tmp_path):
    from server import ACCOUNTS, create_app

    settings = Settings(data_dir=tmp_path / "var", demo_tenant=False)
    client = await aiohttp_client(create_app(settings))
    _, key = await client.app[ACCOUNTS].create_tenant("Brand")
    resp = await client.post(
        "/v1/messages",
        headers={"Authorization": f"Bearer {key}"},
        json={"recipients": [{"to": f"+8613600{i:06d}", "variables": {"n": str(i)}} for i in range(4)], "card": card()},
    )
    assert resp.status == 202
    await client.app[EVIDENCE].append_pending()
    db = client.app[DATABASE]
    async with db.read.connect() as conn:
        row = (await conn.execute(select(evidence_records).where(evidence_records.c.seq == 2))).first()
    await client.close()
    data_dir = str(settings.data_dir)

    ok = _cli("evidence", "verify", "--data-dir", data_dir)
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    # The log hashes facts, never ciphertext: new data keys and a new master key leave it valid.
    assert _cli("keys", "rotate", "--data-dir", data_dir).returncode == 0
    rotated = _cli("keys", "rotate-master", "--data-dir", data_dir)
    assert rotated.returncode == 0 and "1 evidence signing keys re-wrapped" in rotated.stderr
    ok = _cli("evidence", "verify", "--data-dir", data_dir)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    from store import open_database

    db = open_database(settings.db_url)
    async with db.write.begin() as conn:
        await conn.execute(_record_update(2).values(facts={**row.facts, "event": "rcs_delivered"}))
    await db.dispose()
    bad = _cli("evidence", "verify", "--data-dir", data_dir)
    assert bad.returncode == 1
    assert "seq 2" in bad.stdout


async def test_an_event_committed_late_is_still_chained(api):
    """However old its time, an event that commits after later ones (another process, a slow
    transaction) is chained once it is there."""
    from messages.tables import message_events

    ev = api.client.app[EVIDENCE]
    await ev.pause()  # counted here, not by the background appender
    ids = await _send(api, 2)
    assert await ev.append_pending() == 2
    async with api.client.app[DATABASE].write.begin() as conn:
        await conn.execute(
            message_events.insert().values(
                id="late-event",
                message_id=ids[0],
                tenant_id=api.tenant_id,
                type="queued",
                at_ms=1,
                source="test",
                detail=None,
            )
        )
    assert await ev.append_pending() == 1
    assert await ev.append_pending() == 0
    [(_, report)] = await _verify(api)
    assert report.intact and report.checked == 3


async def test_upgrade_marks_events_already_chained(tmp_path):
    """Migration 0003 marks the events an earlier version chained, so none is chained twice."""
    import sqlite3

    from store import run_migrations
    from store.db import sqlite_url

    path = tmp_path / "old.db"
    url = sqlite_url(path)
    await run_migrations(url, "0002")
    await run_migrations(url, "security@head")
    conn = sqlite3.connect(path)
    conn.executescript("""
        PRAGMA foreign_keys = OFF;
        INSERT INTO message_events (id, message_id, tenant_id, type, at_ms, source) VALUES
            ('e1', 'm', 't', 'accepted', 1, 'api'), ('e2', 'm', 't', 'queued', 2, 'dispatcher');
        INSERT INTO evidence_records (tenant_id, seq, event_id, message_id, at_ms, facts, prev_hash, hash)
            VALUES ('t', 0, 'e1', 'm', 1, '{}', x'00', x'00');
    """)
    conn.commit()
    conn.close()
    await run_migrations(url)
    conn = sqlite3.connect(path)
    assert dict(conn.execute("SELECT id, chained FROM message_events").fetchall()) == {"e1": 1, "e2": 0}
    conn.close()


async def test_records_from_before_the_tree_still_verify_and_are_proven(aiohttp_client, tmp_path, database_url):
    """A log written as the v1 hash chain (unkeyed content digests) upgrades in place: its
    records join the tree first, keep verifying (chain and tree), and get short proofs too."""
    from alembic.script import ScriptDirectory

    from accounts.service import Accounts
    from security import EnvMasterKeyProvider, Keyring
    from server import create_app
    from store import SystemClock, open_database, run_migrations
    from store.db import sqlite_url
    from store.migrate import alembic_config

    (tmp_path / "var").mkdir()
    url = database_url or sqlite_url(tmp_path / "var" / "hongyan.db")
    for head in ScriptDirectory.from_config(alembic_config()).get_heads():
        if not head.startswith("security_"):
            await run_migrations(url, head)
    await run_migrations(url, "security_0002")  # the schema before the tree

    db = open_database(url)
    accounts = Accounts(db, Keyring(EnvMasterKeyProvider(TEST_MASTER_KEY)), SystemClock())
    tenant, key = await accounts.create_tenant("Brand since v1")
    chain = EvidenceChain(tenant.id)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    old = [
        chain.append(
            {
                "message_id": f"old-{i // 2}",
                "event": ["accepted", "rcs_delivered"][i % 2],
                "at": t0 + timedelta(seconds=i),
                "recipient": bytes([i]) * 32,
                "content_sm3": content_digest(f"card {i // 2}".encode()),
            }
        )
        for i in range(70)
    ]
    async with db.write.begin() as conn:
        await conn.execute(
            evidence_records.insert(),
            [
                {
                    "tenant_id": r.tenant_id,
                    "seq": r.seq,
                    "event_id": f"old-event-{r.seq}",
                    "message_id": r.facts["message_id"],
                    "at_ms": r.seq,
                    "facts": dict(r.facts),
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                }
                for r in old
            ],
        )
        await conn.execute(evidence_heads.insert().values(tenant_id=tenant.id, next_seq=len(old), head=chain.head))
    await db.dispose()

    await run_migrations(url)
    settings = Settings(
        data_dir=tmp_path / "var", database_url=database_url, master_key=TEST_MASTER_KEY, demo_tenant=False
    )
    api = ApiClient(await aiohttp_client(create_app(settings)), tenant.id, key)
    [new] = await _send(api, 1)
    await _append_all(api)
    [(_, report)] = await _verify(api)
    assert report.intact and report.checked == 71
    # Their unkeyed digests are sealed now, out of the facts: none is left to brute-force.
    app = api.client.app
    async with app[DATABASE].read.connect() as conn:
        stored = (await conn.execute(select(evidence_records).order_by(evidence_records.c.seq))).all()
    assert all(r.content_enc is not None and "content_sm3" not in r.facts for r in stored[:70])
    dump = " ".join(orjson.dumps(r.facts).decode() for r in stored)
    assert not any(r.facts["content_sm3"] in dump for r in old)
    # … and `keys rotate` re-seals them like every sealed column; the log stays valid.
    from accounts.rotation import rotate_all
    from server import ACCOUNTS, sealed_columns

    assert await rotate_all(app[DATABASE], app[ACCOUNTS], sealed_columns(), progress=lambda _: None, settle_seconds=0)
    [(_, report)] = await _verify(api)
    assert report.intact and report.checked == 71

    keys = await _keys(api)
    for message_id, formats in (("old-3", [1, 1]), (new, [2])):
        got = await (await api.get(f"/v1/evidence/{message_id}")).json()
        assert [r["format"] for r in got["records"]] == formats
        assert all(integrator.record_proven(r, got["tree_head"], keys) for r in got["records"])
    # The tenant gets its old records whole, as they were chained.
    got = await (await api.get("/v1/evidence/old-3")).json()
    assert [r["facts"] for r in got["records"]] == [dict(old[6].facts), dict(old[7].facts)]

    # The operator's check, which opens the sealed digests with the tenants' keys.
    where = ["--data-dir", str(settings.data_dir), *(["--database-url", database_url] if database_url else [])]
    master = {"HONGYAN_MASTER_KEY": TEST_MASTER_KEY}
    ok = _cli("evidence", "verify", *where, env=master)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    async with api.client.app[DATABASE].write.begin() as conn:
        await conn.execute(_record_update(7).values(facts={**stored[7].facts, "event": "sms_delivered"}))
    [(_, report)] = await _verify(api)
    assert (report.intact, report.broken_seq) == (False, 7)
    bad = _cli("evidence", "verify", *where, env=master)
    assert bad.returncode == 1 and "seq 7" in bad.stdout


@pytest.mark.parametrize("at_ms", [0, 1, 999, 1_000, 1_764_000_000_123, 4_102_444_799_999])
def test_event_facts_are_canonical(at_ms):
    """The appender's fast path gives byte for byte what canonical_facts gives."""
    from messages.evidence import event_facts
    from security.evidence import canonical_facts

    bidx, mac = bytes(range(32)), bytes(range(32, 64))
    facts = {
        "message_id": "m1",
        "event": "rcs_read",
        "recipient": bidx,
        "content_mac": mac,
        "at": datetime.fromtimestamp(at_ms / 1000, UTC),
    }
    assert event_facts("m1", "rcs_read", at_ms, bidx, mac) == canonical_facts(facts)


def test_the_worked_example_in_the_docs_verifies():
    """docs/evidence.md is enough to check a proof: its example passes the integrator's verifier
    (and fails once a fact is changed)."""
    import json
    import re

    doc = (ROOT / "docs" / "evidence.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"### Worked example.*?```json\n(.*?)```", doc, re.S).group(1))
    key = re.search(r"public key `([0-9a-f]{64})`", doc).group(1)
    head, [record] = example["tree_head"], example["records"]
    keys = {integrator.sm3(bytes.fromhex(key)).hex(): key}
    assert integrator.leaf_hash(record["facts"]).hex() == record["leaf_hash"]
    assert integrator.record_proven(record, head, keys)
    assert not integrator.record_proven({**record, "facts": {**record["facts"], "event": "rcs_read"}}, head, keys)


async def test_one_signing_key_is_kept_and_only_the_platforms_are_listed(api):
    from messages.evidence import EvidenceLog

    await _send(api, 2)
    await _append_all(api)
    app = api.client.app
    [listed] = (await _keys(api)).items()
    # Another process (or a restart) signs with the same stored key.
    again = EvidenceLog(app[DATABASE], None, app[KEYRING])
    assert (await again._ensure_signer()).key_id == listed[0]
    async with app[DATABASE].write.begin() as conn:
        await _forged_key(conn, None)
    assert list((await _keys(api)).items()) == [listed]


async def test_the_api_description_matches_what_is_served(api):
    import jsonschema
    from openapi_spec_validator import validate

    from api.examples import without_examples
    from api.openapi import PROBLEM, openapi_document
    from messages.evidence_http import FRAGMENT

    doc = {
        "openapi": "3.1.0",
        "info": {"title": "evidence", "version": "1"},
        "paths": FRAGMENT["paths"],
        "components": {"schemas": {"Problem": PROBLEM, **FRAGMENT["schemas"]}},
    }
    validate(doc)
    served = without_examples(openapi_document("http://localhost")["paths"])
    assert without_examples(FRAGMENT["paths"]).items() <= served.items()  # as written, examples aside

    def answer_schema(path: str) -> dict:
        content = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        return {**content["schema"], "components": doc["components"]}

    ids = await _send(api, 3)
    await _append_all(api)
    await _send(api, 2, start=10)
    await _append_all(api)
    for path, url in (
        ("/v1/evidence/{message_id}", f"/v1/evidence/{ids[1]}"),
        ("/v1/evidence/tree-head", "/v1/evidence/tree-head"),
        ("/v1/evidence/consistency", "/v1/evidence/consistency?first=3&second=5"),
        ("/v1/evidence/keys", "/v1/evidence/keys"),
    ):
        resp = await api.get(url)
        assert resp.status == 200, url
        jsonschema.validate(await resp.json(), answer_schema(path))
