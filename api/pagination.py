"""Opaque cursors for paginated lists."""

from __future__ import annotations

import base64

from api.problems import FieldError, Problem

MAX_CURSOR = 64


def encode_cursor(value: str) -> str:
    """An opaque cursor for the position `value` (the last item's sort key)."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The position inside a cursor this API returned; 422 naming /cursor otherwise."""
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        value = ""
    if not value or len(value) > MAX_CURSOR:
        raise Problem(422, "cursor is not one this API returned", [FieldError("/cursor", "invalid cursor")])
    return value


def page_limit(query, *, default: int = 50, maximum: int = 200) -> int:
    """The `limit` query parameter (1 to `maximum`); 422 naming /limit otherwise."""
    raw = query.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise Problem(422, f"limit must be 1 to {maximum}", [FieldError("/limit", "out of range")])
    return int(raw)
