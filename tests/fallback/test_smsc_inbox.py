"""The SMSC simulator's SMS inbox pages (issue 16): what reached a number (long messages joined),
and a person's reply through the page arriving at the ESME as a real deliver_sm. SmppClient and
the simulator over real TCP sockets, the pages over HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re

import aiohttp
import pytest

from fallback.client import SmppClient
from fallback.smsc import SmscSimulator

DEADLINE = 5.0
NUMBER = "+8613800001234"


@pytest.fixture
async def sim():
    simulator = SmscSimulator("127.0.0.1", 0, receipt_delay=0.05, http_port=0)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def client(sim):
    smpp_client = SmppClient("127.0.0.1", sim.port, "hongyan", "secret", reconnect_delay=0.05)
    await smpp_client.start()
    await smpp_client.wait_bound(DEADLINE)
    yield smpp_client
    await smpp_client.stop()


async def _settled(client: SmppClient, count: int) -> None:
    for _ in range(count):
        await asyncio.wait_for(client.outcomes.get(), DEADLINE)


async def _open(s: aiohttp.ClientSession, sim: SmscSimulator, number: str) -> str:
    async with s.post(sim.http_url, data={"number": number}, allow_redirects=False) as resp:
        assert resp.status == 303
        return f"http://{sim.host}:{sim.http_port}{resp.headers['Location']}"


def _items(page: str) -> list[tuple[str, str]]:
    return re.findall(r'data-testid="(sms|sms-mine)">.*?<div class="text">(.*?)</div>', page, re.S)


async def test_the_inbox_joins_long_messages_and_a_reply_is_a_real_mo(sim, client):
    long_text = "您好，这是一条很长的短信。" * 12  # three UCS-2 parts
    await client.submit(NUMBER, long_text, "106900011", reference="long")
    await client.submit(NUMBER, "Reply 1 for plans, TD to opt out", "106900011", reference="short")
    await client.submit("+8613800001239", "never delivered", "106900011", reference="undeliv")
    await _settled(client, 3)
    async with aiohttp.ClientSession() as s:
        url = await _open(s, sim, NUMBER)
        assert NUMBER[1:] not in url
        async with s.get(url) as resp:
            page = await resp.text()
            csp = resp.headers["Content-Security-Policy"]
        [style] = re.findall(r"<style>(.*?)</style>", page, re.S)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in csp and "script-src 'self';" in csp and "unsafe" not in csp
        assert "<title>SMS +86138****1234</title>" in page and NUMBER not in page
        assert _items(page) == [("sms", long_text), ("sms", "Reply 1 for plans, TD to opt out")]
        # The person replies TD, 1 and free text: each a deliver_sm from the number to the sender.
        for text in ("TD", "1", "明天几点开门？"):
            async with s.post(url + "/reply", data={"text": text}) as resp:
                assert resp.status == 200
            inbound = await asyncio.wait_for(client.inbound.get(), DEADLINE)
            assert (inbound.source, inbound.destination, inbound.text) == (NUMBER, "106900011", text)
        async with s.get(url) as resp:
            page = await resp.text()
        assert _items(page)[2:] == [("sms-mine", "TD"), ("sms-mine", "1"), ("sms-mine", "明天几点开门？")]
        async with s.get(sim.http_url) as resp:
            index = await resp.text()
    assert "+86138****1234" in index and NUMBER not in index
    assert "+86138****1239" not in index  # the undeliverable number received nothing


async def test_a_reply_with_no_bound_receiver_is_marked_and_nothing_to_answer_is_refused(sim, client):
    await client.submit(NUMBER, "你好", "106900012", reference="m")
    await _settled(client, 1)
    await client.stop()
    async with aiohttp.ClientSession() as s:
        url = await _open(s, sim, NUMBER)
        async with s.post(url + "/reply", data={"text": "TD"}) as resp:
            assert resp.status == 200
            assert "not delivered (no bound receiver)" in await resp.text()
        empty = await _open(s, sim, "+8613800005678")
        async with s.get(empty) as resp:
            page = await resp.text()
            assert "No SMS yet." in page and "/reply" not in page
        async with s.post(empty + "/reply", data={"text": "hi"}) as resp:
            assert resp.status == 409
        async with s.get(empty + "/version") as resp:
            assert (await resp.json()) == {"version": 0}


@pytest.mark.parametrize("number", ["13800001234", "+86abc", "", "+1"])
async def test_opening_an_inbox_needs_an_e164_number(sim, number):
    async with aiohttp.ClientSession() as s:
        async with s.post(sim.http_url, data={"number": number}, allow_redirects=False) as resp:
            assert resp.status == 400
    assert sim.inboxes is not None and sim.inboxes.inboxes == {}


async def test_without_an_http_side_nothing_is_kept():
    async with SmscSimulator("127.0.0.1", 0, receipt_delay=0.05) as plain:
        assert plain.http_url is None and plain.inboxes is None
