"""The sandbox's SMS inbox end to end: a card sent to a number that cannot take 5G messages goes
as SMS through the SMSC simulator and shows in the number's inbox page; a question typed there
reaches the platform as a real MO, opens an SMS conversation and the bot's answer comes back to
the inbox; a TD typed there puts the number on the opt-out list."""

from __future__ import annotations

import asyncio

import aiohttp

from server import SANDBOX
from tests.conftest import card
from tests.dispatch.conftest import wait_for

TO = "+8613800001280"  # ends in 0: not RCS-capable, so the SMS goes


async def test_an_sms_shows_in_the_inbox_and_a_td_typed_there_opts_out(sandbox_api):
    api, app = sandbox_api, sandbox_api.client.app
    smsc = app[SANDBOX].smsc
    assert smsc.http_url is not None
    sent = await api.post("/v1/messages", {"to": TO, "card": card()})
    await wait_for(api, (await sent.json())["messages"][0]["id"], lambda v: v["status"] == "sms_delivered")
    async with aiohttp.ClientSession() as s:
        async with s.post(smsc.http_url, data={"number": TO}, allow_redirects=False) as resp:
            inbox = f"http://{smsc.host}:{smsc.http_port}{resp.headers['Location']}"
        async with s.get(inbox) as resp:
            page = await resp.text()
        assert page.count('data-testid="sms"') == 1 and "【鸿雁测试】" in page
        async with s.post(inbox + "/reply", data={"text": "明天几点开门？"}) as resp:
            assert resp.status == 200
        deadline = asyncio.get_running_loop().time() + 5
        while True:  # the bot's answer (an ask-back: no FAQ knows) arrives as a second SMS
            async with s.get(inbox) as resp:
                page = await resp.text()
            if page.count('data-testid="sms"') == 2:
                break
            assert asyncio.get_running_loop().time() < deadline, "the bot's answer never reached the inbox"
            await asyncio.sleep(0.05)
        listed = (await (await api.get("/v1/conversations")).json())["conversations"]
        assert [(c["channel"], c["contact"]["number_masked"]) for c in listed] == [("sms", "+86138****1280")]
        thread = (await (await api.get(f"/v1/conversations/{listed[0]['id']}")).json())["messages"]
        assert [(m["direction"], m["author"]) for m in thread][:2] == [("in", "user"), ("out", "bot")]
        assert thread[0]["text"] == "明天几点开门？"
        async with s.post(inbox + "/reply", data={"text": "TD"}) as resp:
            assert resp.status == 200
    deadline = asyncio.get_running_loop().time() + 5
    while not (await (await api.post("/v1/opt-outs/search", {"to": TO})).json())["opted_out"]:
        assert asyncio.get_running_loop().time() < deadline, "the TD typed on the inbox page was not recorded"
        await asyncio.sleep(0.02)
