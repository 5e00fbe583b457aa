"""Webhook outbox speed: events enqueued per second (transactional fan-out, sealed payloads)
and deliveries per second to a real receiver on loopback (signed POSTs, outcomes recorded).

    python bench/webhooks.py --seconds 20 [--pg-server postgresql+asyncpg://postgres@127.0.0.1:5432/test]

The receiver runs as its own process on the other core. Each round enqueues for a while with
the sender stopped, then starts the sender and times draining that backlog; figures are medians.
With --pg-server a scratch database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import security  # noqa: E402
import webhooks.endpoints
import webhooks.outbox
import webhooks.service
from accounts import Accounts  # noqa: E402
from bench._load import free_port, pin, start_process  # noqa: E402
from store import GroupWriter, SystemClock, new_id, open_database, run_migrations  # noqa: E402
from store.db import sqlite_url  # noqa: E402
from store.writer import WriteBatch  # noqa: E402
from webhooks.tables import webhook_deliveries  # noqa: E402

EVENTS_PER_BATCH = 100


def receiver(port: int) -> None:
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def pending(db) -> int:
    async with db.read.connect() as conn:
        return (
            await conn.execute(
                select(func.count()).select_from(webhook_deliveries).where(webhook_deliveries.c.status == "pending")
            )
        ).scalar_one()


async def pg_admin(server_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(args) -> dict:
    if not args.pg_server:
        return await measure(args, sqlite_url(Path(tempfile.mkdtemp(prefix="hongyan-bench-webhooks-")) / "bench.db"))
    name = "hongyan_bench_" + secrets.token_hex(6)
    await pg_admin(args.pg_server, f'CREATE DATABASE "{name}"')
    try:
        return await measure(args, args.pg_server.rsplit("/", 1)[0] + "/" + name)
    finally:
        await pg_admin(args.pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(args, url: str) -> dict:
    await run_migrations(url)
    db = open_database(url)
    keyring = security.Keyring(security.EnvMasterKeyProvider("22" * 16))
    accounts = Accounts(db, keyring, SystemClock())
    tenant, _ = await accounts.create_tenant("Bench brand")
    writer = GroupWriter(db.write)
    await writer.start()
    port = free_port()
    proc = start_process([sys.executable, __file__, "--receiver", str(port)], cpu=1)
    await wait_port(port)
    service = webhooks.service.WebhookService(
        db, writer, keyring, concurrency=args.concurrency, per_endpoint=args.per_endpoint
    )
    await service.create_endpoint(
        tenant.id, webhooks.endpoints.Registration(f"http://127.0.0.1:{port}/hook", ["message.status"])
    )
    enq_rates, del_rates = [], []
    per_phase = args.seconds / args.rounds / 2
    try:
        for _ in range(args.rounds):
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < per_phase:
                batch = WriteBatch()
                now_ms = int(time.time() * 1000)
                for _ in range(EVENTS_PER_BATCH):
                    mid = new_id()
                    data = webhooks.outbox.status_data(
                        message_id=mid,
                        batch_id=mid,
                        to="+8613800138001",
                        status="rcs_delivered",
                        at_ms=now_ms,
                        source="maap",
                    )
                    webhooks.outbox.enqueue(
                        batch,
                        keyring,
                        tenant_id=tenant.id,
                        message_id=mid,
                        kind="message.status",
                        payload=data,
                        at_ms=now_ms,
                        event_id=new_id(),
                    )
                await writer.write(batch)
                n += EVENTS_PER_BATCH
            enq_rates.append(n / (time.perf_counter() - start))
            start = time.perf_counter()
            await service.start()
            while await pending(db):
                await asyncio.sleep(0.02)
            del_rates.append(n / (time.perf_counter() - start))
            await service.stop()
    finally:
        proc.terminate()
        proc.wait()
        await writer.stop()
        await db.dispose()
    return {
        "database": "postgresql" if args.pg_server else "sqlite",
        "enqueue_events_per_s": round(statistics.median(enq_rates)),
        "deliveries_per_s": round(statistics.median(del_rates)),
        "rounds": args.rounds,
        "per_endpoint": args.per_endpoint,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--per-endpoint", type=int, default=16, help="attempts under way per endpoint (service default)")
    ap.add_argument("--pg-server", help="a PostgreSQL server URL to create a scratch database on")
    ap.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receiver:
        receiver(args.receiver)
        return
    pin(0)
    out = asyncio.run(run(args))
    print(f"{'figure (median of ' + str(args.rounds) + ' rounds)':<36}{'value':>10}")
    print(f"{'enqueue, events/s (' + out['database'] + ')':<36}{out['enqueue_events_per_s']:>10}")
    print(f"{'delivery, signed POSTs/s':<36}{out['deliveries_per_s']:>10}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
