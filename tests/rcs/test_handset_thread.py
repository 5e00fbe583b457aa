"""The virtual handset as a conversation (issue 16): the thread shows both sides, a person
writes first, taps chips and the chatbot's persistent menu, and the page refreshes itself when
the thread changes. All through the simulator's HTTP pages and real callbacks on loopback."""

from __future__ import annotations

import re

import aiohttp
import pytest

from rcs.maap import OutboundMessage, text_parts

MENU = {
    "menu": {
        "entries": [
            {"reply": {"displayText": "查话费", "postback": {"data": "menu:balance"}}},
            {
                "menu": {
                    "displayText": "更多",
                    "entries": [
                        {"reply": {"displayText": "人工客服", "postback": {"data": "menu:agent"}}},
                        {
                            "action": {
                                "displayText": "官网",
                                "postback": {"data": "menu:site"},
                                "urlAction": {"openUrl": {"url": "https://example.cn", "application": "browser"}},
                            }
                        },
                    ],
                }
            },
        ]
    }
}


async def _page(s: aiohttp.ClientSession, url: str) -> str:
    async with s.get(url) as resp:
        assert resp.status == 200
        return await resp.text()


def _thread(page: str) -> list[tuple[str, str]]:
    """(side, text) of each thread item in page order: "user" turns and "bot" messages."""
    items = re.findall(r'<div class="msg (user|bot)[^"]*".*?<p class="text">(.*?)</p>', page, re.S)
    return [(side, text) for side, text in items]


async def test_a_person_writes_first_and_the_thread_shows_both_sides(client, receiver, simulator):
    async with aiohttp.ClientSession() as s:
        # Open the handset of a number that has had no message (the number only in the form).
        async with s.post(f"{simulator.url}/handset", data={"number": "+8613900001231"}, allow_redirects=False) as r:
            assert r.status == 303
            path = r.headers["Location"]
        assert "8613900001231" not in path
        page = await _page(s, simulator.url + path)
        assert "<title>+86139****1231</title>" in page and "+8613900001231" not in page
        async with s.post(simulator.url + path + "/reply", data={"text": "我的套餐还剩多少流量？"}) as r:
            assert r.status == 200
        _, event = await receiver.user()
        assert (event.kind, event.text, event.from_number) == ("text", "我的套餐还剩多少流量？", "+8613900001231")
        first_conversation = event.conversation_id
        # The chatbot answers in that conversation; the user writes again in it.
        answer = OutboundMessage("ans1", "+8613900001231", text_parts("请问您的号码归属地？"), first_conversation, "c1")
        assert (await client.send(answer)).accepted
        async with s.post(simulator.url + path + "/reply", data={"text": "北京"}) as r:
            assert r.status == 200
        _, again = await receiver.user()
        assert again.conversation_id == first_conversation
        page = await _page(s, simulator.url + path)
    assert _thread(page) == [("user", "我的套餐还剩多少流量？"), ("bot", "请问您的号码归属地？"), ("user", "北京")]


async def test_the_persistent_menu_is_tappable_and_reaches_the_platform_as_a_suggestion_response(
    client, receiver, simulator
):
    assert (await client.update_menu(MENU)).accepted
    handset = simulator.open_handset("+8613900001232")
    url = f"{simulator.url}/handset/{handset.handset_id}"
    async with aiohttp.ClientSession() as s:
        page = await _page(s, url)
        assert re.search(r"<summary>更多</summary>", page)
        buttons = re.findall(r'name="index" value="(\d+)"><button type="submit">([^<]+)</button>', page)
        assert buttons == [("0", "查话费"), ("1", "人工客服"), ("2", "官网")]
        for index, postback, which in [("1", "menu:agent", "reply"), ("2", "menu:site", "action")]:
            async with s.post(url + "/menu", data={"index": index}) as r:
                assert r.status == 200
            _, event = await receiver.user()
            assert (event.kind, event.postback, event.in_reply_to) == ("suggestion_response", postback, None)
            body = receiver.last_body("/messages")
            assert "inReplyTo" not in body and list(body["messageList"][0]["contentText"]["response"]) == [which]
        async with s.post(url + "/menu", data={"index": "3"}) as r:
            assert r.status == 400
        page = await _page(s, url)
    assert re.findall(r'data-testid="user-turn" data-kind="(\w+)"', page) == ["menu", "menu"]
    assert [t for _, t in _thread(page)] == ["人工客服", "官网"]
    # After a message from the chatbot, a menu tap is in that message's conversation.
    sent = OutboundMessage("m1", "+8613900001232", text_parts("欢迎"), "conv-m", "contrib-m1")
    assert (await client.send(sent)).accepted
    assert await simulator.tap_menu(handset.handset_id, 0)
    _, event = await receiver.user()
    assert (event.postback, event.conversation_id, event.in_reply_to) == ("menu:balance", "conv-m", None)


async def test_a_chip_tap_shows_in_the_thread_after_the_message_it_answers(client, receiver, simulator):
    chips = [{"reply": {"displayText": "是的", "postback": {"data": "yes"}}}]
    sent = OutboundMessage("q1", "+8613900001233", text_parts("要办理吗？", chips), "conv-q", "contrib-q1")
    assert (await client.send(sent)).accepted
    handset_id = simulator.messages["q1"].handset_id
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{simulator.url}/handset/{handset_id}/tap", data={"message_id": "q1", "index": "0"}) as r:
            assert r.status == 200
        _, event = await receiver.user()
        assert (event.postback, event.in_reply_to) == ("yes", "contrib-q1")
        page = await _page(s, f"{simulator.url}/handset/{handset_id}")
    assert _thread(page) == [("bot", "要办理吗？"), ("user", "是的")]


async def test_the_live_refresh_sees_each_change_of_the_thread(client, receiver, simulator):
    handset = simulator.open_handset("+8613900001234")
    async with aiohttp.ClientSession() as s:
        version = lambda: s.get(f"{simulator.url}/handset/{handset.handset_id}/version")  # noqa: E731
        async with version() as r:
            before = (await r.json())["version"]
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert await simulator.write(handset.handset_id, "hi")
        await receiver.user()
        sent = OutboundMessage("v1", "+8613900001234", text_parts("hello"), "conv-v", "contrib-v1")
        assert (await client.send(sent)).accepted
        async with version() as r:
            assert (await r.json())["version"] >= before + 2
        async with s.get(f"{simulator.url}/handset/static/refresh.js") as r:
            script = await r.text()
            assert r.content_type == "text/javascript" and "location.reload()" in script
        async with s.get(f"{simulator.url}/handset/nope/version") as r:
            assert r.status == 404


@pytest.mark.parametrize("number", ["13900001231", "+86 139", "", "tel:+8613900001231"])
async def test_opening_a_handset_needs_an_e164_number(simulator, number):
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{simulator.url}/handset", data={"number": number}, allow_redirects=False) as r:
            assert r.status == 400
    assert simulator.handsets == {}


async def test_a_user_turn_the_platform_refused_is_marked_on_the_thread(client, simulator):
    simulator.callback_base_url = None  # the platform cannot be reached
    handset = simulator.open_handset("+8613900001235")
    assert not await simulator.write(handset.handset_id, "在吗")
    async with aiohttp.ClientSession() as s:
        page = await _page(s, f"{simulator.url}/handset/{handset.handset_id}")
    assert "not delivered to the chatbot" in page and "在吗" in page
