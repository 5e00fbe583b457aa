"""Soak: a long, steady load through accept and dispatch. Does memory stay flat, does throughput hold?

    python bench/soak.py --messages 1000000 [--rate 800] [--sample-s 10] [--warmup-s 60] [--seconds N]
                         [--distinct-numbers N]

The processes of bench/dispatch.py: the server (embedded SQLite, sandbox on) on one core; the MaaP
simulator (answers `delivered` after 50 ms) in its own process on the other core, with the load
generator. That offers `--rate` RCS-capable recipients a second (batches every 100 ms) until
`--messages` are accepted or `--seconds` of load have passed, whichever comes first, then waits
(at most `--drain-s`) for the backlog to reach `rcs_delivered`.

Every `--sample-s` seconds, one table row: the messages accepted and reaching `rcs_delivered` in
the window (the rows message_events gained since the last sample, found by rowid on a read-only
connection, so a sample costs the same however large the table grows), the backlog, the server's
CPU, and the RSS (VmRSS) of the server and of the simulator. VmRSS includes the pages of SQLite's
memory-mapped database file the server has touched, which grow with the file; the server's
RssAnon (heap, SQLite's page caches) is shown next to it, as that is where a leak would be.

The run ends with a table of figures and one JSON line: the server's RSS at the first sample at or
past `--warmup-s` and at the end, the growth between them (flat: under 10%), the growth over the
second half of the load (where bounded caches filling early no longer shows), and the medians of
delivered/s over the first and the last third of the steady samples (past warm-up, load still
offered) with their ratio (steady: at least 0.9).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import cpu_seconds, json_line, median, pin, print_table  # noqa: E402
from bench.dispatch import log_problems, offer, stack  # noqa: E402

FLAT = 0.10  # at most this RSS growth after warm-up
STEADY = 0.9  # the last third's delivered/s at least this share of the first third's


@dataclass
class Sample:
    """One window of `window_s` seconds ending `t` seconds after the load started."""

    t: float
    window_s: float
    phase: str  # warm-up | load | drain
    accepted: int
    delivered: int
    backlog: int
    cpu_s: float
    rss_mb: float
    anon_mb: float
    sim_rss_mb: float
    query_ms: float

    @property
    def delivered_per_s(self) -> float:
        return self.delivered / self.window_s

    @property
    def cpu_ms_per_msg(self) -> float | None:
        return 1000 * self.cpu_s / self.delivered if self.delivered else None


class NewEvents:
    """Counts, by type, the message_events rows added since the last call.

    By rowid (the table's own b-tree, in insertion order): each event is counted once, when its
    transaction has committed, and a call reads only the new rows."""

    def __init__(self, db: Path):
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        self.last = 0

    def __call__(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT type, count(*), max(rowid) FROM message_events WHERE rowid > ? GROUP BY type", (self.last,)
        ).fetchall()
        self.last = max([self.last, *(r[2] for r in rows)])
        return {kind: n for kind, n, _ in rows}

    def close(self) -> None:
        self.conn.close()


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, RssAnon) of a process in MB, from /proc/<pid>/status."""
    kib = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            kib[name] = int(value.split()[0])
    return kib.get("VmRSS", 0) / 1024, kib.get("RssAnon", 0) / 1024


@dataclass
class Run:
    """What the sampler needs to know of the load: set once the load generator is done."""

    warmup_s: float
    accepted: int | None = None  # None while load is offered
    drain_until: float = math.inf


COLUMNS = ("t s", "phase", "accepted/s", "delivered/s", "backlog", "CPU %", "CPU ms/msg")
COLUMNS += ("RSS MB", "anon MB", "sim RSS MB", "query ms")
WIDTHS = (6, 7, 10, 11, 8, 6, 10, 7, 7, 10, 8)


def print_row(cells: tuple) -> None:
    print("  " + "  ".join(str(c).rjust(w) for c, w in zip(cells, WIDTHS)), flush=True)


def row(x: Sample) -> tuple:
    per_msg = x.cpu_ms_per_msg
    return (
        f"{x.t:.0f}",
        x.phase,
        f"{x.accepted / x.window_s:.0f}",
        f"{x.delivered_per_s:.0f}",
        x.backlog,
        f"{100 * x.cpu_s / x.window_s:.0f}",
        "-" if per_msg is None else f"{per_msg:.3f}",
        f"{x.rss_mb:.1f}",
        f"{x.anon_mb:.1f}",
        f"{x.sim_rss_mb:.1f}",
        f"{x.query_ms:.1f}",
    )


async def sample(server_pid: int, sim_pid: int, events: NewEvents, every: float, run: Run) -> list[Sample]:
    """A sample every `every` seconds (printed as it comes) until the load is over and the backlog
    delivered, or the drain time is up."""
    samples: list[Sample] = []
    accepted = delivered = 0
    start = prev = time.monotonic()
    cpu_prev = cpu_seconds(server_pid)
    while True:
        await asyncio.sleep(max(0.0, start + (len(samples) + 1) * every - time.monotonic()))
        q0 = time.perf_counter()
        new = await asyncio.to_thread(events)
        query_ms = (time.perf_counter() - q0) * 1000
        now, cpu = time.monotonic(), cpu_seconds(server_pid)
        rss, anon = memory_mb(server_pid)
        accepted += new.get("accepted", 0)
        delivered += new.get("rcs_delivered", 0)
        t = now - start
        phase = "warm-up" if t < run.warmup_s else "load" if run.accepted is None else "drain"
        x = Sample(
            t=t,
            window_s=now - prev,
            phase=phase,
            accepted=new.get("accepted", 0),
            delivered=new.get("rcs_delivered", 0),
            backlog=accepted - delivered,
            cpu_s=cpu - cpu_prev,
            rss_mb=rss,
            anon_mb=anon,
            sim_rss_mb=memory_mb(sim_pid)[0],
            query_ms=query_ms,
        )
        samples.append(x)
        print_row(row(x))
        prev, cpu_prev = now, cpu
        if run.accepted is not None and (delivered >= run.accepted or now >= run.drain_until):
            return samples


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def figures(samples: list[Sample], run: Run, seconds: float, errors: int) -> dict:
    """The JSON line's figures: RSS after warm-up and at the end, delivered/s first vs last third."""
    after = next((x for x in samples if x.t >= run.warmup_s), None)
    end = samples[-1] if samples else None
    # Whole windows past warm-up while load was offered: the drain's falling rate is not decay.
    steady = [x for x in samples if x.phase == "load" and x.t - x.window_s >= run.warmup_s - 0.5]
    third = len(steady) // 3

    def third_median(xs: list[Sample], value) -> float | None:
        values = [v for v in map(value, xs) if v is not None]
        return round(median(values), 3) if third and values else None

    first_rate = third_median(steady[:third], lambda x: x.delivered_per_s)
    last_rate = third_median(steady[-third:], lambda x: x.delivered_per_s)
    rate_ratio = ratio(last_rate, first_rate)
    growth = round(end.rss_mb / after.rss_mb - 1, 4) if after and end else None
    anon_growth = round(end.anon_mb / after.anon_mb - 1, 4) if after and end else None
    # Bounded caches (capability cache, SQLite page caches) fill over the first part of a run,
    # at a pace set by how many distinct numbers and pages the load touches; a leak keeps
    # growing through the second half of the load as well.
    mid = steady[len(steady) // 2] if steady else None
    half_growth = round(end.rss_mb / mid.rss_mb - 1, 4) if mid and end else None
    return {
        "messages": run.accepted,
        "seconds": round(seconds, 1),
        "rss_mb_after_warmup": round(after.rss_mb, 1) if after else None,
        "rss_mb_end": round(end.rss_mb, 1) if end else None,
        "rss_growth": growth,
        "rss_flat": growth < FLAT if growth is not None else None,
        "rss_mb_mid_load": round(mid.rss_mb, 1) if mid else None,
        "rss_growth_second_half": half_growth,
        "anon_mb_after_warmup": round(after.anon_mb, 1) if after else None,
        "anon_mb_end": round(end.anon_mb, 1) if end else None,
        "anon_growth": anon_growth,
        "sim_rss_mb_after_warmup": round(after.sim_rss_mb, 1) if after else None,
        "sim_rss_mb_end": round(end.sim_rss_mb, 1) if end else None,
        "delivered_per_s_first_third": first_rate,
        "delivered_per_s_last_third": last_rate,
        "delivered_per_s_ratio": rate_ratio,
        "throughput_steady": rate_ratio >= STEADY if rate_ratio is not None else None,
        "cpu_ms_per_msg_first_third": third_median(steady[:third], lambda x: x.cpu_ms_per_msg),
        "cpu_ms_per_msg_last_third": third_median(steady[-third:], lambda x: x.cpu_ms_per_msg),
        "backlog_end": end.backlog if end else None,
        "errors": errors,
    }


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000, help="recipients to have accepted")
    p.add_argument("--seconds", type=float, default=None, help="at most this long offering load")
    p.add_argument("--rate", type=int, default=800, help="recipients offered per second")
    p.add_argument("--sample-s", type=float, default=10, help="seconds between samples")
    p.add_argument("--warmup-s", type=float, default=60, help="RSS and throughput compared from here")
    p.add_argument("--drain-s", type=float, default=120, help="at most this long for the backlog after the load")
    p.add_argument("--delivery-delay", type=float, default=0.05)
    p.add_argument(
        "--distinct-numbers",
        type=int,
        default=None,
        help="cycle through this many numbers (at most 10,000,000) instead of 300,000",
    )
    args = p.parse_args()
    run = Run(warmup_s=args.warmup_s)
    pin(1)
    print(
        f"soak: {args.messages} recipients at {args.rate}/s"
        + (f" (at most {args.seconds:.0f} s)" if args.seconds else "")
        + f", a sample every {args.sample_s:.0f} s, warm-up {args.warmup_s:.0f} s",
        flush=True,
    )
    print_row(COLUMNS)
    with tempfile.TemporaryDirectory() as tmp:
        async with stack(Path(tmp), args.delivery_delay) as s:
            events = NewEvents(s.db)
            sampler = asyncio.create_task(sample(s.server.pid, s.sim.pid, events, args.sample_s, run))
            try:
                t0 = time.monotonic()
                accepted, errors = await offer(
                    s.base,
                    s.key,
                    args.rate,
                    args.seconds or math.inf,
                    limit=args.messages,
                    distinct=args.distinct_numbers,
                )
                load_s = time.monotonic() - t0
                run.accepted, run.drain_until = accepted, time.monotonic() + args.drain_s
                samples = await sampler
            finally:
                sampler.cancel()  # a no-op once it has finished; on an error it must not outlive the processes
        events.close()
        log_errors = log_problems(s.log)
    f = figures(samples, run, load_s, errors)
    f["log_errors"] = log_errors
    print_table(
        f"soak: {accepted} accepted in {load_s:.0f} s ({errors} errors), "
        f"{sum(x.delivered for x in samples)} reached rcs_delivered",
        [("figure", "value"), *((k, v) for k, v in f.items())],
    )
    json_line(f)


if __name__ == "__main__":
    asyncio.run(main())
