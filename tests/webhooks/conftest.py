"""Fixtures: the app with webhooks wired in, a controllable clock, and a real receiver on loopback."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiohttp import web

import security
import webhooks.http
import webhooks.outbox
import webhooks.service
from server import ACCOUNTS, Wiring, create_app
from store import SystemClock
from store.writer import WriteBatch
from tests.conftest import ApiClient

WAIT = 10.0  # the longest any test waits for something that should happen promptly


class ManualClock:
    """A clock that only moves when a test moves it (starts at the real time, for signatures)."""

    def __init__(self, start: datetime | None = None):
        self.at = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class Hit:
    body: dict
    raw: bytes
    headers: dict
    verified: bool
    answer: object


@dataclass
class Receiver:
    """An integrator's endpoint: checks the signature, records each request, answers as scripted."""

    clock: object
    url: str = ""
    secrets: list[str] = field(default_factory=list)
    # event id → answers for its successive attempts (an int status or "hang"); then 200.
    script: dict[str, list] = field(default_factory=dict)
    hits: asyncio.Queue = field(default_factory=asyncio.Queue)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends every "hang"

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        header = request.headers.get(security.SIGNATURE_HEADER)
        now = int(self.clock.now().timestamp())
        verified = False
        for secret in self.secrets:
            try:
                security.verify_webhook(secret, raw, header, now)
                verified = True
            except security.WebhookSignatureError:
                pass
        body = orjson.loads(raw)
        plan = self.script.get(body["id"])
        answer = plan.pop(0) if plan else 200
        await self.hits.put(Hit(body, raw, dict(request.headers), verified, answer))
        if answer == "hang":
            await self.release.wait()
            answer = 200
        return web.Response(status=answer if verified else 401)

    async def next(self) -> Hit:
        return await asyncio.wait_for(self.hits.get(), WAIT)


async def until(check, what: str = "condition"):
    """Poll an async check until it returns something truthy, with a deadline."""
    deadline = time.monotonic() + WAIT
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Hooks:
    """The API client plus the webhook service behind it."""

    api: ApiClient
    service: webhooks.service.WebhookService
    receiver: Receiver
    clock: object

    async def register(
        self, events=("message.status", "message.user_event"), url: str | None = None, api: ApiClient | None = None
    ) -> dict:
        resp = await (api or self.api).post("/v1/webhooks", {"url": url or self.receiver.url, "events": list(events)})
        assert resp.status == 201, await resp.text()
        created = await resp.json()
        self.receiver.secrets.append(created["secret"])
        return created

    async def emit(self, *events: dict, tenant_id: str | None = None, service=None) -> None:
        """Commit events the way the dispatcher does (one WriteBatch), then wake the sender."""
        service = service or self.service
        batch = WriteBatch()
        for e in events:
            webhooks.outbox.enqueue(batch, service.keyring, tenant_id=tenant_id or self.api.tenant_id, **e)
        await service.writer.write(batch)
        service.notify()

    async def deliveries(self, query: str = "", api: ApiClient | None = None) -> list[dict]:
        resp = await (api or self.api).get("/v1/webhook-deliveries" + (f"?{query}" if query else ""))
        assert resp.status == 200, await resp.text()
        return (await resp.json())["data"]

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)


def status_event(hooks: Hooks, message_id: str, status: str, event_id: str, *, to: str = "+8613800138001") -> dict:
    at_ms = hooks.now_ms()
    return {
        "message_id": message_id,
        "kind": "message.status",
        "at_ms": at_ms,
        "event_id": event_id,
        "payload": webhooks.outbox.status_data(
            message_id=message_id,
            batch_id="b" + message_id,
            to=to,
            status=status,
            at_ms=at_ms,
            source="maap",
            detail={"code": 0},
        ),
    }


@pytest.fixture
def make_hooks(aiohttp_client, aiohttp_server, settings):
    """Build the app with webhooks (service options as keyword arguments) and a receiver."""

    async def make(clock=None, **kwargs) -> Hooks:
        clock = clock or SystemClock()
        receiver = Receiver(clock)
        rapp = web.Application()
        rapp.router.add_post("/hook", receiver.handle)
        server = await aiohttp_server(rapp)
        receiver.url = str(server.make_url("/hook"))
        kwargs.setdefault("allow_http", True)  # the receiver is a loopback http:// server
        app = create_app(settings, Wiring(clock=clock, webhook_options=kwargs))
        client = await aiohttp_client(app)
        tenant, key = await client.app[ACCOUNTS].create_tenant("Webhook brand")
        return Hooks(ApiClient(client, tenant.id, key), client.app[webhooks.http.WEBHOOKS], receiver, clock)

    return make
