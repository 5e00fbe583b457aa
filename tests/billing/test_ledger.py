"""The ledger on SQLite and PostgreSQL: holds at accept, a charge only on delivery, a refund on
failure, every entry exactly once under duplicate events, re-reads and concurrent jobs."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, func, select

from billing.service import Billing
from billing.tables import billing_accounts, billing_cursor, billing_entries
from messages.tables import message_events
from store import GroupWriter, new_id
from store.writer import WriteBatch
from tests.conftest import card

CMCC, CUCC, CTCC = "+86138001380", "+86186001860", "+86189001890"
PRICES = [
    {"channel": "rcs", "carrier": "*", "kind": "card", "price": "0.05"},
    {"channel": "rcs", "carrier": "ctcc", "kind": "card", "price": "0.06"},
    {"channel": "rcs", "carrier": "*", "kind": "text", "price": "0.03"},
    {"channel": "sms", "carrier": "*", "kind": "part", "price": "0.04"},
]


async def set_prices(b, prices=PRICES) -> None:
    resp = await b.admin.put("/v1/billing/prices", {"prices": prices})
    assert resp.status == 200, await resp.text()


async def send(api, numbers: list[str], **content) -> list[str]:
    body = {"recipients": [{"to": n} for n in numbers], **(content or {"card": card()})}
    resp = await api.post("/v1/messages", body)
    assert resp.status == 202, await resp.text()
    return [m["id"] for m in (await resp.json())["messages"]]


async def record(app, tenant_id: str, events: list[tuple[str, str, dict | None]]) -> None:
    """Message events as the dispatcher would record them (type, message id, detail)."""
    from server import DATABASE
    from store import SystemClock

    now = int(SystemClock().now().timestamp() * 1000)
    rows = [
        {
            "id": new_id(),
            "message_id": mid,
            "tenant_id": tenant_id,
            "type": t,
            "at_ms": now,
            "source": "test",
            "detail": d,
        }
        for t, mid, d in events
    ]
    db = app[DATABASE]
    writer = GroupWriter(db.write)
    await writer.start()
    try:
        await writer.write(WriteBatch().insert(message_events, rows))
    finally:
        await writer.stop()


async def entries_of(db, tenant_id: str) -> list:
    async with db.read.connect() as conn:
        return (
            await conn.execute(
                select(billing_entries)
                .where(billing_entries.c.tenant_id == tenant_id)
                .order_by(billing_entries.c.at_ms, billing_entries.c.id)
            )
        ).all()


async def balance_units(db, tenant_id: str) -> int:
    async with db.read.connect() as conn:
        return (
            await conn.execute(
                select(billing_accounts.c.balance_units).where(billing_accounts.c.tenant_id == tenant_id)
            )
        ).scalar() or 0


async def test_hold_charge_release_and_refund(billed):
    from server import DATABASE

    await set_prices(billed)
    app = billed.api.client.app
    ok, sms, bad, gone = await send(billed.api, [CMCC + "01", CTCC + "02", CUCC + "09", CMCC + "03"])
    await billed.settle()
    db = app[DATABASE]
    holds = {r.message_id: r.amount_units for r in await entries_of(db, billed.api.tenant_id) if r.kind == "hold"}
    # The dearer of the RCS card and one SMS part, per carrier.
    assert holds == {ok: -500, sms: -600, bad: -500, gone: -500}
    await record(
        app,
        billed.api.tenant_id,
        [
            ("rcs_delivered", ok, None),
            ("sms_sent", sms, {"segments": 2}),
            ("sms_delivered", sms, {"parts": [{"id": "a", "stat": "DELIVRD"}, {"id": "b", "stat": "DELIVRD"}]}),
            ("sms_failed", bad, {"reason": "UNDELIV"}),
            ("expired", gone, None),
        ],
    )
    await billed.settle()
    got = {(r.message_id, r.kind): r for r in await entries_of(db, billed.api.tenant_id)}
    assert got[(ok, "charge")].amount_units == -500 and got[(ok, "charge")].channel == "rcs"
    assert got[(ok, "release")].amount_units == 500
    assert got[(sms, "charge")].amount_units == -800  # two parts at 0.04
    assert (got[(sms, "charge")].units, got[(sms, "charge")].unit_price_units) == (2, 400)
    assert got[(bad, "refund")].amount_units == 500 and (bad, "charge") not in got
    assert got[(gone, "refund")].amount_units == 500 and (gone, "charge") not in got
    assert await balance_units(db, billed.api.tenant_id) == -1300

    resp = await billed.api.get(f"/v1/billing/messages/{sms}")
    cost = await resp.json()
    assert (cost["charged"], cost["channel"], cost["units"], cost["refunded"]) == ("0.0800", "sms", 2, False)
    cost = await (await billed.api.get(f"/v1/billing/messages/{bad}")).json()
    assert (cost["charged"], cost["refunded"], cost["held"]) == (None, True, None)
    # The message view carries the short form.
    views = {m: await (await billed.api.get(f"/v1/messages/{m}")).json() for m in (ok, sms, bad)}
    assert views[ok]["cost"] == {"charged": "0.0500", "currency": "CNY", "held": None, "refunded": False}
    assert views[sms]["cost"]["charged"] == "0.0800"
    assert views[bad]["cost"] == {"charged": None, "currency": "CNY", "held": None, "refunded": True}


async def test_exactly_once_under_duplicates_rereads_and_concurrent_jobs(billed):
    """Duplicate receipts, a read after a delivery, a failure after a delivery, the cursor
    lost, and four jobs (each with its own writer: its own transactions) at once."""
    from server import DATABASE, KEYRING

    await set_prices(billed)
    app = billed.api.client.app
    db = app[DATABASE]
    mids = await send(billed.api, [CMCC + f"{i:02d}" for i in range(1, 21)])
    events = []
    for i, mid in enumerate(mids):
        if i % 3 == 0:
            events += [("rcs_delivered", mid, None), ("rcs_read", mid, None), ("rcs_delivered", mid, None)]
        elif i % 3 == 1:
            part = {"parts": [{"id": "x", "stat": "DELIVRD"}]}
            events += [("sms_delivered", mid, part), ("sms_delivered", mid, part), ("sms_failed", mid, None)]
        else:
            events += [("failed", mid, None), ("failed", mid, None), ("rcs_delivered", mid, None)]
    await record(app, billed.api.tenant_id, events)

    writers = [GroupWriter(db.write) for _ in range(4)]
    for w in writers:
        await w.start()
    try:
        jobs = [Billing(db, w, app[KEYRING], settle_ms=0, batch=7) for w in writers]
        for _ in range(3):  # and again from the start, as if the cursor were lost
            async with db.write.begin() as conn:
                await conn.execute(delete(billing_cursor))

            async def drain(job):
                while await job.run_once():
                    pass

            await asyncio.gather(*(drain(j) for j in jobs))
    finally:
        for w in writers:
            await w.stop()

    rows = await entries_of(db, billed.api.tenant_id)
    per = {}
    for r in rows:
        per.setdefault(r.message_id, []).append(r.kind)
    for i, mid in enumerate(mids):
        kinds = sorted(per[mid])
        if i % 3 == 2:
            assert kinds == ["hold", "refund"], (i, kinds)  # failed first: refunded, never charged
        else:
            assert kinds == ["charge", "hold", "release"], (i, kinds)
    charged = sum(-r.amount_units for r in rows if r.kind == "charge")
    assert charged == 7 * 500 + 7 * 400  # 7 RCS cards at 0.05, 7 single-part SMS at 0.04
    # The account's balance is the ledger's sum, and every balance_after is a running total.
    total = sum(r.amount_units for r in rows)
    assert await balance_units(db, billed.api.tenant_id) == total == -charged
    # Ids are made under the account's lock, in one process: their order is the commit order.
    running = 0
    for r in sorted(rows, key=lambda r: r.id):
        running += r.amount_units
        assert r.balance_after_units == running
    async with db.read.connect() as conn:
        keys = (await conn.execute(select(func.count(func.distinct(billing_entries.c.entry_key))))).scalar()
    assert keys == len(rows)


async def test_unpriced_tenant_is_charged_nothing_and_never_held(billed):
    from server import DATABASE

    app = billed.api.client.app
    (mid,) = await send(billed.api, [CMCC + "01"])
    await record(app, billed.api.tenant_id, [("rcs_delivered", mid, None)])
    await billed.settle()
    rows = await entries_of(app[DATABASE], billed.api.tenant_id)
    assert [(r.kind, r.amount_units) for r in rows] == [("charge", 0)]
    resp = await billed.api.get("/v1/billing/balance")
    assert (await resp.json())["balance"] == "0.0000"


async def test_sms_price_of_the_tenant_prices_sms_without_a_book(billed):
    from server import ACCOUNTS, DATABASE

    app = billed.api.client.app
    other, key = await app[ACCOUNTS].create_tenant("Priced brand", sms_price="0.045")
    from tests.conftest import ApiClient

    api = await ApiClient(billed.api.client, other.id, key).without_send_rules()
    (mid,) = await send(api, [CUCC + "10"], text="您好")
    await record(app, other.id, [("sms_delivered", mid, {"parts": [{"id": "p", "stat": "DELIVRD"}]})])
    await billed.settle()
    rows = await entries_of(app[DATABASE], other.id)
    assert [(r.kind, r.amount_units) for r in rows] == [("hold", -450), ("charge", -450), ("release", 450)]
    prices = await (await api.get("/v1/billing/prices")).json()
    sms = [p for p in prices["prices"] if p["channel"] == "sms"]
    assert {(p["price"], p["source"]) for p in sms} == {("0.0450", "sms_price")}


async def test_a_cancel_refunds_and_a_revoke_before_the_fallback_does_not(billed):
    from server import DATABASE

    await set_prices(billed)
    app = billed.api.client.app
    cancelled, fell_back = await send(billed.api, [CMCC + "07", CMCC + "17"])
    await billed.settle()
    await record(
        app,
        billed.api.tenant_id,
        [
            ("revoked", cancelled, {"reason": "cancelled"}),
            ("revoked", fell_back, {"reason": "ttl_expired_revoked"}),
            ("fallback_pending", fell_back, None),
            ("sms_delivered", fell_back, {"parts": [{"id": "p", "stat": "DELIVRD"}]}),
        ],
    )
    await billed.settle()
    got = sorted(
        (r.message_id == cancelled, r.kind, r.amount_units)
        for r in await entries_of(app[DATABASE], billed.api.tenant_id)
    )
    assert got == [
        (False, "charge", -400),
        (False, "hold", -500),
        (False, "release", 500),
        (True, "hold", -500),
        (True, "refund", 500),
    ]
    bal = await (await billed.api.get("/v1/billing/balance")).json()
    assert (bal["balance"], bal["held"]) == ("-0.0400", "0.0000")


async def test_concurrent_top_ups_and_jobs_keep_the_balance_the_ledger_sum(billed):
    """Top-ups through several processes' writers (one Idempotency-Key sent twice at once) while
    jobs settle: every credit once, the balance the sum of the entries."""
    from server import DATABASE, KEYRING

    await set_prices(billed)
    app = billed.api.client.app
    db = app[DATABASE]
    mids = await send(billed.api, [CMCC + f"{i:02d}" for i in range(1, 11)])
    await record(app, billed.api.tenant_id, [("rcs_delivered", m, None) for m in mids])
    writers = [GroupWriter(db.write) for _ in range(3)]
    for w in writers:
        await w.start()
    try:
        services = [Billing(db, w, app[KEYRING], settle_ms=0, batch=4) for w in writers]
        tenant = billed.api.tenant_id

        async def drain(job):
            while await job.run_once():
                pass

        await asyncio.gather(
            *(s.credit(tenant, 10_000, kind="credit", note=None, key=f"k{i}") for i, s in enumerate(services)),
            *(s.credit(tenant, 5_000, kind="credit", note=None, key="same") for s in services),
            *(drain(s) for s in services),
        )
    finally:
        for w in writers:
            await w.stop()
    rows = await entries_of(db, billed.api.tenant_id)
    credits = sorted(r.amount_units for r in rows if r.kind == "credit")
    assert credits == [5_000, 10_000, 10_000, 10_000]
    assert len([r for r in rows if r.kind == "charge"]) == 10
    assert await balance_units(db, billed.api.tenant_id) == sum(r.amount_units for r in rows) == 35_000 - 10 * 500


async def test_one_process_settles_at_a_time(billed):
    """On PostgreSQL a pass that finds another process settling gives way (nothing read, nothing
    written, no wait inside this process's group commit); the next pass after it settles."""
    from sqlalchemy import text

    from billing.service import _PG_LOCK
    from server import DATABASE

    db = billed.api.client.app[DATABASE]
    if db.write.dialect.name != "postgresql":
        pytest.skip("SQLite has one writing process")
    await set_prices(billed)
    await send(billed.api, [CMCC + "01"])
    async with db.write.connect() as other:  # another process's settling pass, in progress
        assert (await other.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK})).scalar()
        assert await billed.billing.run_once() == 0
        assert await entries_of(db, billed.api.tenant_id) == []
        await other.rollback()
    assert await billed.settle() == 1
    assert [r.kind for r in await entries_of(db, billed.api.tenant_id)] == ["hold"]


async def test_a_message_from_before_the_carrier_column_is_priced_by_its_number(billed):
    """Rows accepted before migration 0009 have no carrier: billing opens the sealed number."""
    from sqlalchemy import update

    from messages.tables import messages
    from server import DATABASE

    await set_prices(billed)
    db = billed.api.client.app[DATABASE]
    [old] = await send(billed.api, [CTCC + "05"])
    async with db.write.begin() as conn:
        await conn.execute(update(messages).where(messages.c.id == old).values(carrier=None))
    await billed.settle()
    [hold] = await entries_of(db, billed.api.tenant_id)
    assert (hold.kind, hold.carrier, hold.amount_units) == ("hold", "ctcc", -600)  # China Telecom's card price


@pytest.mark.parametrize(
    "content, units",
    [({"card": {"message": {"text": "您好"}}}, -700), ({}, -500)],  # the text price, the card price
    ids=["text", "card"],
)
async def test_a_batch_from_before_the_kind_column_is_priced_by_its_card(billed, content, units):
    """Batches accepted before migration 0010 have no kind: billing opens the sealed card."""
    from sqlalchemy import update

    from messages.tables import batches, messages
    from server import DATABASE

    # Text above the SMS fallback's price, so the hold is the text price (a hold is the dearer).
    await set_prices(billed, [{**p, "price": "0.07"} if p["kind"] == "text" else p for p in PRICES])
    db = billed.api.client.app[DATABASE]
    [old] = await send(billed.api, [CMCC + "06"], **content)
    async with db.write.begin() as conn:
        batch_id = (await conn.execute(select(messages.c.batch_id).where(messages.c.id == old))).scalar_one()
        assert (await conn.execute(select(batches.c.kind).where(batches.c.id == batch_id))).scalar_one() is not None
        await conn.execute(update(batches).where(batches.c.id == batch_id).values(kind=None))
    await billed.settle()
    [hold] = await entries_of(db, billed.api.tenant_id)
    assert (hold.kind, hold.amount_units) == ("hold", units)
