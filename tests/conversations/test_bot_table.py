"""A table of inbound messages → what the bot does, across RCS and SMS, through the real sandbox:
the person writes on the virtual handset (the MaaP simulator's handset pages make the
operator's signed callbacks) or replies by SMS to the brand's extension (a mobile-originated
SMS from the SMSC simulator); the bot's answers go out through the message pipeline and the
thread is read back over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import card
from tests.dispatch.conftest import wait_for

RULES = {
    "threshold": 0.6,
    "on_miss": "ask_back",
    "rules": [
        {
            "id": "kw-5g",
            "name": "5G",
            "match": {"kind": "exact", "value": "5G"},
            "action": {"kind": "text", "text": "5G 升级套餐：每月 59 元，回复“菜单”看更多。"},
        },
        {
            "id": "balance",
            "match": {"kind": "prefix", "value": "余额"},
            "action": {"kind": "text", "text": "您的余额请在 App 内查询。"},
        },
        {
            "id": "usage",
            "match": {"kind": "regex", "value": "^(流量|话费)(查询)?$"},
            "action": {"kind": "text", "text": "本月流量已用 3.2GB。"},
        },
        {
            "id": "menu",
            "match": {"kind": "exact", "value": "菜单"},
            "action": {
                "kind": "menu",
                "text": "请选择：",
                "options": [
                    {"label": "月套餐", "postback": "plan:monthly"},
                    {"label": "年套餐", "postback": "plan:yearly"},
                ],
            },
        },
        {
            "id": "monthly",
            "match": {"kind": "postback", "value": "plan:monthly"},
            "action": {"kind": "text", "text": "月套餐：每月 59 元。"},
        },
        {
            "id": "yearly",
            "match": {"kind": "postback", "value": "plan:yearly"},
            "action": {"kind": "text", "text": "年套餐：每年 599 元。"},
        },
        {
            "id": "human",
            "match": {"kind": "exact", "value": "人工"},
            "action": {"kind": "handoff", "text": "好的，正在为您转接人工。"},
        },
        {
            "id": "vip",
            "match": {"kind": "exact", "value": "会员"},
            "action": {"kind": "tag", "tag": "vip", "text": "已为您登记会员。"},
        },
        {
            "id": "off",
            "enabled": False,
            "match": {"kind": "exact", "value": "关闭的规则"},
            "action": {"kind": "text", "text": "不应出现"},
        },
        {
            "id": "detail",
            "match": {"kind": "postback", "value": "detail"},
            "action": {"kind": "text", "text": "账单详情：本月话费 58.00 元。"},
        },
        {
            "id": "sms-only",
            "match": {"kind": "exact", "value": "短信", "channels": ["sms"]},
            "action": {"kind": "text", "text": "这是短信专用回复。"},
        },
    ],
}


@dataclass(frozen=True)
class Case:
    name: str
    channel: str  # rcs | sms
    steps: tuple[str, ...]  # what the person sends; "tap:N" taps chip N of the newest message
    outcomes: tuple[str, ...]  # what the bot decided on each inbound
    replies: tuple[tuple[str, str], ...]  # the bot's replies: (what matched, a piece of the text)
    state: str = "bot"
    opening: str = "text"  # what the brand sent first: "text", or "card" (with a chip)


CASES = [
    Case("exact keyword", "rcs", ("5G",), ("rule",), (("kw-5g", "59 元"),)),
    Case("keyword in full-width and lower case", "sms", ("５g",), ("rule",), (("kw-5g", "59 元"),)),
    Case("prefix", "rcs", ("余额还有多少",), ("rule",), (("balance", "App"),)),
    Case("regular expression", "sms", ("流量查询",), ("rule",), (("usage", "3.2GB"),)),
    Case("a disabled rule does not answer", "rcs", ("关闭的规则",), ("ask_back",), (("ask_back", "换个说法"),)),
    Case("a rule for SMS only", "rcs", ("短信",), ("ask_back",), (("ask_back", "换个说法"),)),
    Case("a rule for SMS only, over SMS", "sms", ("短信",), ("rule",), (("sms-only", "短信专用"),)),
    Case("the knowledge base answers", "rcs", ("营业时间",), ("faq",), (("faq:hours", "9:00"),)),
    Case("the knowledge base answers over SMS", "sms", ("营业时间",), ("faq",), (("faq:hours", "9:00"),)),
    Case(
        "below the threshold: ask back, then hand off",
        "rcs",
        ("几点关门", "几点关门"),
        ("ask_back", "handoff"),
        (("ask_back", "换个说法"), ("handoff", "转接人工")),
        state="queued",
    ),
    Case(
        "unknown free text over SMS: ask back, then hand off",
        "sms",
        ("随便问问", "还是不懂"),
        ("ask_back", "handoff"),
        (("ask_back", "换个说法"), ("handoff", "转接人工")),
        state="queued",
    ),
    Case(
        "hand-off rule, then the bot is silent while a person holds it",
        "rcs",
        ("人工", "5G"),
        ("rule", "held"),
        (("human", "转接人工"),),
        state="queued",
    ),
    Case(
        "SMS menu: numbered options, a number picks one",
        "sms",
        ("菜单", "2"),
        ("rule", "rule"),
        (("menu", "1. 月套餐\n2. 年套餐"), ("yearly", "599 元")),
    ),
    Case(
        "RCS menu: chips, a tap picks one",
        "rcs",
        ("菜单", "tap:0"),
        ("rule", "rule"),
        (("menu", "请选择"), ("monthly", "59 元")),
    ),
    Case("an opt-out reply is not answered", "sms", ("TD",), ("opt_out",), ()),
    Case("a chip on the brand's card", "rcs", ("tap:0",), ("rule",), (("detail", "58.00"),), opening="card"),
    Case("a chip tapped on the SMS link page", "sms", ("link:0",), ("rule",), (("detail", "58.00"),), opening="card"),
    Case("a shared location gets no answer", "rcs", ("location",), ("none",), ()),
    Case("a file gets no answer", "rcs", ("file",), ("none",), ()),
    Case("a tag rule", "sms", ("会员",), ("rule",), (("vip", "登记会员"),)),
]


def _matched(message: dict) -> str:
    m = message.get("matched", {})
    return m.get("rule_id") or m.get("answerer") or ("ask_back" if m.get("ask_back") else "handoff")


async def _run(conv_env, case: Case, to: str) -> dict:
    first = await conv_env.brand_sends(to, {"card": card()} if case.opening == "card" else None)
    for i, step in enumerate(case.steps, 1):
        if step.startswith("tap:"):
            await conv_env.taps(to, int(step[4:]))
        elif step.startswith("link:"):
            await conv_env.taps_link(first, int(step[5:]))
        elif step == "location":
            await conv_env.shares_location(to)
        elif step == "file":
            await conv_env.sends_file(to)
        else:
            await conv_env.says(case.channel, to, step)
        await conv_env.settled(to, i)
    return await conv_env.settled(to, len(case.steps))


async def test_what_the_bot_does_with_each_inbound(conv_env):
    put = await conv_env.api.put("/v1/conversations/rules", RULES)
    assert put.status == 200, await put.text()
    for n, case in enumerate(CASES):
        # Each case has a number of its own (its last four digits tell it apart); SMS numbers end
        # in 0: the simulated MaaP finds them not RCS-capable, so the brand's message goes by SMS.
        to = f"+861390000{n:03d}{'1' if case.channel == 'rcs' else '0'}"
        conv = await _run(conv_env, case, to)
        ins = [m for m in conv["messages"] if m["direction"] == "in"]
        bot = [m for m in conv["messages"] if m["author"] == "bot"]
        assert tuple(m["matched"]["outcome"] for m in ins) == case.outcomes, case.name
        assert [_matched(m) for m in bot] == [k for k, _ in case.replies], (case.name, bot)
        assert all(piece in m["text"] for m, (_, piece) in zip(bot, case.replies, strict=True)), (case.name, bot)
        assert conv["state"] == case.state, case.name
        assert conv["channel"] == case.channel, case.name
        assert all(m["channel"] == case.channel and m["message_id"] for m in bot), case.name


async def test_replies_travel_in_the_users_rcs_conversation(conv_env):
    """The bot's RCS reply carries the operator's conversationId of the user's message, and the
    simulated handset shows it in the thread."""
    await conv_env.api.put("/v1/conversations/rules", RULES)
    to = "+8613900009991"
    first = await conv_env.brand_sends(to)
    await conv_env.says("rcs", to, "5G")
    conv = await conv_env.settled(to, 1)
    reply = next(m for m in conv["messages"] if m["author"] == "bot")
    await wait_for(conv_env.api, reply["message_id"], lambda v: v["status"] in ("rcs_delivered", "rcs_read"))
    maap = conv_env.maap
    sent = maap.messages[reply["message_id"]]
    assert sent.conversation_id == maap.messages[first].conversation_id
    # What dispatch sent it with: that conversationId, and inReplyTo the contributionId of the
    # user's message (as the operator's callback gave it).
    from sqlalchemy import select

    from conversations.http import CONVERSATIONS
    from conversations.tables import conversation_messages as cm
    from server import DATABASE

    async with conv_env.app[DATABASE].read.connect() as conn:
        contributed = (await conn.execute(select(cm.c.contribution_id).where(cm.c.direction == "in"))).scalar_one()
    context = await conv_env.app[CONVERSATIONS].reply_context([reply["message_id"]])
    assert contributed and context == {reply["message_id"]: (sent.conversation_id, contributed)}
    assert [p["contentText"] for p in sent.parts if isinstance(p.get("contentText"), str)] == [reply["text"]]


async def test_an_sms_reply_to_an_unknown_number_opens_a_conversation_too(conv_env):
    """A reply by the extension code from a number the brand never wrote to still reaches the
    brand's conversations (no user event: there is no message it answers)."""
    await conv_env.api.put("/v1/conversations/rules", RULES)
    to = "+8613900008880"
    await conv_env.says("sms", to, "5G")
    conv = await conv_env.settled(to, 1)
    assert [m["matched"]["outcome"] for m in conv["messages"] if m["direction"] == "in"] == ["rule"]


@pytest.mark.parametrize("channel", ["rcs", "sms"])
async def test_a_closed_conversation_reopens_with_the_bot(conv_env, channel):
    await conv_env.api.put("/v1/conversations/rules", RULES)
    to = "+86139000077" + ("11" if channel == "rcs" else "10")
    await conv_env.brand_sends(to)
    await conv_env.says(channel, to, "人工")
    conv = await conv_env.settled(to, 1)
    assert conv["state"] == "queued", str(conv)
    closed = await conv_env.api.post(f"/v1/conversations/{conv['id']}/close")
    assert (await closed.json())["state"] == "closed"
    await conv_env.says(channel, to, "5G")
    conv = await conv_env.settled(to, 2)
    assert conv["state"] == "bot"
    assert [m["matched"]["outcome"] for m in conv["messages"] if m["direction"] == "in"] == ["rule", "rule"]
