"""How long to wait before trying a message again."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Per-message backoff: 0.5 s, 1 s, 2 s … ×2, ±20 % jitter, capped; Retry-After honoured."""

    first_s: float = 0.5
    factor: float = 2.0
    jitter: float = 0.2
    cap_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1` (`attempt` counts from 1)."""
        base = min(self.cap_s, self.first_s * self.factor ** max(0, attempt - 1))
        delay = min(self.cap_s, base * (1 + (rng or random).uniform(-self.jitter, self.jitter)))
        return max(delay, retry_after or 0.0)
