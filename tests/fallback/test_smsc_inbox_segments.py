"""The SMS inbox shows a long SMS as the phone joins it and the segments it arrived in, and the
parts of one still coming (issue 17, Deliver 7). SmppClient and the simulator over real TCP."""

from __future__ import annotations

import html
import re

import aiohttp

from tests.fallback.test_smsc_inbox import NUMBER, _open, _settled, client, sim  # noqa: F401


async def test_a_long_sms_shows_each_segment_and_a_partial_one_what_came(sim, client):  # noqa: F811
    long_text = "您好，这是一条很长的短信。" * 12  # three UCS-2 parts
    await client.submit(NUMBER, long_text, "106900011", reference="long")
    await _settled(client, 1)
    sim.inboxes.received(NUMBER, "106900022", (7, 2, 2), "后半段")  # the second of two, the first lost
    async with aiohttp.ClientSession() as s:
        url = await _open(s, sim, NUMBER)
        async with s.get(url + "?lang=zh-CN") as resp:
            page = await resp.text()
    parts = re.findall(r'<span class="seq">(\d+/\d+)</span><span class="part">(.*?)</span>', page, re.S)
    assert [seq for seq, _ in parts] == ["1/3", "2/3", "3/3", "2/2"]
    assert "".join(html.unescape(p) for _, p in parts[:3]) == long_text
    assert "长短信：由 3 条拼接" in page and "长短信：已收到 1/2 条" in page
    assert 'data-testid="sms-waiting"' in page
