"""Compliance controls: filter throughput with 100k words, and accept throughput with every
control on versus off in one run.

1. In process: 100,000 synthetic words (plus the default list) in one automaton; each real card
   size (the accept bench's card, a full card with media and four suggestions, a ten-card
   carousel, a 2,000-character text) screened uncached — normalisation and the one pass — and
   one recipient's variables screened as a batch screens them.
2. Over HTTP (bench/accept.py's harness, servers pinned to one core): POST /v1/messages with
   every control on — 100k blocking words and 1k review words (screening), marketing traffic
   inside its send window, the default frequency caps (reserved per recipient), a 100k-entry
   opt-out list, the daily volume counted against a threshold and a limit — versus every
   control off (lists empty, notification traffic, no window, no caps, no volume count).
   Single recipients and 1,000-recipient batches, each phase `--seconds` long, the two
   servers' phases interleaved, `--rounds` times; medians reported. Every recipient number is
   new, so no cap refuses. Each phase starts with both servers idle (they share a core), and
   the server CPU per recipient counts the phase's deferred work (evidence chaining) too. The
   target is judged on capacity — recipients a core sustains, the inverse of that CPU — since a
   phase's own rate moves with the machine's other load and with the work deferred past it.

    python bench/compliance.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _load  # noqa: E402
from accept import CARD, drive  # noqa: E402

sys.path.insert(0, str(_load.ROOT))
import orjson  # noqa: E402

from compliance.matcher import PLATFORM, WORD, Matcher, Rule  # noqa: E402
from compliance.normalise import normalise  # noqa: E402
from compliance.texts import document_texts, literal_texts, variable_texts  # noqa: E402

WORDS = 100_000
# The 3,500 characters of the General Standard Chinese Characters' first level are where real
# lists live; a contiguous block of the CJK range stands in for them.
CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 3500)]


def synthetic_words(n: int, seed: int = 14) -> list[str]:
    rng = random.Random(seed)
    out = set()
    while len(out) < n:
        if rng.random() < 0.05:
            out.add("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 8))))
        else:
            out.add("".join(rng.choice(CJK) for _ in range(rng.randint(2, 5))))
    return sorted(out)


def full_card() -> dict:
    reply = {"reply": {"displayText": "查看详情", "postback": {"data": "detail-{{ order }}"}}}
    link = {
        "action": {
            "displayText": "去官网",
            "postback": {"data": "site"},
            "urlAction": {"openUrl": {"url": "https://m.hongyan.example/o/{{ order }}", "application": "browser"}},
        }
    }
    return {
        "message": {
            "generalPurposeCard": {
                "layout": {"cardOrientation": "VERTICAL"},
                "content": {
                    "media": {
                        "mediaUrl": "https://m.hongyan.example/a.png",
                        "mediaContentType": "image/png",
                        "mediaFileSize": 100_000,
                        "height": "MEDIUM_HEIGHT",
                        "contentDescription": "本月账单概览图",
                    },
                    "title": "{{ name }}，您的十二月账单已出",
                    "description": "尊敬的客户，您本月话费 {{ amount }} 元，其中套餐费 58 元、流量包 10 元，"
                    "通话超出 3 元。请于本月 28 日前缴纳，逾期将影响您的正常使用。如有疑问请致电客服。",
                    "suggestions": [reply, link, reply, link],
                },
            }
        }
    }


def carousel(cards: int = 10) -> dict:
    content = full_card()["message"]["generalPurposeCard"]["content"]
    return {
        "message": {
            "generalPurposeCardCarousel": {"layout": {"cardWidth": "MEDIUM_WIDTH"}, "content": [content] * cards}
        }
    }


def long_text() -> dict:
    sentence = "尊敬的客户，您本月话费账单已出，请及时缴纳，感谢您的支持。"
    return {"message": {"text": (sentence * 100)[:2000]}}


def filter_figures(seconds: float) -> tuple[list[tuple], dict, list[str]]:
    words = synthetic_words(WORDS)
    rules = [Rule(str(i), w, normalise(w), WORD, PLATFORM, "bench", "block") for i, w in enumerate(words)]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    matcher = Matcher(rules)
    build_s = time.perf_counter() - t0
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    docs = [
        ("accept bench card", CARD),
        ("full card, media + 4 chips", full_card()),
        ("carousel of 10 cards", carousel()),
        ("text of 2,000 characters", long_text()),
    ]
    rows: list[tuple] = [("document", "characters", "µs each (uncached)", "documents/s", "matches")]
    figures: dict = {"words": len(rules), "build_s": round(build_s, 2), "automaton_mb": round(rss_mb, 1)}
    per = max(0.2, seconds / (len(docs) + 1))
    for name, doc in docs:
        fields = literal_texts(document_texts(doc))
        chars = sum(len(t) for _, t in fields)
        n, found, t0 = 0, 0, time.perf_counter()
        while time.perf_counter() - t0 < per:
            # What Screen.own_text does on a cache miss: walk, split, normalise, one pass.
            found = len(matcher.scan(literal_texts(document_texts(doc))))
            n += 1
        us = (time.perf_counter() - t0) / n * 1e6
        rows.append((name, chars, f"{us:.1f}", f"{1e6 / us:,.0f}", found))
        figures[name.split(",")[0].replace(" ", "_") + "_us"] = round(us, 1)
    variables = {"name": "张三", "amount": "58.00", "order": "A20261202"}
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < per:
        matcher.scan(variable_texts(variables, "/recipients/0/variables"))
        n += 1
    us = (time.perf_counter() - t0) / n * 1e6
    rows.append(
        ("one recipient's variables", sum(len(v) for v in variables.values()), f"{us:.1f}", f"{1e6 / us:,.0f}", 0)
    )
    figures["variables_us"] = round(us, 1)
    return rows, figures, words


REVIEW_WORDS = 1_000
OPT_OUTS = 100_000
_NUMBERS = itertools.count()  # every recipient of the run is a new number: no cap refuses


def next_number() -> str:
    return f"+86139{next(_NUMBERS) % 100_000_000:08d}"


def single_bodies(traffic: str):
    while True:
        yield orjson.dumps(
            {
                "to": next_number(),
                "card": CARD,
                "traffic_type": traffic,
                "variables": {"name": "张三", "amount": "58.00"},
            }
        )


def batch_bodies(size: int, traffic: str):
    while True:
        recipients = [{"to": next_number(), "variables": {"name": "张三", "amount": "58.00"}} for _ in range(size)]
        yield orjson.dumps({"card": CARD, "traffic_type": traffic, "recipients": recipients})


def rules_on() -> dict:
    """The default rules (marketing window and caps), the window moved to hold the run's hours
    when the bench runs at night in Shanghai, and a volume threshold and limit never reached."""
    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    window = {"start": "08:00", "end": "21:00"}
    if not 8 <= now.hour < 20:
        window = {
            "start": (now - timedelta(hours=1)).strftime("%H:00"),
            "end": (now + timedelta(hours=2)).strftime("%H:00"),
        }
    return {"windows": {"marketing": window}, "daily_volume": {"alert_at": 10**11, "limit": 10**12}}


RULES_OFF = {
    "windows": {"marketing": None, "notification": None, "otp": None},
    "caps": {"marketing": [], "notification": [], "otp": []},
    "daily_volume": {"alert_at": None, "limit": None},
}


def start_server(data: Path) -> tuple[subprocess.Popen, str]:
    port = _load.free_port()
    env = {"HONGYAN_LOG_LEVEL": "WARNING", "HONGYAN_SANDBOX": "0"}  # accept alone, no dispatch
    srv = _load.start_process(
        [sys.executable, "server.py", "--data-dir", str(data), "--port", str(port)], cpu=0, env=env
    )
    _load.wait_http(f"http://127.0.0.1:{port}/healthz", srv, timeout=120)
    return srv, f"http://127.0.0.1:{port}"


def put_rules(base: str, headers: dict, rules: dict) -> None:
    req = urllib.request.Request(
        f"{base}/v1/compliance/send-rules", data=orjson.dumps(rules), headers=headers, method="PUT"
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200


def interleaved(targets: dict, seconds: float, concurrency: int, batch_size: int, rounds: int) -> dict:
    """Each phase on each server in turn, `rounds` times: every round's result and the server
    CPU it cost per recipient, per (server, phase). Interleaving keeps a burst of other work on
    the shared machine from deciding it. Both servers share a core: each phase starts once both
    are idle (the last phase's evidence chained), and its CPU is counted until its own server is
    idle again, so deferred work is charged to the phase that caused it."""
    runs: dict = {}
    pids = [pid for _, _, _, pid in targets.values()]
    for url, headers, traffic, _ in targets.values():  # warm-up: first automaton build, caches
        asyncio.run(drive(url, single_bodies(traffic), headers, min(2.0, seconds), concurrency))
    for _ in range(rounds):
        for phase in ("single", "batch"):
            for label, (url, headers, traffic, pid) in targets.items():
                _load.wait_idle(pids)
                cpu_before = _load.cpu_seconds(pid)
                if phase == "single":
                    got = asyncio.run(drive(url, single_bodies(traffic), headers, seconds, concurrency))
                    recipients = got.requests
                else:
                    bodies = batch_bodies(batch_size, traffic)
                    got = asyncio.run(drive(url, bodies, headers, seconds, max(2, concurrency // 8)))
                    recipients = got.requests * batch_size
                _load.wait_idle([pid])
                cpu_us = (_load.cpu_seconds(pid) - cpu_before) * 1e6 / max(1, recipients)
                runs.setdefault((label, phase), []).append((got, cpu_us))
    return runs


def median_run(runs: list):
    """The round with the median rate (its latencies go with it)."""
    return sorted((r for r, _ in runs), key=lambda r: r.rps)[(len(runs) - 1) // 2]


def median_cpu(runs: list) -> float:
    """The median server CPU per recipient (µs), deferred work included."""
    return _load.median([cpu for _, cpu in runs])


def cli(data: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "server.py", "--data-dir", str(data), *args],
        cwd=_load.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def prepare_on(data: Path, tenant_id: str, words: list[str], tmp: Path) -> None:
    """100k blocking words, 1k review words, 100k opt-outs of the tenant."""
    word_file = tmp / "words.txt"
    word_file.write_text("\n".join(words) + "\n")
    cli(data, "words", "import", str(word_file), "--category", "bench", "--action", "block")
    review = synthetic_words(REVIEW_WORDS, seed=15)
    review_file = tmp / "review.txt"
    review_file.write_text("\n".join(w for w in review if w not in set(words)) + "\n")
    cli(data, "words", "import", str(review_file), "--category", "bench_review", "--action", "review")
    with sqlite3.connect(data / "hongyan.db") as db:
        db.executemany(
            "INSERT INTO opt_outs (tenant_id, to_bidx, created_ms, source) VALUES (?, ?, 0, 'bench')",
            ((tenant_id, os.urandom(32)) for _ in range(OPT_OUTS)),
        )


def prepare_off(data: Path) -> None:
    """Every list emptied: the screen has nothing to match."""
    with sqlite3.connect(data / "hongyan.db") as db:
        db.execute("DELETE FROM compliance_words")
        db.execute("UPDATE compliance_versions SET version = version + 1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per measured phase")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians reported)")
    args = ap.parse_args()
    _load.pin(1)

    rows, figures, words = filter_figures(args.seconds)
    _load.print_table(
        f"Screening with {figures['words']:,} words (automaton built in {figures['build_s']} s, "
        f"~{figures['automaton_mb']} MB), one core",
        rows,
    )

    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            targets = {}
            for label in ("on", "off"):
                data = Path(tmp) / label
                created = json.loads(cli(data, "tenant", "create", "Bench"))
                if label == "on":
                    prepare_on(data, created["tenant_id"], words, Path(tmp))
                else:
                    prepare_off(data)
                srv, base = start_server(data)
                servers.append(srv)
                headers = {"Authorization": f"Bearer {created['api_key']}", "Content-Type": "application/json"}
                put_rules(base, headers, rules_on() if label == "on" else RULES_OFF)
                traffic = "marketing" if label == "on" else "notification"
                targets[label] = (f"{base}/v1/messages", headers, traffic, srv.pid)
            runs = interleaved(targets, args.seconds, args.concurrency, args.batch_size, args.rounds)
        finally:
            for srv in servers:
                _load.stop(srv)
    results = {
        label: (median_run(runs[(label, "single")]), median_run(runs[(label, "batch")])) for label in ("on", "off")
    }

    table = [
        ("controls", "phase", "requests", "non-2xx", "req/s", "recipients/s", "p50 ms", "p99 ms",
         "CPU µs/recipient", "rounds (req/s)")
    ]  # fmt: skip
    cpu = {key: median_cpu(rs) for key, rs in runs.items()}
    for label, (single, batch) in results.items():
        name = "all on" if label == "on" else "all off"
        each = ", ".join(f"{r.rps:,.0f}" for r, _ in runs[(label, "single")])
        table.append((name, "single", single.requests, single.errors, f"{single.rps:,.0f}", f"{single.rps:,.0f}",
                      f"{single.pct(50):.1f}", f"{single.pct(99):.1f}", f"{cpu[(label, 'single')]:,.0f}", each))  # fmt: skip
        each = ", ".join(f"{r.rps * args.batch_size:,.0f}" for r, _ in runs[(label, "batch")])
        table.append((name, f"batch of {args.batch_size}", batch.requests, batch.errors, f"{batch.rps:,.1f}",
                      f"{batch.rps * args.batch_size:,.0f}", f"{batch.pct(50):.1f}", f"{batch.pct(99):.1f}",
                      f"{cpu[(label, 'batch')]:,.0f}", each))  # fmt: skip
    _load.print_table(
        f"POST /v1/messages, {args.seconds:g} s per phase, median of {args.rounds} interleaved rounds, "
        "SQLite WAL, servers pinned to one core",
        table,
    )
    (on_single, on_batch), (off_single, off_batch) = results["on"], results["off"]
    single_ratio = on_single.rps / off_single.rps if off_single.rps else 0.0
    batch_ratio = on_batch.rps / off_batch.rps if off_batch.rps else 0.0
    # The verdict is on capacity: recipients one core sustains, 1 / (server CPU per recipient,
    # the deferred evidence chaining included). A phase's own rate is also shown, but on a shared
    # machine it moves with whatever else runs on the core and with how much of the work the
    # server defers past the phase; the CPU a recipient costs does not.
    capacity = {
        phase: cpu[("off", phase)] / cpu[("on", phase)] if cpu[("on", phase)] else 0.0 for phase in ("single", "batch")
    }
    met = min(capacity.values()) >= 0.8
    print(
        f"capacity with controls on / off (server CPU per recipient): single {capacity['single']:.2f}, "
        f"batch {capacity['batch']:.2f} (target ≥ 0.80: {'met' if met else 'missed'}); "
        f"phase rates on / off: single {single_ratio:.2f}, batch {batch_ratio:.2f}"
    )
    errors = sum(r.errors for rs in runs.values() for r, _ in rs)
    _load.json_line(
        {
            **figures,
            "rounds": args.rounds,
            "accept_single_on_rps": round(on_single.rps, 1),
            "accept_single_off_rps": round(off_single.rps, 1),
            "accept_single_ratio": round(single_ratio, 3),
            "accept_batch_on_recipients_per_s": round(on_batch.rps * args.batch_size, 1),
            "accept_batch_off_recipients_per_s": round(off_batch.rps * args.batch_size, 1),
            "accept_batch_ratio": round(batch_ratio, 3),
            **{f"cpu_us_per_recipient_{label}_{phase}": round(v, 1) for (label, phase), v in cpu.items()},
            "capacity_single_ratio": round(capacity["single"], 3),
            "capacity_batch_ratio": round(capacity["batch"], 3),
            "target_met": met,
            "errors": errors,
        }
    )


if __name__ == "__main__":
    main()
