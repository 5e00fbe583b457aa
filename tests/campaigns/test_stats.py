"""The A/B test's arithmetic and the audience split, checked against independent figures."""

from __future__ import annotations

import math

import pytest

from campaigns.spec import HOLDOUT, REST, draw, parse_spec, variant_of
from campaigns.stats import compare, two_proportion_p


def chi_square_p(a: int, n_a: int, b: int, n_b: int) -> float:
    """The 2×2 contingency table's Pearson chi-square (1 degree of freedom, no continuity
    correction) as a p-value: erfc(sqrt(chi2 / 2)). Equal to the pooled z-test's, computed
    another way."""
    table = [[a, n_a - a], [b, n_b - b]]
    total = n_a + n_b
    rows = [n_a, n_b]
    cols = [a + b, total - a - b]
    chi2 = sum(
        (table[i][j] - rows[i] * cols[j] / total) ** 2 / (rows[i] * cols[j] / total) for i in range(2) for j in range(2)
    )
    return math.erfc(math.sqrt(chi2 / 2))


@pytest.mark.parametrize(
    "a, n_a, b, n_b",
    [(100, 1000, 130, 1000), (45, 500, 50, 500), (12, 80, 30, 95), (300, 10_000, 360, 10_000)],
)
def test_the_z_test_agrees_with_the_chi_square_test(a, n_a, b, n_b):
    assert two_proportion_p(a, n_a, b, n_b) == pytest.approx(chi_square_p(a, n_a, b, n_b), rel=1e-9)


def test_edges_and_the_verdict():
    assert two_proportion_p(0, 0, 1, 10) is None
    assert two_proportion_p(0, 10, 0, 10) == 1.0
    test = compare([("A", 100, 1000), ("B", 130, 1000), ("C", 101, 1000)])
    assert test["best"] == "B" and test["significant"]  # p ≈ 0.035
    arms = {a["variant"]: a for a in test["arms"]}
    assert arms["A"]["p_value"] is None and not arms["C"]["significant"]
    close = compare([("A", 45, 500), ("B", 50, 500)])
    assert close["best"] == "B" and not close["significant"]
    tie = compare([("A", 10, 100), ("B", 10, 100)])
    assert tie["best"] == "A" and not tie["significant"]


def test_the_split_follows_the_shares_and_never_moves():
    spec = parse_spec(
        {
            "name": "x",
            "template": "offer",
            "segment_id": "s1",
            "ab": {
                "variants": [{"name": "A", "share": 0.2}, {"name": "B", "share": 0.3}],
                "holdout": 0.1,
                "winner": {"after_hours": 4},
            },
        }
    )
    counts: dict[str, int] = {}
    n = 20_000
    for i in range(n):
        v = variant_of(spec, draw("c1", f"{i:032x}"))
        counts[v] = counts.get(v, 0) + 1
    for name, share in (("A", 0.2), ("B", 0.3), (HOLDOUT, 0.1), (REST, 0.4)):
        assert abs(counts[name] / n - share) < 0.015
    assert variant_of(spec, draw("c1", "x")) == variant_of(spec, draw("c1", "x"))
    assert draw("c1", "x") != draw("c2", "x")  # each campaign splits anew
