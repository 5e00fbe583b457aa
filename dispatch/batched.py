"""Many small writes of one kind committed as one: the calls made while a commit is in flight
go together into the next one (one statement for all of them, not one per caller)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from dispatch.retry import RetryPolicy
from store import GroupWriter
from store.writer import WriteBatch

log = logging.getLogger("hongyan.dispatch")

T = TypeVar("T")


class Batched(Generic[T]):
    """`await batched(item)` returns once `item` is committed, in one transaction with every item
    that queued up meanwhile; `build(items)` makes that transaction's batch.

    `attempts` > 1 retries a failed commit (backing off by `retry`): for records of what already
    happened outside (an SMSC's answer), which must not be lost to a database restart."""

    def __init__(
        self,
        writer: GroupWriter,
        build: Callable[[list[T]], WriteBatch],
        *,
        max_items: int = 500,
        attempts: int = 1,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.writer, self.build = writer, build
        self.max_items, self.attempts = max_items, attempts
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._pending: list[tuple[T, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def __call__(self, item: T) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            group = self._pending[: self.max_items]
            del self._pending[: self.max_items]
            error = await self._write([item for item, _ in group])
            for _, done in group:
                if done.done():
                    continue  # its caller went away (cancelled): nothing to tell
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    async def _write(self, items: list[T]) -> Exception | None:
        for attempt in range(1, self.attempts + 1):
            try:
                await self.writer.write(self.build(items))
                return None
            except Exception as exc:
                if attempt == self.attempts:
                    return exc
                wait = self.retry.delay(attempt)
                # The error's text may quote the statement's parameters: its type is enough here.
                log.warning(
                    "writing %d dispatch records failed (%s); again in %.1fs", len(items), type(exc).__name__, wait
                )
                await self._sleep(wait)
        return None
