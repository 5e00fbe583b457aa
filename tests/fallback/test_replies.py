"""SMS replies: which texts opt out, and how a reply's destination names the brand."""

from __future__ import annotations

import pytest

from fallback.client import InboundSms
from fallback.replies import SmsReplies, is_opt_out


@pytest.mark.parametrize(
    "text, opts_out",
    [
        ("TD", True),
        ("td", True),
        (" T ", True),
        ("R", True),
        ("STOP", True),
        ("Stop.", True),
        ("退订", True),
        ("ＴＤ", True),
        ("退订！", True),
        ("拒收", True),
        ("unsubscribe", True),
        ("TD please", False),
        ("谢谢", False),
        ("取消", False),
        ("N", False),
        ("", False),
        ("STOPPED", False),
    ],
)
def test_which_replies_opt_out(text, opts_out):
    assert is_opt_out(text) is opts_out


@pytest.mark.parametrize(
    "destination, ext",
    [
        ("10690000001001", "1001"),
        ("+10690000001001", "1001"),
        ("10690000001001234", "1001234"),
        ("1069000000", None),
        ("1069000001", None),
        ("10690000001a", None),
    ],
)
def test_the_extension_code_in_a_reply(destination, ext):
    assert SmsReplies("1069000000", tenant_of=None, on_opt_out=None).extension(destination) == ext


async def test_only_opt_outs_to_a_known_brand_are_recorded():
    recorded = []

    async def tenant_of(ext):
        return {"1001": "tenant-a"}.get(ext)

    async def on_opt_out(tenant_id, number):
        recorded.append((tenant_id, number))

    replies = SmsReplies("1069000000", tenant_of=tenant_of, on_opt_out=on_opt_out)
    for destination, text in [
        ("10690000001001", "TD"),
        ("10690000001002", "TD"),
        ("10690000001001", "hi"),
        ("95588", "TD"),
    ]:
        await replies.handle(InboundSms("+8613800138000", destination, text))
    assert recorded == [("tenant-a", "+8613800138000")]
    assert replies.counts == {"opt_outs": 1, "consents": 0, "other": 1, "unrouted": 2, "forwarded": 0}


@pytest.mark.parametrize(
    "source, recorded",
    [
        ("+8613800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),  # TON unknown: the country code without '+'
        ("13800138000", "+8613800138000"),  # TON national
        ("+86 138 0013 8000", "+8613800138000"),
    ],
)
async def test_an_opt_out_is_recorded_under_the_canonical_number(source, recorded):
    """SMSCs write a reply's source address in several forms; the opt-out list matches only the
    E.164 form the messages were stored under, so every form must arrive as that."""
    got, replied = [], []

    async def tenant_of(ext):
        return "tenant-a"

    async def on_opt_out(tenant_id, number):
        got.append(number)

    async def on_reply(tenant_id, number, text, *, opt_out):
        replied.append(number)
        return True

    replies = SmsReplies("1069000000", tenant_of=tenant_of, on_opt_out=on_opt_out, on_reply=on_reply)
    await replies.handle(InboundSms(source, "10690000001001", "TD"))
    assert got == replied == [recorded]


async def test_a_reply_from_an_unreadable_number_is_dropped():
    got = []

    async def tenant_of(ext):
        return "tenant-a"

    async def on_opt_out(tenant_id, number):
        got.append(number)

    replies = SmsReplies("1069000000", tenant_of=tenant_of, on_opt_out=on_opt_out)
    await replies.handle(InboundSms("ALIPAY", "10690000001001", "TD"))
    assert got == [] and replies.counts["unrouted"] == 1
