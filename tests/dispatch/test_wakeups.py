"""On PostgreSQL an accept in one process wakes the dispatchers of the others (LISTEN/NOTIFY):
a second app on the same database, whose dispatcher would otherwise sleep for a minute, looks
for work right after the first app accepted a message."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.conftest import card
from tests.dispatch.conftest import FAST

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SLEEPY = replace(FAST, options=replace(FAST.options, poll_s=60.0, idle_poll_max_s=600.0))


async def test_an_accept_in_one_process_wakes_the_dispatcher_of_another(
    sandbox_api, dispatch_settings, aiohttp_server, unused_tcp_port_factory
):
    from server import DISPATCHER, WAKEUPS, Wiring, create_app

    port = unused_tcp_port_factory()
    other = create_app(replace(dispatch_settings, port=port), Wiring(dispatch=SLEEPY))
    await aiohttp_server(other, port=port)  # its dispatcher's first pass began while it started
    dispatcher = other[DISPATCHER]
    accepted = False
    looked_after_accept = asyncio.Event()
    claim = dispatcher._claim

    async def counted():
        if accepted:
            looked_after_accept.set()
        return await claim()

    dispatcher._claim = counted  # the pass that follows the wake-up claims through here
    heard_before = other[WAKEUPS].heard
    accepted = True
    resp = await sandbox_api.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    assert resp.status == 202, await resp.text()
    await asyncio.wait_for(looked_after_accept.wait(), 10)  # not the minute it would sleep
    assert other[WAKEUPS].heard > heard_before
