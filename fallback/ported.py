"""Ported numbers (携号转网): the platform operator's overrides of a number's carrier.

Since nationwide number portability a number's prefix gives only its original carrier. The
operator keeps a list of numbers → the carrier that serves them now; `PortedNumbers` is the
`fallback.routing.PortabilityLookup` that carrier routing asks first.

A number is PII, and this list belongs to no tenant: a row keeps only the number's blind index
(HMAC-SM3 under the platform key "ported-numbers", `security.platformkey`) and the number sealed
with SM4-GCM under the same key (for the CSV export); the key's root is stored wrapped by the
master key. Answers are cached per process for `ttl_s` (30 s, unknown numbers too) and the whole
cache is dropped when any process changes the list (the `ported` wake-up, store/notify.py): on
PostgreSQL a change reaches every dispatch process within a NOTIFY round trip, and at the
latest after `ttl_s` when a notification was lost.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import BigInteger, LargeBinary, String, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field

from fallback.routes_file import carrier_names
from fallback.routing import CN_CARRIERS, DEFAULT_CARRIER
from security import Keyring, SealError
from security.numbers import normalise_number
from security.platformkey import PlatformKey, new_root
from store import Database
from store.models import Model

log = logging.getLogger(__name__)

KEY_NAME = "ported-numbers"
PURPOSE = "ported-number"
CACHE_TTL_S = 30.0
CACHE_MAX = 50_000  # numbers whose answer is held in memory
MAX_IMPORT_ROWS = 100_000
CSV_HEADER = ("number", "carrier")
SIGNAL = "ported"  # the wake-up raised when the list changes (server.py wires it)


class PlatformKeyRow(Model, table=True):
    """A platform-level key's root, wrapped by the master key (`Keyring.wrap_secret`)."""

    __tablename__ = "platform_keys"

    name: str = Field(sa_type=String(64), primary_key=True)
    master_key_id: str = Field(sa_type=String(64))
    wrapped: bytes = Field(sa_type=LargeBinary)
    created_ms: int = Field(sa_type=BigInteger)


class PortedNumber(Model, table=True):
    """One override: the number's blind index, the carrier now serving it, the number sealed."""

    __tablename__ = "ported_numbers"

    number_index: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    carrier: str = Field(sa_type=String(32))
    number_enc: bytes = Field(sa_type=LargeBinary)
    updated_ms: int = Field(sa_type=BigInteger)


keys_table = PlatformKeyRow.__table__  # type: ignore[attr-defined]
ported_table = PortedNumber.__table__  # type: ignore[attr-defined]


class PortedNumberError(ValueError):
    """Bad input; `field` names what is wrong ("number", "carrier", or a CSV row "row N")."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    unchanged: int


class PortedNumbers:
    """The override list: managed by the platform operator, asked by carrier routing."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        carriers: Iterable[str],
        *,
        ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_change: Callable[[], None] | None = None,
    ):
        self.db, self.keyring = db, keyring
        self.carriers = frozenset(carriers)
        self.ttl_s = ttl_s
        self._clock, self._wall_ms = clock, wall_ms
        self.on_change = on_change  # tells the other processes (a wake-up signal)
        self._key: PlatformKey | None = None
        self._no_key_until = 0.0
        self._cache: OrderedDict[bytes, tuple[float, str | None]] = OrderedDict()
        self.lookups = 0  # database reads for carrier_of (observable for tests)

    # --- the routing side -----------------------------------------------------------------

    async def carrier_of(self, e164: str) -> str | None:
        """The carrier now serving `e164` by the override list, None when it has no entry."""
        now = self._clock()
        if now < self._no_key_until:
            return None
        key = await self._platform_key(create=False)
        if key is None:  # no key yet: nothing was ever listed
            self._no_key_until = now + self.ttl_s
            return None
        index = key.blind_index(e164, purpose=PURPOSE)
        cached = self._cache.get(index)
        if cached is not None and cached[0] > now:
            return cached[1]
        self.lookups += 1
        async with self.db.read.connect() as conn:
            carrier = (
                await conn.execute(select(ported_table.c.carrier).where(ported_table.c.number_index == index))
            ).scalar()
        self._cache[index] = (now + self.ttl_s, carrier)
        self._cache.move_to_end(index)
        while len(self._cache) > CACHE_MAX:
            self._cache.popitem(last=False)
        return carrier

    def invalidate(self) -> None:
        """Forget every cached answer (the list changed, here or in another process)."""
        self._cache.clear()
        self._no_key_until = 0.0

    # --- the operator's side --------------------------------------------------------------

    def check(self, number: object, carrier: object, *, where: str = "") -> tuple[str, str]:
        """(E.164 number, carrier) or PortedNumberError naming the field."""
        e164 = self.parse_number(number, where=where)
        if not isinstance(carrier, str) or carrier not in self.carriers:
            raise PortedNumberError(where or "carrier", f"carrier must be one of {', '.join(sorted(self.carriers))}")
        return e164, carrier

    def parse_number(self, number: object, *, where: str = "") -> str:
        """The E.164 form of a number, or PortedNumberError naming the field."""
        e164 = normalise_number(number) if isinstance(number, str) else None
        if e164 is None:
            raise PortedNumberError(where or "number", "not a valid phone number (E.164, e.g. +8613800138000)")
        return e164

    async def put(self, number: object, carrier: object) -> bool:
        """Set a number's carrier; True when it was not listed before."""
        e164, carrier = self.check(number, carrier)
        report = await self._upsert([(e164, carrier)])
        return report.added == 1

    async def get(self, number: object) -> str | None:
        """The listed carrier of a number (None: not listed), read from the database."""
        e164 = self.parse_number(number)
        key = await self._platform_key(create=False)
        if key is None:
            return None
        index = key.blind_index(e164, purpose=PURPOSE)
        async with self.db.read.connect() as conn:
            return (
                await conn.execute(select(ported_table.c.carrier).where(ported_table.c.number_index == index))
            ).scalar()

    async def remove(self, number: object) -> bool:
        """Take a number off the list; False when it was not on it."""
        e164 = self.parse_number(number)
        key = await self._platform_key(create=False)
        if key is None:
            return False
        index = key.blind_index(e164, purpose=PURPOSE)
        async with self.db.write.begin() as conn:
            gone = (await conn.execute(delete(ported_table).where(ported_table.c.number_index == index))).rowcount
        if gone:
            self._changed()
        return bool(gone)

    async def count(self) -> dict[str, int]:
        """How many numbers are listed, per carrier."""
        async with self.db.read.connect() as conn:
            rows = await conn.execute(
                select(ported_table.c.carrier, func.count())
                .group_by(ported_table.c.carrier)
                .order_by(ported_table.c.carrier)
            )
            return {carrier: n for carrier, n in rows}

    async def import_csv(self, text: str) -> ImportReport:
        """Add or update every row of a CSV `number,carrier` (a header row is optional); all or
        nothing: the first bad row raises PortedNumberError naming it."""
        rows = list(csv.reader(io.StringIO(text)))
        if rows and [c.strip().lower() for c in rows[0]] == list(CSV_HEADER):
            rows = rows[1:]
            first = 2
        else:
            first = 1
        if len(rows) > MAX_IMPORT_ROWS:
            raise PortedNumberError("file", f"at most {MAX_IMPORT_ROWS} rows per import")
        entries: dict[str, str] = {}
        for n, row in enumerate(rows, start=first):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise PortedNumberError(f"row {n}", "expected two columns: number,carrier")
            e164, carrier = self.check(row[0].strip(), row[1].strip(), where=f"row {n}")
            entries[e164] = carrier
        return await self._upsert(list(entries.items()))

    async def export_csv(self) -> str:
        """Every listed number and its carrier as CSV (numbers opened from their sealed copy)."""
        key = await self._platform_key(create=False)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        if key is None:
            return out.getvalue()
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(select(ported_table).order_by(ported_table.c.carrier))).all()
        lines = sorted(
            (key.open(ported_table.name, "number_enc", r.number_index.hex(), r.number_enc).decode(), r.carrier)
            for r in rows
        )
        writer.writerows(lines)
        return out.getvalue()

    # --- internals ------------------------------------------------------------------------

    async def _upsert(self, entries: list[tuple[str, str]]) -> ImportReport:
        key = await self._platform_key(create=True)
        assert key is not None
        now = self._wall_ms()
        indexed = {key.blind_index(e164, purpose=PURPOSE): (e164, carrier) for e164, carrier in entries}
        added = updated = unchanged = 0
        async with self.db.write.begin() as conn:
            known: dict[bytes, str] = {}
            keys = list(indexed)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                found = await conn.execute(
                    select(ported_table.c.number_index, ported_table.c.carrier).where(
                        ported_table.c.number_index.in_(chunk)
                    )
                )
                known.update({bytes(i): c for i, c in found})
            inserts = []
            for index, (e164, carrier) in indexed.items():
                if index not in known:
                    sealed = key.seal(ported_table.name, "number_enc", index.hex(), e164.encode())
                    inserts.append({"number_index": index, "carrier": carrier, "number_enc": sealed, "updated_ms": now})
                    added += 1
                elif known[index] != carrier:
                    await conn.execute(
                        ported_table.update()
                        .where(ported_table.c.number_index == index)
                        .values(carrier=carrier, updated_ms=now)
                    )
                    updated += 1
                else:
                    unchanged += 1
            if inserts:
                await conn.execute(ported_table.insert(), inserts)
        if added or updated:
            self._changed()
        return ImportReport(added, updated, unchanged)

    def _changed(self) -> None:
        self.invalidate()
        if self.on_change is not None:
            self.on_change()

    async def _platform_key(self, *, create: bool) -> PlatformKey | None:
        if self._key is not None:
            return self._key
        for _ in range(2):
            async with self.db.read.connect() as conn:
                row = (await conn.execute(select(keys_table).where(keys_table.c.name == KEY_NAME))).first()
            if row is not None:
                root = self.keyring.unwrap_secret(KEY_NAME, row.master_key_id, row.wrapped)
                self._key = PlatformKey(KEY_NAME, root)
                return self._key
            if not create:
                return None
            master_id, wrapped = self.keyring.wrap_secret(KEY_NAME, new_root())
            try:
                async with self.db.write.begin() as conn:
                    await conn.execute(
                        keys_table.insert().values(
                            name=KEY_NAME, master_key_id=master_id, wrapped=wrapped, created_ms=self._wall_ms()
                        )
                    )
            except IntegrityError:
                pass  # another process made it first: read theirs
        raise RuntimeError("the ported-numbers key could not be read or made")


async def rewrap_platform_keys(db: Database, keyring: Keyring) -> int:
    """Re-wrap every platform key's root under the current master key (with `keys
    rotate-master`); returns how many changed. One that does not open is left as it is."""
    changed = 0
    async with db.write.begin() as conn:
        for row in (await conn.execute(select(keys_table))).all():
            if row.master_key_id == keyring.master_key_id:
                continue
            try:
                root = keyring.unwrap_secret(row.name, row.master_key_id, row.wrapped)
            except SealError:
                log.error("platform key %s does not open under the master keys given", row.name)
                continue
            master_id, wrapped = keyring.wrap_secret(row.name, root)
            await conn.execute(
                keys_table.update()
                .where(keys_table.c.name == row.name)
                .values(master_key_id=master_id, wrapped=wrapped)
            )
            changed += 1
    return changed


def allowed_carriers(routes_file: str | Path | None) -> frozenset[str]:
    """The carriers a number may be listed with: the routes file's, else the mainland four and
    ``default``. RoutesFileError when the file cannot be read."""
    if routes_file is None:
        return CN_CARRIERS | {DEFAULT_CARRIER}
    return carrier_names(routes_file)


async def run_command(ported: PortedNumbers, command: str, file: str | None, out: TextIO, err: TextIO) -> int:
    """`server.py ported-numbers import FILE | export`: the exit code (2: bad input, nothing
    imported; a bad row is named, never its number)."""
    if command == "export":
        out.write(await ported.export_csv())
        return 0
    try:
        text = sys.stdin.read() if file in (None, "-") else Path(file).read_text(encoding="utf-8-sig")
        report = await ported.import_csv(text)
    except OSError as exc:
        print(f"error: {file}: {exc.strerror}", file=err)
        return 2
    except PortedNumberError as exc:
        print(f"error: {exc.field}: {exc} (nothing imported)", file=err)
        return 2
    print(json.dumps(asdict(report), separators=(",", ":")), file=out, flush=True)
    return 0
