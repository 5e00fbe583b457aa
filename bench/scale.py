"""Scale-out speed on PostgreSQL: end-to-end msg/s with 1 and with 2 dispatch processes.

    HONGYAN_TEST_PG_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        python bench/scale.py --seconds 20 [--rate 1500] [--api-workers 2]

For each dispatcher count the run makes its own database (next to the one the URL names, dropped
afterwards) and starts the split deployment as real processes: `server.py simulators` (the MaaP
answers `delivered` after 50 ms), `server.py serve --workers 2` and `server.py dispatch --workers
N`. The load generator offers `--rate` RCS-capable recipients a second (batches every 100 ms)
for `--seconds`, waits (bounded) for the backlog to drain, and reads the figures from the
database's event times: messages reaching `rcs_delivered` per second (median once warmed up),
the whole run's rate (delivered over first accept → last delivery) and the p99 accept→delivered.
Nothing is pinned: on a 2-core machine the API, the dispatchers and the simulators share both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import ROOT, free_port, json_line, median, print_table, stop, wait_http  # noqa: E402
from bench.dispatch import offer  # noqa: E402

MASTER_KEY = "22" * 16


def admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "server.py", *args], cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=out
    )


def run(args: list[str], env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "server.py", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"server.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


async def figures(dsn: str, warmup_s: float) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT a.at_ms AS a, d.at_ms AS d FROM message_events a JOIN message_events d "
            "ON d.message_id = a.message_id AND d.type = 'rcs_delivered' WHERE a.type = 'accepted'"
        )
        total = await conn.fetchval("SELECT count(*) FROM messages")
    finally:
        await conn.close()
    if not rows:
        return {"delivered": 0, "total": total}
    first = min(r["a"] for r in rows)
    per_second: dict[int, int] = {}
    for r in rows:
        per_second[(r["d"] - first) // 1000] = per_second.get((r["d"] - first) // 1000, 0) + 1
    steady = [per_second.get(s, 0) for s in range(int(warmup_s), max(per_second))]  # the last second is partial
    lat = sorted(r["d"] - r["a"] for r in rows)
    span_s = (max(r["d"] for r in rows) - first) / 1000
    return {
        "delivered": len(rows),
        "total": total,
        "per_s_median": median(steady) if steady else float("nan"),
        "overall_per_s": round(len(rows) / span_s, 1) if span_s > 0 else float("nan"),
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))],
    }


async def one_run(base_url: str, dispatchers: int, args: argparse.Namespace, tmp: Path) -> dict:
    name = "hongyan_bench_" + secrets.token_hex(4)
    await admin(base_url, f'CREATE DATABASE "{name}"')
    url = f"{base_url.rsplit('/', 1)[0]}/{name}"
    log = tmp / f"dispatch-{dispatchers}.log"
    port, maap_port, smsc_port, inbox_port = free_port(), free_port(), free_port(), free_port()
    env = {
        "HONGYAN_DATABASE_URL": url,
        "HONGYAN_MASTER_KEY": MASTER_KEY,
        "HONGYAN_LOG_LEVEL": "WARNING",
        "HONGYAN_MAAP_URL": f"http://127.0.0.1:{maap_port}",
        "HONGYAN_SMSC_ADDRESS": f"127.0.0.1:{smsc_port}",
    }
    data = ["--data-dir", str(tmp / f"var-{dispatchers}"), "--port", str(port)]
    procs: list[subprocess.Popen] = []
    try:
        run(["migrate", *data], env)
        key = json.loads(run(["tenant", "create", "Scale bench", *data], env))["api_key"]
        sims = ["simulators", *data, "--maap-port", str(maap_port), "--smsc-port", str(smsc_port)]
        sims += ["--inbox-port", str(inbox_port), "--delivery-delay", "0.05", "--display-delay", "0.05"]
        procs.append(start(sims, env, log))
        wait_http(f"http://127.0.0.1:{maap_port}/counts", procs[-1])
        procs.append(start(["serve", *data, "--workers", str(args.api_workers)], env, log))
        metrics = [free_port() for _ in range(dispatchers)]  # worker i answers on the first + i
        if metrics != list(range(metrics[0], metrics[0] + dispatchers)):
            metrics = [metrics[0] + i for i in range(dispatchers)]
        procs.append(
            start(["dispatch", *data, "--workers", str(dispatchers), "--metrics-port", str(metrics[0])], env, log)
        )
        wait_http(f"http://127.0.0.1:{port}/readyz", procs[1])
        for m in metrics:
            wait_http(f"http://127.0.0.1:{m}/readyz", procs[2])
        accepted, errors = await offer(f"http://127.0.0.1:{port}", key, args.rate, args.seconds)
        deadline = time.monotonic() + 60
        f = await figures(admin_dsn(url), warmup_s=2)
        while f["delivered"] < accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            f = await figures(admin_dsn(url), warmup_s=2)
        return {**f, "accepted": accepted, "errors": errors}
    finally:
        for p in reversed(procs):
            stop(p)
        await admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        problems = [line for line in log.read_text().splitlines() if "ERROR" in line or "Traceback" in line]
        if problems:
            print(f"{len(problems)} error lines in {log.name}, first: {problems[0][:300]}", file=sys.stderr)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--rate", type=int, default=1500, help="recipients offered per second")
    p.add_argument("--api-workers", type=int, default=2)
    args = p.parse_args()
    base_url = os.environ.get("HONGYAN_BENCH_PG_URL") or os.environ.get("HONGYAN_TEST_PG_URL")
    if not base_url:
        raise SystemExit("set HONGYAN_BENCH_PG_URL (or HONGYAN_TEST_PG_URL) to a PostgreSQL database URL")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dispatchers in (1, 2):
            results[dispatchers] = await one_run(base_url, dispatchers, args, Path(tmp))
    print_table(
        f"scale-out: {args.rate}/s offered for {args.seconds:.0f} s through {args.api_workers} API processes, "
        "simulators in their own process (PostgreSQL)",
        [
            ("dispatch processes", "accepted", "delivered", "msg/s (median)", "msg/s (whole run)", "p99 ms"),
            *(
                (n, r["accepted"], r["delivered"], r.get("per_s_median"), r.get("overall_per_s"), r.get("p99_ms"))
                for n, r in results.items()
            ),
        ],
    )
    one, two = results[1].get("per_s_median") or 0, results[2].get("per_s_median") or 0
    json_line(
        {
            "msgs_per_s_1_dispatch": one,
            "msgs_per_s_2_dispatch": two,
            "speedup": round(two / one, 2) if one else None,
            "p99_ms_1_dispatch": results[1].get("p99_ms"),
            "p99_ms_2_dispatch": results[2].get("p99_ms"),
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
