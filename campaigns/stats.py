"""The A/B test's arithmetic: each variant's rate against the first's, by the two-proportion
z-test (pooled), two-sided p-values from the standard normal distribution (statistics.NormalDist).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

SIGNIFICANCE = 0.05
_NORMAL = NormalDist()


def two_proportion_p(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float | None:
    """The two-sided p-value that two rates differ only by chance (None without data)."""
    if trials_a <= 0 or trials_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return 1.0  # both rates 0 % or both 100 %: no difference to find
    z = (successes_b / trials_b - successes_a / trials_a) / math.sqrt(variance)
    return 2 * (1 - _NORMAL.cdf(abs(z)))


def compare(arms: list[tuple[str, int, int]]) -> dict:
    """`arms`: (variant, successes, trials), the first the control. Each arm's rate, its
    p-value against the control, whether that is significant at 5 %, and the best arm (the
    highest rate; the earlier arm on a tie)."""
    control_name, control_s, control_n = arms[0]
    out: list[dict[str, Any]] = []
    for name, s, n in arms:
        p = None if name == control_name else two_proportion_p(control_s, control_n, s, n)
        out.append(
            {
                "variant": name,
                "successes": s,
                "trials": n,
                "rate": round(s / n, 4) if n else None,
                "p_value": None if p is None else round(p, 6),
                "significant": p is not None and p < SIGNIFICANCE,
            }
        )
    best = max(out, key=lambda a: (a["rate"] or 0.0, -out.index(a)))
    if best["variant"] == control_name:  # the control beats every other arm significantly
        significant = all(bool(a["significant"]) for a in out[1:])
    else:  # the best beats the control significantly
        significant = bool(best["significant"])
    return {"control": control_name, "arms": out, "best": best["variant"], "significant": significant}
