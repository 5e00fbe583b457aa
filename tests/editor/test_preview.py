"""POST /v1/editor/preview: one answer for every preview, built the way a real send builds it."""

from __future__ import annotations

import re
import statistics
import time

import pytest

from tests.conftest import card

PREVIEW = "/v1/editor/preview"
PROBLEM = "application/problem+json"
LINK = re.compile(r" http://127\.0\.0\.1:8080/s/[A-Za-z0-9_-]{16}(?= |$)")
SIGNATURE = "【鸿雁测试】"


def titled(title: str, description: str | None = None, suggestions: list | None = None) -> dict:
    content = {"title": title}
    if description is not None:
        content["description"] = description
    if suggestions is not None:
        content["suggestions"] = suggestions
    return {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": content}}}


def carousel(n: int) -> dict:
    cards = [
        {
            "title": f"{{{{ name }}}}，第 {i} 张",
            "description": "本月话费 {{ amount }} 元",
            "suggestions": [
                {"reply": {"displayText": "查看详情", "postback": {"data": f"d{i}"}}},
                {
                    "action": {
                        "displayText": "拨打客服",
                        "dialerAction": {"dialPhoneNumber": {"phoneNumber": "+8610086"}},
                    }
                },
            ],
        }
        for i in range(n)
    ]
    return {"message": {"generalPurposeCardCarousel": {"layout": {"cardWidth": "MEDIUM_WIDTH"}, "content": cards}}}


async def preview(api, **body) -> dict:
    resp = await api.post(PREVIEW, body)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_valid_card_gets_every_preview(api):
    got = await preview(api, card=card())
    assert got["valid"] is True and got["errors"] == [] and got["warnings"] == []
    assert got["card"] == card()
    assert got["missing_variables"] == [] and got["variables_used"] == []
    assert "您的账单已出" in got["phone_html"] and got["phone_html"].lstrip().startswith("<style>")
    assert "<html" not in got["phone_html"]  # a fragment for the phone frame
    h5 = got["h5_html"]
    assert h5.startswith("<!doctype html>") and "您的账单已出" in h5 and SIGNATURE in h5
    # Links are inert: no short-link routes, no forms, nothing remote.
    assert "/s/" not in h5 and "<form" not in h5 and "<script" not in h5
    sms = got["sms"]
    assert sms["text"].startswith(SIGNATURE + "您的账单已出\n本月话费 58.00 元")
    assert "回复1 查看详情" in sms["text"] and LINK.search(sms["text"])
    assert sms["cost"] is None and sms["currency"] is None  # no price set for this tenant


async def test_an_invalid_card_is_200_with_paths_into_the_card_and_still_renders(api):
    broken = card()
    broken["message"]["generalPurposeCard"]["content"]["suggestions"][0]["reply"]["displayText"] = "x" * 26
    broken["message"]["generalPurposeCard"]["content"]["title"] = "长" * 201
    got = await preview(api, card=broken)
    assert got["valid"] is False and got["card"] is None
    paths = {e["path"] for e in got["errors"]}
    assert paths == {
        "/message/generalPurposeCard/content/title",
        "/message/generalPurposeCard/content/suggestions/0/reply/displayText",
    }
    assert all(e["message"] for e in got["errors"])
    assert "x" * 26 in got["phone_html"] and "x" * 26 in got["h5_html"] and got["sms"]["text"]


async def test_a_variable_pushing_a_field_over_its_limit_is_an_error_at_that_field(api):
    got = await preview(api, card=titled("{{ name }}"), variables={"name": "名" * 201})
    assert got["valid"] is False
    assert [e["path"] for e in got["errors"]] == ["/message/generalPurposeCard/content/title"]


async def test_missing_variables_are_listed_and_shown_as_placeholders(api):
    template = titled("{{ name }}，您好", "本月 {{ amount | money }}，{{ user.level }}")
    got = await preview(api, card=template, variables={"name": "张三"})
    assert got["variables_used"] == ["amount", "name", "user"]
    assert got["missing_variables"] == ["amount", "user"]
    assert got["valid"] is False and got["card"] is None
    # Each missing sample is a finding with a code the editor translates, at the field using it.
    missing = [e for e in got["errors"] if e.get("code") == "sample_missing"]
    assert [(e["path"], e["params"]) for e in missing] == [
        ("/message/generalPurposeCard/content/description", {"name": "amount"}),
        ("/message/generalPurposeCard/content/description", {"name": "user"}),
    ]
    assert missing[0]["message"] == "no sample value for {{ amount }}: give one under Variables"
    assert "张三，您好" in got["phone_html"]
    assert "本月 {{ amount }}，{{ user.level }}" in got["phone_html"]
    assert "{{ amount }}" in got["sms"]["text"]


async def test_a_missing_attribute_of_a_given_variable_is_named(api):
    got = await preview(
        api,
        card=titled("{{ user.name }}", "{{ user.id }} {{ order.item.sku }}"),
        variables={"user": {"id": 7}, "order": {"item": {}}},
    )
    assert got["missing_variables"] == ["order.item.sku", "user.name"] and got["card"] is None
    assert "{{ user.name }}" in got["phone_html"] and "7 {{ order.item.sku }}" in got["phone_html"]


async def test_placeholders_show_the_template_but_validate_the_sample(api):
    template = titled("{{ name }}，您好", "本月 {{ amount | money }}")
    sample = {"name": "张三", "amount": 58}
    got = await preview(api, card=template, variables=sample, placeholders=True)
    assert got["missing_variables"] == [] and got["valid"] is True
    assert "{{ name }}，您好" in got["phone_html"] and "张三" not in got["phone_html"]
    assert "{{ amount }}" in got["h5_html"] and "{{ name }}" in got["sms"]["text"]
    assert got["card"]["message"]["generalPurposeCard"]["content"]["title"] == "张三，您好"
    shown = await preview(api, card=template, variables=sample)
    assert "张三，您好" in shown["phone_html"] and "¥58.00" in shown["phone_html"]


async def test_a_template_syntax_error_is_listed_and_the_rest_renders(api):
    template = titled("{{ name", "本月 {{ amount }} 元")
    got = await preview(api, card=template, variables={"amount": "58"})
    assert got["valid"] is False
    assert [e["path"] for e in got["errors"]] == ["/message/generalPurposeCard/content/title"]
    assert "template error" in got["errors"][0]["message"]
    assert "本月 58 元" in got["phone_html"] and "{{ name" in got["phone_html"]


@pytest.mark.parametrize(
    "traffic_type, ends_with_opt_out",
    [
        ("marketing", True),
        ("notification", False),
        ("otp", False),
    ],
)
async def test_marketing_sms_carries_the_opt_out_line(api, traffic_type, ends_with_opt_out):
    got = await preview(api, card=titled("双十一特惠"), traffic_type=traffic_type)
    text = got["sms"]["text"]
    assert text.endswith(" 拒收请回复R") is ends_with_opt_out
    assert LINK.search(text)


# The 【…】 signature is outside GSM 03.38, so every CN fallback SMS goes as UCS-2 on the wire
# (70 units alone, 67 a part) even with an ASCII body; China bills characters (70 / 67) where
# the wire counts UTF-16 units (an emoji is 2 units, 1 billed character).
# Fixed part: signature 6 + " " + link 40 = 47 characters.
@pytest.mark.parametrize(
    "title, segments, billed_units, billed_parts",
    [
        ("Hi", 1, 49, 1),  # 49 units
        ("A" * 23, 1, 70, 1),  # exactly 70
        ("A" * 24, 2, 71, 2),  # one over
        ("😀" * 20, 2, 67, 1),  # 87 UTF-16 units on the wire, 67 characters billed
        ("é" * 100, 3, 147, 3),  # 147 > 134
    ],
)
async def test_encoding_and_parts_are_counted_as_sent(api, title, segments, billed_units, billed_parts):
    got = await preview(api, card=titled(title))
    sms = got["sms"]
    assert sms["text"] == f"{SIGNATURE}{title} http://127.0.0.1:8080/s/" + sms["text"][-16:]
    assert sms["encoding"] == "UCS-2"
    assert (sms["segments"], sms["cn_billing_units"], sms["cn_parts"]) == (segments, billed_units, billed_parts)


@pytest.mark.parametrize(
    "price, title, cost",
    [
        ("0.045", "Hi", "0.045"),
        ("0.045", "A" * 24, "0.09"),
        ("0.05", "é" * 100, "0.15"),
        (None, "Hi", None),
    ],
)
async def test_cost_is_billed_parts_times_the_tenants_price(api, price, title, cost):
    tenant = await api.new_tenant("Priced", sms_price=price)
    got = await preview(tenant, card=titled(title))
    assert got["sms"]["cost"] == cost
    assert got["sms"]["currency"] == ("CNY" if price else None)


async def test_the_tenants_signature_is_used(api):
    tenant = await api.new_tenant("Signed", signature="【鸿雁银行】")
    got = await preview(tenant, card=titled("您好"))
    assert got["sms"]["text"].startswith("【鸿雁银行】您好")
    assert "【鸿雁银行】" in got["h5_html"]


async def test_an_sms_that_cannot_be_composed_is_a_warning(api):
    got = await preview(api, card=titled("【别家】您好"))
    assert got["sms"] is None and got["valid"] is True
    assert any("SMS" in w["message"] for w in got["warnings"])


async def test_warnings_are_listed(api):
    url_card = titled(
        "看看",
        suggestions=[{"action": {"displayText": "打开", "urlAction": {"openUrl": {"url": "https://example.cn/a"}}}}],
    )
    got = await preview(api, card=url_card)
    assert got["valid"] is True
    assert [w["path"] for w in got["warnings"]] == [
        "/message/generalPurposeCard/content/suggestions/0/action/urlAction/openUrl/application"
    ]


async def test_media_we_host_is_shown_and_remote_media_is_not_fetched(api):
    def with_media(url: str) -> dict:
        c = titled("图")
        c["message"]["generalPurposeCard"]["content"]["media"] = {
            "mediaUrl": url,
            "mediaContentType": "image/jpeg",
            "mediaFileSize": 1000,
            "height": "MEDIUM_HEIGHT",
        }
        return c

    ours = await preview(api, card=with_media("http://127.0.0.1:8080/media/abcDEF0123456789abcdef"))
    assert '<img src="/media/abcDEF0123456789abcdef"' in ours["phone_html"]
    assert '<img src="/media/abcDEF0123456789abcdef"' in ours["h5_html"]
    theirs = await preview(api, card=with_media("https://cdn.example.cn/a.jpg"))
    assert "cdn.example.cn" not in theirs["phone_html"] and "cdn.example.cn" not in theirs["h5_html"]
    assert 'class="placeholder"' in theirs["phone_html"]


async def test_locale_switches_labels_and_filters(api):
    got = await preview(api, card=titled("{{ amount | money }}"), variables={"amount": 5}, locale="en")
    assert "CN¥5.00" in got["phone_html"] or "¥5.00" in got["phone_html"]


async def test_a_carousel_with_the_rbm_profile(api):
    got = await preview(api, card=carousel(11), variables={"name": "张三", "amount": 1}, profile="rbm")
    assert got["valid"] is False
    assert any(e["path"] == "/message/generalPurposeCardCarousel/content" for e in got["errors"])
    ok = await preview(api, card=carousel(11), variables={"name": "张三", "amount": 1})
    assert ok["valid"] is True and ok["phone_html"].count('class="card') == 11


@pytest.mark.parametrize(
    "body, paths",
    [
        ({}, ["/card"]),
        ({"card": []}, ["/card"]),
        ({"card": card(), "variables": [1]}, ["/variables"]),
        ({"card": card(), "placeholders": "yes"}, ["/placeholders"]),
        ({"card": card(), "profile": "cmcc"}, ["/profile"]),
        ({"card": card(), "locale": "fr"}, ["/locale"]),
        ({"card": card(), "traffic_type": "spam"}, ["/traffic_type"]),
        ({"card": "x", "profile": 1}, ["/card", "/profile"]),
    ],
)
async def test_a_malformed_request_is_422(api, body, paths):
    resp = await api.post(PREVIEW, body)
    assert resp.status == 422
    assert [e["path"] for e in (await resp.json(content_type=PROBLEM))["errors"]] == paths


async def test_needs_the_cards_scope(api):
    from tests.conftest import ApiClient

    made = await (await api.post("/v1/api-keys", {"scopes": ["messages"]})).json()
    resp = await ApiClient(api.client, api.tenant_id, made["api_key"]).post(PREVIEW, {"card": card()})
    assert resp.status == 403
    assert (await api.client.post(PREVIEW, json={"card": card()})).status == 401


async def test_preview_is_fast_enough_to_run_on_every_keystroke(api):
    body = {"card": carousel(10), "variables": {"name": "张三", "amount": "58.00"}, "traffic_type": "marketing"}
    timings = []
    for i in range(30):
        body["variables"]["amount"] = str(i)  # a new sample each time, as while typing
        started = time.perf_counter()
        resp = await api.post(PREVIEW, body)
        assert resp.status == 200
        await resp.read()
        timings.append(time.perf_counter() - started)
    # The editor's budget is 300 ms including the browser; the server takes a small part of it.
    assert statistics.median(timings) < 0.06, timings


def test_compiled_cards_are_cached_in_a_bounded_lru():
    from editor import Previewer, parse_request

    previewer = Previewer("http://127.0.0.1:8080", cache_size=2)
    tenant = {"signature": SIGNATURE, "sms_price": None}
    first = parse_request({"card": titled("{{ a }}"), "variables": {"a": "1"}})
    previewer.preview(first, tenant)
    previewer.preview(parse_request({"card": titled("{{ a }}"), "variables": {"a": "2"}}), tenant)
    assert previewer.compilations == 1
    for title in ("b", "c"):
        previewer.preview(parse_request({"card": titled(title)}), tenant)
    assert previewer.compilations == 3 and len(previewer._cache) == 2
    previewer.preview(first, tenant)  # evicted: compiled again
    assert previewer.compilations == 4


@pytest.mark.parametrize(
    "title, message",
    [
        (
            "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x{% endfor %}"
            "{% endfor %}{% endfor %}",
            "could take up to 1,004,004,003 steps",
        ),
        ("{{ 'x' * 100000 }}", "not allowed"),
        ("{{ ''.__class__.__mro__ }}", "not allowed"),
    ],
)
async def test_template_bounds_hold_in_the_preview_too(api, title, message):
    # Refused as a send would be: a 422 naming the field, before (or as soon as) the template runs.
    resp = await api.post(PREVIEW, {"card": titled(title, "说明")})
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert [e["path"] for e in problem["errors"]] == ["/card/message/generalPurposeCard/content/title"]
    assert message in problem["errors"][0]["message"]


async def test_a_deeply_nested_sample_is_harmless(api):
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    got = await preview(api, card=titled("{{ x.a.a.b }}"), variables={"x": deep})
    assert got["missing_variables"] == ["x.a.a.b"] and "{{ x.a.a.b }}" in got["phone_html"]


async def test_the_phone_preview_marks_each_element_with_its_json_pointer(api):
    card = {
        "message": {
            "generalPurposeCardCarousel": {
                "layout": {"cardWidth": "MEDIUM_WIDTH"},
                "content": [
                    {"title": "甲", "description": "说明", "suggestions": [{"reply": {"displayText": "好"}}]},
                    {
                        "title": "乙",
                        "media": {
                            "mediaUrl": "https://cdn.example.com/a.jpg",
                            "mediaContentType": "image/jpeg",
                            "mediaFileSize": 1,
                            "height": "MEDIUM_HEIGHT",
                        },
                    },
                ],
            }
        },
        "suggestions": [
            {"action": {"displayText": "致电", "dialerAction": {"dialPhoneNumber": {"phoneNumber": "+8610"}}}}
        ],
    }
    got = await preview(api, card=card)
    html = got["phone_html"]
    base = "/message/generalPurposeCardCarousel/content"
    for path in (
        f"{base}/0",
        f"{base}/0/title",
        f"{base}/0/description",
        f"{base}/0/suggestions/0",
        f"{base}/1",
        f"{base}/1/media",
        "/suggestions/0",
    ):
        assert f'data-path="{path}"' in html, path
    # The recipient's page is not marked.
    assert "data-path" not in got["h5_html"]
