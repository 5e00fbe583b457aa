"""Contacts import speed and memory: rows/s of `POST /v1/contacts/imports` and the server's RSS.

Runs the app in this process (no dispatch) on a fresh embedded SQLite data dir, or on
`--database-url` (an empty, migrated PostgreSQL database), and streams a generated CSV (phone,
tags, two attributes) for `--seconds` seconds or `--rows` rows, whichever ends first. The body
is generated as it is sent, so the RSS the script reports is the server's working set: it
should stay flat as the row count grows (the import never holds the file). Ends with one JSON
line: rows, rows_per_s, rss_mb at start, after the first 10% and at the end, peak_rss_mb.

    python bench/contacts_import.py --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return round(pages * resource.getpagesize() / 2**20, 1)


async def run(args: argparse.Namespace) -> dict:
    from aiohttp import ClientSession, web

    from server import ACCOUNTS, Settings, create_app

    data_dir = Path(tempfile.mkdtemp(prefix="hongyan-bench-contacts-"))
    settings = Settings(data_dir=data_dir, database_url=args.database_url, demo_tenant=False)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    _, key = await app[ACCOUNTS].create_tenant("Bench brand")
    marks: dict[str, float] = {"start": rss_mb()}
    sent = [0]
    began = time.perf_counter()

    async def body():
        yield b"phone,tags,plan,renewal\n"
        step = 2000
        while sent[0] < args.rows and time.perf_counter() - began < args.seconds:
            start = sent[0]
            n = min(step, args.rows - start)
            yield "".join(
                f"139{i:08d},{'vip' if i % 10 == 0 else 'std'};bench,5G-{i % 7},2027-{1 + i % 12:02d}-15\n"
                for i in range(start, start + n)
            ).encode()
            sent[0] += n
            if "tenth" not in marks and sent[0] >= args.rows // 10:
                marks["tenth"] = rss_mb()

    try:
        async with ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{port}/v1/contacts/imports",
                data=body(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
            ) as resp:
                job = await resp.json()
        elapsed = time.perf_counter() - began
    finally:
        await runner.cleanup()
    return {
        "bench": "contacts_import",
        "database": "postgresql" if args.database_url else "sqlite",
        "status": job.get("status"),
        "rows": job.get("rows_done"),
        "rows_failed": job.get("rows_failed"),
        "seconds": round(elapsed, 2),
        "rows_per_s": round((job.get("rows_done") or 0) / elapsed),
        "rss_mb": {"start": marks["start"], "tenth": marks.get("tenth"), "end": rss_mb()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="stop sending rows after this long")
    parser.add_argument("--rows", type=int, default=1_000_000, help="stop sending after this many rows")
    parser.add_argument("--database-url", default=None, help="postgresql+asyncpg://… (default: embedded SQLite)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
