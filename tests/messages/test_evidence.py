"""The evidence chain in the database: records with proofs over HTTP, and a verifier that
finds an edited row (the CLI as an operator runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import select, update

from messages.evidence import evidence_records, verify_all
from messages.evidence_http import EVIDENCE
from security.evidence import InclusionProof, check_inclusion
from server import DATABASE, Settings
from tests.conftest import card

ROOT = Path(__file__).resolve().parents[2]


async def _send(api, n: int) -> list[str]:
    body = {
        "recipients": [{"to": f"+8613700{i:06d}", "variables": {"x": str(i)}} for i in range(n)],
        "card": card(title="{{ x }}"),
    }
    resp = await api.post("/v1/messages", body)
    assert resp.status == 202
    return [m["id"] for m in (await resp.json())["messages"]]


async def test_events_are_chained_and_proven(api):
    ids = await _send(api, 5)
    await api.client.app[EVIDENCE].append_pending()
    other = await api.new_tenant()
    assert (await other.get(f"/v1/evidence/{ids[0]}")).status == 404
    got = await (await api.get(f"/v1/evidence/{ids[2]}")).json()
    head = bytes.fromhex(got["head"]["hash"])
    [rec] = got["records"]
    assert rec["facts"]["message_id"] == ids[2] and rec["facts"]["event"] == "accepted"
    assert "+86" not in str(got)  # the recipient is a blind index, never the number
    assert check_inclusion(InclusionProof.from_json(rec["proof"]), head)
    forged = {**rec["proof"], "facts": {**rec["proof"]["facts"], "event": "rcs_read"}}
    assert not check_inclusion(InclusionProof.from_json(forged), head)
    reports = await verify_all(api.client.app[DATABASE])
    assert [r.intact for _, r in reports] == [True]


async def test_appending_twice_chains_each_event_once(api):
    await _send(api, 3)
    ev = api.client.app[EVIDENCE]
    assert await ev.append_pending() == 3
    assert await ev.append_pending() == 0
    await _send(api, 2)
    assert await ev.append_pending() == 2
    [(_, report)] = await verify_all(api.client.app[DATABASE])
    assert report.intact and report.checked == 5


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


async def test_verifier_names_the_edited_row(aiohttp_client, tmp_path):
    from server import ACCOUNTS, create_app

    settings = Settings(data_dir=tmp_path / "var", demo_tenant=False)
    client = await aiohttp_client(create_app(settings))
    _, key = await client.app[ACCOUNTS].create_tenant("Brand")
    resp = await client.post(
        "/v1/messages",
        headers={"Authorization": f"Bearer {key}"},
        json={"recipients": [{"to": f"+8613600{i:06d}"} for i in range(4)], "card": card()},
    )
    assert resp.status == 202
    await client.app[EVIDENCE].append_pending()
    db = client.app[DATABASE]
    async with db.read.connect() as conn:
        row = (await conn.execute(select(evidence_records).where(evidence_records.c.seq == 2))).first()
    await client.close()

    ok = _cli("evidence", "verify", "--data-dir", str(settings.data_dir))
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout

    from store import open_database

    db = open_database(settings.db_url)
    async with db.write.begin() as conn:
        await conn.execute(
            update(evidence_records)
            .where(evidence_records.c.seq == 2)
            .values(facts={**row.facts, "event": "rcs_delivered"})
        )
    await db.dispose()
    bad = _cli("evidence", "verify", "--data-dir", str(settings.data_dir))
    assert bad.returncode == 1
    assert "seq 2" in bad.stdout


async def test_an_event_committed_late_is_still_chained(api):
    """However old its time, an event that commits after later ones (another process, a slow
    transaction) is chained once it is there."""
    from messages.tables import message_events

    ids = await _send(api, 2)
    ev = api.client.app[EVIDENCE]
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
    [(_, report)] = await verify_all(api.client.app[DATABASE])
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


from datetime import UTC, datetime  # noqa: E402

import pytest  # noqa: E402


@pytest.mark.parametrize("at_ms", [0, 1, 999, 1_000, 1_764_000_000_123, 4_102_444_799_999])
def test_event_facts_are_canonical(at_ms):
    """The appender's fast path gives byte for byte what canonical_facts gives."""
    from messages.evidence import event_facts
    from security.evidence import canonical_facts

    bidx, content = bytes(range(32)), "ab" * 32
    facts = {
        "message_id": "m1",
        "event": "rcs_read",
        "recipient": bidx,
        "content_sm3": content,
        "at": datetime.fromtimestamp(at_ms / 1000, UTC),
    }
    assert event_facts("m1", "rcs_read", at_ms, bidx, content) == canonical_facts(facts)
