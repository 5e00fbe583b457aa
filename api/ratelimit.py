"""Per-tenant token buckets for the API's rate limit (429 with Retry-After)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    """Token bucket per key: `rate` tokens a second, bursting to one second's worth."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic):
        self._now = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: int | None, cost: int = 1) -> float:
        """Spend `cost` tokens; return 0 when allowed, else seconds to wait before retrying."""
        if not rate:
            return 0.0
        now = self._now()
        tokens, last = self._buckets.get(key, (float(rate), now))
        tokens = min(float(max(rate, cost)), tokens + (now - last) * rate)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return max(0.001, (cost - tokens) / rate)


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
