"""The group writer cuts a group only once the writes already on their way have reached it:
requests a turn or two of the event loop behind the first commit with it."""

from __future__ import annotations

import asyncio

import pytest

import store.writer
from store import GroupWriter, open_database
from store.db import sqlite_url
from store.writer import WriteBatch


async def _groups(tmp_path, turns_behind: list[int]) -> int:
    """How many commits the writes take, write i queued after `turns_behind[i]` loop turns."""
    db = open_database(sqlite_url(tmp_path / "g.db"))
    writer = GroupWriter(db.write)
    commits = 0

    def committed() -> None:
        nonlocal commits
        commits += 1

    writer.on_commit.append(committed)
    await writer.start()

    async def write(turns: int) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        await writer.write(WriteBatch().run(lambda conn: conn.exec_driver_sql("SELECT 1")))

    try:
        await asyncio.gather(*(write(t) for t in turns_behind))
    finally:
        await writer.stop()
        await db.dispose()
    return commits


@pytest.mark.parametrize(
    ("turns_behind", "groups"),
    [
        pytest.param([0] * 10, 1, id="all at once: one group"),
        pytest.param([0, 1, 2, 3, 0, 1, 2, 3], 1, id="a few turns behind: still one group"),
        pytest.param([0], 1, id="one write alone"),
    ],
)
async def test_writes_on_their_way_join_the_group(tmp_path, turns_behind, groups):
    assert await _groups(tmp_path, turns_behind) == groups


async def test_without_waiting_the_stragglers_make_groups_of_their_own(tmp_path, monkeypatch):
    monkeypatch.setattr(store.writer, "GATHER_TURNS", 0)
    assert await _groups(tmp_path, [0, 1, 2, 3, 0, 1, 2, 3]) > 1
