"""A bot's answer is a reply as the CSP interface V1.0.4 defines it, proved against the
interface's own example rather than our simulator: the interface's text-message example
(tests/rcs/golden/inbound/08-1-text) is posted, signed, to the brand's notify URL; a MaaP
stand-in on loopback that only records requests (and answers the interface's success example)
must then receive a `messages` request whose `conversationId` is the example's (the chat
between the user and the chatbot), whose `inReplyTo` is the example's `contributionId` ("the
contributionId of an upstream message", §六 field 11), sent to the example's sender from the
example's chatbot. One change: the example's sender +86 179… is in no assigned number range, and
the platform refuses to send to such a number, so the sender is a real-looking mobile number."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import orjson
from aiohttp import web

from rcs.callbacks import signed_headers
from tests.rcs.test_inbound_examples import load

EXAMPLE = load("08-1-text")
CHATBOT = EXAMPLE["request"]["chatbotId"]  # sip:106500@botplatform.rcs.domain.cn
CALLBACK_TOKEN = "brand-callback-token"


async def _recording_maap(aiohttp_server) -> tuple[str, list[dict]]:
    seen: list[dict] = []

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        seen.append({"path": request.raw_path, "body": orjson.loads(raw) if raw else None})
        if request.path.endswith("/accessToken"):
            return web.json_response({"accessToken": "TXlwdndOZG0yWTpjUml0dHMzM1dKRnBXRUdD", "expires": 7200})
        return web.json_response({"errorCode": 0, "errorMessage": "success"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}/exampleAPI", seen


async def test_the_bots_answer_to_the_interfaces_example_is_a_reply_in_its_conversation(conv_env, aiohttp_server):
    api = conv_env.api
    root, seen = await _recording_maap(aiohttp_server)
    channel = {
        "operator": "sandbox",
        "server_root": root,
        "chatbot_id": CHATBOT,
        "app_id": "xxxxxxxx",
        "app_key": "xxxxxxx",
        "callback_token": CALLBACK_TOKEN,
    }
    made = await api.post("/v1/channels", channel)
    assert made.status == 201, await made.text()
    rules = {
        "rules": [
            {
                "id": "hi",
                "match": {"kind": "exact", "value": "hello world"},
                "action": {"kind": "text", "text": "您好！"},
            }
        ]
    }
    assert (await api.put("/v1/conversations/rules", rules)).status == 200

    body = {**EXAMPLE["request"]["body"], "senderAddress": "tel:+8613800138000"}
    path = "/rcs/" + EXAMPLE["request"]["path"].replace("{chatbotId}", quote(CHATBOT, safe=""))
    headers = {"content-type": "application/json", **signed_headers(CALLBACK_TOKEN, time.time())}
    notified = await api.client.post(path, data=orjson.dumps(body), headers=headers)
    assert notified.status == EXAMPLE["answer"]["status"], await notified.text()

    deadline = time.monotonic() + 10
    while not (sent := [r for r in seen if r["path"].endswith("/messages")]):
        assert time.monotonic() < deadline, f"the bot's answer never reached the MaaP: {[r['path'] for r in seen]}"
        await asyncio.sleep(0.02)
    (request,) = sent
    assert request["path"] == f"/exampleAPI/bot/v1/{quote(CHATBOT, safe='')}/messages"
    reply = request["body"]
    assert reply["conversationId"] == body["conversationId"]
    assert reply["inReplyTo"] == body["contributionId"]
    assert reply["contributionId"] and reply["contributionId"] != body["contributionId"]
    assert reply["destinationAddress"] == [body["senderAddress"]]
    assert reply["senderAddress"] == body["destinationAddress"] == CHATBOT
    assert reply["messageList"] == [{"contentType": "text/plain", "contentText": "您好！"}]
    conv = await conv_env.settled(body["senderAddress"].removeprefix("tel:"), 1)
    assert [(m["direction"], m.get("text")) for m in conv["messages"]] == [("in", "hello world"), ("out", "您好！")]
