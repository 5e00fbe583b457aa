"""Money, carriers, kinds and price look-ups (no database)."""

from types import SimpleNamespace

import pytest

from billing.prices import build_book, kind_of
from store.money import MoneyError, format_money, parse_money


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0.045", 450),
        ("0.0450", 450),
        ("1", 10_000),
        ("100.00", 1_000_000),
        ("0.0001", 1),
        ("0", 0),
        (" 2.5 ", 25_000),
    ],
)
def test_money_is_exact(text, units):
    assert parse_money(text) == units
    assert parse_money(format_money(units)) == units


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0.00001", "at most 4 decimals"),
        ("-1", "negative"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("abc", "decimal"),
        ("", "decimal string"),
        (0.05, "decimal string"),  # a float is never money
        (5, "decimal string"),
        ("1e20", "at most"),
    ],
)
def test_money_refused(value, why):
    with pytest.raises(MoneyError, match=why):
        parse_money(value)


def test_signed_money_and_formatting():
    assert parse_money("-3.5", signed=True) == -35_000
    assert format_money(-35_000) == "-3.5000"
    assert format_money(1) == "0.0001"
    assert format_money(None) is None


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ({"message": {"text": "hi"}}, "text"),
        ({"message": {"file": {}}}, "file"),
        ({"message": {"location": {}}}, "location"),
        ({"message": {"generalPurposeCard": {}}}, "card"),
        ({"message": {"generalPurposeCardCarousel": {}}}, "carousel"),
        (None, "card"),  # a template reference
        ({"oops": 1}, "card"),
    ],
)
def test_kind_of_content(content, kind):
    assert kind_of(content) == kind


def _row(tenant, channel, carrier, kind, units):
    return SimpleNamespace(tenant_id=tenant, channel=channel, carrier=carrier, kind=kind, price_units=units)


BOOK_ROWS = [
    _row("*", "rcs", "*", "card", 500),  # default: any carrier
    _row("*", "rcs", "ctcc", "card", 600),  # default: telecom dearer
    _row("*", "sms", "*", "part", 400),
    _row("t1", "rcs", "cmcc", "card", 450),  # the tenant's own for mobile
    _row("t1", "rcs", "*", "text", 300),
    _row("t2", "sms", "*", "part", 350),
]


@pytest.mark.parametrize(
    ("tenant", "sms_price", "key", "units", "source"),
    [
        ("t1", None, ("rcs", "cmcc", "card"), 450, "tenant"),  # the tenant's exact entry
        ("t1", None, ("rcs", "cucc", "card"), 500, "default"),  # default, any carrier
        ("t1", None, ("rcs", "ctcc", "card"), 600, "default"),  # default, exact carrier
        ("t1", None, ("rcs", "other", "text"), 300, "tenant"),  # tenant, any carrier
        ("t1", None, ("sms", "cmcc", "part"), 400, "default"),
        ("t2", None, ("sms", "cucc", "part"), 350, "tenant"),
        ("t3", "0.045", ("sms", "cmcc", "part"), 400, "default"),  # the book beats sms_price
        ("t1", None, ("rcs", "cmcc", "file"), 0, "none"),  # nothing priced: free
    ],
)
def test_price_lookup(tenant, sms_price, key, units, source):
    book = build_book(BOOK_ROWS, tenant, sms_price)
    assert book.price(*key) == units
    line = next(p for p in book.view() if (p["channel"], p["carrier"], p["kind"]) == key)
    assert line["source"] == source
    assert line["price"] == format_money(units)


@pytest.mark.parametrize(("sms_price", "units"), [("0.045", 450), ("0.05", 500), ("garbage", 0), (None, 0)])
def test_sms_price_of_the_tenant_serves_when_no_book(sms_price, units):
    book = build_book([], "t9", sms_price)
    assert all(book.price("sms", c, "part") == units for c in ("cmcc", "cucc", "ctcc", "other"))
    assert book.price("rcs", "cmcc", "card") == 0


def test_estimate_is_the_dearer_channel():
    book = build_book(BOOK_ROWS, "t1", None)
    assert book.estimate("card", "cmcc") == 450
    assert book.estimate("text", "cmcc") == 400  # the SMS part costs more than the RCS text
