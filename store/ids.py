"""Time-ordered opaque ids (UUIDv7 layout) so index inserts stay cheap as tables grow."""

from __future__ import annotations

import os
import re
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_BITS = 12
# Random bits are drawn from the OS a page at a time: one getrandom() per id was a visible
# share of the dispatcher's CPU. A forked child starts a fresh pool, so it never repeats them.
_POOL_BYTES = 4096
_pool = b""
_pool_at = 0


def _reset_pool() -> None:
    global _pool, _pool_at
    _pool, _pool_at = b"", 0


os.register_at_fork(after_in_child=_reset_pool)


def new_id(now_ms: int | None = None) -> str:
    """A 32-hex-digit UUIDv7 (RFC 9562), monotonic within this process.

    Within one millisecond the 12-bit rand_a field is a counter (RFC 9562 §6.2 method 1),
    so ids made in order sort in order, e.g. the events of one message.
    """
    global _last_ms, _counter, _pool, _pool_at
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        if _pool_at + 8 > len(_pool):
            _pool, _pool_at = os.urandom(_POOL_BYTES), 0
        rand = _pool[_pool_at : _pool_at + 8]
        _pool_at += 8
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter >= 1 << _COUNTER_BITS:
                ms += 1
                _counter = 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
    rand_b = int.from_bytes(rand, "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"


_ID_FORM = re.compile(r"[0-9a-f]{32}")


def is_id(value: object) -> bool:
    """Whether `value` has the form of an id `new_id` makes: a lookup by anything else finds
    nothing (and a NUL in it is a query error on PostgreSQL), so callers answer 404 at once."""
    return isinstance(value, str) and _ID_FORM.fullmatch(value) is not None
