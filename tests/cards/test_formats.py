"""Money and date formatting (cards/formats.py) against babel's own functions."""

from __future__ import annotations

import pytest

from cards.formats import format_date, format_datetime, format_money, format_time


@pytest.mark.parametrize(
    "value, currency, locale, text",
    [
        (1234.5, "CNY", "zh-CN", "¥1,234.50"),
        ("0.5", "CNY", "zh-CN", "¥0.50"),
        (-12, "CNY", "zh-CN", "-¥12.00"),
        (1234.5, "CNY", "en", "CN¥1,234.50"),
        (99, "USD", "en", "$99.00"),
        (1234, "JPY", "zh-CN", "JP¥1,234"),
        (1234.5, "EUR", "de-DE", "1.234,50\xa0€"),
    ],
)
def test_money(value, currency, locale, text):
    assert format_money(value, currency, locale) == text


@pytest.mark.parametrize(
    "fn, value, args, text",
    [
        (format_date, "2026-01-31", ("long", "zh-CN"), "2026年1月31日"),
        (format_date, "2026-01-31", ("long", "en"), "January 31, 2026"),
        (format_date, "2026-01-31T23:30:00+08:00", ("short", "zh-CN"), "2026/1/31"),
        (format_datetime, "2026-01-31T09:05:00+08:00", ("short", "zh-CN"), "2026/1/31 09:05"),
        (format_time, "2026-01-31T09:05:00+08:00", ("short", "zh-CN"), "09:05"),
        (format_time, "2026-01-31T21:05:00+08:00", ("short", "en"), "9:05\u202fPM"),
    ],
)
def test_dates(fn, value, args, text):
    assert fn(value, *args) == text


@pytest.mark.parametrize("locale", ["zh-CN", "en", "zh-TW", "de-DE"])
@pytest.mark.parametrize("fmt", ["short", "medium", "long", "full"])
def test_cached_date_patterns_match_babel(locale, fmt):
    from datetime import datetime as dt

    from babel import dates

    for text in ("2026-11-26T09:30:00+08:00", "2026-01-01T23:59:59-05:00", "2026-07-04T00:00:00Z"):
        when = dt.fromisoformat(text.replace("Z", "+00:00"))
        loc = locale.replace("-", "_")
        assert format_date(text, fmt, locale) == dates.format_date(when.date(), fmt, locale=loc)
        assert format_time(text, fmt, locale) == dates.format_time(when, fmt, tzinfo=when.tzinfo, locale=loc)
        assert format_datetime(text, fmt, locale) == dates.format_datetime(when, fmt, tzinfo=when.tzinfo, locale=loc)
