"""Contacts import speed and memory: `POST /v1/contacts/imports` (the upload stored, then imported
by the background job) in rows/s, and the server's RSS.

Runs the app in this process (no dispatch) on a fresh embedded SQLite data dir, or on
`--database-url` (an empty, migrated PostgreSQL database), uploads a generated CSV of `--rows`
rows (phone, tags, two attributes; generated as it is sent), then follows the job until it has
finished — or cancels it once `--seconds` have passed since the upload was accepted. The RSS
the script reports is the server's working set: it should stay flat as the row count grows (the
upload is stored in parts, the job reads one part at a time). Ends with one JSON line: rows
imported, upload_s and upload_mb_per_s, import_s and rows_per_s (import phase), end_to_end rows/s,
rss_mb at start, after the upload and at the end, peak_rss_mb.

    python bench/contacts_import.py --rows 100000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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


def csv_rows(start: int, n: int) -> bytes:
    return "".join(
        f"139{i:08d},{'vip' if i % 10 == 0 else 'std'};bench,5G-{i % 7},2027-{1 + i % 12:02d}-15\n"
        for i in range(start, start + n)
    ).encode()


async def run(args: argparse.Namespace) -> dict:
    from aiohttp import ClientSession, web

    from server import ACCOUNTS, Settings, create_app

    data_dir = Path(tempfile.mkdtemp(prefix="hongyan-bench-contacts-"))
    master_key = os.environ.get("HONGYAN_MASTER_KEY") or (os.urandom(16).hex() if args.database_url else None)
    settings = Settings(data_dir=data_dir, database_url=args.database_url, demo_tenant=False, master_key=master_key)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    _, key = await app[ACCOUNTS].create_tenant("Bench brand")
    auth = {"Authorization": f"Bearer {key}"}
    base = f"http://127.0.0.1:{port}/v1/contacts/imports"
    marks: dict[str, float] = {"start": rss_mb()}
    size = [0]

    async def body():
        yield b"phone,tags,plan,renewal\n"
        for start in range(0, args.rows, 2000):
            chunk = csv_rows(start, min(2000, args.rows - start))
            size[0] += len(chunk)
            yield chunk

    try:
        async with ClientSession() as session:
            began = time.perf_counter()
            async with session.post(base, data=body(), headers={**auth, "Content-Type": "text/csv"}) as resp:
                job = await resp.json()
                assert resp.status == 202, job
            accepted = time.perf_counter()
            marks["uploaded"] = rss_mb()
            while job["status"] in ("queued", "running") and time.perf_counter() - accepted < args.seconds:
                await asyncio.sleep(0.2)
                async with session.get(f"{base}/{job['id']}", headers=auth) as resp:
                    job = await resp.json()
            if job["status"] in ("queued", "running"):
                async with session.post(f"{base}/{job['id']}/cancel", headers=auth) as resp:
                    job = await resp.json()
            ended = time.perf_counter()
    finally:
        await runner.cleanup()
    upload_s, import_s = accepted - began, ended - accepted
    rows = job.get("rows_done") or 0
    return {
        "bench": "contacts_import",
        "database": "postgresql" if args.database_url else "sqlite",
        "status": job.get("status"),
        "rows": rows,
        "rows_failed": job.get("rows_failed"),
        "upload_s": round(upload_s, 2),
        "upload_mb_per_s": round(size[0] / 2**20 / upload_s, 1),
        "import_s": round(import_s, 2),
        "rows_per_s": round(rows / import_s),
        "end_to_end_rows_per_s": round(rows / (upload_s + import_s)),
        "rss_mb": {"start": marks["start"], "uploaded": marks["uploaded"], "end": rss_mb()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the uploaded file")
    parser.add_argument("--seconds", type=float, default=120.0, help="cancel the job after this long")
    parser.add_argument("--database-url", default=None, help="postgresql+asyncpg://… (default: embedded SQLite)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
