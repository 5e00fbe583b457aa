"""Fixtures shared by the whole suite: databases (SQLite always, PostgreSQL when
HONGYAN_TEST_PG_URL is set), settings and a running app with a tenant."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_URL = os.environ.get("HONGYAN_TEST_PG_URL")
TEST_MASTER_KEY = "11" * 16
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HONGYAN_SHARED_DIR", ROOT.parent / "shared"))


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_EPHEMERAL_LOW = _ephemeral_low()
_PORTS_GIVEN: set[int] = set()


def listen_port() -> int:
    """A free loopback port for a test server to listen on, below the kernel's ephemeral range:
    a port bound to 0 and freed again can be handed to an outgoing connection (or another
    bind to 0) before the server binds it, which failed a run with "address already in use"."""
    low, high = _worker_ports()
    for _ in range(10_000):
        port = random.randrange(low, high)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def _worker_ports() -> tuple[int, int]:
    """This process's share of the ports: under pytest-xdist each worker draws from its own
    slice, so two workers never hand out the same port between the check and the bind."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count < 2:
        return 10_000, _EPHEMERAL_LOW
    index = int(worker[2:])
    width = (_EPHEMERAL_LOW - 10_000) // count
    return 10_000 + index * width, 10_000 + (index + 1) * width


@pytest.fixture
def unused_tcp_port() -> int:
    """pytest-asyncio's fixture, on `listen_port`."""
    return listen_port()


@pytest.fixture(scope="session")
def unused_tcp_port_factory():
    """pytest-asyncio's fixture, on `listen_port`."""
    return listen_port


async def _pg_admin(sql: str) -> None:
    import asyncpg

    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def _pg_databases():
    """Names of the databases made for tests; dropped when the session ends, after every
    app (whose shutdown still writes) has stopped."""
    names: list[str] = []
    yield names
    for name in names:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _new_pg_database(names: list[str], template: str | None = None) -> str:
    if not PG_URL:
        pytest.skip("HONGYAN_TEST_PG_URL is not set")
    # Earlier tests' apps have all stopped by now: their databases can go.
    while names:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{names.pop()}" WITH (FORCE)'))
    name = "hongyan_t_" + secrets.token_hex(6)
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    names.append(name)
    return f"{PG_URL.rsplit('/', 1)[0]}/{name}"


@pytest.fixture
def pg_url(_pg_databases):
    """A fresh, empty PostgreSQL database for one test."""
    return _new_pg_database(_pg_databases)


# Migrating a new database takes about a second, thousands of times over a run: the suite
# migrates one database per engine once and copies it for each test (PostgreSQL's CREATE
# DATABASE … TEMPLATE, a file copy for SQLite). Tests of the migrations themselves start empty.
@pytest.fixture(scope="session")
def _pg_template():
    if not PG_URL:
        yield None
        return
    from store import run_migrations

    name = "hongyan_tpl_" + secrets.token_hex(6)
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(run_migrations(f"{PG_URL.rsplit('/', 1)[0]}/{name}"))
        yield name
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    from store import run_migrations
    from store.db import sqlite_url

    path = tmp_path_factory.mktemp("template") / "hongyan.db"
    asyncio.run(run_migrations(sqlite_url(path)))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Each storage/API test runs on SQLite, and on PostgreSQL when it is configured (an empty
    database: `settings` fills it with the migrated copy)."""
    if request.param == "sqlite":
        return None  # the embedded default under the data dir
    return request.getfixturevalue("pg_url")


async def _from_template(url: str, template: str) -> bool:
    """Make the (still empty) database at `url` a copy of the migrated template. Only the
    suite's own databases on the shared server qualify: a test's own server (or any other
    database) is migrated where it is, never dropped."""
    import asyncpg

    server, name = url.rsplit("/", 1)
    if not PG_URL or server != PG_URL.rsplit("/", 1)[0] or not name.startswith("hongyan_t_"):
        return False

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        used = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    if used:
        return False  # a fixture put something there first: migrate it as it is
    await _pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)')
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return True


@pytest.fixture(scope="session")
def database_templates(_sqlite_template, _pg_template) -> tuple[Path, str | None]:
    """The session's migrated databases: the SQLite file, the PostgreSQL database's name."""
    return _sqlite_template, _pg_template


async def prepare_database(templates: tuple[Path, str | None], tmp_path: Path, database_url: str | None) -> None:
    """The test's database migrated: a copy of the session's migrated one (SQLite: the
    embedded file under tmp_path/var)."""
    from store import run_migrations

    if database_url:
        assert templates[1] is not None
        if not await _from_template(database_url, templates[1]):
            await run_migrations(database_url)  # a fixture began it
    else:
        template = templates[0]
        (tmp_path / "var").mkdir(exist_ok=True)
        if not (tmp_path / "var" / "hongyan.db").exists():
            for suffix in ("", "-wal"):
                if Path(f"{template}{suffix}").exists():
                    shutil.copyfile(f"{template}{suffix}", tmp_path / "var" / f"hongyan.db{suffix}")


@pytest.fixture
async def settings(database_templates, tmp_path, database_url):
    from server import Settings

    await prepare_database(database_templates, tmp_path, database_url)
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        master_key=TEST_MASTER_KEY if database_url else None,
        demo_tenant=False,
    )


# Sending rules that restrict nothing: for tests about something else, so that their marketing
# sends do not wait for 08:00 in Shanghai nor meet a frequency cap (tests/messages/test_send_rules.py
# covers the defaults).
UNRESTRICTED_RULES = {
    "windows": {"marketing": None},
    "caps": {"marketing": [], "otp": []},
    "segment_caps": {"new_member": None},
}


@dataclass
class ApiClient:
    """A test client already holding a tenant's API key."""

    client: object
    tenant_id: str
    api_key: str

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def post(self, path: str, json=None, headers: dict | None = None, **kw):
        return await self.client.post(path, json=json, headers={**self.auth, **(headers or {})}, **kw)

    async def get(self, path: str, headers: dict | None = None, **kw):
        return await self.client.get(path, headers={**self.auth, **(headers or {})}, **kw)

    async def put(self, path: str, json=None, headers: dict | None = None, **kw):
        return await self.client.put(path, json=json, headers={**self.auth, **(headers or {})}, **kw)

    async def delete(self, path: str, headers: dict | None = None, **kw):
        return await self.client.delete(path, headers={**self.auth, **(headers or {})}, **kw)

    async def new_tenant(self, name: str = "Other brand", *, default_rules: bool = False, **kw) -> ApiClient:
        from server import ACCOUNTS

        tenant, key = await self.client.app[ACCOUNTS].create_tenant(name, **kw)
        other = ApiClient(self.client, tenant.id, key)
        return other if default_rules else await other.without_send_rules()

    async def without_send_rules(self) -> ApiClient:
        """This tenant sends at any hour, as often as it likes."""
        resp = await self.put("/v1/compliance/send-rules", UNRESTRICTED_RULES)
        assert resp.status == 200, await resp.text()
        return self


@pytest.fixture
async def api(aiohttp_client, settings) -> ApiClient:
    from server import ACCOUNTS, create_app

    client = await aiohttp_client(create_app(settings))
    tenant, key = await client.app[ACCOUNTS].create_tenant("Test brand")
    return await ApiClient(client, tenant.id, key).without_send_rules()


# Debian's Chromium, driven by playwright (browser tests); without it they skip, except under
# CI=true, where a missing browser is a failure.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); set CI=true to make this fail")
    return CHROMIUM


def card(title: str = "您的账单已出", description: str = "本月话费 58.00 元") -> dict:
    """A small valid standalone card."""
    return {
        "message": {
            "generalPurposeCard": {
                "layout": {"cardOrientation": "VERTICAL"},
                "content": {
                    "title": title,
                    "description": description,
                    "suggestions": [{"reply": {"displayText": "查看详情", "postback": {"data": "detail"}}}],
                },
            }
        }
    }


async def problem(resp, status: int) -> dict:
    """The problem+json body of a response that must have `status`."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    return await resp.json(content_type="application/problem+json")
