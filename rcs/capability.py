"""In-memory capability cache in front of a capability check.

The hot path is one dict lookup and one expiry comparison. Entries are keyed by `key(number)`
when a key function is given (e.g. a keyed hash, so the table holds no number in clear);
`fetch_many` always receives the numbers themselves.

The cache holds at most `max_entries` answers: beyond that the one written longest ago goes, one
entry per new one (an OrderedDict: O(1), where popping the first key of a plain dict rescans the
slots its earlier deletions left, and a sweep of the whole table stalls the event loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence

from rcs.results import CAPABILITY_FAILURE_CODES, Capability

log = logging.getLogger(__name__)

# Answers kept at most by default: ~250 B each (a 32-byte key, its expiry and the OrderedDict's
# links; measured), so ~25 MB when full. A number pushed out is as one never seen: the capability
# check is asked again (for the CSP interfaces, locally: its next message tries RCS first).
DEFAULT_MAX_ENTRIES = 100_000

FetchMany = Callable[[Sequence[str]], Awaitable[dict[str, Capability]]]


class CapabilityCache:
    """Cached capability answers: `supported`/`invalid` for `ttl`, `not_supported` for the
    shorter `negative_ttl` (users turn RCS on), `unknown` never cached."""

    def __init__(
        self,
        ttl: float = 86_400.0,
        negative_ttl: float = 3_600.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        key: Callable[[str], Hashable] | None = None,
    ):
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        self.max_entries = max_entries
        self._key = key
        # In the order written (a rewrite moves an entry to the end): the first is evicted first.
        self._entries: OrderedDict[Hashable, tuple[float, Capability]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future] = {}
        self.hits = 0
        self.misses = 0

    def get(self, number: str) -> Capability | None:
        """The cached answer, or None when absent or expired."""
        entry = self._entries.get(self._key(number) if self._key else number)
        if entry is not None and entry[0] > self.clock():
            return entry[1]
        return None

    def put(self, number: str, capability: Capability) -> None:
        """Remember an answer with the TTL its kind gets."""
        if self._key:
            number = self._key(number)
        self._store(number, capability)

    def _store(self, k: Hashable, capability: Capability) -> None:
        entries = self._entries
        if capability is Capability.UNKNOWN:
            entries.pop(k, None)
            return
        ttl = self.negative_ttl if capability is Capability.NOT_SUPPORTED else self.ttl
        if k in entries:
            entries.move_to_end(k)
        else:
            if self.max_entries <= 0:
                return
            while len(entries) >= self.max_entries:
                entries.popitem(last=False)  # the one written longest ago
        entries[k] = (self.clock() + ttl, capability)

    def invalidate(self, number: str) -> None:
        """Forget a number (e.g. a send failed for capability reasons)."""
        self._entries.pop(self._key(number) if self._key else number, None)

    def note_failed(self, number: str, error_code: int | None) -> None:
        """A `failed` status arrived: codes 1/2 mean the number cannot take RCS now."""
        if error_code in CAPABILITY_FAILURE_CODES:
            self.put(number, Capability.NOT_SUPPORTED)
        else:
            self.invalidate(number)

    def __len__(self) -> int:
        return len(self._entries)

    async def resolve(self, number: str, fetch_many: FetchMany) -> Capability:
        """One number's capability, from the cache or fetched."""
        return (await self.resolve_many((number,), fetch_many))[number]

    async def resolve_many(self, numbers: Iterable[str], fetch_many: FetchMany) -> dict[str, Capability]:
        """Answers for all `numbers`: cached ones directly, the rest in one `fetch_many` call.

        A number already being fetched by another caller is awaited, not fetched again. A
        failed fetch answers `unknown` (not cached) so the caller decides, rather than raising
        into every coalesced waiter.
        """
        out: dict[str, Capability] = {}
        waiting: dict[str, asyncio.Future] = {}
        missing: list[str] = []
        now = self.clock()
        entries, inflight, key = self._entries, self._inflight, self._key
        keys: dict[str, str] = {}
        for n in numbers:
            k = keys[n] = key(n) if key else n
            entry = entries.get(k)
            if entry is not None and entry[0] > now:
                out[n] = entry[1]
            elif k in inflight:
                waiting[n] = inflight[k]
            elif n not in out and n not in waiting:
                out[n] = Capability.UNKNOWN  # placeholder keeps the caller's order
                missing.append(n)
        self.hits += len(out) - len(missing)
        self.misses += len(missing)
        if missing:
            loop = asyncio.get_running_loop()
            mine = {keys[n]: loop.create_future() for n in missing}
            inflight.update(mine)
            try:
                try:
                    answers = await fetch_many(missing)
                except Exception:  # noqa: BLE001 - any fetch failure means "unknown"
                    log.warning("capability fetch failed for %d numbers", len(missing), exc_info=True)
                    answers = {}
                for n in missing:
                    cap = answers.get(n, Capability.UNKNOWN)
                    self._store(keys[n], cap)
                    out[n] = cap
                    mine[keys[n]].set_result(cap)
            finally:
                for k, fut in mine.items():
                    if not fut.done():  # cancelled while fetching
                        fut.set_result(Capability.UNKNOWN)
                    if inflight.get(k) is fut:
                        del inflight[k]
        for n, fut in waiting.items():
            out[n] = await asyncio.shield(fut)
        return out
