"""In-memory capability cache in front of a capability check.

The hot path is one dict lookup and one expiry comparison. Entries are keyed by `key(number)`
when a key function is given (e.g. a keyed hash, so the table holds no number in clear);
`fetch_many` always receives the numbers themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence

from rcs.results import CAPABILITY_FAILURE_CODES, Capability

log = logging.getLogger(__name__)

FetchMany = Callable[[Sequence[str]], Awaitable[dict[str, Capability]]]


class CapabilityCache:
    """Cached capability answers: `supported`/`invalid` for `ttl`, `not_supported` for the
    shorter `negative_ttl` (users turn RCS on), `unknown` never cached."""

    def __init__(
        self,
        ttl: float = 86_400.0,
        negative_ttl: float = 3_600.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1_000_000,
        key: Callable[[str], Hashable] | None = None,
    ):
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        self.max_entries = max_entries
        self._key = key
        self._entries: dict[Hashable, tuple[float, Capability]] = {}
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

    def _store(self, k: str, capability: Capability) -> None:
        if capability is Capability.UNKNOWN:
            self._entries.pop(k, None)
            return
        ttl = self.negative_ttl if capability is Capability.NOT_SUPPORTED else self.ttl
        entries = self._entries
        if len(entries) >= self.max_entries and k not in entries:
            self._evict()
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

    def _evict(self) -> None:
        now = self.clock()
        entries = self._entries
        for key in [k for k, (exp, _) in entries.items() if exp <= now]:
            del entries[key]
        # Still full: drop the oldest tenth (dicts keep insertion order).
        if len(entries) >= self.max_entries:
            for key in list(entries)[: max(1, self.max_entries // 10)]:
                del entries[key]

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
