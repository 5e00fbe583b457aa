"""How long a queue kept in a table is: rows matching a condition (counted up to a cap, so a
huge backlog costs a bounded scan) and the oldest of them, for the metrics' backlog gauges."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, func, select

from store.db import Database

COUNT_CAP = 100_000


async def backlog(
    db: Database, table: Table, where: ColumnElement[bool], oldest: str, cap: int = COUNT_CAP
) -> tuple[int, int | None]:
    """(rows matching `where`, at most `cap`; the smallest `oldest` column value among them)."""
    capped = select(table.c[oldest]).where(where).limit(cap).subquery()
    async with db.read.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(capped))).scalar_one()
        first = (await conn.execute(select(func.min(table.c[oldest])).where(where))).scalar()
    return int(count), int(first) if first is not None else None
