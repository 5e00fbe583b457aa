"""The billing ledger: holds at accept, charges on delivery, refunds on failure, credits,
balances and credit limits, each message's cost and monthly statements.

How a message is billed (every entry exactly once: `billing_entries.entry_key` is unique and
every writer first locks the tenant's `billing_accounts` row):

- `accepted` event → a **hold** of the estimated cost (the dearer of its RCS price and one SMS
  part), so money in flight counts against the balance;
- delivered (`rcs_delivered`, `rcs_read` or `sms_delivered`, whichever is recorded first) →
  a **charge** at the price of the channel it was delivered by (SMS: per part), and a
  **release** giving the hold back;
- failed for good (`failed`, `expired`, `sms_failed`, `rejected` after acceptance, or a
  cancel) → a **refund** of the hold. A message gets a charge or a refund, never both.

A message sent with a test key (`messages.test`) went only to the simulators: it gets none.

The job (`run_once`, looped every `interval_s`) reads message events after its cursor in
(at_ms, id) order, only those older than `settle_ms` (an event's time is taken before its
commit: a younger one may still be committing behind it), and writes their entries and the new
cursor in one transaction, batch by batch. Several processes may run it at once.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    null,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem, problem_type
from billing.prices import (
    CARRIERS,
    CHANNELS,
    CURRENCY,
    KINDS,
    MAX_PRICE_UNITS,
    RCS,
    SMS,
    PriceBooks,
    carrier_of,
    kind_of,
)
from billing.tables import ANY_CARRIER, DEFAULT_BOOK, billing_accounts, billing_cursor, billing_entries, billing_prices
from messages.request import SendRequest
from messages.status import Status
from messages.tables import batches, message_events, messages
from security.keyring import Keyring
from store import Database, GroupWriter
from store.background import Pacer, Timer, wait_event
from store.bulk import AnyOf, executemany, fetch, named
from store.clock import Clock, SystemClock, ms_to_rfc3339
from store.ids import new_id
from store.money import MoneyError, format_money, parse_money
from store.writer import WriteBatch

log = logging.getLogger("hongyan.billing")

_PG_LOCK = 0x42696C6C  # "Bill": one settling process at a time

BILLING_PROBLEM = problem_type("insufficient-funds")
DEFAULT_INTERVAL_S = 1.0
IDLE_S = 10.0  # the longest wait between passes that read no event (a commit wakes it)
DEFAULT_SETTLE_MS = 2000
BATCH = 500
MAX_PRICE_CHANGES = 100
MAX_PAGE = 200
STATEMENT_ZONE = ZoneInfo("Asia/Shanghai")  # a month is a calendar month in China time
CURSOR = "events"

HOLD, RELEASE, CHARGE, REFUND, CREDIT, ADJUSTMENT = "hold", "release", "charge", "refund", "credit", "adjustment"
ENTRY_KINDS = (HOLD, RELEASE, CHARGE, REFUND, CREDIT, ADJUSTMENT)
DELIVERED = {Status.RCS_DELIVERED: RCS, Status.RCS_READ: RCS, Status.SMS_DELIVERED: SMS}
ENDED = {Status.FAILED, Status.EXPIRED, Status.SMS_FAILED, Status.REJECTED}
BILLED_EVENTS = [Status.ACCEPTED, *DELIVERED, *ENDED, Status.REVOKED]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class _Event:
    id: str
    message_id: str
    tenant_id: str
    type: str
    at_ms: int
    source: str
    detail: dict | None


def _is_cancel(e: _Event) -> bool:
    return e.type == Status.REVOKED and (e.source == "api" or (e.detail or {}).get("reason") == "cancelled")


def _dialect(conn: Connection):
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _lock_accounts(conn: Connection, tenant_ids: Iterable[str], now_ms: int) -> dict[str, tuple[int, int]]:
    """Create the tenants' accounts if new and lock them (in id order: no deadlock between
    writers); tenant → (balance, held). SQLite's writer already holds the database."""
    ids = sorted(set(tenant_ids))
    if not ids:
        return {}
    d = _dialect(conn)
    rows = [
        {"tenant_id": t, "balance_units": 0, "held_units": 0, "credit_limit_units": None, "updated_ms": now_ms}
        for t in ids
    ]
    conn.execute(d.insert(billing_accounts).values(rows).on_conflict_do_nothing())
    query = select(billing_accounts).where(billing_accounts.c.tenant_id.in_(ids)).order_by(billing_accounts.c.tenant_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {r.tenant_id: (r.balance_units, r.held_units) for r in conn.execute(query)}


def _write_entries(conn: Connection, entries: list[dict], accounts: dict[str, tuple[int, int]], now_ms: int) -> None:
    """Insert the entries and set each tenant's new (balance, held)."""
    if not entries:
        return
    # One statement compiled once for every row (a multi-row VALUES was compiled afresh on each
    # pass: at a thousand messages a second that was most of the server's CPU).
    try:
        executemany(conn, billing_entries, entries)
    except IntegrityError as exc:  # cannot happen under the account lock; never count money twice
        raise RuntimeError("billing entry written by another process despite the account lock") from exc
    for tenant_id, (balance, held) in accounts.items():
        conn.execute(
            billing_accounts.update()
            .where(billing_accounts.c.tenant_id == tenant_id)
            .values(balance_units=balance, held_units=held, updated_ms=now_ms)
        )


# A pass's events, each with what pricing needs of its message, in one read (a second query
# had the pass's 500 message ids rendered into an IN list afresh on every pass). The events
# after the cursor are found first, in the index's order — a row comparison: `at > x OR at = x
# AND id > y` had SQLite sort the whole backlog on every pass — and only those few are joined.
# Only rows from before the facts kept at accept (carrier, kind) need their sealed copies.
_M, _B = messages.c, batches.c


@functools.cache
def _events_after(batch: int) -> Select:
    e = message_events.c
    after = (
        select(e.id, e.message_id, e.tenant_id, e.type, e.at_ms, e.source, e.detail)
        .where(
            tuple_(e.at_ms, e.id) > tuple_(bindparam("at", type_=BigInteger), bindparam("eid", type_=String)),
            e.at_ms <= bindparam("upto", type_=BigInteger),
            e.type.in_([str(t) for t in BILLED_EVENTS]),
        )
        .order_by(e.at_ms, e.id)
        .limit(batch)
        .subquery("e")
    )
    ev = after.c
    return (
        select(
            ev.id,
            ev.message_id,
            ev.tenant_id,
            ev.type,
            ev.at_ms,
            ev.source,
            ev.detail,
            _M.batch_id,
            _M.carrier,
            _M.test,
            _B.kind,
            case((_M.carrier.is_(None), _M.to_enc), else_=null()).label("to_enc"),
            case((_B.kind.is_(None), _B.card_enc), else_=null()).label("card_enc"),
        )
        .select_from(after.join(messages, _M.id == ev.message_id).join(batches, _B.id == _M.batch_id))
        .order_by(ev.at_ms, ev.id)
    )


_ENTRIES_OF = select(billing_entries.c.entry_key, billing_entries.c.amount_units).where(
    AnyOf(billing_entries.c.message_id, "mids")
)


class Billing:
    """The price book, the ledger job, balances and statements."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: Keyring,
        clock: Clock | None = None,
        *,
        id_factory: Callable[..., str] = new_id,
        interval_s: float = DEFAULT_INTERVAL_S,
        idle_s: float = IDLE_S,
        timer: Timer = wait_event,
        settle_ms: int = DEFAULT_SETTLE_MS,
        batch: int = BATCH,
        account_ttl_s: float = 2.0,
        ensure_keys: Callable[[str], Awaitable[Any]] | None = None,
    ):
        self.ensure_keys = ensure_keys  # loads a tenant's data keys made by another process
        self.db, self.writer, self.keyring = db, writer, keyring
        self.clock = clock or SystemClock()
        self.new_id = id_factory
        self.interval_s, self.settle_ms, self.batch = interval_s, settle_ms, batch
        # Events read: a pass every `interval_s`. None: ever less often up to `idle_s`; a commit
        # (events, most likely) starts the doubling over, so an event younger than the settle
        # time is read a pass or two later (~1–3 s), as while busy.
        self.pacer = Pacer(interval_s, max(interval_s, idle_s), wake_cuts_busy=False, timer=timer)
        self.books = PriceBooks(db)
        self.account_ttl_s = account_ttl_s
        self._unlimited: dict[str, float] = {}  # tenant → until when it is known to have no credit limit
        self._task: asyncio.Task | None = None

    def now_ms(self) -> int:
        return _ms(self.clock.now())

    # -- the job ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.writer.on_commit.append(self.pacer.wake)
        self._task = asyncio.create_task(self._loop(), name="billing-ledger")

    async def stop(self) -> None:
        if self.pacer.wake in self.writer.on_commit:
            self.writer.on_commit.remove(self.pacer.wake)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        woken = False
        while True:
            read = 0
            try:
                while (n := await self.run_once()) >= self.batch:
                    read += n
                read += n
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("billing pass failed; trying again in %.1fs", self.interval_s)
                read = 1
            # A commit since the last pass: its events may still be younger than the settle
            # time, so keep the busy pace (not a pass per commit) until they are read.
            woken = await self.pacer.wait(read > 0 or woken)

    async def run_once(self) -> int:
        """Settle one batch of events after the cursor; the number of events read."""
        now_ms = self.now_ms()
        async with self.db.read.connect() as conn:
            # One process settles at a time (PostgreSQL): the others would read the same events,
            # open the same numbers and then wait on the account locks inside their writers'
            # group commits, holding up every other write of theirs. The lock is the read
            # transaction's, held until the pass's settle has committed.
            if (
                conn.dialect.name == "postgresql"
                and not (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK})).scalar()
            ):
                return 0
            return await self._pass(conn, now_ms)

    async def _pass(self, conn, now_ms: int) -> int:
        cur = (await conn.execute(select(billing_cursor).where(billing_cursor.c.name == CURSOR))).first()
        at, eid = (cur.at_ms, cur.event_id) if cur is not None else (-1, "")
        query = _events_after(self.batch)
        rows = named(await conn.execute(query, {"at": at, "eid": eid, "upto": now_ms - self.settle_ms}))
        events = [_Event(*r[:7]) for r in rows]
        if self.ensure_keys is not None:
            for tenant_id in {ev.tenant_id for ev in events}:
                await self.ensure_keys(tenant_id)
        facts = await self._facts(conn, events, rows)
        if not events:
            return 0
        books = {t: await self.books.book(t) for t in {ev.tenant_id for ev in events}}
        last = events[-1]

        def settle(conn: Connection) -> None:
            accounts = _lock_accounts(conn, books, now_ms)
            balances = {t: a[0] for t, a in accounts.items()}
            held = {t: a[1] for t, a in accounts.items()}
            mids = list({ev.message_id for ev in events})
            have: dict[str, dict] = {}
            for i in range(0, len(mids), 500):
                for entry_key, amount_units in fetch(conn, _ENTRIES_OF, {"mids": mids[i : i + 500]}):
                    have[entry_key] = {"amount_units": amount_units}
            entries: list[dict] = []

            def add(ev: _Event, what: str, slot: str, amount: int, **more: Any) -> None:
                balances[ev.tenant_id] += amount
                if what in (HOLD, RELEASE, REFUND):  # what is held moves the other way
                    held[ev.tenant_id] -= amount
                row = {
                    "id": self.new_id(),
                    "tenant_id": ev.tenant_id,
                    "entry_key": f"{ev.message_id}:{slot}",
                    "message_id": ev.message_id,
                    "kind": what,
                    "channel": None,
                    "carrier": None,
                    "msg_kind": None,
                    "units": 1,
                    "unit_price_units": 0,
                    "amount_units": amount,
                    "balance_after_units": balances[ev.tenant_id],
                    "at_ms": ev.at_ms,
                    "note": None,
                    **more,
                }
                have[row["entry_key"]] = row
                entries.append(row)

            for ev in events:
                fact = facts.get(ev.message_id)
                if fact is None:
                    continue
                book = books[ev.tenant_id]
                hold = have.get(f"{ev.message_id}:hold")
                if ev.type == Status.ACCEPTED:
                    estimate = book.estimate(fact["kind"], fact["carrier"])
                    if hold is None and estimate > 0:
                        add(
                            ev,
                            HOLD,
                            "hold",
                            -estimate,
                            unit_price_units=estimate,
                            carrier=fact["carrier"],
                            msg_kind=fact["kind"],
                        )
                elif ev.type in DELIVERED:
                    if f"{ev.message_id}:outcome" in have:
                        continue
                    channel = DELIVERED[Status(ev.type)]
                    units = fact["parts"] if channel == SMS else 1
                    kind = "part" if channel == SMS else fact["kind"]
                    price = book.price(channel, fact["carrier"], kind)
                    add(
                        ev,
                        CHARGE,
                        "outcome",
                        -price * units,
                        units=units,
                        unit_price_units=price,
                        **fact["line"](channel),
                    )
                    if hold is not None and f"{ev.message_id}:release" not in have:
                        add(ev, RELEASE, "release", -hold["amount_units"], unit_price_units=-hold["amount_units"])
                elif ev.type in ENDED or _is_cancel(ev):
                    if hold is not None and f"{ev.message_id}:outcome" not in have:
                        note = str((ev.detail or {}).get("reason") or ev.type)[:200]
                        add(
                            ev,
                            REFUND,
                            "outcome",
                            -hold["amount_units"],
                            unit_price_units=-hold["amount_units"],
                            note=note,
                        )
            changed = {t: (balances[t], held[t]) for t in accounts if (balances[t], held[t]) != accounts[t]}
            _write_entries(conn, entries, changed, now_ms)
            d = _dialect(conn)
            conn.execute(
                d.insert(billing_cursor)
                .values(name=CURSOR, at_ms=last.at_ms, event_id=last.id)
                .on_conflict_do_update(
                    index_elements=["name"],
                    set_={"at_ms": last.at_ms, "event_id": last.id},
                    where=or_(
                        billing_cursor.c.at_ms < last.at_ms,
                        and_(billing_cursor.c.at_ms == last.at_ms, billing_cursor.c.event_id < last.id),
                    ),
                )
            )

        await self.writer.write(WriteBatch().run(settle))
        return len(events)

    async def _facts(self, conn, events: list[_Event], rows: list) -> dict[str, dict]:
        """What pricing needs of each message (`rows`: the events read with their message's
        columns, _events_after): carrier, RCS kind, SMS parts."""
        out: dict[str, dict] = {}
        if not events:
            return out
        # A test key's messages went only to the simulators: never billed.
        rows = list({r.message_id: r for r in rows if not r.test}.values())
        parts: dict[str, int] = {}
        sms_mids = [ev.message_id for ev in events if ev.type == Status.SMS_DELIVERED]
        for ev in events:
            if ev.type == Status.SMS_DELIVERED and isinstance((ev.detail or {}).get("parts"), list):
                parts[ev.message_id] = max(1, len(ev.detail["parts"]))  # type: ignore[index]
        missing = [mid for mid in sms_mids if mid not in parts]
        if missing:
            e = message_events.c
            for r in await conn.execute(
                select(e.message_id, e.detail).where(e.message_id.in_(missing), e.type == Status.SMS_SENT)
            ):
                segs = (r.detail or {}).get("segments")
                parts[r.message_id] = segs if isinstance(segs, int) and segs > 0 else 1
        kinds: dict[str, str] = {}
        for r in rows:
            try:
                if r.batch_id not in kinds:
                    doc = None
                    if r.kind is None and r.card_enc is not None:
                        doc = orjson.loads(self.keyring.open(r.tenant_id, "batches", "card", r.batch_id, r.card_enc))
                    kinds[r.batch_id] = r.kind or kind_of(doc)
                carrier = r.carrier or carrier_of(
                    self.keyring.open(r.tenant_id, "messages", "to", r.message_id, r.to_enc).decode()
                )
            except Exception:
                # One unreadable row must not stop billing for everyone: it is left unbilled, loudly.
                log.exception("billing: message %s cannot be read; its events are not billed", r.message_id)
                continue
            kind = kinds[r.batch_id]

            def line(channel: str, carrier=carrier, kind=kind) -> dict:
                return {"channel": channel, "carrier": carrier, "msg_kind": "part" if channel == SMS else kind}

            out[r.message_id] = {"carrier": carrier, "kind": kind, "parts": parts.get(r.message_id, 1), "line": line}
        return out

    # -- the check at accept ----------------------------------------------------------------
    async def check(self, tenant_id: str, req: SendRequest) -> None:
        """402 when the tenant's balance plus credit limit cannot cover the estimated cost of
        this request (only for tenants with a credit limit set)."""
        until = self._unlimited.get(tenant_id)
        if until is not None and until > time.monotonic():
            return
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(select(billing_accounts).where(billing_accounts.c.tenant_id == tenant_id))
            ).first()
        if row is None or row.credit_limit_units is None:
            if len(self._unlimited) > 10_000:
                self._unlimited.clear()
            self._unlimited[tenant_id] = time.monotonic() + self.account_ttl_s
            return
        book = await self.books.book(tenant_id)
        kind = req.kind if req.kind in KINDS[RCS] and req.kind != "card" else kind_of(req.card or req.resolved_card)
        if book.varies_by_carrier(kind):
            estimate = sum(book.estimate(kind, carrier_of(r.to)) for r in req.recipients)
        else:
            estimate = len(req.recipients) * book.estimate(kind, CARRIERS[0])
        available = row.balance_units + row.credit_limit_units
        if estimate > available:
            raise Problem(
                402,
                f"the tenant's balance and credit limit ({format_money(available)} {CURRENCY} available) cannot "
                f"cover this request's estimated cost ({format_money(estimate)} {CURRENCY}); top up and try again",
                [FieldError("/recipients" if req.batch else "/to", "not enough credit to send to these recipients")],
                type=BILLING_PROBLEM,
                extra={
                    "currency": CURRENCY,
                    "balance": format_money(row.balance_units),
                    "credit_limit": format_money(row.credit_limit_units),
                    "available": format_money(available),
                    "estimated_cost": format_money(estimate),
                },
            )

    # -- prices ------------------------------------------------------------------------------
    async def prices(self, tenant_id: str) -> dict:
        book = await self.books.book(tenant_id)
        return {"currency": CURRENCY, "prices": book.view()}

    async def default_prices(self) -> dict:
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(select(billing_prices).where(billing_prices.c.tenant_id == DEFAULT_BOOK))).all()
        return {
            "currency": CURRENCY,
            "prices": [
                {"channel": r.channel, "carrier": r.carrier, "kind": r.kind, "price": format_money(r.price_units)}
                for r in sorted(rows, key=lambda r: (r.channel, r.carrier, r.kind))
            ],
        }

    async def set_prices(self, book_id: str, changes: list[dict]) -> None:
        """Set (price a string) or remove (price null) entries of a tenant's book or of the
        default ("*"). `changes` are checked by `parse_price_changes`."""
        now_ms = self.now_ms()
        d_rows = [c for c in changes if c["price_units"] is None]
        s_rows = [c for c in changes if c["price_units"] is not None]

        def apply(conn: Connection) -> None:
            d = _dialect(conn)
            for c in d_rows:
                conn.execute(
                    billing_prices.delete().where(
                        billing_prices.c.tenant_id == book_id,
                        billing_prices.c.channel == c["channel"],
                        billing_prices.c.carrier == c["carrier"],
                        billing_prices.c.kind == c["kind"],
                    )
                )
            for c in s_rows:
                conn.execute(
                    d.insert(billing_prices)
                    .values(tenant_id=book_id, updated_ms=now_ms, **c)
                    .on_conflict_do_update(
                        index_elements=["tenant_id", "channel", "carrier", "kind"],
                        set_={"price_units": c["price_units"], "updated_ms": now_ms},
                    )
                )

        await self.writer.write(WriteBatch().run(apply))
        self.books.forget(book_id)

    # -- balance, credits, limits ------------------------------------------------------------
    async def balance(self, tenant_id: str) -> dict:
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(select(billing_accounts).where(billing_accounts.c.tenant_id == tenant_id))
            ).first()
        held = row.held_units if row is not None else 0
        balance = row.balance_units if row is not None else 0
        limit = row.credit_limit_units if row is not None else None
        return {
            "currency": CURRENCY,
            "balance": format_money(balance),
            "held": format_money(held),
            "credit_limit": format_money(limit),
            "available": format_money(balance + limit) if limit is not None else None,
            "enforced": limit is not None,
        }

    async def credit(self, tenant_id: str, amount_units: int, *, kind: str, note: str | None, key: str | None) -> dict:
        """A top-up (`credit`, positive) or an `adjustment` (either sign), exactly once per key."""
        entry_id = self.new_id()
        now_ms = self.now_ms()
        entry_key = f"{kind}:{tenant_id}:{key}" if key else f"{kind}:{entry_id}"
        out: dict = {}

        def apply(conn: Connection) -> None:
            accounts = _lock_accounts(conn, [tenant_id], now_ms)
            old = conn.execute(select(billing_entries).where(billing_entries.c.entry_key == entry_key)).first()
            if old is not None:
                out["row"], out["replayed"] = old._asdict(), True
                return
            balance = accounts[tenant_id][0] + amount_units
            row = {
                "id": entry_id,
                "tenant_id": tenant_id,
                "entry_key": entry_key,
                "message_id": None,
                "kind": kind,
                "channel": None,
                "carrier": None,
                "msg_kind": None,
                "units": 1,
                "unit_price_units": amount_units,
                "amount_units": amount_units,
                "balance_after_units": balance,
                "at_ms": now_ms,
                "note": note,
            }
            _write_entries(conn, [row], {tenant_id: (balance, accounts[tenant_id][1])}, now_ms)
            out["row"], out["replayed"] = row, False

        await self.writer.write(WriteBatch().run(apply))
        row = out["row"]
        if out["replayed"] and (row["amount_units"] != amount_units or row["note"] != note):
            raise Problem(409, "this Idempotency-Key was used for another credit")
        return _entry_view(row)

    async def set_credit_limit(self, tenant_id: str, limit_units: int | None) -> dict:
        now_ms = self.now_ms()

        def apply(conn: Connection) -> None:
            _lock_accounts(conn, [tenant_id], now_ms)
            conn.execute(
                billing_accounts.update()
                .where(billing_accounts.c.tenant_id == tenant_id)
                .values(credit_limit_units=limit_units, updated_ms=now_ms)
            )

        await self.writer.write(WriteBatch().run(apply))
        self._unlimited.pop(tenant_id, None)
        return await self.balance(tenant_id)

    # -- reading the ledger -----------------------------------------------------------------
    async def message_cost(self, tenant_id: str, message_id: str) -> dict | None:
        async with self.db.read.connect() as conn:
            found = (
                await conn.execute(
                    select(messages.c.id).where(messages.c.id == message_id, messages.c.tenant_id == tenant_id)
                )
            ).first()
            if found is None:
                return None
            rows = (
                await conn.execute(
                    select(billing_entries)
                    .where(billing_entries.c.message_id == message_id, billing_entries.c.tenant_id == tenant_id)
                    .order_by(billing_entries.c.at_ms, billing_entries.c.id)
                )
            ).all()
        charge = next((r for r in rows if r.kind == CHARGE), None)
        hold = next((r for r in rows if r.kind == HOLD), None)
        settled = any(r.kind in (CHARGE, REFUND) for r in rows)
        return {
            "message_id": message_id,
            "currency": CURRENCY,
            "charged": format_money(-charge.amount_units) if charge else None,
            "channel": charge.channel if charge else None,
            "carrier": charge.carrier if charge else None,
            "kind": charge.msg_kind if charge else None,
            "units": charge.units if charge else None,
            "unit_price": format_money(charge.unit_price_units) if charge else None,
            "held": format_money(-hold.amount_units) if hold and not settled else None,
            "refunded": any(r.kind == REFUND for r in rows),
            "entries": [_entry_view(r._asdict()) for r in rows],
        }

    async def view_cost(self, tenant_id: str, message_id: str) -> dict:
        """The `cost` of the message view (GET /v1/messages/{id}): one indexed read."""
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(billing_entries.c.kind, billing_entries.c.amount_units).where(
                        billing_entries.c.message_id == message_id, billing_entries.c.tenant_id == tenant_id
                    )
                )
            ).all()
        amounts = {r.kind: r.amount_units for r in rows}
        settled = CHARGE in amounts or REFUND in amounts
        return {
            "cost": {
                "charged": format_money(-amounts[CHARGE]) if CHARGE in amounts else None,
                "currency": CURRENCY,
                "held": format_money(-amounts[HOLD]) if HOLD in amounts and not settled else None,
                "refunded": REFUND in amounts,
            }
        }

    async def entries(self, tenant_id: str, *, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        query = select(billing_entries).where(billing_entries.c.tenant_id == tenant_id)
        if cursor:
            raw = decode_cursor(cursor)
            at, _, eid = raw.partition(":")
            if not at.isdigit() or not eid:
                raise Problem(422, "cursor is not one this API returned", [FieldError("/cursor", "invalid cursor")])
            query = query.where(
                or_(
                    billing_entries.c.at_ms < int(at),
                    and_(billing_entries.c.at_ms == int(at), billing_entries.c.id < eid),
                )
            )
        query = query.order_by(billing_entries.c.at_ms.desc(), billing_entries.c.id.desc()).limit(limit + 1)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = encode_cursor(f"{rows[-1].at_ms}:{rows[-1].id}") if more and rows else None
        return [_entry_view(r._asdict()) for r in rows], nxt

    async def statement(self, tenant_id: str, month: str) -> dict:
        """The month's statement (a calendar month in China time): opening and closing balance,
        totals per entry kind and lines per (kind, channel, carrier, message kind, unit price)."""
        start_ms, end_ms = month_range(month)
        be = billing_entries.c
        in_month = and_(be.tenant_id == tenant_id, be.at_ms >= start_ms, be.at_ms < end_ms)
        async with self.db.read.connect() as conn:
            opening = (
                await conn.execute(
                    select(func.coalesce(func.sum(be.amount_units), 0)).where(
                        be.tenant_id == tenant_id, be.at_ms < start_ms
                    )
                )
            ).scalar()
            lines = (
                await conn.execute(
                    select(
                        be.kind,
                        be.channel,
                        be.carrier,
                        be.msg_kind,
                        be.unit_price_units,
                        func.count().label("entries"),
                        func.sum(be.units).label("units"),
                        func.sum(be.amount_units).label("amount"),
                    )
                    .where(in_month)
                    .group_by(be.kind, be.channel, be.carrier, be.msg_kind, be.unit_price_units)
                )
            ).all()
        opening = int(opening or 0)
        order = {k: i for i, k in enumerate(ENTRY_KINDS)}
        lines = sorted(
            lines,
            key=lambda r: (
                order.get(r.kind, 99),
                r.channel or "",
                r.carrier or "",
                r.msg_kind or "",
                r.unit_price_units,
            ),
        )
        totals = {k: 0 for k in ENTRY_KINDS}
        for r in lines:
            totals[r.kind] = totals.get(r.kind, 0) + int(r.amount)
        closing = opening + sum(totals.values())
        return {
            "tenant_id": tenant_id,
            "month": month,
            "time_zone": str(STATEMENT_ZONE),
            "from": ms_to_rfc3339(start_ms),
            "to": ms_to_rfc3339(end_ms),
            "currency": CURRENCY,
            "opening_balance": format_money(opening),
            "closing_balance": format_money(closing),
            "totals": {k: format_money(v) for k, v in totals.items()},
            "lines": [
                {
                    "type": r.kind,
                    "channel": r.channel,
                    "carrier": r.carrier,
                    "kind": r.msg_kind,
                    "count": int(r.entries),
                    "units": int(r.units),
                    "unit_price": format_money(abs(r.unit_price_units)) if r.kind in (CHARGE, HOLD) else None,
                    "amount": format_money(int(r.amount)),
                }
                for r in lines
            ],
        }


def month_range(month: str) -> tuple[int, int]:
    """ "YYYY-MM" → [start, end) in Unix ms (China time); 422 naming /month otherwise."""
    ok = len(month) == 7 and month[4] == "-" and month[:4].isdigit() and month[5:].isdigit()
    if not ok or not (1 <= int(month[5:]) <= 12) or not (2000 <= int(month[:4]) <= 9999):
        raise Problem(422, "a statement month is YYYY-MM", [FieldError("/month", "expected YYYY-MM, e.g. 2026-12")])
    y, m = int(month[:4]), int(month[5:])
    start = datetime(y, m, 1, tzinfo=STATEMENT_ZONE)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=STATEMENT_ZONE)
    return _ms(start.astimezone(UTC)), _ms(end.astimezone(UTC))


def _entry_view(r: dict) -> dict:
    return {
        "id": r["id"],
        "type": r["kind"],
        "message_id": r["message_id"],
        "channel": r["channel"],
        "carrier": r["carrier"],
        "kind": r["msg_kind"],
        "units": r["units"],
        "amount": format_money(r["amount_units"]),
        "balance_after": format_money(r["balance_after_units"]),
        "at": ms_to_rfc3339(r["at_ms"]),
        "note": r["note"],
    }


def parse_price_changes(body: Any) -> tuple[str | None, list[dict]]:
    """PUT /v1/billing/prices: `{"tenant_id"?: id | "default", "prices": [{channel, carrier,
    kind, price: "0.05" | null}]}` → (book, changes); 422 naming each wrong field."""
    if not isinstance(body, dict):
        raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("tenant_id", "prices")]
    book = body.get("tenant_id")
    if book is not None and (not isinstance(book, str) or not (book == "default" or 0 < len(book) <= 32)):
        errors.append(FieldError("/tenant_id", 'a tenant id, or "default" for the platform\'s default price book'))
    items = body.get("prices")
    changes: list[dict] = []
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_PRICE_CHANGES:
        errors.append(FieldError("/prices", f"a list of 1 to {MAX_PRICE_CHANGES} prices"))
        items = []
    for i, item in enumerate(items):
        at = f"/prices/{i}"
        if not isinstance(item, dict):
            errors.append(FieldError(at, "expected an object"))
            continue
        errors += [
            FieldError(f"{at}/{k}", "unknown field") for k in item if k not in ("channel", "carrier", "kind", "price")
        ]
        channel, carrier, kind = item.get("channel"), item.get("carrier", ANY_CARRIER), item.get("kind")
        if channel not in CHANNELS:
            errors.append(FieldError(f"{at}/channel", "one of: rcs, sms"))
            continue
        if carrier not in (*CARRIERS, ANY_CARRIER):
            errors.append(FieldError(f"{at}/carrier", f"one of: {', '.join(CARRIERS)}, * (any)"))
        if kind not in KINDS[channel]:
            errors.append(FieldError(f"{at}/kind", f"for {channel}, one of: {', '.join(KINDS[channel])}"))
        price = item.get("price", ...)
        units = None
        if price is ...:
            errors.append(FieldError(f"{at}/price", "required: a decimal string in yuan, or null to remove"))
        elif price is not None:
            try:
                units = parse_money(price, maximum=MAX_PRICE_UNITS)
            except MoneyError as exc:
                errors.append(FieldError(f"{at}/price", str(exc)))
        changes.append({"channel": channel, "carrier": carrier, "kind": kind, "price_units": units})
    if errors:
        raise Problem(422, "the price changes are not valid", errors)
    return (DEFAULT_BOOK if book == "default" else book), changes


def statement_csv(doc: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["month", "type", "channel", "carrier", "kind", "count", "units", "unit_price", "amount", "currency"])
    for line in doc["lines"]:
        w.writerow(
            [
                doc["month"],
                line["type"],
                line["channel"] or "",
                line["carrier"] or "",
                line["kind"] or "",
                line["count"],
                line["units"],
                line["unit_price"] or "",
                line["amount"],
                doc["currency"],
            ]
        )
    for kind, amount in doc["totals"].items():
        w.writerow([doc["month"], f"total_{kind}", "", "", "", "", "", "", amount, doc["currency"]])
    w.writerow([doc["month"], "opening_balance", "", "", "", "", "", "", doc["opening_balance"], doc["currency"]])
    w.writerow([doc["month"], "closing_balance", "", "", "", "", "", "", doc["closing_balance"], doc["currency"]])
    return out.getvalue()
