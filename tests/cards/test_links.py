"""Landing-page links for suggestions and the .ics download."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
import pytest
from cardkit import action, calendar, location, reply, standalone

from cards import document_view, parse_document, render_html
from cards.links import calendar_ics, geo_uri, landing_href, web_map_url


def _suggestion(card, i=0):
    return document_view(parse_document(card)).suggestions[i]


@pytest.mark.parametrize(
    "card, href",
    [
        (
            standalone(
                suggestions=[action("urlAction", "openUrl", {"url": "https://evil.example", "application": "browser"})]
            ),
            "/s/T/a/0",
        ),
        (
            standalone(suggestions=[action("dialerAction", "dialPhoneNumber", {"phoneNumber": "+86 10 6915-6114"})]),
            "tel:+861069156114",
        ),
        (
            location(latitude=39.9127, longitude=116.4174, label="协和医院"),
            "https://uri.amap.com/marker?position=116.417400%2C39.912700&coordinate=wgs84&src=hongyan&callnative=1"
            "&name=%E5%8D%8F%E5%92%8C%E5%8C%BB%E9%99%A2",
        ),
        (
            location(query="北京协和医院"),
            "https://uri.amap.com/search?keyword=%E5%8C%97%E4%BA%AC%E5%8D%8F%E5%92%8C%E5%8C%BB%E9%99%A2&src=hongyan"
            "&callnative=1",
        ),
        (calendar(), "/s/T/a/0.ics"),
        (
            standalone(
                suggestions=[action("composeAction", "composeTextMessage", {"phoneNumber": "10086", "text": "CX LL"})]
            ),
            "sms:10086?body=CX%20LL",
        ),
        (standalone(suggestions=[reply()]), None),
    ],
)
def test_landing_hrefs(card, href):
    s = _suggestion(card)
    assert landing_href("/s/T/")(s.index, s) == href


def test_card_urls_never_appear_on_the_landing_page():
    card = standalone(
        suggestions=[action("urlAction", "openUrl", {"url": "https://evil.example", "application": "browser"})]
    )
    assert "evil.example" not in render_html(card, suggestion_href=landing_href("/s/T"))


def test_geo_uri():
    assert geo_uri(39.9127, 116.4174, "协和 医院") == (
        "geo:39.912700,116.417400?q=39.912700,116.417400(%E5%8D%8F%E5%92%8C%20%E5%8C%BB%E9%99%A2)"
    )
    assert geo_uri(-1, 2) == "geo:-1.000000,2.000000"
    assert web_map_url(1.0, 2.0, coordinate="gaode").startswith("https://uri.amap.com/marker?position=2.000000")


def test_calendar_ics_is_valid_icalendar_in_utc():
    card = calendar(title="复诊；心内科", description="带医保卡, 空腹")
    data = calendar_ics(_suggestion(card), uid="msg1-0@hongyan", stamp=datetime(2026, 1, 1, tzinfo=UTC))
    assert data.startswith(b"BEGIN:VCALENDAR")
    event = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    assert event["UID"] == "msg1-0@hongyan"
    assert event.decoded("DTSTART") == datetime(2026, 1, 31, 1, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 1, 31, 2, 0, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "复诊；心内科" and str(event["DESCRIPTION"]) == "带医保卡, 空腹"
    with pytest.raises(ValueError):
        calendar_ics(_suggestion(standalone()), uid="x", stamp=datetime(2026, 1, 1, tzinfo=UTC))


def test_suggestion_at_gives_the_target_of_a_tracked_redirect():
    from cards import suggestion_at

    card = standalone(
        suggestions=[
            reply(),
            action("urlAction", "openUrl", {"url": "https://shop.example.cn/x", "application": "browser"}),
        ]
    )
    assert suggestion_at(card, 1).url == "https://shop.example.cn/x"
    assert suggestion_at(card, 0).kind == "reply"
    with pytest.raises(IndexError):
        suggestion_at(card, 2)
    with pytest.raises(IndexError):
        suggestion_at(card, -1)
