"""Card composition and PNG preview throughput (targets: ≥10k compositions/s per
core, ≥40 uncached PNG previews/s).

    python bench/cards.py --seconds 5

Composition: one compiled library template, a different recipient (name, amounts, dates) each
time, composed, validated again and serialised as GSMA JSON. PNG: every library template's
sample, rendered without a cache. Landing-page HTML: the composed cards of 50 recipients
with the landing-page hooks. Medians of several rounds, one core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cards import Footer, landing_href, load_library, render_html, render_png  # noqa: E402


def _recipients(n: int, sample: dict) -> list[dict]:
    out = []
    for i in range(n):
        v = dict(sample)
        v["name"] = f"客户{i:05d}"
        for key in ("total", "plan_fee", "data_fee", "voice_fee"):
            if key in v:
                v[key] = f"{(i * 7919) % 100000 / 100:.2f}"
        v["due"] = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
        out.append(v)
    return out


def _rounds(seconds: float, n_rounds: int, work) -> list[float]:
    """Run `work()` (returns how many items it did) repeatedly; rates per round."""
    rates = []
    per_round = seconds / n_rounds
    for _ in range(n_rounds):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < per_round:
            done += work()
        rates.append(done / elapsed)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--template", default="monthly_bill")
    args = parser.parse_args()

    library = load_library()
    template = library[args.template]
    compiled = template.compiled
    people = _recipients(1000, template.sample)

    def compose_batch() -> int:
        for v in people:
            compiled.compose(v)
        return len(people)

    def gsma_batch() -> int:
        for v in people:
            compiled.gsma(v)
        return len(people)

    cards = [t.sample_card() for t in library.values()]
    counter = iter(range(10**9))

    def png_one() -> int:
        # render_png itself never caches (render_png_cached is the cached entry point)
        render_png(cards[next(counter) % len(cards)])
        return 1

    # every library template, one short round each: how the figure varies with the template
    per_template = {}
    for name, t in sorted(library.items()):
        compiled_t, sample = t.compiled, t.sample

        def batch(compiled_t=compiled_t, sample=sample) -> int:
            for _ in range(200):
                compiled_t.compose(sample)
            return 200

        per_template[name] = _rounds(max(args.seconds / 10, 0.2), 1, batch)[0]

    pages = [compiled.compose(v) for v in people[:50]]
    hooks = dict(
        suggestion_href=landing_href("/s/TOKEN"),
        form_action="/s/TOKEN/reply",
        footer=Footer(signature="【鸿雁测试】", opt_out_url="/s/TOKEN/optout"),
    )

    def html_batch() -> int:
        for card in pages:
            render_html(card, **hooks)
        return len(pages)

    compose_rates = _rounds(args.seconds, 5, compose_batch)
    gsma_rates = _rounds(args.seconds, 5, gsma_batch)
    png_rates = _rounds(args.seconds, 5, png_one)
    html_rates = _rounds(args.seconds, 5, html_batch)
    figures = {
        "compose_per_s": round(statistics.median(compose_rates)),
        "compose_gsma_per_s": round(statistics.median(gsma_rates)),
        "png_per_s": round(statistics.median(png_rates), 1),
        "compose_slowest_template_per_s": round(min(per_template.values())),
        "html_page_per_s": round(statistics.median(html_rates)),
    }
    print(f"{'template (compose + validate, sample data)':<44}{'per s':>10}")
    for name, rate in per_template.items():
        print(f"  {name:<42}{rate:>10.0f}")
    print()
    print(f"{'measurement':<44}{'median':>10}{'min':>10}{'max':>10}")
    for label, rates in (
        (f"compose + validate ({args.template}) /s", compose_rates),
        ("compose + validate + GSMA JSON bytes /s", gsma_rates),
        ("PNG preview, uncached /s", png_rates),
        ("landing-page HTML (50 recipients' cards) /s", html_rates),
    ):
        print(f"{label:<44}{statistics.median(rates):>10.1f}{min(rates):>10.1f}{max(rates):>10.1f}")
    print(orjson.dumps(figures).decode())


if __name__ == "__main__":
    main()
