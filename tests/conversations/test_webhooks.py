"""Conversations reach the integrator as signed webhooks: every message either way
(`conversation.message`) and every change of hands (`conversation.state`); and a person who
writes first to a brand's own chatbot starts a conversation with that brand."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from aiohttp import web

from security.webhooks import verify_webhook
from tests.dispatch.test_webhooks import conform

HANDOFF_RULES = {
    "rules": [
        {
            "id": "people",
            "match": {"kind": "exact", "value": "人工"},
            "action": {"kind": "handoff", "text": "正在为您转接人工客服。"},
        },
        {"id": "hello", "match": {"kind": "exact", "value": "你好"}, "action": {"kind": "text", "text": "您好！"}},
    ]
}
BRAND_CHATBOT = "sip:12520000301@botplatform.sandbox.local"


class Hooks:
    """A webhook receiver on loopback: the events that arrived, their signatures checked."""

    def __init__(self) -> None:
        self.bodies: list[tuple[bytes, str]] = []
        self.arrived = asyncio.Event()

    async def hook(self, request: web.Request) -> web.Response:
        self.bodies.append((await request.read(), request.headers.get("Hongyan-Signature", "")))
        self.arrived.set()
        return web.Response(status=204)

    def events(self, secret: str) -> list[dict]:
        for body, signature in self.bodies:
            verify_webhook(secret, body, signature, now=int(time.time()))  # raises on a bad one
        return [orjson.loads(body) for body, _ in self.bodies]

    async def wait(self, secret: str, predicate, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while not predicate(self.events(secret)):
            remaining = deadline - time.monotonic()
            assert remaining > 0, [(e["type"], e["data"].get("state")) for e in self.events(secret)]
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                pass
        return self.events(secret)


async def _subscribe(api, aiohttp_server) -> tuple[Hooks, str]:
    hooks = Hooks()
    app = web.Application()
    app.router.add_post("/hook", hooks.hook)
    server = await aiohttp_server(app)
    events = ["conversation.message", "conversation.state"]
    made = await api.post("/v1/webhooks", {"url": str(server.make_url("/hook")), "events": events})
    assert made.status == 201, await made.text()
    return hooks, (await made.json())["secret"]


def _summary(events: list[dict]) -> list[tuple]:
    out = []
    for e in events:
        data = e["data"]
        if e["type"] == "conversation.message":
            message = data["message"]
            out.append((e["type"], message["direction"], message["author"], message.get("text")))
        else:
            out.append((e["type"], data["previous_state"], data["state"]))
    return out


async def test_messages_and_changes_of_hands_are_webhooks(conv_env, aiohttp_server):
    api = conv_env.api
    hooks, secret = await _subscribe(api, aiohttp_server)
    assert (await api.put("/v1/conversations/rules", HANDOFF_RULES)).status == 200
    to = "+8613800006301"
    await conv_env.says("sms", to, "人工")
    conv = await conv_env.settled(to, 1)
    events = await hooks.wait(secret, lambda es: len(es) >= 3)
    assert sorted(_summary(events)) == sorted(
        [
            ("conversation.message", "in", "user", "人工"),
            ("conversation.message", "out", "bot", "正在为您转接人工客服。"),
            ("conversation.state", "bot", "queued"),
        ]
    )
    assert {e["data"]["conversation_id"] for e in events} == {conv["id"]}
    assert {e["data"]["number"] for e in events} == {to}
    sent = next(e for e in events if e["type"] == "conversation.message" and e["data"]["message"]["direction"] == "out")
    assert sent["data"]["message"]["message_id"]  # the sent message, as GET /v1/messages/{id} knows it

    closed = await api.post(f"/v1/conversations/{conv['id']}/close", {})
    assert closed.status == 200, await closed.text()
    await conv_env.says("sms", to, "你好")  # the next message opens it again with the bot
    events = await hooks.wait(secret, lambda es: len(es) >= 7)
    assert _summary(events)[3:] == [
        ("conversation.state", "queued", "closed"),
        ("conversation.message", "in", "user", "你好"),  # it came, and opened the conversation again
        ("conversation.state", "closed", "bot"),
        ("conversation.message", "out", "bot", "您好！"),
    ]
    await conform(api, events)
    again = await api.post(f"/v1/conversations/{conv['id']}/close", {})
    assert again.status == 200
    events = await hooks.wait(secret, lambda es: len(es) >= 8)
    assert _summary(events)[7] == ("conversation.state", "bot", "closed")


async def test_a_person_who_writes_first_to_a_brands_chatbot_gets_its_bot(conv_env, aiohttp_server):
    api, maap = conv_env.api, conv_env.maap
    channel = {
        "operator": "sandbox",
        "server_root": f"http://{maap.host}:{maap.port}",
        "chatbot_id": BRAND_CHATBOT,
        "app_id": "brand-app",
        "app_key": "brand-key",
        "callback_token": "brand-callback",
    }
    made = await api.post("/v1/channels", channel)
    assert made.status == 201, await made.text()
    deadline = time.monotonic() + 10
    while BRAND_CHATBOT not in maap.chatbots:  # provisioned on the simulator after the commit
        assert time.monotonic() < deadline, "the brand's chatbot never reached the simulator"
        await asyncio.sleep(0.02)
    hooks, secret = await _subscribe(api, aiohttp_server)
    assert (await api.put("/v1/conversations/rules", HANDOFF_RULES)).status == 200

    stranger = "+8613800006302"  # no message of the brand ever went to this number
    async with aiohttp.ClientSession() as session:
        form = {"number": stranger, "chatbot": BRAND_CHATBOT}
        async with session.post(f"{maap.url}/handset", data=form, allow_redirects=False) as opened:
            assert opened.status == 303, await opened.text()
        wrong = {"number": stranger, "chatbot": "sip:nobody@botplatform.sandbox.local"}
        async with session.post(f"{maap.url}/handset", data=wrong, allow_redirects=False) as refused:
            assert refused.status == 400
    await conv_env.handset_post(stranger, "reply", {"text": "你好"})
    conv = await conv_env.settled(stranger, 1)
    assert [(m["direction"], m.get("text")) for m in conv["messages"]][:2] == [("in", "你好"), ("out", "您好！")]
    events = await hooks.wait(secret, lambda es: len(es) >= 2)
    assert _summary(events)[:2] == [
        ("conversation.message", "in", "user", "你好"),
        ("conversation.message", "out", "bot", "您好！"),
    ]
    # The bot's answer reaches the stranger's handset, on the brand's chatbot, in the conversation
    # the stranger started.
    handset = maap.open_handset(stranger)
    deadline = time.monotonic() + 10
    while not handset.message_ids:
        assert time.monotonic() < deadline, "the bot's answer never reached the handset"
        await asyncio.sleep(0.02)
    answer = maap.messages[handset.message_ids[-1]]
    assert answer.chatbot_id == BRAND_CHATBOT
