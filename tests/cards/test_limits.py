"""Every card limit: a passing card at the limit, a failing one just over it."""

from __future__ import annotations

import orjson
import pytest
from cardkit import action, calendar, carousel, content, location, media, menu, reply, standalone, with_action

from cards import validate_card

CARD = "/message/generalPurposeCard/content"
SUG0 = f"{CARD}/suggestions/0"


def text_case(name, build, limit, path, profiles=("cn_csp", "gsma", "rbm"), char="字"):
    return [
        pytest.param(build, char * limit, char * (limit + 1), path, profile, id=f"{name}-{profile}")
        for profile in profiles
    ]


TEXT_LIMITS = [
    *text_case("title", lambda v: standalone(title=v), 200, f"{CARD}/title"),
    *text_case("description", lambda v: standalone(description=v), 2000, f"{CARD}/description"),
    *text_case(
        "contentDescription",
        lambda v: standalone(media=media(contentDescription=v)),
        200,
        f"{CARD}/media/contentDescription",
    ),
    *text_case("displayText", lambda v: standalone(suggestions=[reply(v)]), 25, f"{SUG0}/reply/displayText"),
    *text_case("chip displayText", lambda v: {"suggestions": [reply(v)]}, 25, "/suggestions/0/reply/displayText"),
    *text_case(
        "postback", lambda v: standalone(suggestions=[reply("看", v)]), 2048, f"{SUG0}/reply/postback/data", char="d"
    ),
    *text_case(
        "enriched subject",
        lambda v: with_action("dialerAction", "dialEnrichedCall", {"phoneNumber": "+8610000", "subject": v}),
        60,
        f"{SUG0}/action/dialerAction/dialEnrichedCall/subject",
    ),
    *text_case(
        "location label",
        lambda v: location(latitude=39.9, longitude=116.4, label=v),
        100,
        f"{SUG0}/action/mapAction/showLocation/location/label",
    ),
    *text_case(
        "location query", lambda v: location(query=v), 200, f"{SUG0}/action/mapAction/showLocation/location/query"
    ),
    *text_case(
        "calendar title", lambda v: calendar(title=v), 100, f"{SUG0}/action/calendarAction/createCalendarEvent/title"
    ),
    *text_case(
        "calendar description",
        lambda v: calendar(description=v),
        500,
        f"{SUG0}/action/calendarAction/createCalendarEvent/description",
    ),
    *text_case(
        "compose text",
        lambda v: with_action("composeAction", "composeTextMessage", {"phoneNumber": "+8610086", "text": v}),
        100,
        f"{SUG0}/action/composeAction/composeTextMessage/text",
    ),
    *text_case("plain text", lambda v: {"message": {"text": v}}, 2000, "/message/text"),
]


@pytest.mark.parametrize("build, at_limit, over, path, profile", TEXT_LIMITS)
def test_text_limits(build, at_limit, over, path, profile):
    ok = validate_card(build(at_limit), profile)
    assert ok.valid, ok.errors
    bad = validate_card(build(over), profile)
    assert [e.path for e in bad.errors] == [path]
    limit = len(at_limit)
    assert bad.errors[0].message == f"{limit + 1} characters; the limit is {limit}"


EMPTY_TEXT = [
    (lambda: standalone(title=""), f"{CARD}/title"),
    (lambda: standalone(suggestions=[reply("")]), f"{SUG0}/reply/displayText"),
    (lambda: standalone(media=media(contentDescription="")), f"{CARD}/media/contentDescription"),
    (lambda: location(latitude=1, longitude=1, label=""), f"{SUG0}/action/mapAction/showLocation/location/label"),
    (lambda: calendar(title=""), f"{SUG0}/action/calendarAction/createCalendarEvent/title"),
]


@pytest.mark.parametrize("build, path", EMPTY_TEXT)
def test_text_minimum_is_one_character(build, path):
    assert [e.path for e in validate_card(build()).errors] == [path]


def count_case(name, build, limit, path, message, profiles=("cn_csp", "gsma", "rbm")):
    return [
        pytest.param(build, limit, path, message.format(n=limit + 1, limit=limit), profile, id=f"{name}-{profile}")
        for profile in profiles
    ]


COUNT_LIMITS = [
    *count_case(
        "card suggestions",
        lambda n: standalone(suggestions=[reply(str(i), str(i)) for i in range(n)]),
        4,
        f"{CARD}/suggestions",
        "{n} suggestions; the limit is {limit}",
    ),
    *count_case(
        "chip list",
        lambda n: {"suggestions": [reply(str(i), str(i)) for i in range(n)]},
        11,
        "/suggestions",
        "{n} suggestions; the limit is {limit}",
    ),
    *count_case(
        "font styles",
        lambda n: {
            "message": {
                "generalPurposeCard": {
                    "layout": {
                        "cardOrientation": "VERTICAL",
                        "titleFontStyle": ["bold", "italics", "underline", "bold"][:n],
                    },
                    "content": content(),
                }
            }
        },
        3,
        "/message/generalPurposeCard/layout/titleFontStyle",
        "{n} font styles; the limit is {limit}",
    ),
    *count_case(
        "carousel",
        lambda n: carousel(n),
        12,
        "/message/generalPurposeCardCarousel/content",
        "{n} cards; the limit is {limit}",
        profiles=("cn_csp", "gsma"),
    ),
    *count_case(
        "carousel",
        lambda n: carousel(n),
        10,
        "/message/generalPurposeCardCarousel/content",
        "{n} cards; the limit is {limit}",
        profiles=("rbm",),
    ),
    *count_case(
        "menu top", lambda n: menu(n), 3, "/menu/entries", "{n} entries; the limit is {limit}", profiles=("cn_csp",)
    ),
    *count_case(
        "menu top", lambda n: menu(n), 5, "/menu/entries", "{n} entries; the limit is {limit}", profiles=("gsma", "rbm")
    ),
    *count_case(
        "submenu", lambda n: menu(2, n, depth=2), 5, "/menu/entries/0/menu/entries", "{n} entries; the limit is {limit}"
    ),
    *count_case(
        "menu levels",
        lambda n: menu(2, 2, depth=n),
        2,
        "/menu/entries/0/menu/entries/0/menu",
        "{n} menu levels; the limit is {limit}",
        profiles=("cn_csp",),
    ),
    *count_case(
        "menu levels",
        lambda n: menu(2, 2, depth=n),
        3,
        "/menu/entries/0/menu/entries/0/menu/entries/0/menu",
        "{n} menu levels; the limit is {limit}",
        profiles=("gsma", "rbm"),
    ),
]


@pytest.mark.parametrize("build, limit, path, message, profile", COUNT_LIMITS)
def test_count_limits(build, limit, path, message, profile):
    ok = validate_card(build(limit), profile)
    assert ok.valid, ok.errors
    bad = validate_card(build(limit + 1), profile)
    assert [(e.path, e.message) for e in bad.errors] == [(path, message)]


MINIMUMS = [
    (lambda: carousel(1), "/message/generalPurposeCardCarousel/content", "1 card; at least 2 required"),
    (lambda: standalone(suggestions=[]), f"{CARD}/suggestions", "0 suggestions; at least 1 required"),
    (lambda: {"suggestions": []}, "/suggestions", "0 suggestions; at least 1 required"),
    (lambda: {"menu": {"entries": []}}, "/menu/entries", "0 entries; at least 1 required"),
]


@pytest.mark.parametrize("build, path, message", MINIMUMS)
def test_count_minimums(build, path, message):
    assert [(e.path, e.message) for e in validate_card(build()).errors] == [(path, message)]


MB = 1024 * 1024
SIZE_LIMITS = [
    ("image", "image/png", 2 * MB, "mediaFileSize"),
    ("video", "video/mp4", 10 * MB, "mediaFileSize"),
    ("audio", "audio/mpeg", 5 * MB, "mediaFileSize"),
]


@pytest.mark.parametrize("family, ctype, limit, key", SIZE_LIMITS)
def test_cn_media_sizes(family, ctype, limit, key):
    ext = {"image/png": "png", "video/mp4": "mp4", "audio/mpeg": "mp3"}[ctype]

    def build(size):
        return standalone(
            media=media(mediaUrl=f"https://cdn.example.cn/m.{ext}", mediaContentType=ctype, mediaFileSize=size)
        )

    assert validate_card(build(limit)).valid
    bad = validate_card(build(limit + 1))
    assert [(e.path, e.message) for e in bad.errors] == [
        (f"{CARD}/media/{key}", f"{limit + 1} bytes; the limit for {family} is {limit}")
    ]
    # The cap is the Chinese operators' upload limit, not a GSMA one.
    assert validate_card(build(limit + 1), "gsma").valid


def test_cn_thumbnail_size():
    def build(size):
        return standalone(
            media=media(
                thumbnailUrl="https://cdn.example.cn/t.jpg", thumbnailContentType="image/jpeg", thumbnailFileSize=size
            )
        )

    assert validate_card(build(200 * 1024)).valid
    bad = validate_card(build(200 * 1024 + 1))
    assert [e.path for e in bad.errors] == [f"{CARD}/media/thumbnailFileSize"]
    assert validate_card(build(200 * 1024 + 1), "rbm").valid


@pytest.mark.parametrize("key, bound", [("latitude", 90), ("longitude", 180)])
@pytest.mark.parametrize("sign", [1, -1])
def test_coordinates(key, bound, sign):
    coords = {"latitude": 0, "longitude": 0, "label": "北京"}
    ok = location(**{**coords, key: sign * bound})
    assert validate_card(ok).valid
    bad = validate_card(location(**{**coords, key: sign * (bound + 0.0001)}))
    assert [e.path for e in bad.errors] == [f"{SUG0}/action/mapAction/showLocation/location/{key}"]


def test_rbm_message_size():
    def build(pad: int) -> dict:
        card = standalone()
        card["message"]["generalPurposeCard"]["vendorData"] = "x" * pad
        return card

    base = len(orjson.dumps(build(0)["message"]))
    limit = 250 * 1024
    assert validate_card(build(limit - base), "rbm").valid
    bad = validate_card(build(limit - base + 1), "rbm")
    assert [(e.path, e.message) for e in bad.errors] == [("/message", f"{limit + 1} bytes; the limit is {limit}")]


def test_small_width_carousel_takes_no_tall_media():
    assert validate_card(carousel(2, "SMALL_WIDTH", media=media(height="MEDIUM_HEIGHT"))).valid
    assert validate_card(carousel(2, "MEDIUM_WIDTH", media=media(height="TALL_HEIGHT"))).valid
    bad = validate_card(carousel(2, None, media=media(height="TALL_HEIGHT")))  # SMALL when absent
    assert [e.path for e in bad.errors] == [
        f"/message/generalPurposeCardCarousel/content/{i}/media/height" for i in range(2)
    ]


def test_display_text_unit_follows_profile(monkeypatch):
    from dataclasses import replace

    from cards import limits

    monkeypatch.setitem(limits.PROFILES, "bytes", replace(limits.PROFILES["cn_csp"], display_text_unit="bytes"))
    assert validate_card(standalone(suggestions=[reply("字" * 8)]), "bytes").valid  # 24 bytes
    bad = validate_card(standalone(suggestions=[reply("字" * 9)]), "bytes")
    assert bad.errors[0].message == "27 bytes; the limit is 25"


def test_action_helper_builds_one_action():
    assert list(action("urlAction", "openUrl", {"url": "https://a.cn"})["action"]) == [
        "displayText",
        "postback",
        "urlAction",
    ]
