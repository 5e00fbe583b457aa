"""Live updates for the agent inbox: an in-process hub the conversations service publishes to,
and subscribers (one per open `GET /v1/conversations/events` stream) with bounded queues.

A subscriber too slow to keep up loses its oldest events and is told to `resync` (read the list
again) instead of growing without bound. The hub is per process: with several server processes
each sees the events of the conversations it handled (see docs/conversations.md: PostgreSQL
LISTEN/NOTIFY would carry them across)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

QUEUE_SIZE = 256
MAX_SUBSCRIBERS = 1000  # per process; more streams are refused (503)


@dataclass(eq=False)  # compared (and hashed) by identity: one per stream
class Subscription:
    tenant_id: str
    size: int = QUEUE_SIZE
    events: deque = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False

    def put(self, event: str, data: dict) -> None:
        if len(self.events) >= self.size:
            self.events.popleft()
            self.overflowed = True
        self.events.append((event, data))
        self.ready.set()

    async def next(self, timeout: float) -> tuple[str, dict] | None:
        """The next event; `("resync", {})` after events were dropped; None after `timeout` s."""
        if not self.events:
            self.ready.clear()
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except TimeoutError:
                return None
        if self.overflowed:
            self.overflowed = False
            self.events.clear()
            return "resync", {}
        return self.events.popleft()


class Hub:
    """Publishes a tenant's conversation events to that tenant's subscribers."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE, max_subscribers: int = MAX_SUBSCRIBERS):
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self._subscribers: dict[str, set[Subscription]] = {}

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def subscribe(self, tenant_id: str) -> Subscription | None:
        """A new subscription, or None when the process holds too many."""
        if self.subscribers >= self.max_subscribers:
            return None
        sub = Subscription(tenant_id, self.queue_size)
        self._subscribers.setdefault(tenant_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.tenant_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.tenant_id]

    def publish(self, tenant_id: str, event: str, data: dict) -> None:
        for sub in self._subscribers.get(tenant_id, ()):
            sub.put(event, data)
