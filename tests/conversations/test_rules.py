"""The rules engine and the bot's decision, table-driven (nothing sent), and the rules API with
its test console over HTTP."""

from __future__ import annotations

import time

import pytest

from conversations.pipeline import ASK_BACK_TEXT, HANDOFF_TEXT, decide
from conversations.rules import DEFAULT_THRESHOLD, REGEX_BUDGET_S, Inbound, first_match, parse_rules
from tests.conversations.conftest import ANSWERS, Question, TableAnswerer
from tests.conversations.test_bot_table import RULES

RULE_SET = parse_rules(RULES)

# (channel, text, postback, menu shown, misses before) → (outcome, rule or source, reply text piece)
DECISIONS = [
    ("rcs", "5G", None, None, 0, "rule", "kw-5g", "59 元"),
    ("rcs", " ５ｇ ", None, None, 0, "rule", "kw-5g", "59 元"),
    ("sms", "余额", None, None, 0, "rule", "balance", "App"),
    ("sms", "话费", None, None, 0, "rule", "usage", "3.2GB"),
    ("sms", "话费查询一下", None, None, 0, "ask_back", None, ASK_BACK_TEXT),
    ("sms", "菜单", None, None, 0, "rule", "menu", "1. 月套餐"),
    ("rcs", "菜单", None, None, 0, "rule", "menu", "请选择"),
    ("sms", "2", None, "menu", 0, "rule", "yearly", "599 元"),
    ("sms", "3", None, "menu", 0, "ask_back", None, ASK_BACK_TEXT),  # no third option
    ("sms", "2", None, None, 0, "ask_back", None, ASK_BACK_TEXT),  # no menu shown
    ("rcs", None, "plan:monthly", None, 0, "rule", "monthly", "59 元"),
    ("rcs", None, "unknown-postback", None, 0, "none", None, None),
    ("rcs", "营业时间", None, None, 0, "faq", "faq:hours", "9:00"),
    ("rcs", "几点关门", None, None, 0, "ask_back", None, ASK_BACK_TEXT),
    ("rcs", "几点关门", None, None, 1, "handoff", None, HANDOFF_TEXT),
    ("rcs", "人工", None, None, 0, "rule", "human", "转接人工"),
    ("sms", "短信", None, None, 0, "rule", "sms-only", "短信专用"),
    ("rcs", "关闭的规则", None, None, 0, "ask_back", None, ASK_BACK_TEXT),
]


@pytest.mark.parametrize(("channel", "text", "postback", "menu", "misses", "kind", "by", "piece"), DECISIONS)
async def test_the_bot_decides(channel, text, postback, menu, misses, kind, by, piece):
    answerer = TableAnswerer(dict(ANSWERS))
    outcome = await decide(
        RULE_SET,
        Inbound(channel, text, postback, menu),
        misses=misses,
        answerer=answerer,
        question=Question,
        tenant_id="t1",
        conversation_id="c1",
    )
    assert outcome.kind == kind
    assert (outcome.rule_id or outcome.source) == by
    if piece is None:
        assert outcome.reply is None
    else:
        assert outcome.reply is not None and piece in (outcome.reply.text or "")
    # The answerer is asked about free text no rule took, and only then.
    free_text_missed = kind in ("faq", "ai") or (kind in ("ask_back", "handoff") and by is None)
    assert [q.text for q in answerer.asked] == ([text.strip()] if free_text_missed else [])


async def test_an_rcs_menu_is_chips_and_an_sms_menu_is_numbered():
    rcs = await decide(RULE_SET, Inbound("rcs", "菜单"))
    sms = await decide(RULE_SET, Inbound("sms", "菜单"))
    assert rcs.menu == sms.menu == "menu"
    assert [c["reply"]["postback"]["data"] for c in rcs.reply.suggestions] == ["plan:monthly", "plan:yearly"]
    assert sms.reply.suggestions is None and sms.reply.text == "请选择：\n1. 月套餐\n2. 年套餐"


async def test_on_miss_handoff_hands_off_at_the_first_miss_and_no_answerer_is_a_miss():
    rules = parse_rules({**RULES, "on_miss": "handoff"})
    outcome = await decide(rules, Inbound("sms", "随便问问"))
    assert (outcome.kind, outcome.handoff) == ("handoff", True)


def test_a_regular_expression_cannot_hold_the_loop():
    """Catastrophic patterns against long input: every expression is cut by its timeout and all
    together by the inbound's budget; a timed-out expression does not match."""
    evil = {"kind": "regex", "value": r"^(\w+\s?)*$"}
    rules = parse_rules({"rules": [{"id": f"r{i}", "match": evil, "action": {"kind": "handoff"}} for i in range(50)]})
    text = "a" * 900 + "!"
    started = time.monotonic()
    assert first_match(rules, Inbound("rcs", text)) is None
    assert time.monotonic() - started < REGEX_BUDGET_S + 0.5


async def test_rules_round_trip_and_the_test_console(api):
    empty = await (await api.get("/v1/conversations/rules")).json()
    assert empty == {"rules": [], "threshold": DEFAULT_THRESHOLD, "on_miss": "ask_back"}
    put = await api.put("/v1/conversations/rules", RULES)
    assert put.status == 200, await put.text()
    got = await (await api.get("/v1/conversations/rules")).json()
    assert [r["id"] for r in got["rules"]] == [r["id"] for r in RULES["rules"]]
    assert got["rules"][0]["enabled"] is True and got["rules"][0]["name"] == "5G"

    cases = [
        ({"text": "5G"}, "rule", "kw-5g"),
        ({"text": "2", "channel": "sms", "menu": "menu"}, "rule", "yearly"),
        ({"postback": "plan:monthly"}, "rule", "monthly"),
        ({"text": "人工"}, "rule", "human"),
        ({"text": "随便问问"}, "ask_back", None),  # no answerer on this server: a miss
        ({"text": "随便问问", "misses": 1}, "handoff", None),
    ]
    for body, kind, rule_id in cases:
        answer = await api.post("/v1/conversations/rules/test", body)
        assert answer.status == 200, await answer.text()
        outcome = (await answer.json())["outcome"]
        assert (outcome["kind"], outcome.get("rule_id")) == (kind, rule_id), body
    # The console sent nothing and opened no conversation.
    listed = await (await api.get("/v1/conversations")).json()
    assert listed == {"conversations": [], "next_cursor": None}
