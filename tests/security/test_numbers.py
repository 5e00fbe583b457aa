"""Phone numbers in their one canonical form: every spelling of a number gives one ASCII E.164
string (what blind indexes and the opt-out list match on), anything else gives None; and a
number's carrier by its prefix."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from security.numbers import (
    E164,
    _carrier_of,
    _cn_valid,
    ascii_digits,
    canonical_number,
    carrier_of,
    normalise_number,
    number_from_uri,
)

NUMBER = "+8613800138010"
# The same number in the spellings a tenant, an operator or an SMSC may send.
SPELLINGS = [
    "+8613800138010",
    "13800138010",
    "8613800138010",
    "008613800138010",
    "+86 138-0013-8010",
    "+86138001380١0",  # an Arabic-Indic ١ among ASCII digits (the opt-out bypass of issue 13)
    "+٨٦١٣٨٠٠١٣٨٠١٠",  # all Arabic-Indic
    "１３８００１３８０１０",  # fullwidth
    "+８６１３８００１３８０１０",
    "+86۱۳۸۰۰۱۳۸۰۱۰",  # Extended Arabic-Indic (Persian)
    "+86१३८००१३८०१०",  # Devanagari
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_number_is_one_ascii_string(spelling):
    assert normalise_number(spelling) == NUMBER
    assert canonical_number(spelling) == NUMBER


@pytest.mark.parametrize(
    "raw",
    ["+86138001380²0", "+86138001380101234567", "abc", "", "   ", None, 13800138010, "+" + "1" * 40],
)
def test_what_is_not_a_number_is_none(raw):
    assert normalise_number(raw) is None
    assert canonical_number(raw) is None


@pytest.mark.parametrize(
    "raw, valid, possible",
    [
        ("+8617928222350", None, "+8617928222350"),  # the operator's example number: not allocated, but real to it
        ("+861095588", "+861095588", "+861095588"),
        ("+86 138 0013 801", None, "+861380013801"),  # one digit short of a mobile: a possible fixed line
        ("+16502530000", "+16502530000", "+16502530000"),
    ],
)
def test_tenant_numbers_must_be_valid_reported_ones_possible(raw, valid, possible):
    assert normalise_number(raw) == valid
    assert canonical_number(raw) == possible


@pytest.mark.parametrize(
    "uri, number",
    [
        ("tel:+8613800138010", NUMBER),
        ("tel:+86-138-0013-8010", NUMBER),
        ("tel:+8613800138010;phone-context=+86", NUMBER),
        ("tel:+86138001380١0", NUMBER),
        ("sip:+8613800138010@ims.mnc000.mcc460.3gppnetwork.org;user=phone", NUMBER),
        ("SIPS:+8613800138010@ims.example", NUMBER),
        ("+8613800138010", NUMBER),
        ("sip:bot@botplatform.example.cn", None),
        ("mailto:+8613800138010", None),
        ("tel:", None),
        ("", None),
        (["tel:+8613800138010"], None),
    ],
)
def test_numbers_in_tel_and_sip_uris(uri, number):
    assert number_from_uri(uri) == number


@pytest.mark.parametrize(
    "text, digits", [("0123", True), ("", False), ("١٢", False), ("１２", False), ("²", False), ("12a", False)]
)
def test_ascii_digits(text, digits):
    assert ascii_digits(text) is digits


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(categories=["Nd", "No", "Pd", "Zs"]) | st.sampled_from("+()."), max_size=20))
def test_whatever_comes_in_only_ascii_e164_comes_out(raw):
    for read in (normalise_number, canonical_number, number_from_uri):
        out = read(raw)
        assert out is None or (E164.fullmatch(out) and out.isascii())


@pytest.mark.parametrize(
    ("number", "carrier"),
    [
        ("+8613800138001", "cmcc"),  # 138: China Mobile
        ("+8615000000000", "cmcc"),
        ("+8618600000000", "cucc"),  # 186: China Unicom
        ("+8613000000000", "cucc"),
        ("+8618900000000", "ctcc"),  # 189: China Telecom
        ("+8613300000000", "ctcc"),
        ("+85291234567", "other"),  # Hong Kong
        ("+14155550100", "other"),
        ("not a number", "other"),
    ],
)
def test_carrier_from_prefix(number, carrier):
    assert carrier_of(number) == carrier


def test_the_prefix_cache_agrees_with_the_full_lookup():
    numbers = [f"+86{p}{s:07d}" for p in range(1300, 2000, 7) for s in (0, 1234567, 9999999)]
    assert all(carrier_of(n) == _carrier_of(n) for n in numbers)
    assert {carrier_of(n) for n in numbers} == {"cmcc", "cucc", "ctcc", "other"}


def test_validity_by_prefix_agrees_with_the_numbering_plan():
    # 7-digit blocks from 100 0000 to 199 9999 (every 97th, and the edges of the narrow blocks),
    # each with random last four digits.
    rng = random.Random(19)
    blocks = [f"1{b:06d}" for b in range(0, 1_000_000, 97)] + ["1740000", "1740599", "1610000", "1611000", "1010000"]
    nationals = [block + f"{rng.randrange(10_000):04d}" for block in blocks for _ in range(3)]
    got = [normalise_number(n) for n in nationals]
    assert got == [("+86" + n) if _cn_valid(n) else None for n in nationals]
    assert got.count(None) and len(set(got)) > 1000  # both answers occur


@pytest.mark.parametrize(
    "national, valid",
    [
        ("17400000000", True),  # 1740[0-5]: a satellite block, valid only up to …5
        ("17405999999", True),
        ("17406000000", False),
        ("16100000000", True),  # 1610: valid, 1611 not
        ("16109999999", True),
        ("16110000000", False),
        ("10101000000", False),  # Beijing's fixed lines are shorter
        ("13800138000", True),
        ("12000000000", False),
    ],
)
def test_blocks_told_apart_deeper_than_the_prefix(national, valid):
    assert (normalise_number(national) is not None) == valid == _cn_valid(national)
