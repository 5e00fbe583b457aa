"""Money, carriers, message kinds and the price book.

Money is an exact integer count of 1/10000 yuan ("units", store.money); the API reads and writes
decimal strings with up to four decimals ("0.045" in, "0.0450" out). The carrier of a number comes from
its prefix (`security.numbers.carrier_of`: `phonenumbers` carrier data, as SMS routing does): China
Mobile `cmcc`, China Unicom `cucc`, China Telecom `ctcc`, anything else (China Broadnet, other
countries, unknown blocks) `other`. Ported numbers are priced by their original carrier.

A price is looked up, most specific first: the tenant's (channel, carrier, kind), the tenant's
(channel, "*", kind), the platform default's (channel, carrier, kind), the default's
(channel, "*", kind); for an SMS part, then the tenant's `sms_price` (accounts); else 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from accounts.tables import tenants
from billing.tables import ANY_CARRIER, DEFAULT_BOOK, billing_prices
from cards.model import kind_of as kind_of  # priced by it; tests and billing.service import it here
from security.numbers import carrier_of as carrier_of  # priced by it; tests and billing.service import it here
from store import Database
from store.money import UNITS_PER_YUAN, MoneyError, format_money, parse_money

CURRENCY = "CNY"
MAX_PRICE_UNITS = 1000 * UNITS_PER_YUAN  # 1,000 yuan per message or part

RCS, SMS = "rcs", "sms"
CHANNELS = (RCS, SMS)
CARRIERS = ("cmcc", "cucc", "ctcc", "other")
RCS_KINDS = ("text", "card", "carousel", "file", "location")
SMS_KINDS = ("part",)
KINDS = {RCS: RCS_KINDS, SMS: SMS_KINDS}


Key = tuple[str, str, str]  # (channel, carrier, kind)


@dataclass(frozen=True)
class Book:
    """One tenant's effective prices: (channel, carrier, kind) → (units, where it came from)."""

    prices: Mapping[Key, tuple[int, str]]

    def price(self, channel: str, carrier: str, kind: str) -> int:
        return self.prices.get((channel, carrier, kind), (0, "none"))[0]

    def varies_by_carrier(self, kind: str) -> bool:
        """Whether the estimate for `kind` depends on the carrier (else no number is looked up)."""
        return (
            len({self.price(RCS, c, kind) for c in CARRIERS}) > 1
            or len({self.price(SMS, c, "part") for c in CARRIERS}) > 1
        )

    def estimate(self, kind: str, carrier: str) -> int:
        """What to hold for one message: the dearer of its RCS price and one SMS part (a message
        may end up sent either way; the hold is given back when it is settled)."""
        return max(self.price(RCS, carrier, kind), self.price(SMS, carrier, "part"))

    def view(self) -> list[dict]:
        return [
            {
                "channel": ch,
                "carrier": c,
                "kind": k,
                "price": format_money(self.price(ch, c, k)),
                "source": self.prices.get((ch, c, k), (0, "none"))[1],
            }
            for ch in CHANNELS
            for c in CARRIERS
            for k in KINDS[ch]
        ]


def build_book(rows: Iterable, tenant_id: str, sms_price: str | None) -> Book:
    """The effective book from the rows of the tenant's and the default's entries."""
    own: dict[Key, int] = {}
    default: dict[Key, int] = {}
    for r in rows:
        if r.tenant_id == tenant_id:
            own[(r.channel, r.carrier, r.kind)] = r.price_units
        elif r.tenant_id == DEFAULT_BOOK:
            default[(r.channel, r.carrier, r.kind)] = r.price_units
    try:
        legacy = parse_money(sms_price, maximum=MAX_PRICE_UNITS) if sms_price else None
    except MoneyError:
        legacy = None
    out: dict[Key, tuple[int, str]] = {}
    for ch in CHANNELS:
        for c in CARRIERS:
            for k in KINDS[ch]:
                for table, where in ((own, "tenant"), (default, "default")):
                    hit = table.get((ch, c, k), table.get((ch, ANY_CARRIER, k)))
                    if hit is not None:
                        out[(ch, c, k)] = (hit, where)
                        break
                else:
                    if ch == SMS and legacy is not None:
                        out[(ch, c, k)] = (legacy, "sms_price")
    return Book(out)


class PriceBooks:
    """Reads (and briefly caches) the effective price book of each tenant."""

    def __init__(self, db: Database, *, ttl_s: float = 5.0, monotonic=time.monotonic):
        self.db = db
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Book]] = {}

    def forget(self, tenant_id: str | None = None) -> None:
        if tenant_id is None or tenant_id == DEFAULT_BOOK:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    async def book(self, tenant_id: str) -> Book:
        now = self._monotonic()
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(billing_prices).where(billing_prices.c.tenant_id.in_([tenant_id, DEFAULT_BOOK]))
                )
            ).all()
            sms_price = (await conn.execute(select(tenants.c.sms_price).where(tenants.c.id == tenant_id))).scalar()
        book = build_book(rows, tenant_id, sms_price)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[tenant_id] = (now + self.ttl_s, book)
        return book
