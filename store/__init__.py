"""Shared storage plumbing: engines, migrations, the group-commit writer, ids and clocks.

Each domain package owns its tables (declared on `store.metadata`); this package only
provides the machinery.
"""

from store.clock import Clock, SystemClock, utcnow
from store.db import Database, SqliteMemory, is_sqlite, open_database
from store.ids import is_id, new_id
from store.migrate import run_migrations
from store.tables import metadata
from store.writer import GroupWriter

__all__ = [
    "Clock",
    "Database",
    "GroupWriter",
    "SqliteMemory",
    "SystemClock",
    "is_sqlite",
    "metadata",
    "is_id",
    "new_id",
    "open_database",
    "run_migrations",
    "utcnow",
]
