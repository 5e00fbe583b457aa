"""Time-ordered opaque ids (UUIDv7 layout) so index inserts stay cheap as tables grow."""
from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_BITS = 12


def new_id(now_ms: int | None = None) -> str:
    """A 32-hex-digit UUIDv7 (RFC 9562), monotonic within this process.

    Within one millisecond the 12-bit rand_a field is a counter (RFC 9562 §6.2 method 1),
    so ids made in order sort in order, e.g. the events of one message.
    """
    global _last_ms, _counter
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
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
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"
