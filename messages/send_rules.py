"""Where sending rules live and act: each tenant's rules (stored, cached a few seconds), and the
frequency-cap ledger that reserves a recipient's sends exactly, also across processes.

Caps count by the recipient's blind index, never by number. A reservation is taken before the
accept commits, in a group commit of the accept path's writer (many requests' reservations, and
their daily volume counts, in one transaction): when the accept fails afterwards the slot is
given back, or, if even that fails, stays taken, so a cap can only err towards sending less,
never more. On PostgreSQL each (tenant,
recipient, traffic type) has a lock row taken `FOR UPDATE` in sorted order, so concurrent
accepts in any number of processes serialise per recipient without deadlocks; SQLite has one
writer, which serialises them already.
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
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field

from messages.rules import DEFAULT_RULES, MAX_CAP_PERIOD_S, Cap, SendRules, parse_rules
from store import Database
from store.bulk import executemany, fetch
from store.models import Model

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
        cap_sends.c.to_bidx.in_(bindparam("bidxs", expanding=True)),
        cap_sends.c.at_ms > bindparam("lo"),
        cap_sends.c.at_ms < bindparam("hi"),
    )
)
_LOCK_KEYS = (
    select(cap_keys.c.to_bidx)
    .where(
        and_(
            cap_keys.c.tenant_id == bindparam("tenant_id"),
            cap_keys.c.traffic_type == bindparam("traffic_type"),
            cap_keys.c.to_bidx.in_(bindparam("bidxs", expanding=True)),
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
    def move(conn, moves: Sequence[tuple[str, int]]) -> None:
        """Move reserved sends `(message id, new send time ms)` (e.g. deferred at dispatch to
        their send window's next opening), inside the caller's transaction, so later accepts
        count them when they go."""
        for message_id, at_ms in moves:
            conn.execute(cap_sends.update().where(cap_sends.c.message_id == message_id).values(at_ms=at_ms))


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
