"""An idle dispatcher looks ever less often (up to `idle_poll_max_s`), yet an accepted message
goes at once: the accept wakes it; so does a status change that makes something due soon."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from tests.conftest import card
from tests.dispatch.conftest import FAST, wait_for


@pytest.fixture
def dispatch_config():
    return replace(FAST, options=replace(FAST.options, poll_s=0.02, idle_poll_max_s=30.0))


async def test_an_idle_dispatcher_backs_off_and_an_accept_wakes_it(sandbox_api):
    from server import DISPATCHER

    dispatcher = sandbox_api.client.app[DISPATCHER]
    probes = []
    claim = dispatcher._claim

    async def counted():
        probes.append(time.monotonic())
        return await claim()

    dispatcher._claim = counted
    await asyncio.sleep(1.5)  # idle: 0.02, 0.04, 0.08, … — a handful of looks, not 75
    idle_looks = len(probes)
    assert 3 <= idle_looks <= 10, idle_looks
    started = time.monotonic()
    resp = await sandbox_api.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    assert resp.status == 202
    mid = (await resp.json())["messages"][0]["id"]
    await wait_for(sandbox_api, mid, lambda v: v["status"] in ("rcs_sent", "rcs_delivered", "rcs_read"))
    assert time.monotonic() - started < 2.0  # not the minutes the back-off had reached
    assert any(p >= started for p in probes)
