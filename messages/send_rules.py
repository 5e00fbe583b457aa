"""Where sending rules live and act: each tenant's rules (stored, cached a few seconds), and the
frequency-cap ledger that reserves a recipient's sends exactly, also across processes.

Caps count by the recipient's blind index, never by number. A reservation is taken before the
accept commits, in a group commit of the accept path's writer (many requests' reservations, and
their daily volume counts, in one transaction): when the accept fails afterwards the slot is
given back, or, if even that fails, stays taken, so a cap can only err towards sending less,
never more. On PostgreSQL each (tenant,
recipient, traffic type) has a lock row taken `FOR UPDATE` in sorted order, so concurrent
accepts in any number of processes serialise per recipient without deadlocks; SQLite has one
writer, which serialises them already. A send that moves after accept (a retry, the SMS
fallback, a window, a late claim) is checked again at the time it really goes, under the same
lock rows (`CapLedger.move_in`, called by the dispatcher).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Executable,
    Index,
    LargeBinary,
    String,
    Text,
    and_,
    bindparam,
    delete,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field

from messages.rules import DEFAULT_RULES, MAX_CAP_PERIOD_S, Cap, SendRules, parse_rules
from store import Database
from store.bulk import AnyOf, executemany, fetch
from store.models import Model

FREQUENCY_CAP = "frequency_cap"  # the reason a send refused, deferred or expired by a cap records
CACHE_S = 5.0  # another process's change to a tenant's rules applies within this
_CHUNK = 500
SWEEP_EVERY = 64  # reservations between two sweeps of a recipient's old sends
_SWEEPS = itertools.count(1)


class SendRulesRow(Model, table=True):
    """A tenant's own rules (JSON as `PUT /v1/compliance/send-rules` took them); no row: defaults."""

    __tablename__ = "send_rules"
    tenant_id: str = Field(sa_column=Column(String(32), primary_key=True))
    rules: str = Field(sa_column=Column(Text, nullable=False))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class CapKey(Model, table=True):
    """One lock row per (tenant, recipient, traffic type) with caps: serialises reservations."""

    __tablename__ = "cap_keys"
    tenant_id: str = Field(sa_column=Column(String(32), primary_key=True))
    to_bidx: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    traffic_type: str = Field(sa_column=Column(String(16), primary_key=True))


class CapSend(Model, table=True):
    """One reserved send: when it is (to be) sent. Kept as long as the longest period allows."""

    __tablename__ = "cap_sends"
    __table_args__ = (Index("ix_cap_sends_key", "tenant_id", "traffic_type", "to_bidx", "at_ms"),)
    message_id: str = Field(sa_column=Column(String(32), primary_key=True))
    tenant_id: str = Field(sa_column=Column(String(32), nullable=False))
    to_bidx: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    traffic_type: str = Field(sa_column=Column(String(16), nullable=False))
    at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The segment whose caps it was held to (None: its traffic type's only), so a send that
    # moves after accept is checked against the same caps again.
    segment: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))


class DailyVolumeRow(Model, table=True):
    """Recipients a tenant had accepted on one day (its calendar day in China)."""

    __tablename__ = "daily_volumes"
    tenant_id: str = Field(sa_column=Column(String(32), primary_key=True))
    day: str = Field(sa_column=Column(String(10), primary_key=True))  # YYYY-MM-DD
    count: int = Field(sa_column=Column(BigInteger, nullable=False))


rules_table = SendRulesRow.__table__  # type: ignore[attr-defined]
cap_keys = CapKey.__table__  # type: ignore[attr-defined]
cap_sends = CapSend.__table__  # type: ignore[attr-defined]
daily_volumes = DailyVolumeRow.__table__  # type: ignore[attr-defined]


# The accept path's statements, built once: building one per call cost more than running it.
_SENDS_NEAR = select(cap_sends.c.to_bidx, cap_sends.c.at_ms).where(
    and_(
        cap_sends.c.tenant_id == bindparam("tenant_id"),
        cap_sends.c.traffic_type == bindparam("traffic_type"),
        AnyOf(cap_sends.c.to_bidx, "bidxs"),
        cap_sends.c.at_ms > bindparam("lo"),
        cap_sends.c.at_ms < bindparam("hi"),
    )
)
_SENDS_FROM = select(cap_sends.c.message_id, cap_sends.c.to_bidx, cap_sends.c.at_ms, cap_sends.c.segment).where(
    and_(
        cap_sends.c.tenant_id == bindparam("tenant_id"),
        cap_sends.c.traffic_type == bindparam("traffic_type"),
        AnyOf(cap_sends.c.to_bidx, "bidxs"),
        or_(cap_sends.c.at_ms > bindparam("lo"), AnyOf(cap_sends.c.message_id, "ids")),
    )
)
_MOVE = cap_sends.update().where(cap_sends.c.message_id == bindparam("b_id")).values(at_ms=bindparam("b_at"))
_LOCK_KEYS = (
    select(cap_keys.c.to_bidx)
    .where(
        and_(
            cap_keys.c.tenant_id == bindparam("tenant_id"),
            cap_keys.c.traffic_type == bindparam("traffic_type"),
            AnyOf(cap_keys.c.to_bidx, "bidxs"),
        )
    )
    .order_by(cap_keys.c.to_bidx)
    .with_for_update()
)


def _add_volume(dialect) -> Executable:
    stmt = dialect.insert(daily_volumes)
    return stmt.on_conflict_do_update(
        index_elements=["tenant_id", "day"], set_={"count": daily_volumes.c.count + stmt.excluded.count}
    ).returning(daily_volumes.c.count)


_ADD_VOLUME = {"postgresql": _add_volume(postgresql), "sqlite": _add_volume(sqlite)}


class RulesStore:
    """Each tenant's rules, read through a short cache."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.monotonic):
        self.db, self.clock = db, clock
        self._cache: dict[str, tuple[float, SendRules]] = {}

    async def get(self, tenant_id: str) -> SendRules:
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(rules_table.c.rules).where(rules_table.c.tenant_id == tenant_id))).first()
        rules = DEFAULT_RULES
        if row is not None:
            parsed, _ = parse_rules(orjson.loads(row.rules))
            rules = parsed or DEFAULT_RULES
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[tenant_id] = (self.clock() + CACHE_S, rules)
        return rules

    async def put(self, tenant_id: str, body: dict, now_ms: int) -> None:
        """Store rules already checked by `parse_rules`."""
        values = {"tenant_id": tenant_id, "rules": orjson.dumps(body).decode(), "updated_ms": now_ms}
        async with self.db.write.begin() as conn:
            stmt = _insert(self.db)(rules_table).values(values)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["tenant_id"], set_={"rules": values["rules"], "updated_ms": now_ms}
                )
            )
        self._cache.pop(tenant_id, None)


@dataclass(frozen=True)
class CapRefusal:
    """Why a recipient's send was refused, and when the earliest slot frees."""

    cap: Cap
    free_at_ms: int


class CapLedger:
    """Reserves sends against a tenant's frequency caps."""

    def __init__(self, db: Database):
        self.db = db

    async def reserve(
        self,
        tenant_id: str,
        traffic_type: str,
        sends: Sequence[tuple[str, bytes, int, Sequence[Cap]]],
        now_ms: int,
    ) -> dict[str, CapRefusal]:
        """`reserve_in` in a transaction of its own."""
        if not sends:
            return {}
        async with self.db.write.begin() as conn:
            return await conn.run_sync(lambda c: self.reserve_in(c, tenant_id, traffic_type, sends, now_ms))

    @staticmethod
    def reserve_in(
        conn: Connection,
        tenant_id: str,
        traffic_type: str,
        sends: Sequence[tuple[str, bytes, int, Sequence[Cap]]],
        now_ms: int,
    ) -> dict[str, CapRefusal]:
        """Reserve each `(message id, recipient blind index, send time ms, its caps)` whose caps
        allow it, inside the caller's write transaction (the accept's group commit); the refused
        ones are returned by message id. A send at time d is allowed when fewer than `limit`
        sends of the traffic type lie within `period` either side of d, so no window of that
        length ever holds more than `limit`, scheduled sends included. A segment's caps count
        every send of the traffic type to the recipient, like the traffic type's own (a new
        member gets at most 4 marketing messages a month, whatever tagged the others)."""
        if not sends:
            return {}
        # A send with no caps of its own is still recorded: another send's segment caps count it.
        widest_ms = max((c.period_s for s in sends for c in s[3]), default=0) * 1000
        # Locks are taken chunk by chunk; in recipient order across chunks, so two processes'
        # transactions never wait on each other in a circle (stable: a recipient's sends keep
        # their order).
        sends = sorted(sends, key=lambda s: s[1])
        refused: dict[str, CapRefusal] = {}
        for start in range(0, len(sends), _CHUNK):
            chunk = sends[start : start + _CHUNK]
            bidxs = sorted({b for _, b, _, _ in chunk})
            _lock(conn, tenant_id, traffic_type, bidxs)
            lowest = min(at for _, _, at, _ in chunk) - widest_ms
            highest = max(at for _, _, at, _ in chunk) + widest_ms
            rows = fetch(
                conn,
                _SENDS_NEAR,
                {"tenant_id": tenant_id, "traffic_type": traffic_type, "bidxs": bidxs, "lo": lowest, "hi": highest},
            )
            taken: dict[bytes, list[int]] = {}
            for bidx, at in rows:
                taken.setdefault(bytes(bidx), []).append(at)
            new_rows = []
            for message_id, bidx, at, caps in chunk:
                times = taken.setdefault(bidx, [])
                refusal = _first_breach(caps, times, at)
                if refusal is not None:
                    refused[message_id] = refusal
                    continue
                times.append(at)
                new_rows.append(
                    {
                        "message_id": message_id,
                        "tenant_id": tenant_id,
                        "to_bidx": bidx,
                        "traffic_type": traffic_type,
                        "at_ms": at,
                        "segment": next((c.segment for c in caps if c.segment), None),
                    }
                )
            executemany(conn, cap_sends, new_rows)
            # Housekeeping, not correctness (the look-up above bounds what counts): sends older
            # than any period are dropped now and then rather than on every accept.
            if next(_SWEEPS) % SWEEP_EVERY:
                continue
            conn.execute(
                delete(cap_sends).where(
                    and_(
                        cap_sends.c.tenant_id == tenant_id,
                        cap_sends.c.traffic_type == traffic_type,
                        cap_sends.c.to_bidx.in_(bidxs),
                        cap_sends.c.at_ms < now_ms - 2 * MAX_CAP_PERIOD_S * 1000,
                    )
                )
            )
        return refused

    async def release(self, message_ids: Sequence[str]) -> None:
        """Give back reservations of sends that will not happen (e.g. the accept failed)."""
        if message_ids:
            async with self.db.write.begin() as conn:
                await conn.run_sync(lambda c: self.release_in(c, message_ids))

    @staticmethod
    def release_in(conn: Connection, message_ids: Sequence[str]) -> None:
        if message_ids:
            conn.execute(delete(cap_sends).where(cap_sends.c.message_id.in_(list(message_ids))))

    @staticmethod
    def move_in(
        conn: Connection,
        tenant_id: str,
        traffic_type: str,
        moves: Sequence[Move],
        caps_of: Callable[[str | None], Sequence[Cap]],
    ) -> dict[str, Moved]:
        """Move reserved sends to the time they now go, inside the caller's write transaction
        and under the same lock rows as `reserve_in`: each is checked at its new time against
        the recipient's other sends (never itself) with the caps `caps_of(its segment)` gives.
        Over a cap, it moves on to the cap's `free_at`, then to `Move.opening` of that, and so
        on until both hold; past `Move.latest_ms` it goes nowhere (its reservation is given
        back) and the caller lets it expire. A send without a reservation (accepted while its
        traffic type had no caps) is reserved now."""
        if not moves:
            return {}
        moves = sorted(moves, key=lambda m: m.to_bidx)  # one lock order everywhere
        out: dict[str, Moved] = {}
        for start in range(0, len(moves), _CHUNK):
            chunk = moves[start : start + _CHUNK]
            bidxs = sorted({m.to_bidx for m in chunk})
            _lock(conn, tenant_id, traffic_type, bidxs)
            # Every send of these recipients from the longest period before the earliest wish on:
            # a deferral may go far past it, and sends ahead are few (scheduled ones).
            widest_ms = MAX_CAP_PERIOD_S * 1000
            rows = fetch(
                conn,
                _SENDS_FROM,
                {
                    "tenant_id": tenant_id,
                    "traffic_type": traffic_type,
                    "bidxs": bidxs,
                    "lo": min(m.at_ms for m in chunk) - widest_ms,
                    "ids": [m.message_id for m in chunk],  # their own, however old
                },
            )
            taken: dict[bytes, dict[str, int]] = {}
            segments: dict[str, str | None] = {}
            for message_id, bidx, at, segment in rows:
                taken.setdefault(bytes(bidx), {})[message_id] = at
                segments[message_id] = segment
            updates, inserts, released = [], [], []
            for m in chunk:
                mine = taken.setdefault(m.to_bidx, {})
                reserved = m.message_id in segments
                caps = caps_of(segments.get(m.message_id))
                others = [at for mid, at in mine.items() if mid != m.message_id]
                at, first = _fit(caps, others, m)
                out[m.message_id] = Moved(at, first)
                if at is None:
                    mine.pop(m.message_id, None)
                    if reserved:
                        released.append(m.message_id)
                    continue
                mine[m.message_id] = at
                if reserved:
                    updates.append({"b_id": m.message_id, "b_at": at})
                else:
                    inserts.append(
                        {
                            "message_id": m.message_id,
                            "tenant_id": tenant_id,
                            "to_bidx": m.to_bidx,
                            "traffic_type": traffic_type,
                            "at_ms": at,
                            "segment": None,
                        }
                    )
            executemany(conn, _MOVE, updates)
            executemany(conn, cap_sends, inserts)
            CapLedger.release_in(conn, released)
        return out


@dataclass(frozen=True)
class Move:
    """A reserved send about to go at `at_ms` (or at `opening(at_ms)`, its window's next opening
    from then: the identity without a window); after `latest_ms` it should not go at all."""

    message_id: str
    to_bidx: bytes
    at_ms: int
    latest_ms: int
    opening: Callable[[int], int] = lambda at_ms: at_ms


@dataclass(frozen=True)
class Moved:
    """When a moved send goes (None: past its latest time, it does not), and the cap that
    deferred it (None: it goes when it wished)."""

    at_ms: int | None
    refusal: CapRefusal | None


_MAX_DEFERRALS = 64  # caps and a window keep deferring each other: give up (it expires)


def _fit(caps: Sequence[Cap], others: list[int], move: Move) -> tuple[int | None, CapRefusal | None]:
    """The first time from `move.at_ms` both the window and the caps allow, and the first cap
    that stood in the way; (None, cap) when a cap pushes it past `move.latest_ms` (a window
    alone never does: a deferral to the next opening keeps the message)."""
    at, first = move.opening(move.at_ms), None
    for _ in range(_MAX_DEFERRALS):
        refusal = _first_breach(caps, others, at)
        if refusal is None:
            return at, first
        first = first or refusal
        at = move.opening(refusal.free_at_ms)
        if at > move.latest_ms:
            return None, first
    return None, first


def _lock(conn: Connection, tenant_id: str, traffic_type: str, bidxs: list[bytes]) -> None:
    """On PostgreSQL, take the (tenant, recipient, traffic type) lock rows in sorted order: the
    reservations of any number of processes serialise per recipient, without deadlocks.
    SQLite has one writer: the transaction itself is the lock."""
    if conn.dialect.name != "postgresql":
        return
    keys = [{"tenant_id": tenant_id, "to_bidx": b, "traffic_type": traffic_type} for b in bidxs]
    conn.execute(postgresql.insert(cap_keys).values(keys).on_conflict_do_nothing())
    conn.execute(_LOCK_KEYS, {"tenant_id": tenant_id, "traffic_type": traffic_type, "bidxs": bidxs})


def _first_breach(caps: Sequence[Cap], times: list[int], at: int) -> CapRefusal | None:
    for cap in caps:
        period_ms = cap.period_s * 1000
        near = sorted(t for t in times if abs(t - at) < period_ms)
        if len(near) >= cap.limit:
            # The earliest moment a send would fit: once enough of the nearby sends lie a whole
            # period behind it.
            return CapRefusal(cap, near[len(near) - cap.limit] + period_ms)
    return None


def _insert(db: Database):
    return sqlite.insert if db.sqlite else postgresql.insert


class VolumeCounter:
    """Each tenant's recipients per day, counted exactly (one atomic upsert per accept)."""

    def __init__(self, db: Database):
        self.db = db

    async def add(self, tenant_id: str, day: str, n: int) -> int:
        """Add `n` to the day's count; the count after."""
        async with self.db.write.begin() as conn:
            return await conn.run_sync(lambda c: self.add_in(c, tenant_id, day, n))

    @staticmethod
    def add_in(conn: Connection, tenant_id: str, day: str, n: int) -> int:
        """`add` inside the caller's write transaction."""
        stmt = _ADD_VOLUME[conn.dialect.name]
        return int(fetch(conn, stmt, {"tenant_id": tenant_id, "day": day, "count": n})[0][0])

    async def get(self, tenant_id: str, day: str) -> int:
        async with self.db.read.connect() as conn:
            found = (
                await conn.execute(
                    select(daily_volumes.c.count).where(
                        and_(daily_volumes.c.tenant_id == tenant_id, daily_volumes.c.day == day)
                    )
                )
            ).scalar()
        return int(found or 0)
