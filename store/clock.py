"""An injectable clock: production code asks it for the time so tests can pin it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def rfc3339(at: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a Z suffix."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def ms_to_rfc3339(ms: int) -> str:
    """Unix milliseconds as RFC 3339 UTC (see `rfc3339`)."""
    return rfc3339(datetime.fromtimestamp(ms / 1000, UTC))
