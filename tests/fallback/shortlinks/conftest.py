"""An app with the short-link routes and a tenant; helpers to send a message and link it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from linkkit import FULL_CARD, ManualClock  # noqa: E402


@dataclass
class LinkEnv:
    client: object
    tenant_id: str
    api_key: str
    clock: ManualClock
    postbacks: list = field(default_factory=list)
    opt_outs: list = field(default_factory=list)

    @property
    def links(self):
        from fallback.shortlinks import SHORTLINKS

        return self.client.app[SHORTLINKS]

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def send(self, card: dict = FULL_CARD, *, api_key: str | None = None, recipients: int = 1) -> dict:
        """Accept a message through the API; returns the 202 body."""
        body = {"recipients": [{"to": f"+86138001380{i:02d}"} for i in range(recipients)], "card": card}
        resp = await self.client.post(
            "/v1/messages", json=body, headers={"Authorization": f"Bearer {api_key or self.api_key}"}
        )
        assert resp.status == 202, await resp.text()
        return await resp.json()

    async def link(
        self,
        card: dict = FULL_CARD,
        *,
        expires_ms: int | None = None,
        tenant_id: str | None = None,
        message: dict | None = None,
    ) -> str:
        """A committed short link for a fresh message; returns the token."""
        from store.writer import WriteBatch

        sent = message or await self.send(card)
        batch = WriteBatch()
        url = self.links.add_link(
            batch,
            tenant_id=tenant_id or self.tenant_id,
            message_id=sent["messages"][0]["id"],
            batch_id=sent["batch_id"],
            card=card,
            expires_ms=expires_ms,
        )
        await self.links.writer.write(batch)
        return url.rsplit("/", 1)[1]


@pytest.fixture
async def env(settings, aiohttp_client) -> LinkEnv:
    # settings first: its database must outlive the app, whose shutdown writes buffered hits.
    return await _env(settings, aiohttp_client)


@pytest.fixture
async def proxied_env(settings, aiohttp_client) -> LinkEnv:
    """The same app behind a trusted reverse proxy on loopback (X-Forwarded-For names clients)."""
    from dataclasses import replace

    return await _env(replace(settings, trusted_proxies=("127.0.0.1", "::1")), aiohttp_client)


async def _env(settings, aiohttp_client) -> LinkEnv:
    from server import ACCOUNTS, Wiring, create_app

    clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    postbacks, opt_outs = [], []

    async def on_postback(tenant_id, message_id, display_text, postback_data):
        postbacks.append((tenant_id, message_id, display_text, postback_data))

    async def on_opt_out(tenant_id, message_id):
        opt_outs.append((tenant_id, message_id))

    app = create_app(settings, Wiring(clock=clock, on_postback=on_postback, on_opt_out=on_opt_out))
    client = await aiohttp_client(app)
    tenant, key = await client.app[ACCOUNTS].create_tenant("Test brand", signature="【鸿雁银行】")
    return LinkEnv(client, tenant.id, key, clock, postbacks, opt_outs)


__all__ = ["LinkEnv", "timedelta"]
