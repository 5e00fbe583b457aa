"""Delivery receipts rolled up per message, for every SMS route kind.

A message goes out in parts; the peer names each part (its message id) and later sends one
receipt per part. `ReceiptBook` keeps which part id belongs to which message, holds receipts
that beat their submit's answer (or follow a restart) for a while, and reports each message
once: every part delivered → delivered; any part failed → failed, at its first failure.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fallback.route import MessageOutcome, OutcomeStatus, PartState

DELIVERED = "DELIVRD"
# Final receipt states other than DELIVRD: the part will never arrive.
FAILED_STATES = frozenset({"UNDELIV", "REJECTD", "EXPIRED", "DELETED", "UNKNOWN"})


class PartReceipt(Protocol):
    """One part's receipt as a route kind parsed it."""

    @property
    def message_id(self) -> str: ...

    @property
    def stat(self) -> str: ...

    @property
    def err(self) -> str | None: ...


def is_final(stat: str | None) -> bool:
    return stat == DELIVERED or stat in FAILED_STATES


@dataclass
class Tracked:
    reference: str
    ids: list[str | None]
    stats: list[PartReceipt | None]
    created: float
    done: bool = False


class ReceiptBook:
    """The messages of one route whose receipts are awaited. `finished(outcome)` hears each
    message's rolled-up outcome once; `spellings(id)` lists the forms a peer may quote a part id
    in (SMPP peers switch between hex and decimal)."""

    def __init__(
        self,
        finished: Callable[[MessageOutcome], None],
        clock: Callable[[], float],
        *,
        receipt_ttl: float = 72 * 3600.0,
        spellings: Callable[[str], list[str]] = lambda message_id: [message_id],
    ):
        self._finished, self._clock, self.receipt_ttl, self._spellings = finished, clock, receipt_ttl, spellings
        self._messages: dict[str, Tracked] = {}
        self._parts: dict[str, tuple[str, int]] = {}
        # Receipts that beat their submit's answer (or follow a restart), kept for a while.
        self._orphans: OrderedDict[str, tuple[float, PartReceipt]] = OrderedDict()

    def open(self, reference: str, parts: int) -> Tracked:
        """A message about to be submitted in `parts` parts."""
        tracked = Tracked(reference, [None] * parts, [None] * parts, self._clock())
        self._messages[reference] = tracked
        self._sweep()
        return tracked

    def track(self, reference: str, part_ids: list[str] | tuple[str, ...]) -> None:
        """Roll up receipts for a message submitted earlier (e.g. before a restart)."""
        tracked = Tracked(reference, [None] * len(part_ids), [None] * len(part_ids), self._clock())
        self._messages[reference] = tracked
        for index, message_id in enumerate(part_ids):
            self.register(tracked, index, message_id)

    def register(self, tracked: Tracked, index: int, message_id: str) -> None:
        """The peer accepted part `index` under `message_id`."""
        tracked.ids[index] = message_id
        if tracked.done:
            return
        self._parts[message_id] = (tracked.reference, index)
        orphan = self._orphans.pop(message_id, None)
        if orphan is not None:
            self._apply(tracked, index, orphan[1])

    def forget(self, tracked: Tracked) -> None:
        self._messages.pop(tracked.reference, None)
        for message_id in tracked.ids:
            if message_id:
                self._parts.pop(message_id, None)

    def receipt(self, receipt: PartReceipt) -> None:
        """A part's receipt arrived."""
        located = self._locate(receipt.message_id)
        if located is None:
            self._orphans[receipt.message_id] = (self._clock(), receipt)
            return
        tracked, index = located
        self._apply(tracked, index, receipt)

    def _sweep(self) -> None:
        now = self._clock()
        while self._orphans:
            first = next(iter(self._orphans.values()))
            if now - first[0] < 60.0 and len(self._orphans) < 10_000:
                break
            self._orphans.popitem(last=False)
        # Messages whose receipts never came are dropped after receipt_ttl; dicts keep
        # insertion order, so the oldest come first.
        for reference in list(self._messages)[:100]:
            tracked = self._messages[reference]
            if now - tracked.created < self.receipt_ttl:
                break
            self.forget(tracked)

    def _locate(self, message_id: str) -> tuple[Tracked, int] | None:
        for candidate in self._spellings(message_id):
            hit = self._parts.get(candidate)
            if hit is not None:
                tracked = self._messages.get(hit[0])
                if tracked is not None:
                    return tracked, hit[1]
        return None

    def _apply(self, tracked: Tracked, index: int, receipt: PartReceipt) -> None:
        if tracked.done or not is_final(receipt.stat):
            return
        tracked.stats[index] = receipt
        failed = next((r for r in tracked.stats if r is not None and r.stat != DELIVERED), None)
        if failed is not None:
            reason = f"{failed.stat} err:{failed.err}" if failed.err else failed.stat
            self._finish(tracked, "failed", reason)
        elif all(r is not None for r in tracked.stats) and all(tracked.ids):
            self._finish(tracked, "delivered", None)

    def _finish(self, tracked: Tracked, status: OutcomeStatus, reason: str | None) -> None:
        tracked.done = True
        parts = tuple(
            PartState(mid or "", r.stat if r else None, r.err if r else None)
            for mid, r in zip(tracked.ids, tracked.stats)
        )
        self.forget(tracked)
        self._finished(MessageOutcome(tracked.reference, status, reason, parts))
