"""Background jobs of the app: when a job's next pass runs (`Pacer`), and `Periodic`, one task
running a pass at that pace (at once when woken), started and stopped with the app. A pass that
raises is logged and the next one runs as planned; stopping cancels the pass in flight (passes
must be safe to cut anywhere).

An idle server must cost next to nothing (DESIGN.md §14: < 0.5% of a core), so a job that finds
no work looks again ever later — the wait doubles up to the job's idle cap — and whatever makes
work for it wakes it at once (an accept, a launch, a commit that wrote events)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

# Waits up to `seconds` for the event; whether it was set (the real one: `wait_event`).
Timer = Callable[[asyncio.Event, float], Awaitable[bool]]


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `event`; whether it was set."""
    if event.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
        return True
    return False


class Pacer:
    """When a background job's next pass runs: `busy_s` after a pass that found work; after each
    pass that found none, the wait doubles (from `busy_s`) up to `idle_s`. A wake-up ends an idle
    wait at once and starts the doubling over; a busy wait it ends too unless `wake_cuts_busy` is
    off (a job woken by every commit would otherwise run a pass per commit under load, each
    smaller: there it keeps its busy pace and the wake-up only matters once it idles)."""

    def __init__(
        self, busy_s: float, idle_s: float | None = None, *, wake_cuts_busy: bool = True, timer: Timer = wait_event
    ):
        self.busy_s = busy_s
        self.idle_s = max(busy_s, idle_s if idle_s is not None else busy_s)
        self.wake_cuts_busy = wake_cuts_busy
        self.timer = timer
        self.wake_event = asyncio.Event()
        self._idle_wait = busy_s

    def next_wait(self, found: bool) -> float:
        """The wait after a pass that found work (`found`) or none."""
        if found:
            self._idle_wait = self.busy_s
            return self.busy_s
        wait, self._idle_wait = self._idle_wait, min(self._idle_wait * 2, self.idle_s)
        return wait

    def wake(self) -> None:
        """End the current wait (see the class) and start the doubling over."""
        self.wake_event.set()

    async def wait(self, found: bool, *, at_most: float | None = None) -> bool:
        """Wait before the next pass (never longer than `at_most`: e.g. until work falls due);
        whether a wake-up ended it."""
        seconds = self.next_wait(found)
        if at_most is not None:
            seconds = max(0.0, min(seconds, at_most))
        if found and not self.wake_cuts_busy:
            await self.timer(asyncio.Event(), seconds)  # nothing sets it: the full busy wait
            woken = False
        else:
            woken = await self.timer(self.wake_event, seconds)
        if woken or self.wake_event.is_set():
            self.wake_event.clear()
            self._idle_wait = self.busy_s
            return True
        return False


class Periodic:
    """A pass every `interval_s` while passes find work (`run` answers something truthy: a count
    of what it did; None counts as work, for jobs that do not say); after passes that find none,
    ever less often up to `idle_s` (default: `interval_s`, no back-off). `wake()` runs the next
    pass now (or right after the one in flight)."""

    def __init__(
        self,
        name: str,
        run: Callable[[], Awaitable[Any]],
        interval_s: float,
        *,
        idle_s: float | None = None,
        timer: Timer = wait_event,
    ):
        self.name, self.run, self.interval_s = name, run, interval_s
        self.pacer = Pacer(interval_s, idle_s, timer=timer)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Run the next pass now (or right after the one in flight)."""
        self.pacer.wake()

    async def _loop(self) -> None:
        while True:
            await self.pacer.wait(await self.run_pass())

    async def run_pass(self) -> bool:
        """One pass; whether it found work (a failed pass counts as work: try again soon)."""
        try:
            done = await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: pass failed; the next one runs in %.1fs", self.name, self.interval_s)
            return True
        return done is None or bool(done)
