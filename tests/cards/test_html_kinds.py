"""Suggestions drawn with their kind (issue 17, previews): an icon, a title and an accessible name
in the page's language, for every kind of suggestion the card model has; and the handset looks'
style sheets the preview and the virtual handset share."""

from __future__ import annotations

import re

import pytest

from cards.html import KIND_LABELS, html_environment, render_html
from cards.looks import LOOKS, body_class, looks_css, page_choices, page_css

# (kind, the suggestion as the card carries it); one row per kind SuggestionView knows.
SUGGESTIONS = [
    ("reply", {"reply": {"displayText": "好的", "postback": {"data": "ok"}}}),
    (
        "open_url",
        {
            "action": {
                "displayText": "官网",
                "urlAction": {"openUrl": {"url": "https://a.cn", "application": "browser"}},
            }
        },
    ),
    ("dial", {"action": {"displayText": "客服", "dialerAction": {"dialPhoneNumber": {"phoneNumber": "+8610000"}}}}),
    (
        "show_location",
        {
            "action": {
                "displayText": "门店",
                "mapAction": {"showLocation": {"location": {"latitude": 31.2, "longitude": 121.4, "label": "店"}}},
            }
        },
    ),
    ("request_location", {"action": {"displayText": "我的位置", "mapAction": {"requestLocationPush": {}}}}),
    (
        "calendar",
        {
            "action": {
                "displayText": "提醒我",
                "calendarAction": {
                    "createCalendarEvent": {
                        "startTime": "2026-12-05T10:00:00+08:00",
                        "endTime": "2026-12-05T11:00:00+08:00",
                        "title": "品鉴会",
                    }
                },
            }
        },
    ),
    (
        "compose",
        {
            "action": {
                "displayText": "写信",
                "composeAction": {"composeTextMessage": {"phoneNumber": "+8610000", "text": "你好"}},
            }
        },
    ),
    ("device", {"action": {"displayText": "设备", "deviceAction": {"requestDeviceSpecifics": {}}}}),
    ("settings", {"action": {"displayText": "通知", "settingsAction": {"enableDisplayedNotifications": {}}}}),
]


def _card(suggestion: dict) -> dict:
    return {
        "message": {
            "generalPurposeCard": {
                "layout": {"cardOrientation": "VERTICAL"},
                "content": {"title": "标题", "suggestions": [suggestion]},
            }
        },
        "suggestions": [suggestion],  # the same one as a chip
    }


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize(("kind", "suggestion"), SUGGESTIONS, ids=[k for k, _ in SUGGESTIONS])
def test_each_kind_is_named_on_the_button_and_on_the_chip(kind, suggestion, lang):
    text = (suggestion.get("reply") or suggestion["action"])["displayText"]
    label = KIND_LABELS[lang][kind]
    html = render_html(_card(suggestion), page=False, kinds=True, lang=lang)
    marked = re.findall(
        rf'<span class="sg sg-{kind} inert" role="button" aria-disabled="true" data-kind="{kind}" '
        rf'title="{re.escape(label)}" aria-label="{re.escape(text)} · {re.escape(label)}">'
        rf'<span class="sg-icon" aria-hidden="true"></span>{re.escape(text)}</span>',
        html,
    )
    assert len(marked) == 2  # on the card and in the chip list
    # The icon is the style sheet's, per kind (no image, nothing remote).
    assert f'.sg-{kind} .sg-icon::before{{content:"' in html


@pytest.mark.parametrize(("kind", "suggestion"), SUGGESTIONS, ids=[k for k, _ in SUGGESTIONS])
def test_a_tappable_suggestion_names_its_kind_too(kind, suggestion):
    html = render_html(
        _card(suggestion), page=False, kinds=True, lang="en", form_action="/tap", form_fields={"m": "1"}, styled=False
    )
    assert (
        html.count(f'<button class="sg sg-{kind}" type="submit" data-kind="{kind}" title="{KIND_LABELS["en"][kind]}"')
        == 2
    )
    assert "<style>" not in html  # an unstyled fragment: the page brings the sheet


def test_without_kinds_the_markup_is_as_before():
    html = render_html(_card(SUGGESTIONS[2][1]), page=False, lang="en")
    assert '<span class="sg sg-dial inert" aria-disabled="true">客服</span>' in html
    assert "sg-icon" not in html and "data-kind" not in html


def test_every_kind_has_words_in_both_languages_and_an_icon():
    kinds = {k for k, _ in SUGGESTIONS}
    assert set(KIND_LABELS["en"]) == set(KIND_LABELS["zh-CN"]) == kinds
    env = html_environment()
    sheet = env.loader.get_source(env, "kinds.css")[0]
    assert all(f".sg-{k} .sg-icon::before" in sheet for k in kinds)


def test_each_look_has_its_sheet_light_and_dark():
    css = looks_css()
    for look in LOOKS:
        assert f"body.look-{look}{{" in css and f"body.look-{look}.dark{{" in css
    assert "url(" not in css  # no images: drawn by CSS alone
    assert page_css().startswith("*{box-sizing:border-box}")
    assert body_class("hyper", "dark") == "look look-hyper dark"
    assert body_class("nope", "light") == "look look-harmony"


def test_a_pages_look_comes_from_the_query_then_its_cookies():
    chosen, remember = page_choices({"look": "hyper", "theme": "bad"}, {"hs_theme": "dark"}, ("en", "zh-CN"))
    assert chosen == {"look": "hyper", "theme": "dark", "lang": "en"}
    assert remember == {"hs_look": "hyper"}
