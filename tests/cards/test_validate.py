"""§13 warnings vs errors, lenient parsing, lossless round-trip (table-driven + hypothesis)."""

from __future__ import annotations

import copy

import pytest
from cardkit import action, calendar, carousel, content, location, media, reply, standalone, with_action
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards import parse_document, render_gsma, validate_card
from cards.validate import parse_rfc3339

CARD = "/message/generalPurposeCard/content"
URL = f"{CARD}/suggestions/0/action/urlAction/openUrl"
FILE = {"mediaUrl": "https://c.cn/bill.pdf", "mediaContentType": "application/pdf", "mediaFileSize": 52_000}
PLACE = {"latitude": 31.2304, "longitude": 121.4737, "label": "人民广场"}

# §13: exactly these are warnings; the card stays valid.
WARNINGS = [
    (
        "openUrl without application",
        lambda: with_action("urlAction", "openUrl", {"url": "https://a.cn/x"}),
        f"{URL}/application",
    ),
    (
        "image/jpg",
        lambda: standalone(media=media(mediaUrl="https://c.cn/a", mediaContentType="image/jpg")),
        f"{CARD}/media/mediaContentType",
    ),
    ("extension disagrees", lambda: standalone(media=media(mediaUrl="https://c.cn/a.jpg")), f"{CARD}/media/mediaUrl"),
    (
        "thumbnail extension disagrees",
        lambda: standalone(
            media=media(thumbnailUrl="https://c.cn/t.png", thumbnailContentType="image/jpeg", thumbnailFileSize=10)
        ),
        f"{CARD}/media/thumbnailUrl",
    ),
]


@pytest.mark.parametrize("name, build, path", WARNINGS, ids=[w[0] for w in WARNINGS])
def test_warnings_keep_the_card_valid(name, build, path):
    report = validate_card(build())
    assert report.valid and report.errors == []
    assert [w.path for w in report.warnings] == [path]
    assert all(w.code for w in report.warnings)


ERRORS = [
    (
        "unknown font style",
        lambda: {
            "message": {
                "generalPurposeCard": {
                    "layout": {"cardOrientation": "VERTICAL", "descriptionFontStyle": ["bold", "blink"]},
                    "content": content(),
                }
            }
        },
        "/message/generalPurposeCard/layout/descriptionFontStyle/1",
    ),
    (
        "media without size",
        lambda: standalone(media={k: v for k, v in media().items() if k != "mediaFileSize"}),
        f"{CARD}/media/mediaFileSize",
    ),
    (
        "media without url",
        lambda: standalone(media={k: v for k, v in media().items() if k != "mediaUrl"}),
        f"{CARD}/media/mediaUrl",
    ),
    (
        "media without height",
        lambda: standalone(media={k: v for k, v in media().items() if k != "height"}),
        f"{CARD}/media/height",
    ),
    (
        "thumbnail without type",
        lambda: standalone(media=media(thumbnailUrl="https://c.cn/t.jpg", thumbnailFileSize=1)),
        f"{CARD}/media/thumbnailContentType",
    ),
    (
        "thumbnail without size",
        lambda: standalone(media=media(thumbnailUrl="https://c.cn/t.jpg", thumbnailContentType="image/jpeg")),
        f"{CARD}/media/thumbnailFileSize",
    ),
    (
        "no orientation",
        lambda: {"message": {"generalPurposeCard": {"layout": {}, "content": content()}}},
        "/message/generalPurposeCard/layout/cardOrientation",
    ),
    (
        "horizontal without alignment",
        lambda: {
            "message": {"generalPurposeCard": {"layout": {"cardOrientation": "HORIZONTAL"}, "content": content()}}
        },
        "/message/generalPurposeCard/layout/imageAlignment",
    ),
    (
        "empty card",
        lambda: {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": {}}}},
        CARD,
    ),
    ("bad card width", lambda: carousel(2, "LARGE_WIDTH"), "/message/generalPurposeCardCarousel/layout/cardWidth"),
    (
        "bad application",
        lambda: with_action("urlAction", "openUrl", {"url": "https://a.cn", "application": "app"}),
        f"{URL}/application",
    ),
    (
        "webview without viewMode",
        lambda: with_action("urlAction", "openUrl", {"url": "https://a.cn", "application": "webview"}),
        f"{URL}/viewMode",
    ),
    (
        "viewMode in RBM's upper case",
        lambda: with_action(
            "urlAction", "openUrl", {"url": "https://a.cn", "application": "webview", "viewMode": "FULL"}
        ),
        f"{URL}/viewMode",
    ),
    (
        "url with a space",
        lambda: with_action("urlAction", "openUrl", {"url": "https://a.cn/a b", "application": "browser"}),
        f"{URL}/url",
    ),
    (
        "media url with a space",
        lambda: standalone(media=media(mediaUrl="https://c.cn/my photo.jpg")),
        f"{CARD}/media/mediaUrl",
    ),
    (
        "file without its size",
        lambda: {"message": {"file": {"mediaUrl": "https://c.cn/a.pdf", "mediaContentType": "application/pdf"}}},
        "/message/file/mediaFileSize",
    ),
    (
        "file name that is a path",
        lambda: {"message": {"file": {**FILE, "fileName": "../etc/passwd"}}},
        "/message/file/fileName",
    ),
    (
        "file thumbnail that is not an image",
        lambda: {
            "message": {
                "file": {
                    **FILE,
                    "thumbnailUrl": "https://c.cn/t.pdf",
                    "thumbnailContentType": "application/pdf",
                    "thumbnailFileSize": 10,
                }
            }
        },
        "/message/file/thumbnailContentType",
    ),
    (
        "file image over the CN limit",
        lambda: {"message": {"file": {**FILE, "mediaContentType": "image/png", "mediaFileSize": 3 * 1024 * 1024}}},
        "/message/file/mediaFileSize",
    ),
    (
        "location latitude out of range",
        lambda: {"message": {"location": {**PLACE, "latitude": 91}}},
        "/message/location/latitude",
    ),
    (
        "location without longitude",
        lambda: {"message": {"location": {"latitude": 31.2}}},
        "/message/location/longitude",
    ),
    ("location datum unknown", lambda: {"message": {"location": {**PLACE, "crs": "bd09"}}}, "/message/location/crs"),
    (
        "location label over 100",
        lambda: {"message": {"location": {**PLACE, "label": "地" * 101}}},
        "/message/location/label",
    ),
    ("two message kinds", lambda: {"message": {"text": "hi", "location": PLACE}}, "/message"),
    (
        "relative url",
        lambda: with_action("urlAction", "openUrl", {"url": "/x", "application": "browser"}),
        f"{URL}/url",
    ),
    (
        "calendar end before start",
        lambda: calendar(endTime="2026-01-31T08:00:00+08:00"),
        f"{CARD}/suggestions/0/action/calendarAction/createCalendarEvent/endTime",
    ),
    (
        "calendar not RFC 3339",
        lambda: calendar(startTime="2026-01-31 9am"),
        f"{CARD}/suggestions/0/action/calendarAction/createCalendarEvent/startTime",
    ),
    ("location without place", lambda: location(), f"{CARD}/suggestions/0/action/mapAction/showLocation/location"),
    *[
        (
            f"dial {number!r} is no phone number",
            lambda number=number: with_action("dialerAction", "dialPhoneNumber", {"phoneNumber": number}),
            f"{CARD}/suggestions/0/action/dialerAction/dialPhoneNumber/phoneNumber",
        )
        # Words (the SMS would read 电话：call me), too few or too many digits, a doubled plus.
        for number in ("call me", "12", "1234567890123456", "++8610086", "1-800-FLOWERS", "+86 10086 转 2")
    ],
    (
        "recording type",
        lambda: with_action("composeAction", "composeRecordingMessage", {"phoneNumber": "+8610086", "type": "PHOTO"}),
        f"{CARD}/suggestions/0/action/composeAction/composeRecordingMessage/type",
    ),
    (
        "unknown action",
        lambda: standalone(suggestions=[{"action": {"displayText": "x", "teleport": {}}}]),
        f"{CARD}/suggestions/0/action",
    ),
    ("neither reply nor action", lambda: standalone(suggestions=[{"displayText": "x"}]), f"{CARD}/suggestions/0"),
    (
        "both reply and action",
        lambda: standalone(suggestions=[{**reply(), **action("deviceAction", "requestDeviceSpecifics", {})}]),
        f"{CARD}/suggestions/0/action",
    ),
    ("title not a string", lambda: standalone(title=5), f"{CARD}/title"),
    ("explicit null", lambda: standalone(title=None), f"{CARD}/title"),
    (
        "content not an object",
        lambda: {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": []}}},
        CARD,
    ),
    ("nothing to send", lambda: {"hello": 1}, ""),
    (
        "image not jpg/png in cn",
        lambda: standalone(media=media(mediaUrl="https://c.cn/a.gif", mediaContentType="image/gif")),
        f"{CARD}/media/mediaContentType",
    ),
]


@pytest.mark.parametrize("name, build, path", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_path(name, build, path):
    report = validate_card(build())
    assert not report.valid
    assert path in [e.path for e in report.errors], report.errors
    # Every finding carries a stable code (a user interface says it in its own language) and
    # the figures its message quotes.
    for e in report.errors:
        assert e.code and e.code.isidentifier(), e
        assert e.as_dict()["code"] == e.code
        for figure in (e.params or {}).values():
            if isinstance(figure, int) and not isinstance(figure, bool):
                assert str(figure) in e.message, e


@pytest.mark.parametrize(
    "card",
    [
        {"message": {"file": FILE}},
        {"message": {"file": {**FILE, "fileName": "账单.pdf"}}, "suggestions": [{"reply": {"displayText": "收到"}}]},
        {
            "message": {
                "file": {
                    "mediaUrl": "https://c.cn/p.png",
                    "mediaContentType": "image/png",
                    "mediaFileSize": 1000,
                    "thumbnailUrl": "https://c.cn/t.jpg",
                    "thumbnailContentType": "image/jpeg",
                    "thumbnailFileSize": 100,
                }
            }
        },
        {"message": {"location": PLACE}},
        {"message": {"location": {"latitude": -33.8688, "longitude": 151.2093, "crs": "wgs84"}}},
    ],
)
def test_file_and_location_messages_are_valid(card):
    report = validate_card(card)
    assert report.valid and not report.warnings, report.errors
    assert parse_document(card).to_json() == card


def test_view_modes_follow_the_profile():
    """GSMA/CN write viewMode in lower case; RBM's enum is upper case and RBM's alone."""
    lower = with_action("urlAction", "openUrl", {"url": "https://a.cn", "application": "webview", "viewMode": "tall"})
    upper = with_action("urlAction", "openUrl", {"url": "https://a.cn", "application": "webview", "viewMode": "TALL"})
    assert validate_card(lower, "cn_csp").valid and validate_card(lower, "gsma").valid
    assert validate_card(upper, "rbm").valid and not validate_card(lower, "rbm").valid


def test_all_errors_are_listed_at_once():
    card = standalone(title="字" * 201, description="", suggestions=[reply("x" * 26)] * 5)
    paths = sorted(e.path for e in validate_card(card).errors)
    assert paths == [
        f"{CARD}/description",
        f"{CARD}/suggestions",
        *[f"{CARD}/suggestions/{i}/reply/displayText" for i in range(5)],
        f"{CARD}/title",
    ]


def test_every_action_type_is_valid():
    actions = [
        ("urlAction", "openUrl", {"url": "https://a.cn", "application": "webview", "viewMode": "half"}),
        ("dialerAction", "dialPhoneNumber", {"phoneNumber": "+8610000"}),
        ("dialerAction", "dialEnrichedCall", {"phoneNumber": "+8610000", "subject": "账单咨询"}),
        ("dialerAction", "dialVideoCall", {"phoneNumber": "+8610000"}),
        (
            "mapAction",
            "showLocation",
            {
                "location": {"latitude": 39.9, "longitude": 116.4, "label": "天安门"},
                "fallbackUrl": "https://map.example.cn/x",
            },
        ),
        ("mapAction", "showLocation", {"location": {"query": "北京协和医院"}}),
        ("mapAction", "requestLocationPush", {}),
        (
            "calendarAction",
            "createCalendarEvent",
            {"startTime": "2026-01-31T01:00:00Z", "endTime": "2026-01-31T02:00:00Z", "title": "t", "description": "d"},
        ),
        ("composeAction", "composeTextMessage", {"phoneNumber": "+8610086", "text": "CXLL"}),
        ("composeAction", "composeRecordingMessage", {"phoneNumber": "+8610086", "type": "VIDEO"}),
        ("deviceAction", "requestDeviceSpecifics", {}),
        ("settingsAction", "disableAnonymization", {}),
        ("settingsAction", "enableDisplayedNotifications", {}),
    ]
    chips = [action(g, o, p, text=f"a{i}") for i, (g, o, p) in enumerate(actions)]
    for i in range(0, len(chips), 4):
        card = standalone(suggestions=chips[i : i + 4])
        report = validate_card(card)
        assert report.valid and not report.warnings, report.errors
        assert parse_document(card).to_json() == card


REAL_WORLD = {
    # What real senders emit: unknown keys everywhere, an unknown font style, no mediaFileSize,
    # openUrl without application, image/jpg, a vendor extension on the suggestion.
    "message": {
        "generalPurposeCard": {
            "layout": {
                "cardOrientation": "HORIZONTAL",
                "imageAlignment": "LEFT",
                "titleFontStyle": ["bold", "shadow"],
                "x-theme": "dark",
            },
            "content": {
                "media": {
                    "mediaUrl": "https://c.cn/p.jpg",
                    "mediaContentType": "image/jpg",
                    "height": "SHORT_HEIGHT",
                    "x-crop": {"w": 1},
                },
                "title": "双十一大促",
                "description": "全场五折",
                "suggestions": [
                    {
                        "action": {
                            "displayText": "去看看",
                            "urlAction": {"openUrl": {"url": "https://s.cn"}, "x-track": True},
                            "postback": {"data": "go", "x-k": 1},
                            "x-vendor": "a",
                        },
                        "x-order": 1,
                    },
                    {"reply": {"displayText": "不感兴趣", "postback": {"data": "no"}}},
                ],
                "x-content": [1, 2],
            },
        },
        "x-msg": None,
    },
    "suggestions": [{"reply": {"displayText": "人工", "postback": {"data": "human"}}}],
    "x-top": {"nested": [None, 1.5, "s"]},
}


def test_real_world_json_round_trips_and_is_reported():
    before = copy.deepcopy(REAL_WORLD)
    assert parse_document(REAL_WORLD).to_json() == REAL_WORLD
    assert REAL_WORLD == before
    report = validate_card(REAL_WORLD)
    assert {e.path for e in report.errors} == {
        "/message/generalPurposeCard/layout/titleFontStyle/1",
        f"{CARD}/media/mediaFileSize",
    }
    assert {w.path for w in report.warnings} == {
        f"{CARD}/media/mediaContentType",
        f"{CARD}/suggestions/0/action/urlAction/openUrl/application",
    }


def test_gsma_output_fixes_warnings_and_keeps_unknown_fields():
    import orjson

    fixed = copy.deepcopy(REAL_WORLD)
    fixed["message"]["generalPurposeCard"]["layout"]["titleFontStyle"] = ["bold"]
    fixed["message"]["generalPurposeCard"]["content"]["media"]["mediaFileSize"] = 10
    out = orjson.loads(render_gsma(fixed))
    content_out = out["message"]["generalPurposeCard"]["content"]
    assert content_out["media"]["mediaContentType"] == "image/jpeg"
    assert content_out["suggestions"][0]["action"]["urlAction"]["openUrl"]["application"] == "browser"
    assert content_out["x-content"] == [1, 2]
    assert validate_card(out).warnings == []
    assert fixed["message"]["generalPurposeCard"]["content"]["media"]["mediaContentType"] == "image/jpg"


def test_render_gsma_refuses_invalid_cards():
    from cards import CardInvalid

    with pytest.raises(CardInvalid) as err:
        render_gsma(standalone(title=""))
    assert err.value.errors[0].path == f"{CARD}/title"


def test_integers_beyond_64_bits_are_an_error_not_a_crash():
    card = standalone()
    card["message"]["x"] = 2**64
    assert [e.path for e in validate_card(card).errors] == ["/message"]


def test_validate_rejects_unknown_profile():
    with pytest.raises(ValueError):
        validate_card(standalone(), "martian")


@pytest.mark.parametrize(
    "text, ok",
    [
        ("2026-01-31T09:00:00Z", True),
        ("2026-01-31T09:00:00.5+08:00", True),
        ("2026-01-31t09:00:00z", True),
        ("2026-01-31", False),
        ("2026-01-31T09:00:00", False),
        ("yesterday", False),
        (5, False),
    ],
)
def test_rfc3339(text, ok):
    assert (parse_rfc3339(text) is not None) == ok


# --- property tests ------------------------------------------------------------------------


def _text(lo, hi):
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=lo, max_size=hi)


_suggestion = st.one_of(
    st.builds(lambda t, d: reply(t, d), _text(1, 25), _text(0, 60)),
    st.builds(
        lambda t, u: action("urlAction", "openUrl", {"url": "https://example.cn/" + u, "application": "browser"}, t),
        _text(1, 25),
        st.text("abcxyz0123", max_size=10),
    ),
    st.builds(
        lambda t, lat, lng, label: action(
            "mapAction", "showLocation", {"location": {"latitude": lat, "longitude": lng, "label": label}}, t
        ),
        _text(1, 25),
        st.floats(-90, 90),
        st.floats(-180, 180),
        _text(1, 100),
    ),
    st.builds(
        lambda t, n: action("dialerAction", "dialPhoneNumber", {"phoneNumber": n}, t),
        _text(1, 25),
        st.from_regex(r"\+86[0-9]{5,11}", fullmatch=True),
    ),
)
_media = st.builds(
    lambda h, size, desc: media(height=h, mediaFileSize=size, contentDescription=desc),
    st.sampled_from(["SHORT_HEIGHT", "MEDIUM_HEIGHT"]),
    st.integers(0, 2 * 1024 * 1024),
    _text(1, 200),
)
_content = st.fixed_dictionaries(
    {},
    optional={
        "title": _text(1, 200),
        "description": _text(1, 400),
        "media": _media,
        "suggestions": st.lists(_suggestion, min_size=1, max_size=4),
        "x-extra": st.dictionaries(
            st.text("abc", min_size=1, max_size=3), st.integers(-(2**63), 2**63 - 1), max_size=2
        ),
    },
).filter(lambda c: any(k in c for k in ("title", "description", "media")))
_card = st.one_of(
    st.builds(
        lambda c: {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": c}}},
        _content,
    ),
    st.builds(
        lambda cs, w: {"message": {"generalPurposeCardCarousel": {"layout": {"cardWidth": w}, "content": cs}}},
        st.lists(_content, min_size=2, max_size=4),
        st.sampled_from(["SMALL_WIDTH", "MEDIUM_WIDTH"]),
    ),
).flatmap(
    lambda card: st.builds(
        lambda chips: {**card, "suggestions": chips} if chips else card, st.lists(_suggestion, max_size=11)
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_card)
def test_generated_cards_round_trip_and_stay_valid(card):
    assert parse_document(card).to_json() == card
    for profile in ("cn_csp", "gsma", "rbm"):
        report = validate_card(card, profile)
        assert report.valid, report.errors
    import orjson

    out = orjson.loads(render_gsma(card))
    assert out["message"] == card["message"]
    # every renderer takes every valid card
    from cards import render_html, render_png, render_text

    assert render_png(card).startswith(b"\x89PNG")
    assert "<article" in render_html(card)
    assert isinstance(render_text(card), str)


# Anything JSON can hold gets a report, never an exception (the API answers 200 or 422).
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "message",
        "generalPurposeCard",
        "generalPurposeCardCarousel",
        "layout",
        "content",
        "media",
        "title",
        "description",
        "suggestions",
        "reply",
        "action",
        "displayText",
        "postback",
        "data",
        "urlAction",
        "openUrl",
        "url",
        "mapAction",
        "showLocation",
        "location",
        "latitude",
        "calendarAction",
        "createCalendarEvent",
        "startTime",
        "menu",
        "entries",
        "cardOrientation",
        "height",
        "mediaFileSize",
        "text",
    ]
)
_cardish = st.recursive(
    st.none() | st.integers(-5, 5) | st.text(max_size=4) | st.just("HORIZONTAL"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_json, _cardish), st.sampled_from(["cn_csp", "gsma", "rbm"]))
def test_validation_never_raises(card, profile):
    report = validate_card(card, profile)
    assert report.valid == (not report.errors)
    for e in report.errors + report.warnings:
        assert e.path == "" or e.path.startswith("/")
    if isinstance(card, dict):
        assert parse_document(card).to_json() == card


@pytest.mark.parametrize(
    "number",
    [
        "+8610086",
        "10086",
        "110",
        "400-820-8820",
        "010-1234 5678",
        "(010) 12345678,123",
        "tel:+86-10-12345678",
        "+86 138 0013 8000;ext=12",
        "+86.10.6915.6114",
    ],
)
def test_dialable_numbers_are_valid(number):
    report = validate_card(with_action("dialerAction", "dialPhoneNumber", {"phoneNumber": number}))
    assert report.errors == []


def test_a_limit_error_carries_its_figures():
    long_title = {
        "message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": {"title": "账" * 250}}}
    }
    (error,) = validate_card(long_title).errors
    assert error.as_dict() == {
        "path": "/message/generalPurposeCard/content/title",
        "message": "250 characters; the limit is 200",
        "code": "too_long",
        "params": {"n": 250, "limit": 200, "unit": "characters"},
    }
