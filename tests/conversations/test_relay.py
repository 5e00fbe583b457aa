"""Inbox events cross processes on PostgreSQL (LISTEN/NOTIFY): what one process handles reaches
the inbox streams of another, read back from the database; a lost LISTEN connection makes its
subscribers resync and is re-established."""

from __future__ import annotations

import asyncio

import pytest

from conversations.stream import Hub, PgRelay

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _next(sub, timeout: float = 10.0) -> tuple[str, dict]:
    got = await sub.next(timeout)
    assert got is not None, "no inbox event arrived"
    return got


async def _drain(sub) -> list[tuple[str, dict]]:
    """The events of `sub` until none came for a second."""
    out = []
    while (got := await sub.next(1.0)) is not None:
        out.append(got)
    return out


def _names(events) -> list[tuple[str, str | None]]:
    return [(e, d["message"]["id"] if e == "message" else d.get("id")) for e, d in events]


async def _other_process(conv_env):
    """A second server process's conversations service: its own hub and relay, the same database."""
    from conversations.http import CONVERSATIONS
    from conversations.service import Conversations
    from server import SETTINGS

    here = conv_env.app[CONVERSATIONS]
    there = Conversations(here.db, here.writer, here.keyring, here.ledger, here.checks, hub=Hub())
    relay = PgRelay(conv_env.app[SETTINGS].db_url, there.hub, there.publish_local)
    await relay.start()
    return here, there, relay


async def test_what_one_process_handles_reaches_another_processs_inbox(conv_env):
    here, there, relay = await _other_process(conv_env)
    try:
        tenant_id = conv_env.api.tenant_id
        theirs = there.hub.subscribe(tenant_id)
        ours = here.hub.subscribe(tenant_id)
        assert here.relay is not None and here.relay.origin != relay.origin
        to = "+8613800007401"
        await conv_env.says("sms", to, "你好")
        event, first = await _next(theirs)
        assert event == "message" and first["message"]["direction"] == "in" and first["message"]["text"] == "你好"
        event, data = await _next(theirs)
        assert event == "conversation" and data["contact"]["number_masked"].endswith(to[-4:])
        # Each process published every event once: a relay skips its own process's notifications.
        ours_seen, theirs_rest = await _drain(ours), await _drain(theirs)
        assert _names(ours_seen)[:2] == [("message", first["message"]["id"]), ("conversation", data["id"])]
        assert _names(ours_seen)[2:] == _names(theirs_rest)
    finally:
        await relay.stop()


async def test_a_lost_listen_connection_resyncs_and_comes_back(conv_env):
    here, there, relay = await _other_process(conv_env)
    try:
        tenant_id = conv_env.api.tenant_id
        theirs = there.hub.subscribe(tenant_id)
        pid = relay._conn.get_server_pid()
        async with here.db.read.begin() as conn:
            from sqlalchemy import text

            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert await _next(theirs) == ("resync", {})
        await asyncio.wait_for(relay.listening.wait(), 15)
        assert relay._conn.get_server_pid() != pid
        await conv_env.says("sms", "+8613800007402", "在吗")
        event, data = await _next(theirs)
        assert event == "message" and data["message"]["text"] == "在吗"
    finally:
        await relay.stop()
