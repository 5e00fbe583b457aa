"""Golden files for every library template × renderer, and renderer behaviour.

Regenerate with HONGYAN_UPDATE_GOLDEN=1 (then look at the PNGs before committing).
"""

from __future__ import annotations

import io
import re

import orjson
import pytest
from cardkit import action, carousel, media, reply, standalone
from goldens import GOLDEN, check_bytes, check_png
from PIL import Image

from cards import (
    BOTMESSAGE_CONTENT_TYPE,
    Footer,
    load_library,
    render_gsma,
    render_html,
    render_png,
    render_text,
    reply_options,
)
from cards.links import landing_href as real_landing_href
from cards.model import parse_document
from cards.view import document_view

LIBRARY = load_library()
NAMES = sorted(LIBRARY)


landing_href = real_landing_href("/s/TOKEN")


@pytest.mark.parametrize("name", NAMES)
def test_golden_gsma(name):
    card = LIBRARY[name].sample_card()
    data = orjson.loads(render_gsma(card))
    check_bytes(GOLDEN / f"{name}.json", orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


@pytest.mark.parametrize("name", NAMES)
def test_golden_text(name):
    card = LIBRARY[name].sample_card()
    options = {
        n: {"index": o.index, "displayText": o.display_text, "postback": o.postback}
        for n, o in reply_options(card).items()
    }
    text = render_text(card) + "\n\n# reply options\n" + orjson.dumps(options).decode() + "\n"
    check_bytes(GOLDEN / f"{name}.txt", text.encode())


@pytest.mark.parametrize("name", NAMES)
def test_golden_html(name):
    card = LIBRARY[name].sample_card()
    html = render_html(
        card,
        suggestion_href=landing_href,
        form_action="/s/TOKEN/reply",
        form_fields={"csrf": "CSRF"},
        brand="鸿雁测试",
        footer=Footer(signature="【鸿雁测试】", opt_out_url="/s/TOKEN/optout", privacy_url="/privacy"),
    )
    check_bytes(GOLDEN / f"{name}.html", html.encode())


@pytest.mark.parametrize("name", NAMES)
def test_golden_png(name):
    check_png(GOLDEN / f"{name}.png", render_png(LIBRARY[name].sample_card()))


def test_library_has_the_templates_the_issue_asks_for():
    assert len(LIBRARY) >= 12
    for t in LIBRARY.values():
        assert t.traffic_type in ("notification", "marketing", "otp")
        assert t.title and t.sample
        assert set(t.compiled.variables) <= set(t.sample), t.name
    assert LIBRARY["verification_code"].traffic_type == "otp"
    for key in ("3d", "1d", "morning"):
        assert f"hospital_reminder_{key}" in LIBRARY


def test_text_numbers_replies_and_maps_them_to_postbacks():
    card = standalone(
        suggestions=[
            reply("查看账单", "bill"),
            action("dialerAction", "dialPhoneNumber", {"phoneNumber": "10000"}, "客服"),
            reply("退订", "stop"),
        ]
    )
    card["suggestions"] = [reply("人工", "human")]
    text = render_text(card)
    assert text.splitlines() == ["标题", "描述", "电话：10000", "", "回复1 查看账单", "回复2 退订", "回复3 人工"]
    options = reply_options(card)
    assert {n: (o.postback, o.index) for n, o in options.items()} == {
        "1": ("bill", 0),
        "2": ("stop", 2),
        "3": ("human", 3),
    }
    assert render_text(card, locale="en").splitlines()[-1] == "Reply 3: 人工"


def test_html_escapes_card_text_and_has_no_scripts():
    evil = "<script>alert(1)</script>&\"'"
    card = standalone(title=evil, description=evil, suggestions=[reply(evil[:25], evil)])
    html = render_html(card, form_action="/s/T/reply")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert re.search(r"<script\b", html) is None
    assert 'name="robots" content="noindex' in html


def test_preview_is_inert_and_landing_page_uses_hooks():
    card = standalone(
        suggestions=[
            action("urlAction", "openUrl", {"url": "https://x.cn", "application": "browser"}),
            reply("好", "ok"),
        ]
    )
    preview = render_html(card, page=False)
    assert "href=" not in preview and "<form" not in preview and "<html" not in preview
    page = render_html(card, suggestion_href=landing_href, form_action="/s/T/reply")
    assert 'href="/s/TOKEN/a/0"' in page
    assert '<form class="sg-form" method="post" action="/s/T/reply">' in page
    assert 'name="suggestion" value="1"' in page
    assert "https://x.cn" not in page  # the card's URL is reached through the tracked redirect only


def test_media_is_a_placeholder_unless_the_caller_allows_a_source():
    card = standalone(media=media(contentDescription="海报"))
    assert "<img" not in render_html(card)
    html = render_html(card, media_src=lambda m: m.url)
    assert '<img src="https://cdn.example.cn/a.png" alt="海报"' in html


def test_png_without_a_cjk_font_still_renders(monkeypatch):
    from cards import fonts

    monkeypatch.setattr(fonts, "cjk_font_path", lambda: None)
    fonts.font.cache_clear()
    try:
        png = render_png(LIBRARY["monthly_bill"].sample_card())
    finally:
        fonts.font.cache_clear()
    assert Image.open(io.BytesIO(png)).size[0] > 0


def test_font_can_be_chosen_by_environment(monkeypatch, tmp_path):
    from cards import fonts

    monkeypatch.setenv("HONGYAN_CJK_FONT", "/nonexistent/font.ttc")
    fonts.cjk_font_path.cache_clear()
    try:
        assert fonts.cjk_font_path() != "/nonexistent/font.ttc"  # a missing file is ignored
        monkeypatch.setenv("HONGYAN_CJK_FONT", fonts.KNOWN_CJK_FONTS[0])
        fonts.cjk_font_path.cache_clear()
        assert fonts.cjk_font_path() == fonts.KNOWN_CJK_FONTS[0]
    finally:
        fonts.cjk_font_path.cache_clear()


def test_png_never_fetches_media(monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("a renderer tried to open a connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    for card in (
        standalone(media=media()),
        carousel(3, "MEDIUM_WIDTH", media=media(mediaUrl="https://c.cn/v.mp4", mediaContentType="video/mp4")),
    ):
        img = Image.open(io.BytesIO(render_png(card)))
        assert img.format == "PNG"
        render_html(card)


def test_png_carousel_is_wider_than_a_standalone_card():
    one = Image.open(io.BytesIO(render_png(standalone())))
    many = Image.open(io.BytesIO(render_png(carousel(4, "MEDIUM_WIDTH"))))
    assert many.size[0] > one.size[0]


def test_suggestion_indexes_agree_across_renderers():
    card = carousel(2, suggestions=[reply("甲", "a"), reply("乙", "b")])
    card["suggestions"] = [reply("丙", "c")]
    view = document_view(parse_document(card))
    assert [s.index for s in view.suggestions] == [0, 1, 2, 3, 4]
    assert [o.index for o in reply_options(card).values()] == [0, 1, 2, 3, 4]


def test_content_type_constants():
    assert BOTMESSAGE_CONTENT_TYPE == "application/vnd.gsma.botmessage.v1.0+json"


def test_suggestion_response_is_what_an_rcs_tap_sends():
    from cards import suggestion_response

    card = standalone(
        suggestions=[reply("查看", "view"), action("dialerAction", "dialPhoneNumber", {"phoneNumber": "10000"}, "客服")]
    )
    assert suggestion_response(card, 0) == {
        "response": {"reply": {"displayText": "查看", "postback": {"data": "view"}}}
    }
    assert suggestion_response(card, 1) == {
        "response": {"action": {"displayText": "客服", "postback": {"data": "act"}}}
    }
    option = reply_options(card)["1"]
    assert suggestion_response(card, option.index)["response"]["reply"]["postback"]["data"] == option.postback
    with pytest.raises(IndexError):
        suggestion_response(card, 2)


def test_png_rendering_from_many_threads_matches_sequential():
    from concurrent.futures import ThreadPoolExecutor

    cards = [LIBRARY[n].sample_card() for n in NAMES[:6]]
    expected = [render_png(c) for c in cards]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(render_png, cards * 3))
    assert got == expected * 3


@pytest.mark.parametrize(
    "text, width, lines",
    [
        (
            "周先生，您的包裹（顺丰速运 SF1408822711）已由快递员王师傅派送中。",
            400,
            ["周先生，您的包裹（顺丰速运", "SF1408822711）已由快递员王师傅派送", "中。"],
        ),
        (
            "English text wraps at spaces nicely, doesn't it? Supercalifragilisticexpialidocious",
            260,
            ["English text wraps at", "spaces nicely, doesn't it?", "Supercalifragilisticexpialidoc", "ious"],
        ),
        ("第一行\n\n第三行", 400, ["第一行", "", "第三行"]),
        ("控制\x85字符\u200b", 400, ["控制", "字符"]),
    ],
)
def test_wrap_breaks_by_width_and_keeps_punctuation_attached(text, width, lines):
    from cards.fonts import font, text_width, wrap

    f = font(21)
    got = wrap(text, f, width)
    assert got == lines
    assert all(not line.startswith(("，", "。", "）")) for line in got)
    assert all(text_width(line, f) <= width for line in got if len(line) > 1)


def test_chip_list_and_menu_have_their_own_gsma_bodies():
    from cards import render_gsma_menu, render_gsma_suggestions

    card = standalone()
    assert render_gsma_suggestions(card) is None and render_gsma_menu(card) is None
    card["suggestions"] = [action("urlAction", "openUrl", {"url": "https://a.cn"}, "看看")]
    card["menu"] = {"entries": [action("urlAction", "openUrl", {"url": "https://b.cn"}, "官网")]}
    chips = orjson.loads(render_gsma_suggestions(card))
    assert chips == {
        "suggestions": [
            {
                "action": {
                    "displayText": "看看",
                    "postback": {"data": "act"},
                    "urlAction": {"openUrl": {"url": "https://a.cn", "application": "browser"}},
                }
            }
        ]
    }
    menu = orjson.loads(render_gsma_menu(card))
    assert menu["menu"]["entries"][0]["action"]["urlAction"]["openUrl"]["application"] == "browser"
    assert "suggestions" not in orjson.loads(render_gsma(card))


FILE_DOC = {
    "message": {
        "file": {
            "mediaUrl": "https://c.cn/bill.pdf",
            "mediaContentType": "application/pdf",
            "mediaFileSize": 860_000,
            "fileName": "账单.pdf",
        }
    },
    "suggestions": [{"reply": {"displayText": "收到", "postback": {"data": "ok"}}}],
}
PLACE_DOC = {"message": {"location": {"latitude": 31.2304, "longitude": 121.4737, "label": "人民广场"}}}


@pytest.mark.parametrize(
    "doc,text,html_bits",
    [
        (FILE_DOC, "文件：账单.pdf（840 KB）\n\n回复1 收到", ["账单.pdf", "840 KB", "文件"]),
        (PLACE_DOC, "地点：人民广场", ["人民广场", "31.230400, 121.473700"]),
        ({"message": {"location": {"latitude": 1.5, "longitude": 2.5}}}, "地点：位置", ["1.500000, 2.500000"]),
    ],
)
def test_file_and_location_messages_render_in_every_form(doc, text, html_bits):
    assert render_text(doc) == text
    html = render_html(doc, page=False)
    assert all(bit in html for bit in html_bits)
    assert "<a " not in html  # a preview without hooks links nothing
    linked = render_html(doc, page=False, file_href=lambda f: f.media.url, place_href=lambda loc: "/place")
    assert ('href="https://c.cn/bill.pdf"' in linked) == ("file" in doc["message"])
    assert ('href="/place"' in linked) == ("location" in doc["message"])
    png = Image.open(io.BytesIO(render_png(doc)))
    assert png.width > 100 and png.height > 50
