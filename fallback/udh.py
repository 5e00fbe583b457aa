"""The user data header of a long SMS (3GPP TS 23.040 §9.2.3.24): every protocol's parts carry
the same concatenation element, and every protocol's long replies are joined the same way."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


def concat_udh(reference: int, total: int, sequence: int) -> bytes:
    """A UDH with one concatenation element, 8-bit reference (IEI 0x00)."""
    return bytes((0x05, 0x00, 0x03, reference & 0xFF, total, sequence))


def split_udh(payload: bytes, udhi: bool) -> tuple[bytes, bytes]:
    """(udh, body) of a part's payload; the UDH is empty when the UDHI flag is not set."""
    if not udhi or not payload:
        return b"", payload
    end = 1 + payload[0]
    return payload[:end], payload[end:]


def concat_info(udh: bytes) -> tuple[int, int, int] | None:
    """(reference, total, sequence) from a concatenation IE (8- or 16-bit reference)."""
    i = 1
    while i + 1 < len(udh):
        iei, length = udh[i], udh[i + 1]
        value = udh[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4:
            return int.from_bytes(value[:2], "big"), value[2], value[3]
        i += 2 + length
    return None


@dataclass
class _Pending:
    parts: dict[int, str] = field(default_factory=dict)
    first_seen: float = 0.0


class LongReplies:
    """Joins the parts of long mobile-originated messages: `add` returns the whole text once
    its last part came (parts in any order, duplicates ignored). Incomplete messages are kept
    at most `ttl` seconds and `limit` at a time, then dropped (their parts never all came)."""

    def __init__(self, clock: Callable[[], float], *, ttl: float = 600.0, limit: int = 10_000):
        self._clock, self.ttl, self.limit = clock, ttl, limit
        self._pending: OrderedDict[tuple, _Pending] = OrderedDict()

    def add(self, source: str, destination: str, info: tuple[int, int, int] | None, text: str) -> str | None:
        """The whole text when this part completes its message (at once for a single part)."""
        if info is None or info[1] <= 1:
            return text
        reference, total, sequence = info
        if not 1 <= sequence <= total:
            return None
        now = self._clock()
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if now - oldest.first_seen < self.ttl and len(self._pending) < self.limit:
                break
            self._pending.popitem(last=False)
        key = (source, destination, reference, total)
        pending = self._pending.setdefault(key, _Pending(first_seen=now))
        pending.parts[sequence] = text
        if len(pending.parts) < total:
            return None
        del self._pending[key]
        return "".join(pending.parts[i] for i in range(1, total + 1))
