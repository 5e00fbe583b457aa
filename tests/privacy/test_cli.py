"""`python server.py privacy …` as an operator types it: real subprocesses on the data a served
app left behind (SQLite in the data dir, or PostgreSQL), global flags before or after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_MASTER_KEY, card
from tests.dispatch.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
PERSON, OTHER = "+8613800000061", "+8613800000072"


def run(*args: str, settings, stdin: str | None = None) -> subprocess.CompletedProcess:
    flags = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        flags += ["--database-url", settings.database_url]
    env = {**os.environ, "HONGYAN_MASTER_KEY": TEST_MASTER_KEY} if settings.database_url else dict(os.environ)
    env.pop("HONGYAN_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py"), *args, *flags],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        input=stdin,
    )


async def test_export_erase_purge_and_verify_from_the_command_line(sandbox_api, dispatch_settings):
    api = sandbox_api
    sent = await api.post(
        "/v1/messages",
        json={
            "recipients": [{"to": PERSON, "variables": {"n": "王五"}}, {"to": OTHER, "variables": {"n": "赵六"}}],
            "card": card(title="{{ n }}"),
        },
    )
    assert sent.status == 202
    ids = [m["id"] for m in (await sent.json())["messages"]]
    for mid in ids:
        await wait_for(api, mid, lambda v: v["status"] == "rcs_read")
    await api.client.close()  # the server stops (its evidence appender drains): the CLI works alone
    s, tenant = dispatch_settings, api.tenant_id

    out = run("privacy", "export", "--tenant", tenant, settings=s, stdin=PERSON + "\n")  # number from stdin
    assert out.returncode == 0, out.stderr
    exported = json.loads(out.stdout)
    assert [m["id"] for m in exported["messages"]] == [ids[0]]
    assert exported["messages"][0]["variables"] == {"n": "王五"} and exported["messages"][0]["to"] == PERSON

    out = run("privacy", "erase", "--tenant", tenant, "--to", PERSON, settings=s)
    assert out.returncode == 0, out.stderr
    receipt = json.loads(out.stdout)
    assert receipt["source"] == "cli" and receipt["erased"]["messages"] == 1
    assert PERSON not in out.stdout + out.stderr and PERSON[1:] not in out.stdout + out.stderr

    out = run("evidence", "verify", settings=s)
    assert out.returncode == 0, out.stdout + out.stderr

    again = json.loads(run("privacy", "export", "--tenant", tenant, "--to", PERSON, settings=s).stdout)
    assert again["messages"] == []
    kept = json.loads(run("privacy", "export", "--tenant", tenant, "--to", OTHER, settings=s).stdout)
    assert [m["id"] for m in kept["messages"]] == [ids[1]]

    out = run("privacy", "purge", settings=s)  # every tenant; nothing is old enough yet
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)["purged"].values()) == {0}


def test_the_command_line_refuses_an_unknown_tenant_or_a_bad_number(tmp_path):
    from server import Settings

    s = Settings(data_dir=tmp_path / "var")
    out = run("privacy", "erase", "--tenant", "nope", "--to", PERSON, settings=s)
    assert out.returncode == 2 and "--tenant" in out.stderr and out.stdout == ""
    made = subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "tenant", "create", "Acme", "--data-dir", str(s.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    tenant = json.loads(made.stdout)["tenant_id"]
    out = run("privacy", "export", "--tenant", tenant, settings=s, stdin="not a number\n")
    assert out.returncode == 2 and "--to" in out.stderr and out.stdout == ""
