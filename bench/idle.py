"""What an idle server costs: the README start command (embedded SQLite, the sandbox simulators
in process, the demo tenant) left alone, its CPU time sampled from /proc.

    python bench/idle.py --seconds 30 [--settle 10] [--no-postgres]

The server starts on a temporary data dir; once `/healthz` answers it is left `--settle` seconds
(start-up work: migrations, the demo tenant, the first passes of every job) and then sampled
in windows of `--window` seconds (5) for `--seconds` seconds. Reported: the median and the worst
window's share of a core, and the average over the whole time (every thread's CPU time, from
/proc). With HONGYAN_TEST_PG_URL set the same runs on PostgreSQL too (a database of its own is
created on that server, migrated, and dropped after). DESIGN.md §14: < 0.5% of a core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import free_port, json_line, median, print_table, start_process, stop, wait_http  # noqa: E402


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def cpu_ns(pid: int) -> int:
    """Nanoseconds on a CPU of every live thread of the process (/proc schedstat: the clock-tick
    counts of /proc stat are 10 ms steps, too coarse for a fraction of a percent)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total


def sample(pid: int, seconds: float, window: float) -> list[float]:
    """The process's share of a core in each `window` of `seconds`."""
    shares = []
    before, t0 = cpu_ns(pid), time.monotonic()
    for _ in range(max(1, int(seconds / window))):
        time.sleep(window)
        now, t1 = cpu_ns(pid), time.monotonic()
        shares.append((now - before) / 1e9 / (t1 - t0))
        before, t0 = now, t1
    return shares


def measure(label: str, args: argparse.Namespace, database_url: str | None) -> dict:
    """Start the server, let it settle, sample it idle; its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {"HONGYAN_LOG_LEVEL": "WARNING"}
        cmd = [sys.executable, "server.py", "--data-dir", str(Path(tmp) / "var"), "--port", str(port)]
        if database_url:
            env["HONGYAN_MASTER_KEY"] = "22" * 16
            migrate = start_process([*cmd, "--database-url", database_url, "migrate"], cpu=0, env=env)
            if migrate.wait(timeout=120) != 0:
                raise SystemExit(f"migrate failed: {migrate.stderr.read()}")
            cmd += ["--database-url", database_url]
        server = start_process(cmd, cpu=0, env=env)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", server)
            time.sleep(args.settle)
            start_cpu, start = cpu_ns(server.pid), time.monotonic()
            shares = sample(server.pid, args.seconds, args.window)
            average = (cpu_ns(server.pid) - start_cpu) / 1e9 / (time.monotonic() - start)
        finally:
            stop(server)
        if server.returncode not in (0, -15):
            print(f"{label}: the server exited {server.returncode}: {server.stderr.read()[-500:]}", file=sys.stderr)
    return {
        "median_pct": round(100 * median(shares), 3),
        "max_pct": round(100 * max(shares), 3),
        "average_pct": round(100 * average, 3),
    }


async def _pg_database(pg: str, sql: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(_pg_dsn(pg))
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30, help="seconds sampled idle")
    p.add_argument("--settle", type=float, default=10, help="seconds left after start-up before sampling")
    p.add_argument("--window", type=float, default=5, help="seconds per sample (median and worst of these)")
    p.add_argument("--no-postgres", action="store_true", help="only the embedded SQLite")
    args = p.parse_args()
    results = {"sqlite": measure("sqlite", args, None)}
    pg = os.environ.get("HONGYAN_TEST_PG_URL")
    if pg and not args.no_postgres:
        name = f"hongyan_bench_idle_{os.urandom(4).hex()}"
        asyncio.run(_pg_database(pg, f'CREATE DATABASE "{name}"'))
        try:
            results["postgresql"] = measure("postgresql", args, f"{pg.rsplit('/', 1)[0]}/{name}")
        finally:
            asyncio.run(_pg_database(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    rows = [("database", "median % of a core", f"worst {args.window:g} s %", "average %")]
    rows += [(db, r["median_pct"], r["max_pct"], r["average_pct"]) for db, r in results.items()]
    print_table(f"idle server: {args.seconds:.0f} s sampled after {args.settle:.0f} s settling", rows)
    json_line(
        {
            "bench": "idle",
            "seconds": args.seconds,
            **{f"{db}_{k}": v for db, r in results.items() for k, v in r.items()},
        }
    )


if __name__ == "__main__":
    main()
