"""Live updates for the agent inbox: an in-process hub the conversations service publishes to,
and subscribers (one per open `GET /v1/conversations/events` stream) with bounded queues.

A subscriber too slow to keep up loses its oldest events and is told to `resync` (read the list
again) instead of growing without bound. The hub is per process; on PostgreSQL `PgRelay` carries
the events between processes (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text

from store.notify import PgListener

log = logging.getLogger(__name__)

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
        if not self.events and not self.overflowed:
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

    def has(self, tenant_id: str) -> bool:
        """Whether anyone here follows this tenant's conversations."""
        return bool(self._subscribers.get(tenant_id))

    def publish(self, tenant_id: str, event: str, data: dict) -> None:
        for sub in self._subscribers.get(tenant_id, ()):
            sub.put(event, data)

    def resync_all(self) -> None:
        """Every subscriber here missed events: each is told to read the list again."""
        for subs in self._subscribers.values():
            for sub in subs:
                sub.overflowed = True
                sub.ready.set()


CHANNEL = "hongyan_conversations"
RELAY_QUEUE = 1024  # notifications waiting to be read back; beyond it subscribers resync
# Reads one notification's rows back and publishes them to this process's hub.
Reader = Callable[[str, str, str | None], Awaitable[None]]


class PgRelay:
    """Carries inbox events between server processes on PostgreSQL: a change is `NOTIFY`'d as
    ids only (tenant, conversation, thread message — never the sealed text, which must not
    travel through the database's notification queue in the clear), and every other process,
    `LISTEN`ing on its one dedicated connection (`store.notify.PgListener`, shared with the
    wake-ups when given), reads the rows back for its own subscribers.

    Notifications are read back one at a time from a bounded queue, and only for tenants with a
    subscriber here; when the queue overflows or the connection is lost (events missed), every
    subscriber here is told to resync."""

    def __init__(
        self, dsn: str, hub: Hub, reader: Reader, *, origin: str | None = None, listener: PgListener | None = None
    ):
        self.hub, self.reader = hub, reader
        self.origin = origin or secrets.token_hex(8)  # this process: its own notifications are skipped
        self._own_listener = listener is None
        self.listener = listener or PgListener(dsn)
        self._queue: asyncio.Queue[tuple[str, str, str | None]] = asyncio.Queue(RELAY_QUEUE)
        self._tasks: list[asyncio.Task] = []

    @property
    def listening(self) -> asyncio.Event:
        return self.listener.listening

    @property
    def _conn(self) -> asyncpg.Connection | None:
        return self.listener.connection

    async def start(self) -> None:
        await self.listener.listen(CHANNEL, self._heard)
        self.listener.on_reconnect.append(self._resync_all)  # whatever was said meanwhile is lost
        if self._own_listener:
            await self.listener.start()
        self._tasks = [asyncio.create_task(self._read_back())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._resync_all in self.listener.on_reconnect:
            self.listener.on_reconnect.remove(self._resync_all)
        if self._own_listener:
            await self.listener.stop()

    async def announce(self, conn: Any, tenant_id: str, conversation_id: str, message_row_id: str | None) -> None:
        """NOTIFY the other processes (through `conn`, an SQLAlchemy async connection)."""
        payload = orjson.dumps([self.origin, tenant_id, conversation_id, message_row_id]).decode()
        await conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})

    def _heard(self, payload: str) -> None:
        try:
            origin, tenant_id, conversation_id, row_id = orjson.loads(payload)
        except (ValueError, TypeError):
            log.warning("an inbox notification that is not ours was ignored")
            return
        if origin == self.origin or not self.hub.has(tenant_id):
            return
        try:
            self._queue.put_nowait((tenant_id, conversation_id, row_id))
        except asyncio.QueueFull:
            self._resync_all()

    def _resync_all(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self.hub.resync_all()

    async def _read_back(self) -> None:
        while True:
            tenant_id, conversation_id, row_id = await self._queue.get()
            try:
                await self.reader(tenant_id, conversation_id, row_id)
            except Exception:
                log.exception("reading back an inbox notification failed")
