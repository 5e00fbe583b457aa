"""What a contact's fields may hold: attribute names and values, tags, time zones.

An attribute value is a string, a number or a date (a string `YYYY-MM-DD`, kept and compared as
a date). From CSV every cell is text: a canonical decimal (`42`, `-3.5`; no leading zeros, so
`001234` stays text) becomes a number, a valid `YYYY-MM-DD` a date, anything else a string.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import available_timezones

MAX_ATTRIBUTES = 100
MAX_NAME = 64
MAX_TEXT = 500
MAX_TAGS = 50
MAX_TAG = 64
RESERVED = frozenset({"phone", "tags", "time_zone"})

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,9})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def name_error(name: Any) -> str | None:
    """Why `name` cannot name an attribute (None when it can)."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        return "an attribute name is a non-empty string without surrounding spaces"
    if len(name) > MAX_NAME or _CONTROL.search(name):
        return f"at most {MAX_NAME} characters, no control characters"
    if name in RESERVED:
        return f"`{name}` is reserved"
    return None


def value_error(value: Any) -> str | None:
    """Why `value` cannot be an attribute value (None when it can)."""
    if isinstance(value, bool) or value is None:
        return "a string, a number or a date (YYYY-MM-DD)"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "a finite number"
        if abs(value) >= 1e15:
            return "a number below 10^15 in magnitude"
        return None
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return f"at most {MAX_TEXT} characters"
        return None
    return "a string, a number or a date (YYYY-MM-DD)"


def from_cell(text: str) -> str | int | float:
    """An attribute value from a CSV cell."""
    if _DECIMAL.fullmatch(text):
        number = float(text)
        return int(number) if "." not in text else number
    return text


def index_row(name: str, value: str | int | float, hasher: Callable[[str, str], str]) -> tuple[str, str, float | None]:
    """(kind, text, number) of an attribute value for `contact_attributes`: a string is kept only
    as `hasher(name, value)` (a blind index)."""
    if not isinstance(value, str):
        return "n", number_text(value), float(value)
    if is_date(value):
        return "d", value, None
    return "s", hasher(name, value), None


def number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def tag_error(tag: Any) -> str | None:
    if not isinstance(tag, str) or not tag.strip() or tag != tag.strip():
        return "a tag is a non-empty string without surrounding spaces"
    if len(tag) > MAX_TAG or ";" in tag or _CONTROL.search(tag):
        return f"at most {MAX_TAG} characters, no `;` or control characters"
    return None


@cache
def time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone_error(value: Any) -> str | None:
    if not isinstance(value, str) or value not in time_zones():
        return "an IANA time zone name, e.g. Asia/Shanghai"
    return None
