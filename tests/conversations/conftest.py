"""The sandbox app (dispatch on, MaaP and SMSC simulators on loopback) with a tenant whose
conversations are answered by a small table answerer; helpers that act as the person on the
virtual handset (RCS, through the simulator's handset pages) or on an SMS phone (a
mobile-originated SMS through the SMSC simulator), and read conversations back over HTTP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import pytest

from tests.dispatch.conftest import FAST, wait_for
from tests.dispatch.conftest import dispatch_settings as dispatch_settings  # noqa: F401  (a fixture)


@dataclass(frozen=True)
class Question:
    """The answerer's question as the contract gives it (conversations.answerers.Question)."""

    tenant_id: str
    conversation_id: str
    text: str
    history: list[tuple[str, str]]
    channel: str
    threshold: float


@dataclass(frozen=True)
class Answer:
    text: str | None
    card: dict | None
    confidence: float
    source: str
    faq_id: str | None = None


@dataclass
class TableAnswerer:
    """Answers the questions it knows, with the confidence given; records what it was asked."""

    known: dict[str, Answer]
    asked: list[Question] = field(default_factory=list)

    async def answer(self, q: Question) -> Answer | None:
        self.asked.append(q)
        return self.known.get(q.text.strip())


ANSWERS = {
    "营业时间": Answer("营业厅每天 9:00–18:00 营业。", None, 0.92, "faq:hours", "hours"),
    "几点关门": Answer("营业厅每天 18:00 关门。", None, 0.3, "faq:hours", "hours"),  # below the threshold
}


@pytest.fixture
def dispatch_config():
    return FAST


@dataclass
class ConversationEnv:
    api: object  # tests.conftest.ApiClient
    answerer: TableAnswerer
    first_message: str | None = None  # what a test's brand sent first

    @property
    def app(self):
        return self.api.client.app

    @property
    def maap(self):
        from server import SANDBOX

        return self.app[SANDBOX].maap

    async def brand_sends(self, to: str, json: dict | None = None) -> str:
        """The brand writes to `to` first (a conversation answers a message of ours); its id
        once it reached the phone (RCS delivered, or the fallback SMS sent)."""
        body = {"to": to, **(json or {"text": "您好，这里是鸿雁营业厅，有问题请直接回复。"})}
        sent = await self.api.post("/v1/messages", json=body)
        assert sent.status == 202, await sent.text()
        mid = (await sent.json())["messages"][0]["id"]
        await wait_for(
            self.api, mid, lambda v: v["status"] in ("rcs_delivered", "rcs_read", "sms_sent", "sms_delivered")
        )
        return mid

    async def handset_post(self, to: str, action: str, form) -> None:
        """A form on the virtual handset of `to` (as a person taps it in the browser)."""
        handset = next(h for h in self.maap.handsets.values() if h.number == to)
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{self.maap.url}/handset/{handset.handset_id}/{action}", data=form, allow_redirects=False
            ) as answer:
                assert answer.status == 303, await answer.text()

    async def says(self, channel: str, to: str, text: str) -> None:
        if channel == "rcs":
            await self.handset_post(to, "reply", {"text": text})
        else:
            from dispatch.sms import DEFAULT_SOURCE_ADDR
            from server import ACCOUNTS, SANDBOX

            ext = (await self.app[ACCOUNTS].get_tenant(self.api.tenant_id)).sms_ext
            await self.app[SANDBOX].smsc.send_mo(to, DEFAULT_SOURCE_ADDR + ext, text)

    async def taps(self, to: str, index: int, timeout: float = 10.0) -> None:
        """Tap chip `index` of the newest message with chips on the handset of `to`, once one
        reached it (the bot's answer is sent by dispatch after it was accepted)."""
        handset = next(h for h in self.maap.handsets.values() if h.number == to)
        deadline = time.monotonic() + timeout
        while True:
            with_chips = [m for m in handset.message_ids if self.maap.suggestions_of(self.maap.messages[m])]
            if with_chips:
                break
            assert time.monotonic() < deadline, "no message with chips reached the handset"
            await asyncio.sleep(0.02)
        await self.handset_post(to, "tap", {"message_id": with_chips[-1], "index": str(index)})

    async def shares_location(self, to: str) -> None:
        await self.handset_post(to, "location", {"latitude": "39.9087", "longitude": "116.3975", "label": "天安门"})

    async def sends_file(self, to: str) -> None:
        form = aiohttp.FormData()
        form.add_field("file", b"\x89PNG\r\n\x1a\n" + bytes(64), filename="photo.png", content_type="image/png")
        await self.handset_post(to, "file", form)

    async def taps_link(self, message_id: str, index: int) -> None:
        """Tap chip `index` on the SMS link page of `message_id`, as a phone's browser does."""
        view = await wait_for(self.api, message_id, lambda v: "short_link" in v)
        token = view["short_link"].rsplit("/s/", 1)[1]
        phone = {"User-Agent": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/108.0 Mobile Safari/537.36"}
        tapped = await self.api.client.post(f"/s/{token}/r/{index}", headers=phone)
        assert tapped.status == 200, await tapped.text()

    async def conversation(self, to: str) -> dict | None:
        """The conversation with `to` (found by its masked number: tests give each one its own
        last four digits), with its thread."""
        listed = await self.api.get("/v1/conversations?limit=100")
        assert listed.status == 200
        for c in (await listed.json())["conversations"]:
            if c["contact"]["number_masked"].endswith(to[-4:]):
                got = await self.api.get(f"/v1/conversations/{c['id']}")
                assert got.status == 200
                return await got.json()
        return None

    async def settled(self, to: str, inbound: int, timeout: float = 10.0) -> dict:
        """The conversation once `inbound` messages arrived and the bot decided on each."""
        deadline = time.monotonic() + timeout
        while True:
            conv = await self.conversation(to)
            ins = [m for m in (conv or {}).get("messages", []) if m["direction"] == "in"]
            if len(ins) >= inbound and all("outcome" in m.get("matched", {}) for m in ins):
                assert conv is not None
                return conv
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {inbound} settled inbound messages: {conv}")
            await asyncio.sleep(0.02)


@pytest.fixture
async def conv_env(aiohttp_server, aiohttp_client, dispatch_settings, dispatch_config):
    from conversations.http import CONVERSATIONS, EVENT_SETTINGS
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    app = create_app(dispatch_settings, Wiring(dispatch=dispatch_config, webhook_options={"allow_http": True}))
    app[EVENT_SETTINGS] = (0.2, 30.0)  # a keep-alive comment every 0.2 s
    server = await aiohttp_server(app, port=dispatch_settings.port)
    client = await aiohttp_client(server)
    tenant, key = await app[ACCOUNTS].create_tenant("Test brand", signature="【鸿雁测试】")
    api = await ApiClient(client, tenant.id, key).without_send_rules()
    answerer = TableAnswerer(dict(ANSWERS))
    service = app[CONVERSATIONS]
    service.answerer_for = lambda tenant_id: answerer
    service.question = Question
    return ConversationEnv(api, answerer)
