"""Wake-ups: a signal wakes this process's callbacks at once and, on PostgreSQL, another
process's (LISTEN/NOTIFY), a burst coalesced into one notification; a lost LISTEN connection
comes back and raises every signal (what was said meanwhile is lost)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from store.notify import DISPATCH, WEBHOOKS_DUE, PgListener, Wakeups


def test_a_signal_wakes_this_processs_callbacks_of_that_name_only():
    wakeups = Wakeups()  # SQLite: no listener, this process only
    got: Counter = Counter()
    wakeups.on(DISPATCH, lambda: got.update(["dispatcher"]))
    wakeups.on(DISPATCH, lambda: got.update(["metrics"]))
    wakeups.on(WEBHOOKS_DUE, lambda: got.update(["webhooks"]))
    wakeups.signal(DISPATCH)
    assert got == {"dispatcher": 1, "metrics": 1}
    wakeups.raise_all()
    assert got == {"dispatcher": 2, "metrics": 2, "webhooks": 1}


def test_a_failing_callback_does_not_keep_the_others_from_waking():
    wakeups = Wakeups()
    woken = []

    def broken():
        raise RuntimeError("boom")

    wakeups.on(DISPATCH, broken)
    wakeups.on(DISPATCH, lambda: woken.append(1))
    wakeups.signal(DISPATCH)
    assert woken == [1]


class Heard:
    """Counts a process's wake-ups by name and lets a test await one."""

    def __init__(self, wakeups: Wakeups, *names: str):
        self.counts: Counter = Counter()
        self.events = {name: asyncio.Event() for name in names}
        for name in names:
            wakeups.on(name, lambda name=name: self._heard(name))

    def _heard(self, name: str) -> None:
        self.counts[name] += 1
        self.events[name].set()

    async def wait(self, name: str) -> None:
        await asyncio.wait_for(self.events[name].wait(), 10)
        self.events[name].clear()


@pytest.fixture
async def two_processes(pg_url):
    """Two processes' wake-ups on one PostgreSQL database, each on its own LISTEN connection."""
    here, there = Wakeups(PgListener(pg_url)), Wakeups(PgListener(pg_url))
    await here.start()
    await there.start()
    yield here, there
    await here.stop()
    await there.stop()


async def test_a_signal_reaches_the_other_process_once_for_a_burst(two_processes):
    here, there = two_processes
    ours, theirs = Heard(here, DISPATCH, WEBHOOKS_DUE), Heard(there, DISPATCH, WEBHOOKS_DUE)
    for _ in range(100):  # a burst of accepts in one turn of the loop
        here.signal(DISPATCH)
    here.signal(WEBHOOKS_DUE)  # sent after it, on the same connection
    await theirs.wait(WEBHOOKS_DUE)
    assert theirs.counts == {DISPATCH: 1, WEBHOOKS_DUE: 1}
    assert there.heard == 2
    # Here: every signal woke its own callbacks directly; its own notifications were skipped.
    assert ours.counts == {DISPATCH: 100, WEBHOOKS_DUE: 1}
    assert here.heard == 0
    ours.events[DISPATCH].clear()
    there.signal(DISPATCH)
    await ours.wait(DISPATCH)
    assert here.heard == 1


async def test_a_lost_listen_connection_comes_back_and_raises_every_signal(two_processes):
    here, there = two_processes
    theirs = Heard(there, DISPATCH, WEBHOOKS_DUE)
    listener = there.listener
    assert listener is not None and listener.connection is not None
    pid = listener.connection.get_server_pid()
    assert here.listener is not None and here.listener.connection is not None
    await here.listener.connection.execute("SELECT pg_terminate_backend($1)", pid)
    await theirs.wait(DISPATCH)  # raised after the reconnect, not heard
    await theirs.wait(WEBHOOKS_DUE)
    assert there.heard == 0
    assert listener.listening.is_set() and listener.connection.get_server_pid() != pid
    here.signal(DISPATCH)
    await theirs.wait(DISPATCH)
    assert there.heard == 1
