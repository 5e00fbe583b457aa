"""How CnCspMaap classifies what an operator answers, driven over a real socket by a
scripted MaaP (a small aiohttp app answering each call from a list)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web

from rcs.maap import BOT_MESSAGE_TYPE, ContentPart, OutboundMessage
from rcs.operators import CnCspMaap, CnCspSettings
from rcs.results import Outcome

MSG = OutboundMessage("m1", "+8613800001231", (ContentPart(BOT_MESSAGE_TYPE, "{}"),), "c", "k")


async def scripted(aiohttp_server, answers: list[tuple[int, dict, dict]], delay: float = 0.0):
    """A MaaP answering /messages from `answers` in turn; records request bodies and headers."""
    seen: list[tuple[dict, dict]] = []
    tokens = iter(range(1, 100))

    async def token(request):
        return web.json_response({"errorCode": 0, "accessToken": f"tok{next(tokens)}", "expires": 7200})

    async def messages(request):
        seen.append((orjson.loads(await request.read()), request.headers.copy()))
        if delay:
            await asyncio.sleep(delay)  # a slow operator: the client's timeout must fire
        status, body, headers = answers[min(len(seen), len(answers)) - 1]
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/bot/v1/{chatbotId}/accessToken", token)
    app.router.add_post("/bot/v1/{chatbotId}/messages", messages)
    server = await aiohttp_server(app)
    settings = CnCspSettings(
        f"127.0.0.1:{server.port}", "sip:bot@example.cn", "app", "key", scheme="http", timeout_s=0.2
    )
    return CnCspMaap(settings), seen


@pytest.mark.parametrize(
    "answers, outcome, code, retry_after, calls",
    [
        ([(200, {"errorCode": 0}, {})], Outcome.ACCEPTED, 0, None, 1),
        ([(429, {}, {"Retry-After": "7"})], Outcome.THROTTLE, None, 7.0, 1),
        ([(200, {"errorCode": 45001}, {})], Outcome.THROTTLE, 45001, None, 1),
        ([(502, {}, {})], Outcome.RETRY, None, None, 1),
        ([(503, {"errorCode": -2}, {})], Outcome.RETRY, -2, None, 1),
        ([(400, {"errorCode": 40022}, {})], Outcome.REUPLOAD, 40022, None, 1),
        ([(400, {"errorCode": 40018}, {})], Outcome.INVALID, 40018, None, 1),
        ([(403, {"errorCode": 46003}, {})], Outcome.PERMANENT, 46003, None, 1),
        # token rejected: refreshed and retried exactly once
        ([(401, {"errorCode": 42001}, {}), (200, {"errorCode": 0}, {})], Outcome.ACCEPTED, 0, None, 2),
        ([(401, {"errorCode": 40001}, {}), (401, {"errorCode": 40001}, {})], Outcome.TOKEN, 40001, None, 2),
    ],
)
async def test_answers(aiohttp_server, answers, outcome, code, retry_after, calls):
    maap, seen = await scripted(aiohttp_server, answers)
    try:
        result = await maap.send(MSG)
    finally:
        await maap.close()
    assert (result.outcome, result.code, result.retry_after) == (outcome, code, retry_after)
    assert result.accepted is (outcome is Outcome.ACCEPTED)
    assert len(seen) == calls
    if calls == 2:
        assert seen[0][1]["authorization"] == "accessToken tok1"
        assert seen[1][1]["authorization"] == "accessToken tok2"


async def test_timeout_is_transient(aiohttp_server):
    maap, _ = await scripted(aiohttp_server, [(200, {"errorCode": 0}, {})], delay=5)
    try:
        result = await maap.send(MSG)
    finally:
        await maap.close()
    assert (result.accepted, result.outcome) == (False, Outcome.RETRY)


async def test_request_shape(aiohttp_server):
    maap, seen = await scripted(aiohttp_server, [(200, {"errorCode": 0}, {})])
    try:
        await maap.send(MSG)
    finally:
        await maap.close()
    body, headers = seen[0]
    assert body["destinationAddress"] == ["tel:+8613800001231"]
    assert body["smsSupported"] is False
    assert body["senderAddress"] == "sip:bot@example.cn"
    assert body["messageList"] == [{"contentType": BOT_MESSAGE_TYPE, "contentText": "{}"}]
    assert set(body["reportRequest"]) == {"sent", "failed", "delivered", "displayed", "deliveredToNetwork"}
    assert {
        "messageId",
        "conversationId",
        "contributionId",
        "serviceCapability",
        "trafficType",
        "storeSupported",
    } <= body.keys()
    assert headers["Date"].endswith(" GMT")


@pytest.mark.parametrize(
    "status, body, outcome",
    [
        (503, {"errorCode": -1}, Outcome.RETRY),
        (429, {}, Outcome.THROTTLE),
        (401, {"errorCode": 40014}, Outcome.TOKEN),
        (200, {"errorCode": 0}, Outcome.TOKEN),  # an answer without a token
    ],
)
async def test_token_endpoint_failures(aiohttp_server, status, body, outcome):
    async def token(request):
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/bot/v1/{chatbotId}/accessToken", token)
    server = await aiohttp_server(app)
    maap = CnCspMaap(CnCspSettings(f"127.0.0.1:{server.port}", "sip:b@x", "a", "k", scheme="http"))
    try:
        result = await maap.send(MSG)
    finally:
        await maap.close()
    assert (result.accepted, result.outcome, result.http_status) == (False, outcome, status)
