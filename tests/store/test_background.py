"""Background jobs' pace: busy after work, ever slower when idle up to a cap, at once when woken.
The waits are a fake timer's (it records what it was asked and returns at once): no sleeps."""

from __future__ import annotations

import asyncio

import pytest

from store.background import Pacer, Periodic


class FakeTimer:
    """Answers each wait at once: woken when the event is set, else timed out; records the
    seconds asked and whether the wake-up event was the one waited on."""

    def __init__(self):
        self.waits: list[float] = []
        self.on_wake_event: list[bool] = []
        self.pacer: Pacer | None = None

    async def __call__(self, event: asyncio.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        self.on_wake_event.append(self.pacer is not None and event is self.pacer.wake_event)
        return event.is_set()


@pytest.mark.parametrize(
    "busy, idle, found, waits",
    [
        (0.5, 8.0, [True, True], [0.5, 0.5]),
        (0.5, 8.0, [False] * 7, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]),
        (0.5, 8.0, [False, False, False, True, False], [0.5, 1.0, 2.0, 0.5, 0.5]),
        (1.0, None, [False, False], [1.0, 1.0]),  # no idle cap: a fixed pace
        (2.0, 1.0, [False, False], [2.0, 2.0]),  # a cap below the busy pace is the busy pace
    ],
)
def test_the_wait_doubles_while_idle_up_to_the_cap_and_work_resets_it(busy, idle, found, waits):
    pacer = Pacer(busy, idle)
    assert [pacer.next_wait(f) for f in found] == waits


async def test_a_wake_up_ends_the_idle_wait_and_starts_the_doubling_over():
    timer = FakeTimer()
    pacer = timer.pacer = Pacer(0.1, 10.0, timer=timer)
    assert [await pacer.wait(False) for _ in range(3)] == [False, False, False]
    pacer.wake()
    assert await pacer.wait(False) is True
    assert not pacer.wake_event.is_set()  # taken: the next wait is a real one
    await pacer.wait(False)
    assert timer.waits == [0.1, 0.2, 0.4, 0.8, 0.1]


async def test_a_wait_never_runs_past_work_falling_due():
    timer = FakeTimer()
    pacer = timer.pacer = Pacer(0.1, 10.0, timer=timer)
    for _ in range(6):
        await pacer.wait(False)
    await pacer.wait(False, at_most=0.25)
    await pacer.wait(False, at_most=-3.0)  # overdue: no wait at all
    assert timer.waits[-2:] == [0.25, 0.0]


@pytest.mark.parametrize("cuts, waits_on_wake_event", [(True, True), (False, False)])
async def test_a_busy_wait_is_cut_by_a_wake_up_only_where_the_job_wants_it(cuts, waits_on_wake_event):
    timer = FakeTimer()
    pacer = timer.pacer = Pacer(0.5, 10.0, wake_cuts_busy=cuts, timer=timer)
    pacer.wake()
    await pacer.wait(True)
    assert timer.on_wake_event == [waits_on_wake_event]
    assert not pacer.wake_event.is_set()  # either way the wake-up is taken: the next pass runs
    await pacer.wait(False)
    assert timer.waits == [0.5, 0.5]  # and the idle doubling starts over


async def test_a_periodic_job_backs_off_while_its_passes_find_nothing():
    timer = FakeTimer()
    results = iter([3, 0, 0, 0, 0, 1, 0])
    passes: list[int] = []
    done = asyncio.Event()

    async def run():
        result = next(results, None)
        if result is None:
            done.set()
            await asyncio.Event().wait()  # parked until stopped
        passes.append(result)
        return result

    job = Periodic("test", run, 1.0, idle_s=4.0, timer=timer)
    timer.pacer = job.pacer
    await job.start()
    await done.wait()
    await job.stop()
    assert passes == [3, 0, 0, 0, 0, 1, 0]
    assert timer.waits == [1.0, 1.0, 2.0, 4.0, 4.0, 1.0, 1.0]


async def test_a_periodic_job_whose_pass_fails_tries_again_at_the_busy_pace():
    timer = FakeTimer()
    outcomes = iter([0, "fail", 0])
    done = asyncio.Event()

    async def run():
        outcome = next(outcomes, None)
        if outcome is None:
            done.set()
            await asyncio.Event().wait()
        if outcome == "fail":
            raise RuntimeError("the database went away")
        return outcome

    job = Periodic("test", run, 1.0, idle_s=60.0, timer=timer)
    await job.start()
    await done.wait()
    await job.stop()
    assert timer.waits == [1.0, 1.0, 1.0]


async def test_waking_a_sleeping_periodic_job_runs_its_next_pass():
    """The real timer: the job sleeps for its hour-long idle wait until woken."""
    passes: list[int] = []
    second = asyncio.Event()

    async def run():
        passes.append(len(passes))
        if len(passes) == 2:
            second.set()
        return 0

    job = Periodic("test", run, 3600.0, idle_s=3600.0)
    await job.start()
    while not passes:
        await asyncio.sleep(0)  # let the first pass run (a yield, not a wait)
    job.wake()
    await asyncio.wait_for(second.wait(), 10)
    await job.stop()
    assert passes[:2] == [0, 1]
