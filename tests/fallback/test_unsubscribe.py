"""Every marketing SMS ends with the unsubscribe text (拒收请回复R, or the tenant's own), whatever
the message's kind, and the cost shown before sending counts it: POST /v1/sms/segments with a
marketing traffic type (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from cards.render import render_text
from fallback.compose import DEFAULT_OPT_OUT_TEXT, compose_sms, with_unsubscribe
from messages.request import parse_send_request
from tests.conftest import card

LINK = "https://h.example/s/abc"
KINDS = [
    ("card", {"card": card()}),
    ("plain text", {"text": "双11 全场5折"}),
    ("text with chips", {"text": "新品上市", "suggestions": [{"reply": {"displayText": "好", "postback": {"data": "x"}}}]}),
    ("file", {"file": {"media_id": "m1", "file_name": "目录.pdf"}}),
    ("location", {"location": {"latitude": 31.2, "longitude": 121.4, "label": "人民广场"}}),
]  # fmt: skip
# (traffic type, the tenant's text or None for the default, what the SMS ends with, or None)
TRAFFIC = [
    ("marketing", None, " 拒收请回复R"),
    ("marketing", "回T退订", " 回T退订"),
    ("notification", None, None),
    ("otp", None, None),
]


@pytest.mark.parametrize("kind,body", KINDS, ids=[k[0] for k in KINDS])
@pytest.mark.parametrize("traffic,text,ending", TRAFFIC, ids=[f"{t[0]}-{t[1]}" for t in TRAFFIC])
def test_every_kind_of_marketing_sms_ends_with_the_unsubscribe_text(kind, body, traffic, text, ending):
    req = parse_send_request({"to": "+8613800138001", "traffic_type": traffic, **body})
    assert req.card is not None
    sms = compose_sms(
        signature="【鸿雁】",
        body_text=render_text(req.card),
        short_link=LINK,
        traffic_type=traffic,
        opt_out_text=text or DEFAULT_OPT_OUT_TEXT,
    )
    if ending is None:
        assert sms.endswith(LINK) and "拒收" not in sms
    else:
        assert sms.endswith(f"{LINK}{ending}")


@pytest.mark.parametrize(
    "text,opt_out,expected",
    [
        ("双11 全场5折", DEFAULT_OPT_OUT_TEXT, "双11 全场5折 拒收请回复R"),
        ("双11 全场5折 拒收请回复R", DEFAULT_OPT_OUT_TEXT, "双11 全场5折 拒收请回复R"),
        (" 新品 ", "回T退订", "新品 回T退订"),
    ],
)
def test_with_unsubscribe_adds_it_once(text, opt_out, expected):
    assert with_unsubscribe(text, opt_out) == expected


async def _count(api, **body) -> dict:
    resp = await api.post("/v1/sms/segments", body)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_the_segment_count_and_cost_include_the_unsubscribe_text(api):
    text = "双" * 60  # 60 characters: one part alone; with 拒收请回复R (and a space) two in cn mode
    plain = await _count(api, text=text, mode="cn")
    assert plain["segments"] == 1 and "unsubscribe_text" not in plain
    notice = await _count(api, text=text, mode="cn", traffic_type="notification")
    assert notice["segments"] == 1 and notice["characters"] == plain["characters"]
    assert notice["unsubscribe_text"] is None
    marketing = await _count(api, text=text, mode="cn", traffic_type="marketing")
    assert marketing["unsubscribe_text"] == "拒收请回复R"
    assert marketing["characters"] == plain["characters"] + len(" 拒收请回复R") and marketing["segments"] == 2
    assert "".join(p["text"] for p in marketing["parts"]).endswith(" 拒收请回复R")

    await api.put("/v1/compliance/policy", {"unsubscribe_text": "回复TD退订本品牌营销短信"})
    custom = await _count(api, text=text, mode="cn", traffic_type="marketing")
    assert custom["unsubscribe_text"] == "回复TD退订本品牌营销短信"
    assert custom["characters"] == plain["characters"] + len(" 回复TD退订本品牌营销短信")
    resp = await api.post("/v1/sms/segments", {"text": "x", "traffic_type": "spam"})
    assert resp.status == 422 and (await resp.json())["errors"][0]["path"] == "/traffic_type"


async def test_the_editors_sms_preview_ends_with_the_tenants_text_and_counts_it(api):
    async def sms(traffic_type: str) -> dict:
        resp = await api.post("/v1/editor/preview", {"card": card(), "traffic_type": traffic_type})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["sms"]

    default = await sms("marketing")
    assert default["text"].endswith(" 拒收请回复R")
    await api.put("/v1/compliance/policy", {"unsubscribe_text": "回复TD退订本品牌营销短信"})
    custom = await sms("marketing")
    assert custom["text"].endswith(" 回复TD退订本品牌营销短信")
    assert custom["text"].removesuffix(" 回复TD退订本品牌营销短信") == default["text"].removesuffix(" 拒收请回复R")
    assert not (await sms("notification"))["text"].endswith("退订本品牌营销短信")
