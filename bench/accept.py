"""Durable accept speed of POST /v1/messages on the embedded SQLite default.

Starts the real server (one core) and a bare aiohttp JSON handler as the baseline, drives
both with the same 32-connection closed-loop client (the other core), and reports
single-recipient requests/s and 1,000-recipient batches as recipients/s with latencies.

    python bench/accept.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _load  # noqa: E402

CARD = {
    "message": {
        "generalPurposeCard": {
            "layout": {"cardOrientation": "VERTICAL"},
            "content": {
                "title": "{{ name }}，您的账单已出",
                "description": "本月话费 {{ amount }} 元，请于月底前缴纳。",
                "suggestions": [{"reply": {"displayText": "查看详情", "postback": {"data": "detail"}}}],
            },
        }
    }
}


def numbers():
    for i in itertools.count():
        yield f"+86138{i % 100_000_000:08d}"


def single_bodies():
    for n in numbers():
        yield orjson.dumps({"to": n, "card": CARD, "variables": {"name": "张三", "amount": "58.00"}})


def batch_bodies(size: int):
    nums = numbers()
    while True:
        yield orjson.dumps(
            {
                "card": CARD,
                "recipients": [
                    {"to": next(nums), "variables": {"name": "张三", "amount": "58.00"}} for _ in range(size)
                ],
            }
        )


async def drive(url: str, bodies, headers: dict, seconds: float, concurrency: int):
    return await _load.closed_loop(url, bodies, headers=headers, seconds=seconds, concurrency=concurrency)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per measured phase")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1000)
    args = ap.parse_args()
    _load.pin(1)

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        out = subprocess.run(
            [sys.executable, "server.py", "--data-dir", str(data), "tenant", "create", "Bench"],
            cwd=_load.ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        key = json.loads(out.stdout)["api_key"]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        bare_port = _load.free_port()
        bare = _load.start_process([sys.executable, "bench/bare_server.py", str(bare_port)], cpu=0)
        try:
            _load.wait_http(f"http://127.0.0.1:{bare_port}/healthz", bare)
            bare_res = asyncio.run(
                drive(
                    f"http://127.0.0.1:{bare_port}/v1/messages",
                    single_bodies(),
                    headers,
                    args.seconds,
                    args.concurrency,
                )
            )
        finally:
            _load.stop(bare)

        port = _load.free_port()
        # Accept alone: no dispatch through the simulators (bench/dispatch.py measures that path).
        env = {"HONGYAN_LOG_LEVEL": "WARNING", "HONGYAN_SANDBOX": "0"}
        srv = _load.start_process(
            [sys.executable, "server.py", "--data-dir", str(data), "--port", str(port)], cpu=0, env=env
        )
        try:
            _load.wait_http(f"http://127.0.0.1:{port}/healthz", srv)
            url = f"http://127.0.0.1:{port}/v1/messages"
            asyncio.run(drive(url, single_bodies(), headers, min(2.0, args.seconds), args.concurrency))  # warm-up
            _load.wait_idle([srv.pid])
            # Server CPU per recipient, the work an accept defers (evidence chaining, billing)
            # included: the phase, then until the server is idle again.
            cpu0 = _load.cpu_seconds(srv.pid)
            single = asyncio.run(drive(url, single_bodies(), headers, args.seconds, args.concurrency))
            _load.wait_idle([srv.pid])
            single_cpu_us = (_load.cpu_seconds(srv.pid) - cpu0) / max(1, single.requests) * 1e6
            cpu0 = _load.cpu_seconds(srv.pid)
            batch = asyncio.run(
                drive(url, batch_bodies(args.batch_size), headers, args.seconds, max(2, args.concurrency // 8))
            )
            _load.wait_idle([srv.pid])
            batch_cpu_us = (_load.cpu_seconds(srv.pid) - cpu0) / max(1, batch.requests * args.batch_size) * 1e6
        finally:
            _load.stop(srv)

    recipients_s = batch.rps * args.batch_size
    _load.print_table(
        f"POST /v1/messages, {args.seconds:g} s per phase, SQLite WAL, server pinned to one core",
        [
            ("phase", "requests", "non-2xx", "req/s", "recipients/s", "p50 ms", "p99 ms", "server CPU µs/recipient"),
            (
                "bare aiohttp handler",
                bare_res.requests,
                bare_res.errors,
                f"{bare_res.rps:,.0f}",
                "-",
                f"{bare_res.pct(50):.1f}",
                f"{bare_res.pct(99):.1f}",
                "-",
            ),
            (
                "single recipient",
                single.requests,
                single.errors,
                f"{single.rps:,.0f}",
                f"{single.rps:,.0f}",
                f"{single.pct(50):.1f}",
                f"{single.pct(99):.1f}",
                f"{single_cpu_us:.0f}",
            ),
            (
                f"batch of {args.batch_size}",
                batch.requests,
                batch.errors,
                f"{batch.rps:,.1f}",
                f"{recipients_s:,.0f}",
                f"{batch.pct(50):.1f}",
                f"{batch.pct(99):.1f}",
                f"{batch_cpu_us:.1f}",
            ),
        ],
    )
    print(f"single / bare ratio: {single.rps / bare_res.rps:.2f}")
    _load.json_line(
        {
            "single_rps": round(single.rps, 1),
            "single_p99_ms": round(single.pct(99), 2),
            "single_p50_ms": round(single.pct(50), 2),
            "single_errors": single.errors,
            "single_cpu_us": round(single_cpu_us, 1),
            "batch_cpu_us_per_recipient": round(batch_cpu_us, 2),
            "batch_recipients_per_s": round(recipients_s, 1),
            "batch_p99_ms": round(batch.pct(99), 2),
            "batch_errors": batch.errors,
            "bare_rps": round(bare_res.rps, 1),
            "ratio": round(single.rps / bare_res.rps, 3),
        }
    )


if __name__ == "__main__":
    main()
