"""Key rotation while the API keeps sending: every message stays readable, every value moves."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

import security
from accounts import Accounts
from accounts.rotation import rotate_all
from messages.tables import batches, messages
from server import ACCOUNTS, DATABASE, master_key_provider, sealed_columns
from store import SystemClock, open_database
from tests.conftest import card

ROOT = Path(__file__).resolve().parents[2]


def test_every_sealed_column_is_rotated():
    """A new `*_enc` column that no domain declares would keep its old key forever."""
    from store import metadata

    declared = {(c.table.name, c.column) for c in sealed_columns()}
    sealed = {(t.name, c.name) for t in metadata.tables.values() for c in t.columns if c.name.endswith("_enc")}
    # Sealed with a platform key (security.platformkey), not a tenant's: `keys rotate-master`
    # re-wraps its root, and the rows are keyed by its blind index, so they are not re-sealed.
    platform_sealed = {("ported_numbers", "number_enc")}
    assert sealed - platform_sealed == declared


async def test_rotation_while_sending_keeps_every_message_readable(api, settings):
    sent: list[str] = []

    async def send(n: int) -> None:
        body = {
            "recipients": [{"to": f"+86139{n:04d}{i:04d}", "variables": {"x": str(i)}} for i in range(20)],
            "card": card(title="{{ x }}"),
            "client_ref": f"ref-{n}",
        }
        resp = await api.post("/v1/messages", body)
        assert resp.status == 202
        sent.extend(m["id"] for m in (await resp.json())["messages"])

    await asyncio.gather(*(send(n) for n in range(5)))
    # The job runs as another process would: its own engines and keyring.
    job_db = open_database(settings.db_url)
    job = Accounts(job_db, security.Keyring(master_key_provider(settings)), SystemClock())
    rotation = asyncio.create_task(rotate_all(job_db, job, sealed_columns(), progress=lambda _: None, settle_seconds=0))
    for n in range(5, 10):
        await send(n)
    moved = await rotation
    await rotate_all(
        job_db, job, sealed_columns(), progress=lambda _: None, settle_seconds=0
    )  # a second rotation picks up rows written meanwhile
    await job_db.dispose()
    assert moved >= 100

    server = api.client.app[ACCOUNTS]
    await server.load_keys()  # what the server's refresh loop does every few seconds
    for mid in sent:
        resp = await api.get(f"/v1/messages/{mid}")
        assert resp.status == 200
    # Everything written before the job finished is now under the newest key.
    active = server.keyring.active_key_id(api.tenant_id)
    async with api.client.app[DATABASE].read.connect() as conn:
        blobs = [r.to_enc for r in (await conn.execute(select(messages.c.to_enc))).all()]
        blobs += [r.card_enc for r in (await conn.execute(select(batches.c.card_enc))).all()]
    assert {security.sealed_key_id(b) for b in blobs} == {active}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_keys_rotate_command(tmp_path):
    d = str(tmp_path / "data")
    assert run("tenant", "create", "A", "--data-dir", d).returncode == 0
    out = run("keys", "rotate", "--data-dir", d)
    assert out.returncode == 0, out.stderr
    assert "rotation complete" in out.stderr


def test_master_key_rotation_rewraps_and_old_data_still_opens(tmp_path):
    import json

    d = str(tmp_path / "data")
    assert run("tenant", "create", "A", "--data-dir", d).returncode == 0
    before = json.loads((tmp_path / "data" / "master.key").read_text())
    out = run("keys", "rotate-master", "--data-dir", d)
    assert out.returncode == 0, out.stderr
    assert "re-wrapped" in out.stderr
    after = json.loads((tmp_path / "data" / "master.key").read_text())
    assert after != before
    # The data keys unwrap under the new master: a fresh process re-seals with them.
    out = run("keys", "rotate", "--data-dir", d)
    assert out.returncode == 0, out.stderr
    assert "rotation complete" in out.stderr
