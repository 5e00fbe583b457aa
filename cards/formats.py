"""Money and date formatting for card text in zh-CN and en (babel's CLDR data).

Patterns are resolved once per locale and format: composition formats thousands of values
a second, and babel's convenience functions look the locale data up on every call.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

DEFAULT_LOCALE = "zh-CN"


@lru_cache(maxsize=32)
def _babel_locale(locale: str) -> Locale:
    # Locale.parse scans babel's locale list on every call; parse each tag once.
    return Locale.parse(locale.replace("-", "_"))


def _decimal(value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None


def _when(value) -> datetime | date | time:
    if isinstance(value, (datetime, date, time)):
        return value
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        for parse in (datetime.fromisoformat, date.fromisoformat, time.fromisoformat):
            try:
                return parse(text)
            except ValueError:
                continue
    raise ValueError(f"not a date or time: {value!r}")


def format_money(value, currency: str = "CNY", locale: str = DEFAULT_LOCALE) -> str:
    """An amount in a currency as written in the locale (zh-CN: ¥1,234.50; en: CN¥1,234.50)."""
    amount = _decimal(value)
    fast = _money_format(locale, currency)
    if fast is None:
        return babel_numbers.format_currency(amount, currency, locale=_babel_locale(locale))
    return _format_with(fast, amount)


@lru_cache(maxsize=64)
def _money_format(locale: str, currency: str):
    """Babel's currency pattern for (locale, currency) taken apart once.

    babel.format_currency re-reads CLDR data on every call (~40 µs); composition formats
    thousands of amounts a second, so the common shape (groups of 3, symbol around the
    number) is applied with str.format. Other shapes return None and go through babel.
    """
    loc = _babel_locale(locale)
    pattern = loc.currency_formats["standard"]
    if pattern.grouping != (3, 3) or "¤¤" in pattern.pattern:
        return None
    symbol = babel_numbers.get_currency_symbol(currency, locale=loc)
    digits = babel_numbers.get_currency_precision(currency)
    symbols = loc.number_symbols.get("latn", loc.number_symbols)
    prefix = pattern.prefix[0].replace("¤", symbol)
    suffix = pattern.suffix[0].replace("¤", symbol)
    fast = (prefix, suffix, digits, symbols["group"], symbols["decimal"], symbols["minusSign"])
    sample = Decimal("-1234567.891")
    if _format_with(fast, sample) != babel_numbers.format_currency(sample, currency, locale=loc):
        return None
    return fast


def _format_with(fast, amount: Decimal) -> str:
    """Apply a pattern taken apart by _money_format."""
    prefix, suffix, digits, group, decimal, minus = fast
    text = f"{abs(amount):,.{digits}f}"
    if group != "," or decimal != ".":
        text = text.translate({44: "\0", 46: decimal}).replace("\0", group)
    return f"{minus if amount < 0 else ''}{prefix}{text}{suffix}"


@lru_cache(maxsize=256)
def _date_pattern(locale: str, kind: str, format: str):
    """Babel's parsed pattern for a named format ("short"…"full") or a custom pattern.

    babel.dates.format_* look the locale data up on every call; composition formats many
    dates a second, so patterns are resolved once and applied directly (what babel does).
    """
    loc = _babel_locale(locale)
    formats = {"date": loc.date_formats, "time": loc.time_formats}[kind]
    return babel_dates.parse_pattern(formats[format] if format in formats else format)


def _apply(locale: str, kind: str, format: str, value) -> str:
    try:
        return _date_pattern(locale, kind, format).apply(value, _babel_locale(locale))
    except (AttributeError, KeyError, ValueError) as exc:  # e.g. an hour field in a date pattern
        raise ValueError(f"cannot format {value!r} as {format!r}: {exc}") from None


def _datetime_joiner(locale: str, format: str) -> str | None:
    formats = _babel_locale(locale).datetime_formats
    return str(formats[format]).replace("'", "") if format in formats else None


def format_date(value, format: str = "long", locale: str = DEFAULT_LOCALE) -> str:
    """A date (or the date of a datetime / ISO string): zh-CN 2026年1月31日, en January 31, 2026."""
    when = _when(value)
    if isinstance(when, datetime):
        when = when.date()
    if not isinstance(when, date):
        raise ValueError(f"not a date: {value!r}")
    return _apply(locale, "date", format, when)


def format_datetime(value, format: str = "medium", locale: str = DEFAULT_LOCALE) -> str:
    """A date and time, shown in the value's own UTC offset."""
    when = _when(value)
    if not isinstance(when, datetime):
        raise ValueError(f"not a date-time: {value!r}")
    joiner = _datetime_joiner(locale, format)
    if joiner is None:  # a custom pattern covers both parts
        return _apply(locale, "date", format, when)
    return joiner.replace("{0}", _apply(locale, "time", format, when)).replace(
        "{1}", _apply(locale, "date", format, when.date())
    )


def format_time(value, format: str = "short", locale: str = DEFAULT_LOCALE) -> str:
    """A time of day (from a time, a datetime or an ISO string), in the value's own offset."""
    when = _when(value)
    if isinstance(when, date) and not isinstance(when, datetime):
        raise ValueError(f"not a time: {value!r}")
    return _apply(locale, "time", format, when)
