"""Campaign figures, one part at a time (add a part: a coroutine in PARTS returning its table rows
and its JSON figures).

- `import`: contacts import rows/s through the HTTP API (a CSV uploaded to
  `POST /v1/contacts/imports`, imported by the background job; bench/contacts_import.py).
- `segments`: the live count (`audiences.segments.Segments.count`, what `GET /v1/segments/{id}/count`
  and `POST /v1/segments/preview` run) on `--contacts` contacts (1,000,000), on the embedded
  SQLite and on PostgreSQL when HONGYAN_TEST_PG_URL is set (a database of its own is created on
  that server and dropped after). The contacts, their attribute and tag rows, and 100,000 messages
  with their events are written straight into the tables in bulk (not through HTTP): the numbers'
  blind indexes are a hash of the row number, and the sealed columns hold placeholder bytes of
  their usual size (a count never opens them; the billing and purge jobs are held off); string attributes are blind-indexed with the
  tenant's real key, so filters match them as they would imported ones. Each filter is counted
  `--repeat` times; the median is reported (and the count checked against the seeded data).

- `analytics`: the latency of a campaign's results and funnel (`GET /v1/campaigns/{id}/results`,
  `…/funnel?group_by=variant`), read every half second while the campaign is dispatched through
  the sandbox (the end-to-end scenario of bench/campaign_e2e.py on `--campaign-contacts`).

Prints a table, then one JSON line with every figure.

    python bench/campaigns.py --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import json_line, median, print_table  # noqa: E402
from store import GroupWriter  # noqa: E402
from store.writer import WriteBatch  # noqa: E402

CITIES = ["杭州", "上海", "北京", "广州", "深圳", "成都", "武汉", "西安", "南京", "苏州"]
DAY_MS = 86_400_000
SEED_CHUNK = 50_000


# -- import through HTTP -------------------------------------------------------------------------
async def import_part(args: argparse.Namespace) -> tuple[list[tuple], dict]:
    from bench.contacts_import import run

    result = await run(argparse.Namespace(rows=args.import_rows, seconds=args.seconds, database_url=None))
    rows = [
        ("import (HTTP, CSV, SQLite)", f"{result['rows']:,} rows", f"{result['rows_per_s']:,} rows/s"),
        ("  upload stored", f"{result['upload_s']} s", f"{result['upload_mb_per_s']} MB/s"),
        (
            "  end to end",
            f"{result['import_s'] + result['upload_s']:.1f} s",
            f"{result['end_to_end_rows_per_s']:,} rows/s",
        ),
    ]
    return rows, {"import": result}


# -- segment counts on seeded contacts -----------------------------------------------------------
def expected(n: int) -> dict[str, int]:
    """What each filter must count on `n` seeded contacts (see `seed_rows`)."""
    contacts = range(n)
    return {
        "attribute eq": sum(1 for i in contacts if i % 10 == 0),
        "tags any": sum(1 for i in contacts if i % 20 == 0 or i % 5 == 1),
        "number gt": sum(1 for i in contacts if (i // 10) % 10 > 7),
        "read within 7 days": sum(1 for i in contacts if i % 20 == 0),
        "eq and gt": sum(1 for i in contacts if i % 10 == 0 and (i // 10) % 10 > 7),
    }


FILTERS = {
    "attribute eq": {"attribute": "city", "op": "eq", "value": "杭州"},
    "tags any": {"tags": "any", "values": ["vip", "new"]},
    "number gt": {"attribute": "level", "op": "gt", "value": 7},
    "read within 7 days": {"behaviour": "read", "within_days": 7},
    "eq and gt": {
        "all": [{"attribute": "city", "op": "eq", "value": "杭州"}, {"attribute": "level", "op": "gt", "value": 7}]
    },
}

COLUMNS = {
    "contacts": ("id", "tenant_id", "number_bidx", "number_enc", "attributes_enc", "tags", "time_zone", "created_ms", "updated_ms"),
    "contact_attributes": ("contact_id", "name", "tenant_id", "kind", "text_value", "num_value"),
    "contact_tags": ("contact_id", "tag", "tenant_id"),
    "batches": ("id", "tenant_id", "created_ms", "template_ref", "traffic_type", "ttl_s", "recipient_count", "fallback"),
    "messages": (
        "id", "tenant_id", "batch_id", "seq", "to_enc", "to_bidx", "status",
        "created_ms", "updated_ms", "expires_ms", "attempts",
    ),
    "message_events": ("id", "message_id", "tenant_id", "type", "at_ms", "source", "chained"),
}  # fmt: skip


def seed_rows(
    n: int, tenant_id: str, hasher: Callable[[str, str], str], now_ms: int
) -> Iterator[tuple[str, list[tuple]]]:
    """(table, rows) in chunks: contact i lives in CITIES[i % 10] with level (i // 10) % 10 and
    tags std (+ vip when i % 20 == 0, + new when i % 5 == 1); every tenth contact was sent a
    message 3 days ago, read 2 days ago when i % 20 == 0 and 10 days ago when i % 40 == 10."""
    city_text = {c: hasher("city", c) for c in CITIES}
    number_enc, attributes_enc = bytes(44), bytes(96)
    batch_id = os.urandom(16).hex()
    yield "batches", [(batch_id, tenant_id, now_ms - 3 * DAY_MS, "bench", "marketing", 86400, n // 10, "sms")]
    for start in range(0, n, SEED_CHUNK):
        contacts, attributes, tags, messages, events = [], [], [], [], []
        for i in range(start, min(n, start + SEED_CHUNK)):
            cid = f"c{i:015d}{os.urandom(8).hex()}"
            bidx = hashlib.sha256(f"{tenant_id}:{i}".encode()).digest()
            mine = ["std"] + (["vip"] if i % 20 == 0 else []) + (["new"] if i % 5 == 1 else [])
            contacts.append((cid, tenant_id, bidx, number_enc, attributes_enc, _json(mine), None, now_ms, now_ms))
            level = (i // 10) % 10
            city = CITIES[i % 10]
            attributes.append((cid, "city", tenant_id, "s", city_text[city], None))
            attributes.append((cid, "level", tenant_id, "n", str(level), float(level)))
            tags.extend((cid, tag, tenant_id) for tag in mine)
            if i % 10 == 0:
                mid = f"m{i:015d}{os.urandom(8).hex()}"
                read_at = now_ms - 2 * DAY_MS if i % 20 == 0 else now_ms - 10 * DAY_MS if i % 40 == 10 else None
                status = "rcs_read" if read_at else "rcs_delivered"
                sent = now_ms - 11 * DAY_MS
                messages.append(
                    (mid, tenant_id, batch_id, i // 10, number_enc, bidx, status, sent, sent, sent + DAY_MS, 1)
                )
                events.append(
                    (f"e{i:015d}d{os.urandom(7).hex()}", mid, tenant_id, "rcs_delivered", sent + 1000, "maap", True)
                )
                if read_at:
                    events.append(
                        (f"e{i:015d}r{os.urandom(7).hex()}", mid, tenant_id, "rcs_read", read_at, "maap", True)
                    )
        yield "contacts", contacts
        yield "contact_attributes", attributes
        yield "contact_tags", tags
        yield "messages", messages
        yield "message_events", events


def _json(tags: list[str]) -> str:
    return "[" + ",".join(f'"{t}"' for t in tags) + "]"


async def seed_sqlite(writer: GroupWriter, chunks: Iterator[tuple[str, list[tuple]]]) -> None:
    """Through the app's own writer (SQLite has one): a transaction per chunk."""
    for table, rows in chunks:
        cols = COLUMNS[table]
        sql = f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
        await writer.write(WriteBatch().run(lambda conn, sql=sql, rows=rows: conn.exec_driver_sql(sql, rows)))


async def seed_postgres(dsn: str, chunks: Iterator[tuple[str, list[tuple]]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for table, rows in chunks:
            await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
        await conn.execute("ANALYZE")  # what autovacuum does after a bulk load
    finally:
        await conn.close()


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def segments_on(label: str, url: str | None, args: argparse.Namespace) -> tuple[list[tuple], dict]:
    from aiohttp import web

    from audiences.contacts import attribute_hasher
    from audiences.http import CONTACTS, SEGMENTS
    from server import ACCOUNTS, KEYRING, Settings, create_app
    from store import run_migrations

    data_dir = Path(tempfile.mkdtemp(prefix="hongyan-bench-campaigns-"))
    if url is not None:
        await run_migrations(url)
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        demo_tenant=False,
        master_key=os.urandom(16).hex() if url else None,  # a database of its own, dropped after
        # The seeded messages' sealed columns are placeholders: the jobs that would open them
        # (billing, the retention purge) run once at start, before the seeding, and not again.
        billing_interval_s=1e9,
        privacy_purge_interval_s=1e9,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        tenant, _ = await app[ACCOUNTS].create_tenant("Bench brand")
        await app[ACCOUNTS].ensure_keys(tenant.id)
        hasher = attribute_hasher(app[KEYRING], tenant.id)
        now_ms = int(time.time() * 1000)
        began = time.perf_counter()
        chunks = seed_rows(args.contacts, tenant.id, hasher, now_ms)
        if url is None:
            await seed_sqlite(app[CONTACTS].writer, chunks)
        else:
            await seed_postgres(_pg_dsn(url), chunks)
        seed_s = time.perf_counter() - began
        want = expected(args.contacts)
        rows: list[tuple] = [(f"seed {args.contacts:,} contacts ({label})", f"{seed_s:.1f} s", "")]
        figures: dict = {"seed_s": round(seed_s, 1), "contacts": args.contacts, "count_ms": {}}
        for name, segment_filter in FILTERS.items():
            times, count = [], None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                count = await app[SEGMENTS].count(tenant.id, segment_filter)
                times.append((time.perf_counter() - t0) * 1000)
            ok = "" if count == want[name] else f"  (expected {want[name]:,}!)"
            ms = round(median(times), 1)
            rows.append((f"  count: {name}", f"{count:,} contacts{ok}", f"{ms} ms (median of {args.repeat})"))
            figures["count_ms"][name] = ms
            figures.setdefault("counts", {})[name] = count
            figures.setdefault("counts_ok", True)
            figures["counts_ok"] = figures["counts_ok"] and count == want[name]
    finally:
        await runner.cleanup()
    return rows, {f"segments_{label}": figures}


async def segments_part(args: argparse.Namespace) -> tuple[list[tuple], dict]:
    rows, figures = await segments_on("sqlite", None, args)
    pg = os.environ.get("HONGYAN_TEST_PG_URL")
    if pg and not args.no_postgres:
        import asyncpg

        server, _ = pg.rsplit("/", 1)
        name = f"hongyan_bench_campaigns_{os.urandom(4).hex()}"
        admin = await asyncpg.connect(_pg_dsn(f"{server}/postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        try:
            more_rows, more = await segments_on("postgresql", f"{server}/{name}", args)
        finally:
            admin = await asyncpg.connect(_pg_dsn(f"{server}/postgres"))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
        rows += more_rows
        figures.update(more)
    return rows, figures


async def analytics_part(args: argparse.Namespace) -> tuple[list[tuple], dict]:
    """The campaign's results and funnel read every half second while it is dispatched (the
    end-to-end scenario of bench/campaign_e2e.py on `--campaign-contacts`)."""
    from bench.campaign_e2e import run as campaign_e2e

    found = await campaign_e2e(argparse.Namespace(contacts=args.campaign_contacts, seconds=600.0, database_url=None))
    size = f"{found['messages']:,} messages"
    rows = [
        (
            "campaign results while dispatching, p50 / p95",
            size,
            f"{found['results_ms_p50']} / {found['results_ms_p95']} ms",
        ),
        (
            "campaign funnel while dispatching, p50 / p95",
            size,
            f"{found['funnel_ms_p50']} / {found['funnel_ms_p95']} ms",
        ),
    ]
    keys = ("results_ms_p50", "results_ms_p95", "funnel_ms_p50", "funnel_ms_p95", "messages")
    return rows, {f"analytics_{k}": found[k] for k in keys}


PARTS: dict[str, Callable[[argparse.Namespace], Awaitable[tuple[list[tuple], dict]]]] = {
    "import": import_part,
    "segments": segments_part,
    "analytics": analytics_part,
}


async def main_async(args: argparse.Namespace) -> None:
    table: list[tuple] = [("figure", "size", "result")]
    figures: dict = {"bench": "campaigns"}
    for name in args.parts:
        rows, found = await PARTS[name](args)
        table += rows
        figures.update(found)
    print_table("Campaign figures", table)
    json_line(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="import: cancel the job after this long")
    parser.add_argument("--import-rows", type=int, default=100_000, help="import: rows in the uploaded CSV")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="segments: contacts seeded")
    parser.add_argument("--repeat", type=int, default=5, help="segments: counts per filter (median reported)")
    parser.add_argument("--no-postgres", action="store_true", help="segments: SQLite only")
    parser.add_argument(
        "--campaign-contacts", type=int, default=20_000, help="analytics: contacts of the campaign dispatched meanwhile"
    )
    parser.add_argument("parts", nargs="*", help=f"which figures: {', '.join(PARTS)} (default: all)")
    args = parser.parse_args()
    args.parts = args.parts or list(PARTS)
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
