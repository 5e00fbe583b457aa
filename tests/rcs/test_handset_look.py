"""The virtual handset draws a chatbot's card and chips with the cards' renderer (issue 17,
Deliver 7): kind-marked suggestions whose own forms tap the right suggestion (card buttons, then
the chip list), media this MaaP holds shown from it, and the look, theme and language chosen on
the page and remembered. Real simulator, real callbacks on loopback."""

from __future__ import annotations

import re

import aiohttp

from rcs.maap import OutboundMessage, card_parts

CARD = {
    "generalPurposeCard": {
        "layout": {"cardOrientation": "VERTICAL"},
        "content": {
            "title": "月饼礼盒",
            "suggestions": [
                {"reply": {"displayText": "要一盒", "postback": {"data": "buy"}}},
                {
                    "action": {
                        "displayText": "门店电话",
                        "postback": {"data": "call"},
                        "dialerAction": {"dialPhoneNumber": {"phoneNumber": "+864008208820"}},
                    }
                },
            ],
        },
    }
}
CHIPS = [{"reply": {"displayText": "不用了", "postback": {"data": "no"}}}]


async def test_a_card_and_its_chips_are_drawn_and_each_tap_answers_with_its_own_suggestion(client, receiver, simulator):
    sent = OutboundMessage("c1", "+8613900001241", card_parts(CARD, CHIPS), "conv-c", "contrib-c1")
    assert (await client.send(sent)).accepted
    handset_id = simulator.messages["c1"].handset_id
    url = f"{simulator.url}/handset/{handset_id}"
    # unsafe: keep cookies of an IP address host (loopback), as a browser does
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(url + "?lang=zh-CN&look=hyper&theme=dark") as r:
            page = await r.text()
            assert r.cookies["hs_look"].value == "hyper"
        assert '<body class="look look-hyper dark">' in page
        assert "<h2>月饼礼盒</h2>" in page
        assert 'data-kind="dial" title="拨打电话" aria-label="门店电话 · 拨打电话"' in page
        taps = re.findall(
            r'name="base" value="(\d+)"><input type="hidden" name="suggestion" value="(\d+)"><button class="sg sg-(\w+)"',
            page,
        )
        assert taps == [("0", "0", "reply"), ("0", "1", "dial"), ("2", "0", "reply")]
        for (base, index, _), postback in zip(taps, ["buy", "call", "no"], strict=True):
            form = {"message_id": "c1", "base": base, "suggestion": index}
            async with s.post(url + "/tap", data=form) as r:
                assert r.status == 200
            _, event = await receiver.user()
            assert (event.postback, event.in_reply_to) == (postback, "contrib-c1")
        async with s.get(url) as r:  # the choice is remembered
            assert '<body class="look look-hyper dark">' in await r.text()
        async with s.post(url + "/tap", data={"message_id": "c1", "base": "2", "suggestion": "1"}) as r:
            assert r.status == 400  # no fourth suggestion
