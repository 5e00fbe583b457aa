"""SMS segmentation.

Two counting modes:

* ``gsm`` — the wire format of 3GPP TS 23.038 / 23.040: GSM-7 when every character is in the
  default alphabet or its extension table (an extension character costs 2 septets: ESC + code),
  else UCS-2 counted in UTF-16 code units. One part holds 160 septets / 70 units; a concatenated
  part 153 / 67 (the 6-octet UDH with an 8-bit reference takes the rest).
* ``cn`` — China domestic billing (Aliyun / Huawei Cloud / Tencent Cloud): the brand signature is
  prepended and every character counts 1; 70 for one part, 67 per part beyond, 500 at most.

Parts never split an escape pair or a surrogate pair, and keep extended grapheme clusters
(emoji ZWJ sequences, skin tones, combining marks, CR LF) whole whenever the cluster fits in a part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
import regex

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# 3GPP TS 23.040 §9.2.3.24: a 160-septet / 140-octet user data field; the concatenation UDH
# (IEI 0x00, 8-bit reference) takes 6 octets, leaving 153 septets or 67 UTF-16 units.
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
# China carrier billing rules (Aliyun / Huawei Cloud / Tencent Cloud SMS docs).
CN_SINGLE, CN_PART, CN_MAX_CHARACTERS = 70, 67, 500
# The 8-bit concatenation reference numbers parts in one octet.
MAX_PARTS = 255

Mode = Literal["gsm", "cn"]
_GRAPHEME = regex.compile(r"\X")
_FOUR_PLACES = Decimal("0.0001")


class SegmentationError(ValueError):
    """The text cannot be sent as one SMS message (too long for the mode)."""


@dataclass(frozen=True)
class Part:
    """One SMS part: its text and what it counts (septets, UTF-16 units or characters)."""

    text: str
    units: int

    def as_dict(self) -> dict:
        return {"text": self.text, "units": self.units}


@dataclass(frozen=True)
class Segmentation:
    """How a text is split into SMS parts; `as_dict()` is the HTTP contract."""

    encoding: str
    segments: int
    parts: tuple[Part, ...]
    characters: int
    cost: str | None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts)

    def as_dict(self) -> dict:
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "parts": [p.as_dict() for p in self.parts],
            "characters": self.characters,
            "cost": self.cost,
        }


def gsm7_septets(ch: str) -> int | None:
    """Septets one character costs in GSM-7 (1, or 2 for the extension table); None if absent."""
    cost = _SEPTETS.get(ch, -1)
    if cost == -1:
        cost = _septets_uncached(ch)
        _SEPTETS[ch] = cost
    return cost


def _septets_uncached(ch: str) -> int | None:
    # ESC is the escape to the extension table, not a character a sender can type.
    if ch == "\x1b":
        return None
    try:
        return len(ch.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


_SEPTETS: dict[str, int | None] = {}


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 default alphabet or its extension table."""
    return all(gsm7_septets(ch) is not None for ch in text)


def utf16_units(ch: str) -> int:
    """UTF-16 code units of one code point (2 for a surrogate pair)."""
    return 2 if ord(ch) > 0xFFFF else 1


def segment_sms(
    text: str,
    mode: Mode = "gsm",
    signature: str | None = None,
    *,
    price: str | Decimal | None = None,
    ucs2: bool = False,
) -> Segmentation:
    """Split `text` into SMS parts exactly as it will be sent and billed.

    In ``gsm`` mode the text is counted as given (no signature, nothing substituted). In ``cn``
    mode `signature` is prepended, so the parts' texts joined give back ``signature + text``.
    `price` is the price per segment; `cost` is segments × price as a 2–4 decimal string, or None.
    `ucs2` (``gsm`` mode) splits for UCS-2 even when the text would fit GSM-7 (a peer that
    takes no GSM-7, like the Chinese gateways for text beyond ASCII).
    Raises `SegmentationError` when the text is longer than the mode allows.
    """
    if mode == "cn":
        full = (signature or "") + text
        if len(full) > CN_MAX_CHARACTERS:
            raise SegmentationError(f"{len(full)} characters including the signature; at most {CN_MAX_CHARACTERS}")
        encoding = GSM7 if is_gsm7(full) else UCS2
        parts = _split(full, lambda ch: 1, CN_SINGLE, CN_PART)
    elif mode == "gsm":
        full = text
        if is_gsm7(full) and not ucs2:
            encoding = GSM7
            parts = _split(full, gsm7_septets, GSM7_SINGLE, GSM7_PART)
        else:
            encoding = UCS2
            parts = _split(full, utf16_units, UCS2_SINGLE, UCS2_PART)
    else:
        raise ValueError(f"unknown mode {mode!r}; expected 'gsm' or 'cn'")
    if len(parts) > MAX_PARTS:
        raise SegmentationError(f"{len(parts)} parts; a concatenated SMS has at most {MAX_PARTS}")
    return Segmentation(
        encoding=encoding,
        segments=len(parts),
        parts=tuple(parts),
        characters=len(full),
        cost=format_cost(len(parts), price),
    )


def _split(text: str, units_of: Callable[[str], int], single: int, per_part: int) -> list[Part]:
    total = sum(units_of(ch) for ch in text)
    if total <= single:
        return [Part(text, total)]
    parts: list[Part] = []
    buf: list[str] = []
    used = 0

    def flush() -> None:
        nonlocal buf, used
        parts.append(Part("".join(buf), used))
        buf, used = [], 0

    for cluster in _GRAPHEME.findall(text):
        size = sum(units_of(ch) for ch in cluster)
        if used + size <= per_part:
            buf.append(cluster)
            used += size
            continue
        if size <= per_part:
            # The whole cluster fits in a fresh part: break before it rather than inside it.
            flush()
            buf.append(cluster)
            used = size
            continue
        # A cluster longer than a part (e.g. a base with dozens of combining marks) has to be
        # cut; cut between code points so escape and surrogate pairs still stay whole.
        for ch in cluster:
            n = units_of(ch)
            if used + n > per_part:
                flush()
            buf.append(ch)
            used += n
    if buf:
        flush()
    return parts


def format_cost(segments: int, price: str | Decimal | None) -> str | None:
    """segments × price as a string with 2 to 4 decimals (half-up beyond 4), or None."""
    if price is None:
        return None
    try:
        unit = Decimal(price)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"price {price!r} is not a decimal number") from None
    if not unit.is_finite() or unit < 0:
        raise ValueError(f"price {price!r} must be a finite, non-negative number")
    total = (unit * segments).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)
    digits = f"{total:f}"
    whole, _, frac = digits.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"
