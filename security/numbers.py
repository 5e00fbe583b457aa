"""Phone numbers in their one canonical form: E.164 in ASCII digits.

Every number that enters — the API, operator callbacks (`tel:` / `sip:` URIs), SMS replies —
passes through here before it is blind-indexed or compared, because the opt-out list and the
conversation look-ups match on that form only: two spellings of one number must give one
string. Digits of other scripts (fullwidth ０–９, Arabic-Indic ٠–٩, …) are read as the digits
they are, deliberately and in one place (phonenumbers' parser does that), so
`+86138001380١0` is `+8613800138010` — the same number, which an opt-out covers — and never a
different string that slips past it. Nothing outside ASCII ever leaves this module.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import carrier as phone_carrier

DEFAULT_REGION = "CN"
MAX_INPUT = 32  # characters of a number as given (separators included)
# What leaves this module: '+', a non-zero country code digit, at most 15 digits, ASCII only.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# The common case, a plain mainland mobile number in ASCII digits: skip phonenumbers' general
# parser (≈20 µs a number) and ask only its validity metadata.
_CN_MOBILE = re.compile(r"(?:\+86|0086)?(1[0-9]{10})")


def ascii_digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits only (`str.isdigit` also takes ٣, ３ and ²,
    and `int()` then reads the first two and fails on the last)."""
    return text.isascii() and text.isdigit()


def normalise_number(raw, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a valid phone number given by a tenant, or None when it is not one."""
    mobile = _cn_mobile(raw, region)
    if mobile is not None:
        valid = _cn_prefix_valid(mobile[:7])
        if valid is None:
            valid = _cn_valid(mobile)
        return "+86" + mobile if valid else None
    parsed = _parse(raw, region)
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        return None
    return _e164(parsed)


def canonical_number(raw, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a number an operator or an SMSC reports (possible rather than valid: their
    numbers are real even where our copy of the numbering plan is behind), or None."""
    if isinstance(raw, str) and E164.fullmatch(raw) and raw.startswith("+861") and len(raw) == 14:
        return raw  # the usual case, already canonical
    parsed = _parse(raw, region)
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        return None
    return _e164(parsed)


def number_from_uri(address, region: str = DEFAULT_REGION) -> str | None:
    """The canonical number in a `tel:` or `sip:`/`sips:` URI (`tel:+86-138-0013-8010`,
    `sip:+8613800138010@ims.example;user=phone`), or in a bare number; None otherwise."""
    if not isinstance(address, str):
        return None
    scheme, colon, rest = address.partition(":")
    if colon and scheme.lower() in ("sip", "sips"):
        rest = rest.partition("@")[0]
    elif colon and scheme.lower() == "tel":
        pass
    elif colon:
        return None
    else:
        rest = address
    # URI parameters (`;phone-context=…`, `;user=phone`) are not part of the number.
    return canonical_number(rest.partition(";")[0], region)


def _cn_mobile(raw, region: str) -> str | None:
    """The 11 national digits of a plainly written mainland mobile number, else None."""
    m = _CN_MOBILE.fullmatch(raw) if isinstance(raw, str) else None
    if m and (region == "CN" or raw[0] == "+" or raw.startswith("0086")):
        return m.group(1)
    return None


def _cn_valid(national: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=86, national_number=int(national)))


@functools.lru_cache(maxsize=1 << 17)
def _cn_prefix_valid(prefix: str) -> bool | None:
    """Whether every 11-digit mainland number starting with these 7 digits is valid (True) or
    none is (False); None when the numbering plan tells numbers of this prefix apart. The plan's
    patterns for 11-digit numbers starting with 1 look at the first five or six digits (mobile
    blocks such as 1740[0-5], Beijing's 10…), so a prefix is judged by its first and last
    numbers, which differ wherever a pattern reaches past the seventh digit; a prefix where they
    differ is checked number by number. Validation is ≈10 µs a number; this is a dict look-up."""
    first, last = _cn_valid(prefix + "0000"), _cn_valid(prefix + "9999")
    return first if first == last else None


def _parse(raw, region: str) -> phonenumbers.PhoneNumber | None:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_INPUT:
        return None
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None


def _e164(parsed: phonenumbers.PhoneNumber) -> str | None:
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    # phonenumbers already writes ASCII digits; checked here because everything downstream
    # (blind indexes, the opt-out list) relies on it.
    return e164 if E164.fullmatch(e164) else None


_CARRIER_NAMES = {"china mobile": "cmcc", "china unicom": "cucc", "china telecom": "ctcc"}


def carrier_of(e164: str) -> str:
    """cmcc | cucc | ctcc | other, from the number's prefix. Chinese numbers are looked up by
    their first four national digits (the depth of the carrier data for +86) and remembered:
    a 10,000-recipient estimate costs microseconds, not a third of a second. Only +86 numbers can
    be Chinese: any other is `other` without parsing it (this runs for every recipient at accept)."""
    if not e164.startswith("+86"):
        return "other"
    if len(e164) == 14 and e164[1:].isdigit():
        return _cn_carrier(e164[:7])
    return _carrier_of(e164)


@functools.lru_cache(maxsize=4096)
def _cn_carrier(prefix: str) -> str:
    return _carrier_of(prefix + "0000000")


def _carrier_of(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "other"
    if phonenumbers.region_code_for_number(number) != "CN":
        return "other"
    return _CARRIER_NAMES.get(phone_carrier.name_for_number(number, "en").strip().lower(), "other")
