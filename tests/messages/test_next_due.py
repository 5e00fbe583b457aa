"""The dispatcher's idle probe: the earliest due time of a message nobody holds — how long an
idle dispatcher may sleep (a scheduled send goes on time, not at the next idle look)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from messages import lifecycle
from server import DATABASE
from store.writer import WriteBatch
from tests.conftest import card


async def _due(api, now_ms: int) -> int | None:
    async with api.client.app[DATABASE].read.connect() as conn:
        row = (await conn.execute(lifecycle.next_due_query(now_ms))).first()
    return None if row is None else row.due_ms


async def _accept(api, send_at: datetime) -> str:
    body = {"to": "+8613800138001", "card": card(), "send_at": send_at.isoformat().replace("+00:00", "Z")}
    resp = await api.post("/v1/messages", body)
    assert resp.status == 202, await resp.text()
    return (await resp.json())["messages"][0]["id"]


async def test_the_probe_answers_the_earliest_due_time_of_a_message_nobody_holds(api):
    from messages.http import LEDGER

    now = datetime.now(UTC).replace(microsecond=0)
    now_ms = int(now.timestamp() * 1000)
    assert await _due(api, now_ms) is None  # nothing at all: sleep to the idle cap
    later = await _accept(api, now + timedelta(hours=2))
    soon = await _accept(api, now + timedelta(hours=1))
    assert await _due(api, now_ms) == now_ms + 3600_000
    # Held by a worker (in flight): not what to wake for; the next one is.
    writer = api.client.app[LEDGER].writer
    await writer.write(WriteBatch().run(lambda conn: lifecycle.lease(conn, [soon], "worker", now_ms + 60_000)))
    assert await _due(api, now_ms) == now_ms + 7200_000
    # A lease that ran out (its worker died) is free again.
    assert await _due(api, now_ms + 61_000) == now_ms + 3600_000
    assert later != soon
