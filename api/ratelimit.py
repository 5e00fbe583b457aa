"""Rate limits: per-tenant token buckets for the API (429 with Retry-After), and sliding windows
that count attempts per client (failed authentications, editor sign-ins)."""

from __future__ import annotations

import math
import time
from collections import deque
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

    def headers(self, key: str, rate: int | None) -> dict[str, str]:
        """`RateLimit-Limit` / `-Remaining` / `-Reset` (the IETF RateLimit header fields) of the
        key's bucket as it is now: recipients a second, recipients that may go at once, and
        seconds until the bucket is full again. Empty when the key has no limit."""
        if not rate:
            return {}
        now = self._now()
        tokens, last = self._buckets.get(key, (float(rate), now))
        tokens = min(float(rate), tokens + (now - last) * rate)
        return {
            "RateLimit-Limit": str(rate),
            "RateLimit-Remaining": str(max(0, math.floor(tokens))),
            "RateLimit-Reset": str(math.ceil((rate - tokens) / rate)),
        }


class WindowLimiter:
    """At most `attempts` counted events per key in any `window_s` seconds."""

    MAX_KEYS = 10_000  # beyond this, keys with nothing left in their window are dropped

    def __init__(self, attempts: int, window_s: float, monotonic: Callable[[], float] = time.monotonic):
        self.attempts = attempts
        self.window_s = window_s
        self._now = monotonic
        self._seen: dict[str, deque[float]] = {}

    def take(self, key: str) -> float:
        """Count one attempt; 0 when allowed, else seconds until the oldest one leaves the window."""
        wait = self.wait(key)
        if not wait:
            self.add(key)
        return wait

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again (0: now), without counting anything."""
        times = self._seen.get(key)
        if not times:
            return 0.0
        now = self._now()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.attempts:
            return max(0.001, times[0] + self.window_s - now)
        return 0.0

    def add(self, key: str) -> None:
        """Count one event (e.g. a failed authentication) for `key`."""
        now = self._now()
        if len(self._seen) > self.MAX_KEYS:  # bound memory under a spray of clients
            for stale in [k for k, t in self._seen.items() if not t or t[-1] <= now - self.window_s]:
                del self._seen[stale]
        self._seen.setdefault(key, deque()).append(now)


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
