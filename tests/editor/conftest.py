"""Fixtures for the editor: an app whose clock the test moves, signed-in browser-like clients.

(Shared with the browser tests' helpers: add fixtures, do not remove others'.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ApiClient


@dataclass
class ManualClock:
    """A clock the test moves by hand."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


@dataclass
class EditorEnv:
    api: ApiClient  # the tenant's bearer client (same app)
    clock: ManualClock

    @property
    def client(self):
        return self.api.client

    async def sign_in(self, api_key: str | None = None, **kw) -> dict:
        resp = await self.client.post("/editor/session", json={"api_key": api_key or self.api.api_key}, **kw)
        assert resp.status == 201, await resp.text()
        return await resp.json()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
async def editor_env(aiohttp_client, settings, clock) -> EditorEnv:
    from server import ACCOUNTS, Wiring, create_app

    client = await aiohttp_client(create_app(settings, Wiring(clock=clock)))
    tenant, key = await client.app[ACCOUNTS].create_tenant("Test brand", sms_price="0.045")
    return EditorEnv(ApiClient(client, tenant.id, key), clock)
