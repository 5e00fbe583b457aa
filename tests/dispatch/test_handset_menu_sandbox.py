"""The persistent menu on the virtual handset, end to end in the sandbox: the chatbot's menu is
published on the MaaP (the operator's interface), the brand's bot rule answers one entry; a
person taps that entry on the handset page and sees the bot's answer in the thread, after the
tap itself."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from rcs.operators import CnCspMaap
from server import SANDBOX
from tests.dispatch.conftest import wait_for

TO = "+8613800001291"
MENU = {
    "menu": {
        "entries": [
            {"reply": {"displayText": "营业时间", "postback": {"data": "menu:hours"}}},
            {"reply": {"displayText": "人工客服", "postback": {"data": "menu:agent"}}},
        ]
    }
}
RULES = {
    "rules": [
        {
            "id": "hours",
            "name": "营业时间",
            "match": {"kind": "menu", "value": "menu:hours"},
            "action": {"kind": "text", "text": "门店营业时间 9:00–21:00"},
        }
    ]
}


async def test_a_menu_entry_tapped_on_the_handset_is_answered_by_its_rule(sandbox_api):
    api, maap = sandbox_api, sandbox_api.client.app[SANDBOX].maap
    client = CnCspMaap(maap.client_settings())
    try:
        assert (await client.update_menu(MENU)).accepted
    finally:
        await client.close()
    assert (await api.put("/v1/conversations/rules", RULES)).status == 200
    sent = await api.post("/v1/messages", {"to": TO, "text": "欢迎光临"})
    greeting = (await sent.json())["messages"][0]["id"]
    await wait_for(api, greeting, lambda v: v["status"] in ("rcs_delivered", "rcs_read"))
    handset = maap.messages[greeting].handset_id
    page_url = f"{maap.url}/handset/{handset}"
    async with aiohttp.ClientSession() as s:
        async with s.get(page_url) as resp:
            page = await resp.text()
        assert re.findall(r'name="index" value="(\d+)"><button type="submit">([^<]+)</button>', page) == [
            ("0", "营业时间"),
            ("1", "人工客服"),
        ]
        async with s.post(page_url + "/menu", data={"index": "0"}) as resp:
            assert resp.status == 200
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            async with s.get(page_url) as resp:
                page = await resp.text()
            if "门店营业时间" in page:
                break
            assert asyncio.get_running_loop().time() < deadline, "the rule's answer never reached the handset"
            await asyncio.sleep(0.05)
    texts = re.findall(r'<div class="msg (user|bot)[^"]*".*?<p class="text">(.*?)</p>', page, re.S)
    assert texts == [("bot", "欢迎光临"), ("user", "营业时间"), ("bot", "门店营业时间 9:00–21:00")]
    listed = (await (await api.get("/v1/conversations")).json())["conversations"]
    thread = (await (await api.get(f"/v1/conversations/{listed[0]['id']}")).json())["messages"]
    tap = next(m for m in thread if m["direction"] == "in")
    assert tap["postback"] == "menu:hours" and thread[-1]["matched"] == {"rule_id": "hours"}
