"""The ask-back offers the brand's best FAQ entries (SQLite and PostgreSQL): chips over RCS,
numbered options over SMS; choosing one answers with that entry. Through the rules' test console
and end to end through the sandbox (the virtual handset taps a chip; an SMS phone replies "2")."""

from __future__ import annotations

import pytest

from conversations.answerers import Question
from conversations.knowledge_http import KNOWLEDGE
from conversations.pipeline import ASK_BACK_CHOICE_TEXT, ASK_BACK_TEXT, FAQ_POSTBACK

BALANCE = {"questions": ["如何查询话费余额", "查话费"], "answer": {"text": "发送 YE 到 10086。"}}
DATA = {"questions": ["怎么查询剩余流量", "流量查询"], "answer": {"text": "发送 CXLL 到 10086。"}}
VAGUE = "话费流量"  # shares a word with both entries, close to neither: below the threshold


async def _faqs(api) -> dict[str, dict]:
    made = {}
    for body in (BALANCE, DATA):
        resp = await api.post("/v1/knowledge/faqs", json=body)
        assert resp.status == 201, await resp.text()
        made[body["questions"][0]] = await resp.json()
    return made


async def _offered(api, text: str) -> list[tuple[str, str]]:
    """The entries an ask-back offers for `text`: the knowledge base's best, in its order."""
    got = await (await api.post("/v1/knowledge/match", json={"text": text, "limit": 3})).json()
    assert got["matches"] and all(m["confidence"] < got["threshold"] for m in got["matches"]), got
    return [(m["faq_id"], m["question"]) for m in got["matches"]]


async def _console(api, **body) -> dict:
    resp = await api.post("/v1/conversations/rules/test", json=body)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["outcome"]


async def test_the_ask_back_offers_the_best_entries_and_a_choice_answers(api):
    made = await _faqs(api)
    offered = await _offered(api, VAGUE)
    assert {title for _, title in offered} == set(made)

    rcs = await _console(api, text=VAGUE, channel="rcs")
    assert rcs["kind"] == "ask_back" and rcs["reply"]["text"] == ASK_BACK_CHOICE_TEXT
    assert rcs["reply"]["suggestions"] == [
        {"reply": {"displayText": title, "postback": {"data": FAQ_POSTBACK + faq_id}}} for faq_id, title in offered
    ]
    sms = await _console(api, text=VAGUE, channel="sms")
    assert sms["kind"] == "ask_back" and "suggestions" not in sms["reply"]
    assert "\n".join(f"{i}. {title}" for i, (_, title) in enumerate(offered, 1)) in sms["reply"]["text"]

    for channel in ("rcs", "sms"):
        chosen = await _console(api, postback=FAQ_POSTBACK + made["怎么查询剩余流量"]["id"], channel=channel)
        assert chosen["kind"] == "faq" and chosen["faq_id"] == made["怎么查询剩余流量"]["id"]
        assert chosen["reply"]["text"] == DATA["answer"]["text"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"postback": FAQ_POSTBACK + "0" * 32}, "none"),  # an entry since deleted: nothing to say
        ({"text": "今天天气怎么样"}, "ask_back"),  # nothing in the FAQ is near: the plain ask-back
    ],
)
async def test_without_entries_to_offer_the_ask_back_is_plain(api, body, kind):
    await _faqs(api)
    got = await _console(api, channel="rcs", **body)
    assert got["kind"] == kind
    if kind == "ask_back":
        assert got["reply"] == {"kind": "text", "text": ASK_BACK_TEXT}


async def test_a_disabled_entry_is_not_answered_when_chosen(api):
    made = await _faqs(api)
    entry = made["如何查询话费余额"]
    await api.put(f"/v1/knowledge/faqs/{entry['id']}", json={**BALANCE, "enabled": False})
    answerer = api.client.app[KNOWLEDGE].answerer_for(api.tenant_id)
    assert await answerer.chosen(entry["id"], "rcs") is None
    assert (await answerer.chosen(made["怎么查询剩余流量"]["id"], "sms")).text == DATA["answer"]["text"]


@pytest.fixture
async def kb_env(conv_env):
    """The sandbox with the brand's real knowledge base answering (not the table answerer)."""
    from conversations.http import CONVERSATIONS

    app = conv_env.app
    app[CONVERSATIONS].answerer_for = app[KNOWLEDGE].answerer_for
    app[CONVERSATIONS].question = Question
    return conv_env


@pytest.mark.parametrize(("channel", "to"), [("rcs", "+8613900006611"), ("sms", "+8613900006610")])
async def test_a_user_chooses_from_the_ask_back_on_the_handset_and_by_sms(kb_env, channel, to):
    api = kb_env.api
    made = await _faqs(api)
    offered = await _offered(api, VAGUE)
    await kb_env.brand_sends(to)
    await kb_env.says(channel, to, VAGUE)
    await kb_env.settled(to, 1)
    if channel == "rcs":
        await kb_env.taps(to, 1)  # the second chip
    else:
        await kb_env.says("sms", to, "2")
    conv = await kb_env.settled(to, 2)
    ins = [m for m in conv["messages"] if m["direction"] == "in"]
    bot = [m for m in conv["messages"] if m["author"] == "bot"]
    assert [m["matched"]["outcome"] for m in ins] == ["ask_back", "faq"]
    faq_id, title = offered[1]
    answer = next(e["answer"]["text"] for e in made.values() if e["id"] == faq_id)
    # Over RCS the options are the chips (the second one tapped chose offered[1]); over SMS the lines.
    assert bot[0]["text"].startswith(ASK_BACK_CHOICE_TEXT) and (channel == "rcs" or f"2. {title}" in bot[0]["text"])
    assert bot[1]["text"] == answer
    assert bot[1]["matched"]["faq_id"] == faq_id and bot[1]["matched"]["chosen"] is True
    assert conv["state"] == "bot"


@pytest.mark.parametrize("channel", ["rcs", "sms"])
def test_a_long_entry_title_is_cut_to_a_chips_length(channel):
    from conversations.pipeline import MAX_CHIP_TEXT, _ask_back_reply

    title = "请问在国外旅游的时候手机怎么开通国际漫游并且资费是多少"
    reply = _ask_back_reply([("e1", title), ("e2", "流量查询")], channel)
    shown = [c["reply"]["displayText"] for c in reply.suggestions] if channel == "rcs" else reply.text.split("\n")
    cut = title[: MAX_CHIP_TEXT - 1] + "…"
    assert (
        (cut in shown and "流量查询" in shown)
        if channel == "rcs"
        else (f"1. {cut}" in shown and "2. 流量查询" in shown)
    )
    assert len(cut) == MAX_CHIP_TEXT
