"""End-to-end dispatch speed: accept → dispatcher → MaaP simulator → delivered callback.

    python bench/dispatch.py --seconds 20 [--rate 1200] [--sms]

With --sms every recipient is one without RCS (the MaaP answers `failed`, code 2): the SMS
fallback goes to the SMSC simulator in a process of its own, and the figures are for
accepted → sms_delivered.

The server (SQLite, embedded sandbox) runs on one core; the MaaP simulator runs as its own
process and the load generator offers `--rate` RCS-capable recipients a second (batches every
100 ms) on the other. Figures come from the server's own event times (accepted → rcs_delivered)
read from the database afterwards: messages/s reaching rcs_delivered (median of the per-second
counts once warmed up) and the p99 accept→delivered latency. The simulator answers `delivered`
after --delivery-delay (50 ms by default), which is part of that latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import cpu_seconds, free_port, json_line, median, pin, print_table, start_process, stop, wait_http  # noqa: E402

CARD = {
    "message": {
        "generalPurposeCard": {
            "layout": {"cardOrientation": "VERTICAL"},
            "content": {
                "title": "您的账单已出",
                "description": "本月话费 {{ amount }} 元",
                "suggestions": [{"reply": {"displayText": "查看详情", "postback": {"data": "detail"}}}],
            },
        }
    }
}


def recipient(seq: int, sms: bool = False, distinct: int | None = None) -> str:
    """The load's `seq`-th number. Endings 1–6: RCS-capable, delivered; …10 (`sms`): no RCS, the
    SMS is delivered. The numbers repeat every 300,000 (100,000 for `sms`), or every `distinct`
    (up to 10,000,000) when given."""
    if sms:
        return f"+861391{seq % 100_000:05d}10"
    if distinct is None:
        return f"+8613912{seq % 100_000:05d}{1 + seq % 6}"
    return f"+86139{seq % min(distinct, 10_000_000):07d}{1 + seq % 6}"


async def offer(
    base: str,
    key: str,
    rate: int,
    seconds: float,
    sms: bool = False,
    limit: int | None = None,
    distinct: int | None = None,
) -> tuple[int, int]:
    """Post `rate` recipients a second for `seconds` (or until `limit` recipients are accepted),
    to the numbers `recipient` makes; returns (accepted, errors). A refused batch or a failed
    request is an error, never the end of the run."""
    per_tick = max(1, rate // 10)
    accepted = errors = refused = seq = 0
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        start = time.perf_counter()
        tick = 0
        pending: set[asyncio.Task] = set()

        async def post(body):
            nonlocal accepted, errors, refused
            try:
                async with session.post(f"{base}/v1/messages", json=body) as resp:
                    await resp.read()
                    if resp.status == 202:
                        accepted += len(body["recipients"])
                        return
                    problem = f"{resp.status} {(await resp.text())[:300]}"
            except (TimeoutError, aiohttp.ClientError) as e:
                problem = repr(e)
            if not errors:
                print(f"first error: {problem}", file=sys.stderr)
            errors += 1
            refused += len(body["recipients"])

        while time.perf_counter() - start < seconds:
            # With a limit, offer only what may still be missing (refused batches are offered again).
            n = per_tick if limit is None else min(per_tick, limit - (seq - refused))
            if n > 0:
                recipients = []
                for _ in range(n):
                    seq += 1
                    to = recipient(seq, sms, distinct)
                    recipients.append({"to": to, "variables": {"amount": f"{seq % 100}.00"}})
                task = asyncio.create_task(post({"recipients": recipients, "card": CARD}))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif not pending:
                break
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.1 - time.perf_counter()))
        await asyncio.gather(*pending)
    return accepted, errors


def _drain(proc, log: Path) -> None:
    with log.open("a") as out:
        for line in proc.stderr:
            out.write(line)


@dataclass
class Stack:
    """What `stack` started: the server's address and API key, its data dir and the processes."""

    base: str
    key: str
    data: Path
    log: Path
    server: subprocess.Popen
    sim: subprocess.Popen

    @property
    def db(self) -> Path:
        return self.data / "hongyan.db"


@contextlib.asynccontextmanager
async def stack(tmp: Path, delivery_delay: float = 0.05):
    """The server (embedded SQLite, sandbox on) on core 0; the MaaP simulator (answers `delivered`
    after `delivery_delay`) and the SMSC simulator in processes of their own on core 1. Their
    output goes to `tmp/server.log`; all three are stopped on the way out."""
    data = tmp / "var"
    port, sim_port, smsc_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    sim = start_process(
        [
            sys.executable,
            "-m",
            "rcs.simulator",
            "--port",
            str(sim_port),
            "--callback-url",
            f"{base}/rcs",
            "--delivery-delay",
            str(delivery_delay),
        ],
        cpu=1,
    )
    smsc = start_process(
        [sys.executable, "-m", "fallback.smsc", "--port", str(smsc_port), "--receipt-delay", "0.05"], cpu=1
    )
    server = start_process(
        [
            sys.executable,
            *(["-m", "cProfile", "-o", "/tmp/dispatch.prof"] if os.environ.get("BENCH_PROFILE") else []),
            "server.py",
            "--data-dir",
            str(data),
            "--port",
            str(port),
        ],
        cpu=0,
        env={
            "HONGYAN_MAAP_URL": f"http://127.0.0.1:{sim_port}",
            "HONGYAN_SMSC_ADDRESS": f"127.0.0.1:{smsc_port}",
            "HONGYAN_LOG_LEVEL": "WARNING",
        },
    )
    # Nobody reads the pipes: a full pipe would stall the processes, so drain them to a file.
    drains = [asyncio.create_task(asyncio.to_thread(_drain, proc, log)) for proc in (server, sim, smsc)]
    try:
        wait_http(f"{base}/healthz", server)
        key = json.loads((data / "demo-tenant.json").read_text())["api_key"]
        yield Stack(base, key, data, log, server, sim)
    finally:
        stop(server)
        stop(sim)
        stop(smsc)
        await asyncio.gather(*drains)


def log_problems(log: Path) -> int:
    """How many error lines the processes wrote; the first goes to stderr."""
    problems = [line for line in log.read_text().splitlines() if "ERROR" in line or "Traceback" in line]
    if problems:
        print(f"{len(problems)} error lines in the logs, first: {problems[0][:300]}", file=sys.stderr)
    return len(problems)


def settled(db: Path, final: str) -> bool:
    """Every message read (or its SMS delivered) and every event chained into the evidence log."""
    conn = sqlite3.connect(db)
    try:
        unread = conn.execute("SELECT count(*) FROM messages WHERE status != ?", (final,)).fetchone()[0]
        try:
            unchained = conn.execute("SELECT count(*) FROM message_events WHERE NOT chained").fetchone()[0]
        except sqlite3.OperationalError:  # a schema before events were marked chained
            unchained = 0
    finally:
        conn.close()
    return unread == 0 and unchained == 0


def figures(db: Path, warmup_s: float, delivered: str = "rcs_delivered") -> dict:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT a.at_ms, d.at_ms FROM message_events a JOIN message_events d "
        "ON d.message_id = a.message_id AND d.type = ? WHERE a.type = 'accepted'",
        (delivered,),
    ).fetchall()
    total = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    statuses = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall())
    retries = dict(
        conn.execute(
            "SELECT json_extract(detail, '$.error'), count(*) FROM message_events "
            "WHERE type = 'queued' AND json_extract(detail, '$.error') IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    conn.close()
    if not rows:
        return {"delivered": 0, "total": total, "statuses": statuses, "retries": retries}
    first = min(a for a, _ in rows)
    per_second: dict[int, int] = {}
    for _, d in rows:
        per_second[(d - first) // 1000] = per_second.get((d - first) // 1000, 0) + 1
    last = max(per_second)
    steady = [per_second.get(s, 0) for s in range(int(warmup_s), last)]  # the last second is partial
    lat = sorted(d - a for a, d in rows)
    return {
        "delivered": len(rows),
        "total": total,
        "statuses": statuses,
        "retries": retries,
        "per_s_median": median(steady) if steady else float("nan"),
        "p50_ms": lat[len(lat) // 2],
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))],
    }


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--rate", type=int, default=1200, help="recipients offered per second")
    p.add_argument("--delivery-delay", type=float, default=0.05)
    p.add_argument("--sms", action="store_true", help="recipients without RCS: the SMS path")
    args = p.parse_args()
    delivered, final = ("sms_delivered", "sms_delivered") if args.sms else ("rcs_delivered", "rcs_read")
    pin(1)
    with tempfile.TemporaryDirectory() as tmp:
        async with stack(Path(tmp), args.delivery_delay) as s:
            cpu_before, sim_before = cpu_seconds(s.server.pid), cpu_seconds(s.sim.pid)
            accepted, errors = await offer(s.base, s.key, args.rate, args.seconds, args.sms)
            # Let the backlog drain (bounded) so the tail is measured, not cut off.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                f = figures(s.db, warmup_s=2, delivered=delivered)
                if f["delivered"] >= accepted:
                    break
                await asyncio.sleep(0.5)
            # Let the read receipts and the evidence chain catch up too: all of it is per-message work.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not settled(s.db, final):
                await asyncio.sleep(0.5)
            cpu_ms = (cpu_seconds(s.server.pid) - cpu_before) * 1000
            sim_ms = (cpu_seconds(s.sim.pid) - sim_before) * 1000
        f = figures(s.db, warmup_s=2, delivered=delivered)
        log_problems(s.log)
    print_table(
        f"dispatch{' (SMS)' if args.sms else ''}: {args.rate}/s offered for {args.seconds:.0f} s, "
        "MaaP and SMSC simulators in their own processes",
        [
            ("figure", "value"),
            ("accepted", accepted),
            ("accept errors", errors),
            (f"reached {delivered}", f["delivered"]),
            ("statuses", f["statuses"]),
            ("MaaP retries", f["retries"]),
            (f"{delivered} per second (median)", f.get("per_s_median")),
            ("accept→delivered p50 ms", f.get("p50_ms")),
            ("accept→delivered p99 ms", f.get("p99_ms")),
            (f"server CPU ms per message (accept to {final})", round(cpu_ms / max(1, accepted), 3)),
            ("MaaP simulator CPU ms per message", round(sim_ms / max(1, accepted), 3)),
        ],
    )
    json_line(
        {
            "dispatch_msgs_per_s": f.get("per_s_median"),
            "p99_accept_to_delivered_ms": f.get("p99_ms"),
            "server_cpu_ms_per_msg": round(cpu_ms / max(1, accepted), 3),
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
