"""Shared load-generation helpers for the bench scripts: a server subprocess and a closed-loop client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpu: int) -> None:
    """Keep this process on one core so server and load generator do not fight (2-core machine)."""
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {cpu % os.cpu_count()})


def start_process(args: list[str], *, cpu: int, env: dict | None = None) -> subprocess.Popen:
    cmd = ["taskset", "-c", str(cpu), *args] if _has_taskset() else args
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _has_taskset() -> bool:
    return subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 and (os.cpu_count() or 1) > 1


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (all its threads) has used so far, from /proc.

    Less noisy than throughput on a shared machine: what a message costs the server."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pids: list[int], *, below: float = 0.05, window: float = 0.5, timeout: float = 300) -> float:
    """Wait until every process uses less than `below` of a core over `window` seconds (its
    background work, e.g. evidence chaining, caught up); the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        before = [cpu_seconds(p) for p in pids]
        time.sleep(window)
        if all(cpu_seconds(p) - b < below * window for p, b in zip(pids, before)):
            break
    return time.monotonic() - t0


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def closed_loop(
    url,
    bodies,
    *,
    headers: dict,
    seconds: float,
    concurrency: int = 32,
    ok=(200, 201, 202),
    method: str = "POST",
    session_headers: dict | None = None,
    check=None,
) -> LoadResult:
    """`concurrency` clients each sending the next request as soon as the last answer came.

    POST: `url` is fixed and `bodies` yields request bodies. GET: `bodies` yields URLs (redirects
    are not followed). `check(resp)` may add its own test of an answer.
    """
    conn = aiohttp.TCPConnector(limit=concurrency)
    lat: list[float] = []
    counts = {"n": 0, "err": 0}
    it = iter(bodies)
    async with aiohttp.ClientSession(connector=conn, headers=session_headers) as session:
        deadline = time.perf_counter() + seconds

        def request(item):
            if method == "GET":
                return session.get(item, headers=headers, allow_redirects=False)
            return session.post(url, data=item, headers=headers)

        async def worker():
            while time.perf_counter() < deadline:
                item = next(it)
                t0 = time.perf_counter()
                async with request(item) as resp:
                    await resp.read()
                    if resp.status not in ok or (check is not None and not check(resp)):
                        counts["err"] += 1
                lat.append((time.perf_counter() - t0) * 1000)
                counts["n"] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return LoadResult(counts["n"], counts["err"], elapsed, lat)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def print_table(title: str, rows: list[tuple]) -> None:
    print(title)
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


def json_line(figures: dict) -> None:
    print(json.dumps(figures, separators=(",", ":")))
