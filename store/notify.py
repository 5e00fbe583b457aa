"""Wake-ups: named signals that end a background job's wait (`Wakeups`), within this process and,
on PostgreSQL, in every process sharing the database (LISTEN/NOTIFY through `PgListener`).

An accept in an API process wakes the dispatchers of every process; deliveries queued in one
wake every webhook sender. A signal is one NOTIFY at most per round trip and `gap_s` (signals
meanwhile are coalesced into the next), so a burst of accepts is a few notifications, and the
dispatcher it wakes claims whatever has gathered in one large batch. Notifications carry no
data (a name and the sending process), so nothing sealed travels through the database's queue;
a woken job reads the database as on any other pass. A lost connection is re-made, and every
signal is then raised here (whatever was said meanwhile is lost: each job looks once)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

CHANNEL = "hongyan_wake"
RECONNECT_S = (0.5, 1, 2, 5, 10)
CLOSE_TIMEOUT_S = 5.0
GAP_S = 0.01  # at most one NOTIFY per signal name this often (100/s) from a process
# The signals the app raises (server.py wires them).
DISPATCH = "dispatch"  # messages became due: accepted, released from review
WEBHOOKS_DUE = "webhooks"  # webhook deliveries were queued

Heard = Callable[[str], None]  # a notification's payload


class PgListener:
    """One dedicated asyncpg connection LISTENing on channels, re-made when lost (with a growing
    pause); `on_reconnect` callbacks run after it is back (notifications were missed)."""

    def __init__(self, dsn: str):
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.listening = asyncio.Event()
        self.on_reconnect: list[Callable[[], None]] = []
        self._channels: dict[str, list[Heard]] = {}
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def connection(self) -> asyncpg.Connection | None:
        return self._conn

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._keep_connected(), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._conn is not None and not self._conn.is_closed():
            try:
                await self._conn.close(timeout=CLOSE_TIMEOUT_S)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._conn.terminate()  # a server that does not answer must not hold the shutdown
        self.listening.clear()

    async def listen(self, channel: str, heard: Heard) -> None:
        """Call `heard(payload)` for every notification on `channel` (from now on, and again
        after a reconnect)."""
        first = channel not in self._channels
        self._channels.setdefault(channel, []).append(heard)
        if first and self._conn is not None and not self._conn.is_closed():
            await self._conn.add_listener(channel, self._dispatch)

    async def notify(self, channel: str, payload: str) -> None:
        """NOTIFY on the listening connection (raises when it is down)."""
        if self._conn is None or self._conn.is_closed():
            raise ConnectionError("the LISTEN connection is down")
        await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    def _dispatch(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for heard in self._channels.get(channel, ()):
            try:
                heard(payload)
            except Exception:
                log.exception("handling a notification on %s failed", channel)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        for channel in self._channels:
            await conn.add_listener(channel, self._dispatch)
        self._conn = conn
        self._lost.clear()
        self.listening.set()

    async def _keep_connected(self) -> None:
        while True:
            await self._lost.wait()
            self.listening.clear()
            log.warning("the LISTEN connection to PostgreSQL was lost; reconnecting")
            for pause in itertools.chain(RECONNECT_S, itertools.repeat(RECONNECT_S[-1])):
                try:
                    await self._connect()
                    break
                except (OSError, asyncpg.PostgresError):
                    await asyncio.sleep(pause)
            for callback in self.on_reconnect:
                try:
                    callback()
                except Exception:
                    log.exception("a reconnect callback failed")


class Wakeups:
    """Named wake-ups. `on(name, callback)` subscribes; `signal(name)` calls this process's
    callbacks at once and, with a listener (PostgreSQL), tells the other processes, whose
    callbacks run when the NOTIFY arrives. Callbacks are cheap and non-blocking (set an event)."""

    def __init__(self, listener: PgListener | None = None, *, origin: str | None = None, gap_s: float = GAP_S):
        self.listener = listener
        self.origin = origin or secrets.token_hex(8)  # this process: its own notifications are skipped
        self.gap_s = gap_s
        self.heard = 0  # notifications from other processes acted on (observable for ops and tests)
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._pending: set[str] = set()
        self._sender: asyncio.Task | None = None

    async def start(self) -> None:
        if self.listener is not None:
            await self.listener.listen(CHANNEL, self._heard)
            self.listener.on_reconnect.append(self.raise_all)
            if not self.listener.listening.is_set():
                await self.listener.start()

    async def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
            self._sender = None
        if self.listener is not None:
            await self.listener.stop()

    def on(self, name: str, callback: Callable[[], None]) -> None:
        self._callbacks.setdefault(name, []).append(callback)

    def off(self, name: str, callback: Callable[[], None]) -> None:
        if callback in self._callbacks.get(name, ()):
            self._callbacks[name].remove(callback)

    def signal(self, name: str) -> None:
        """Wake `name`'s callbacks here now, and (coalesced) in every other process."""
        self._local(name)
        if self.listener is not None:
            self._pending.add(name)
            if self._sender is None or self._sender.done():
                self._sender = asyncio.get_running_loop().create_task(self._send(), name="wakeups-notify")

    def raise_all(self) -> None:
        """Every callback here, once (after notifications may have been missed)."""
        for name in list(self._callbacks):
            self._local(name)

    def _local(self, name: str) -> None:
        for callback in self._callbacks.get(name, ()):
            try:
                callback()
            except Exception:
                log.exception("a wake-up callback of %s failed", name)

    def _heard(self, payload: str) -> None:
        name, _, origin = payload.partition(" ")
        if origin != self.origin:
            self.heard += 1
            self._local(name)

    async def _send(self) -> None:
        assert self.listener is not None
        while self._pending:
            names, self._pending = sorted(self._pending), set()
            for name in names:
                try:
                    await self.listener.notify(CHANNEL, f"{name} {self.origin}")
                except (OSError, ConnectionError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # Others miss this one; their own idle looks (and our reconnect) cover it.
                    log.warning("a wake-up could not be sent: %s", exc)
            # Signals of the next `gap_s` go as one notification each.
            await asyncio.sleep(self.gap_s)
