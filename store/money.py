"""Exact money: an integer count of 1/10000 of a currency unit ("units"), read and written as
decimal strings with up to four decimals ("0.045" in, "0.0450" out) — never a float. Shared by
billing (prices, the ledger) and analytics (conversion values), summed exactly in SQL."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

UNITS_PER_YUAN = 10_000
MAX_AMOUNT_UNITS = 10**9 * UNITS_PER_YUAN  # a billion yuan in one amount


class MoneyError(ValueError):
    """A money string that is not an exact amount the ledger can hold."""


def parse_money(value: object, *, signed: bool = False, maximum: int = MAX_AMOUNT_UNITS) -> int:
    """An exact decimal string ("0.045", "100") → units; at most 4 decimals, never a float."""
    if not isinstance(value, str) or not value.strip() or len(value) > 32:
        raise MoneyError('expected a decimal string such as "0.045"')
    try:
        d = Decimal(value.strip())
    except InvalidOperation:
        raise MoneyError("not a decimal number") from None
    if not d.is_finite():
        raise MoneyError("not a finite number")
    units = d * UNITS_PER_YUAN
    if units != units.to_integral_value():
        raise MoneyError("at most 4 decimals (1/10000 yuan)")
    n = int(units)
    if n < 0 and not signed:
        raise MoneyError("must not be negative")
    if abs(n) > maximum:
        raise MoneyError(f"at most {format_money(maximum)}")
    return n


def format_money(units: int | None) -> str | None:
    """units → "12.3450" (always four decimals, exact)."""
    if units is None:
        return None
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS_PER_YUAN)
    return f"{sign}{whole}.{frac:04d}"
