"""A billing pass reads the events after its cursor in the index's order: the backlog behind a
busy minute is never sorted whole on every pass (`at > x OR at = x AND id > y` was)."""

from __future__ import annotations

import re
import sqlite3

from sqlalchemy.dialects import sqlite

from billing.service import BATCH, BILLED_EVENTS, _events_after


def test_the_events_after_the_cursor_come_in_index_order(_sqlite_template):
    sql = str(_events_after(BATCH).compile(dialect=sqlite.dialect()))
    types = ", ".join(f"'{t}'" for t in BILLED_EVENTS)
    sql = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)", f"({types})", sql)
    db = sqlite3.connect(_sqlite_template)
    try:
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, [0] * sql.count("?"))]
    finally:
        db.close()
    # One range of the (at_ms, id) index from the cursor on, stopped by the LIMIT; no
    # MULTI-INDEX OR whose rows would have to be sorted before any could be returned.
    assert any(step.startswith("SEARCH message_events USING INDEX ix_message_events_at ((at_ms,id)>") for step in plan)
    assert not any("MULTI-INDEX OR" in step for step in plan)
