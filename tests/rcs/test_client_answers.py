"""How CnCspMaap classifies what an operator answers, driven over a real socket by a
scripted MaaP (a small aiohttp app answering each call from a list)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiohttp import web

from rcs.maap import (
    BOT_MESSAGE_TYPE,
    SUGGESTION_LIST_TYPE,
    TEXT_TYPE,
    ContentPart,
    OutboundMessage,
    card_parts,
    text_parts,
)
from rcs.operators import CnCspMaap, CnCspSettings
from rcs.results import Capability, Outcome

CARD = {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": {"title": "Hi"}}}}
CHIPS = [{"reply": {"displayText": "Yes", "postback": {"data": "yes"}}}]
MSG = OutboundMessage("m1", "+8613800001231", card_parts(CARD), "c", "k")


async def scripted(aiohttp_server, answers: list[tuple[int, dict, dict]], delay: float = 0.0):
    """A MaaP answering /messages from `answers` in turn; records request bodies and headers."""
    seen: list[tuple[dict, Any, str]] = []
    tokens = iter(range(1, 100))

    async def token(request):
        return web.json_response({"errorCode": 0, "accessToken": f"tok{next(tokens)}", "expires": 7200})

    async def messages(request):
        seen.append((orjson.loads(await request.read()), request.headers.copy(), request.raw_path))
        if delay:
            await asyncio.sleep(delay)  # a slow operator: the client's timeout must fire
        status, body, headers = answers[min(len(seen), len(answers)) - 1]
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/bot/v1/{chatbotId}/accessToken", token)
    app.router.add_post("/bot/v1/{chatbotId}/messages", messages)
    server = await aiohttp_server(app)
    # A short timeout only where the operator is slow on purpose: a loaded machine must not
    # turn a prompt answer into a timeout.
    settings = CnCspSettings(
        f"127.0.0.1:{server.port}", "sip:bot@example.cn", "app", "key", scheme="http", timeout_s=0.2 if delay else 10.0
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
        await maap.send(OutboundMessage("m1", "+8613800001231", card_parts(CARD, CHIPS), "c", "k"))
    finally:
        await maap.close()
    body, headers, raw_path = seen[0]
    assert raw_path == "/bot/v1/sip%3Abot%40example.cn/messages"  # percent-encoded on the wire
    assert body["destinationAddress"] == ["tel:+8613800001231"]
    assert body["smsSupported"] is False
    assert body["senderAddress"] == "sip:bot@example.cn"
    # the card as a JSON object, its chip list as a second part holding {"suggestions": [...]}
    assert body["messageList"] == [
        {"contentType": BOT_MESSAGE_TYPE, "contentText": CARD},
        {"contentType": SUGGESTION_LIST_TYPE, "contentText": {"suggestions": CHIPS}},
    ]
    assert body["reportRequest"] == ["sent", "failed", "delivered", "displayed", "deliveredToNetwork"]
    assert body["serviceCapability"] == [{"capabilityId": "ChatbotSA", "version": '+g.gsma.rcs.botversion="#=1"'}]
    assert (body["messageId"], body["conversationId"], body["contributionId"]) == ("m1", "c", "k")
    assert body["storeSupported"] is True
    assert "trafficType" not in body  # absent unless one of the interface's values is given
    assert set(body) == {
        "messageId",
        "messageList",
        "destinationAddress",
        "senderAddress",
        "conversationId",
        "contributionId",
        "serviceCapability",
        "smsSupported",
        "storeSupported",
        "reportRequest",
    }
    assert headers["Date"].endswith(" GMT")
    assert (headers["Content-Type"], headers["Accept"]) == ("application/json", "application/json")
    assert headers["Authorization"] == "accessToken tok1"


async def test_text_goes_as_text_plain_with_a_string(aiohttp_server):
    maap, seen = await scripted(aiohttp_server, [(200, {"errorCode": 0}, {})])
    try:
        msg = OutboundMessage("t1", "+8613800001231", text_parts("你好", CHIPS), "c", "k", traffic_type="payment")
        await maap.send(msg)
    finally:
        await maap.close()
    body = seen[0][0]
    assert body["messageList"] == [
        {"contentType": TEXT_TYPE, "contentText": "你好"},
        {"contentType": SUGGESTION_LIST_TYPE, "contentText": {"suggestions": CHIPS}},
    ]
    assert body["trafficType"] == "payment"


@pytest.mark.parametrize(
    "legacy",
    [
        orjson.dumps(CARD).decode(),  # a card serialised into a string
        orjson.dumps({**CARD, "suggestions": CHIPS}).decode(),  # with its chip list beside "message"
    ],
)
async def test_a_json_string_part_is_sent_as_its_object(aiohttp_server, legacy):
    maap, seen = await scripted(aiohttp_server, [(200, {"errorCode": 0}, {})])
    try:
        assert (
            await maap.send(OutboundMessage("l1", "+8613800001231", (ContentPart(BOT_MESSAGE_TYPE, legacy),), "c", "k"))
        ).accepted
    finally:
        await maap.close()
    parts = seen[0][0]["messageList"]
    assert parts[0] == {"contentType": BOT_MESSAGE_TYPE, "contentText": CARD}
    assert parts[1:] == (
        [{"contentType": SUGGESTION_LIST_TYPE, "contentText": {"suggestions": CHIPS}}]
        if "suggestions" in legacy
        else []
    )


async def test_a_part_that_is_not_json_is_refused_without_a_request(aiohttp_server):
    maap, seen = await scripted(aiohttp_server, [(200, {"errorCode": 0}, {})])
    try:
        result = await maap.send(
            OutboundMessage("x", "+8613800001231", (ContentPart(BOT_MESSAGE_TYPE, "{not json"),), "c", "k")
        )
    finally:
        await maap.close()
    assert (result.accepted, result.outcome) == (False, Outcome.INVALID) and seen == []


def test_traffic_type_is_one_of_the_interface_values_or_absent():
    assert OutboundMessage("m", "+8613800001231", (), "c", "k").traffic_type is None
    assert (
        OutboundMessage("m", "+8613800001231", (), "c", "k", traffic_type="advertisement").traffic_type
        == "advertisement"
    )
    # what the dispatcher used to pass for non-marketing sends is not a value of the interface: absent
    assert OutboundMessage("m", "+8613800001231", (), "c", "k", traffic_type="notification").traffic_type is None
    with pytest.raises(ValueError, match="trafficType"):
        OutboundMessage("m", "+8613800001231", (), "c", "k", traffic_type="marketing")
    with pytest.raises(ValueError, match="reportRequest"):
        OutboundMessage("m", "+8613800001231", (), "c", "k", report_request=("read",))


class NoNetwork:
    """A session that fails the test on any use."""

    closed = False

    def __getattr__(self, name):
        raise AssertionError(f"the capability check used the network ({name})")


async def test_capability_never_calls_the_network():
    maap = CnCspMaap(
        CnCspSettings("127.0.0.1:9", "sip:bot@example.cn", "app", "key", scheme="http"),
        session=NoNetwork(),  # type: ignore[arg-type]
    )
    assert await maap.check_capability("+8613800001231") is Capability.UNKNOWN
    assert await maap.check_capability("+8613800001230") is Capability.UNKNOWN  # only a send can tell
    assert await maap.check_capability("13800001231") is Capability.INVALID
    assert await maap.check_capabilities(["+8613800001231", "+86123", "+8613800001231"]) == {
        "+8613800001231": Capability.UNKNOWN,
        "+86123": Capability.INVALID,
    }


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


@pytest.mark.parametrize("value, wait", [("3", 3.0), ("²", None), ("٣", None), ("", None)])
def test_retry_after_takes_ascii_seconds_only(value, wait):
    """A MaaP is a remote party (a brand's channel may be anyone's): `float("²")` raises."""
    from rcs.operators.cn_csp import parse_retry_after

    assert parse_retry_after(value, now=0.0) == wait
