"""A PostgreSQL server restarted under load: the writes that failed meanwhile are made again
(answers from the SMSC retried, claims released by their lease, callbacks retried by the MaaP),
and every message still ends delivered.

The server is our own (initdb + pg_ctl in a temp dir, on a free port): the machine's shared one
is never restarted.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from server import DispatchConfig
from tests.conftest import card, listen_port
from tests.dispatch.conftest import wait_for
from tests.dispatch.test_faults import FAULTS, FINAL, finals


@dataclass
class Cluster:
    url: str
    restart: Callable[[], None]


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of our own, restartable at will."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    if not found[-1]:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl)")
    bindir = Path(found[-1]).parent
    data = Path(tempfile.mkdtemp(prefix="hongyan-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = listen_port()

    def pg_ctl(*args: str) -> None:
        # The server's output goes to a log file: a pipe it inherited would never close.
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        cmd = [*as_owner, str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-o", options]
        subprocess.run([*cmd, "-w", *args], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    subprocess.run(
        [*as_owner, str(bindir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    pg_ctl("start")
    try:
        yield Cluster(
            f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres", lambda: pg_ctl("-m", "fast", "restart")
        )
    finally:
        pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(autouse=True)
def _postgres_outlives_the_app(own_postgres):
    """Set up first, so torn down last: the app still writes while it shuts down."""
    return own_postgres


@pytest.fixture
def database_url(own_postgres):
    return own_postgres.url


@pytest.fixture
def dispatch_config() -> DispatchConfig:
    return FAULTS  # short leases: claims cut off by the restart come back quickly


async def test_a_postgresql_restart_under_load_loses_nothing(sandbox_api, own_postgres):
    numbers = [f"+86138000{i:03d}1{i % 7}" for i in range(60)]  # endings 10–16: SMS and RCS
    got = await sandbox_api.post("/v1/messages", json={"recipients": [{"to": n} for n in numbers], "card": card()})
    assert got.status == 202
    ids = [m["id"] for m in (await got.json())["messages"]]
    await wait_for(sandbox_api, ids[0], lambda v: v["status"] in FINAL)
    await asyncio.to_thread(own_postgres.restart)
    views = await finals(sandbox_api, ids, timeout=60)
    for n, v in zip(numbers, views):
        assert v["status"] == ("sms_delivered" if n.endswith("0") else "rcs_read"), (n[-1], v["status"])
