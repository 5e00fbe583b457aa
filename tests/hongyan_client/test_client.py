"""The Python client against a live sandbox server: send, batch and page, get, cancel, errors as
ApiError, retries that honour Retry-After under the same Idempotency-Key, and webhook
verification — every request it made checked against the server's OpenAPI document."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import jsonschema
import orjson
import pytest
from aiohttp import web

from hongyan_client import ApiError, Hongyan, WebhookError, verify_webhook
from tests.conftest import card
from tests.dispatch.conftest import FAST
from tests.dispatch.conftest import dispatch_settings as dispatch_settings  # noqa: F401  (a fixture)
from tests.dispatch.conftest import sandbox_api as sandbox_api  # noqa: F401  (a fixture)


@pytest.fixture
def dispatch_config():
    return FAST


class Recorded:
    """Every request a client session sent: (method, path, JSON body or None)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict | None]] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_chunk_sent.append(self._chunk)
        self.trace.on_request_end.append(self._end)
        self._bodies: dict[int, bytes] = {}

    async def _chunk(self, session, ctx, params) -> None:
        self._bodies[id(ctx)] = self._bodies.get(id(ctx), b"") + params.chunk

    async def _end(self, session, ctx, params) -> None:
        raw = self._bodies.pop(id(ctx), b"")
        self.requests.append((params.method, params.url.path, orjson.loads(raw) if raw else None))


@pytest.fixture
async def client(sandbox_api):  # noqa: F811
    recorded = Recorded()
    session = aiohttp.ClientSession(trace_configs=[recorded.trace])
    base = str(sandbox_api.client.make_url("")).rstrip("/")
    hy = Hongyan(sandbox_api.api_key, base, session=session)
    hy.recorded = recorded  # type: ignore[attr-defined]
    yield hy
    await session.close()
    await _conforms(sandbox_api, recorded)


async def _conforms(api, recorded: Recorded) -> None:
    """Each request is an operation of the document; each send body is a SendRequest."""
    doc = await (await api.client.get("/openapi.json")).json()
    operations = [
        (method.upper(), re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"))
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    schema = {**doc["components"]["schemas"]["SendRequest"], "components": doc["components"]}
    assert recorded.requests
    for method, path, body in recorded.requests:
        assert any(m == method and p.match(path) for m, p in operations), (method, path)
        if (method, path) == ("POST", "/v1/messages") and body is not None:
            jsonschema.validate(body, schema)


async def _until(client: Hongyan, message_id: str, statuses: set[str], timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while (message := await client.get(message_id))["status"] not in statuses:
        assert time.monotonic() < deadline, message["status"]
        await asyncio.sleep(0.05)
    return message


async def test_send_get_and_follow_to_read(client):
    accepted = await client.send("+8613800138001", card=card(), traffic_type="notification")
    [message_id] = accepted.message_ids
    assert accepted.location == f"/v1/messages/{message_id}"
    read = await _until(client, message_id, {"rcs_read"})
    assert read["to"] == "+8613800138001" and [e["type"] for e in read["events"]][-1] == "rcs_read"
    texted = await client.send("+8613800138010", text="您好，{{ name }}", variables={"name": "张先生"})
    assert (await _until(client, texted.message_ids[0], {"sms_delivered"}))["status"] == "sms_delivered"


async def test_a_batch_is_paged_in_recipient_order(client):
    numbers = [f"+861380013{i:04d}" for i in range(1, 251)]
    accepted = await client.send_batch([{"to": n} for n in numbers], card=card())
    assert accepted.location == f"/v1/messages?batch_id={accepted.batch_id}"
    seen = [m async for m in client.messages(batch_id=accepted.batch_id, page_size=100)]
    assert [m["to"] for m in seen] == numbers
    pages = [p for m, p, _ in client.recorded.requests if p == "/v1/messages" and m == "GET"]
    assert len(pages) == 3


async def test_cancel_a_scheduled_message(client):
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    accepted = await client.send("+8613800138002", card=card(), send_at=later)
    cancelled = await client.cancel(accepted.message_ids[0])
    assert cancelled["status"] == "revoked"
    assert (await client.get(accepted.message_ids[0]))["status"] == "revoked"


async def test_problems_are_api_errors_naming_the_field(client):
    with pytest.raises(ApiError) as bad:
        await client.send("call me", card=card())
    assert bad.value.status == 422 and bad.value.type == "/docs/problems#validation"
    assert [e["path"] for e in bad.value.errors] == ["/to"] and "/to" in str(bad.value)
    with pytest.raises(ApiError) as missing:
        await client.get("0" * 32)
    assert missing.value.status == 404
    with pytest.raises(ValueError, match="exactly one"):
        await client.send("+8613800138001", card=card(), text="both")


async def test_a_retried_send_is_accepted_once(client, sandbox_api):  # noqa: F811
    limited = await sandbox_api.new_tenant("Limited", rate_limit=1)
    base = str(sandbox_api.client.make_url("")).rstrip("/")
    async with Hongyan(limited.api_key, base, session=client._http()) as hy:  # recorded too
        first = await hy.send("+8613800138003", card=card(), idempotency_key="order-1")
        again = await hy.send("+8613800138003", card=card(), idempotency_key="order-1")  # a replay
        assert again.batch_id == first.batch_id
        started = time.monotonic()
        second = await hy.send("+8613800138004", card=card())  # 429 Retry-After 1, then accepted
        assert second.batch_id != first.batch_id and time.monotonic() - started >= 0.9
        assert second.rate_limit["RateLimit-Limit"] == "1"


async def test_webhooks_are_verified_and_tampering_is_caught(client, sandbox_api, aiohttp_server):  # noqa: F811
    got: asyncio.Queue = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await got.put((await request.read(), request.headers.get("Hongyan-Signature")))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server = await aiohttp_server(receiver)
    made = await sandbox_api.post("/v1/webhooks", {"url": str(server.make_url("/hook")), "events": ["message.status"]})
    secret = (await made.json())["secret"]
    accepted = await client.send("+8613800138005", card=card())
    body, header = await asyncio.wait_for(got.get(), 10)
    event = verify_webhook(secret, body, header)
    assert event["type"] == "message.status" and event["data"]["message_id"] == accepted.message_ids[0]
    for wrong in (
        lambda: verify_webhook(secret, body.replace(b"+86", b"+85"), header),
        lambda: verify_webhook("whsec_other", body, header),
        lambda: verify_webhook(secret, body, header, now=time.time() + 3600),
        lambda: verify_webhook(secret, body, None),
        lambda: verify_webhook(secret, body, "v1=abc"),
    ):
        with pytest.raises(WebhookError):
            wrong()
