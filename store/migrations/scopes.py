"""API-key scopes in migrations: a migration that adds a scope gives it to every key that held
all the scopes there were before (such a key meant "everything"); keys someone narrowed keep what
they had. Works on the connection alembic hands the migration (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_KEYS = sa.table("api_keys", sa.column("id"), sa.column("scopes"))


def _rewrite(conn: Connection, change) -> None:
    for key_id, scopes in conn.execute(sa.select(_KEYS.c.id, _KEYS.c.scopes)).all():
        held = set(scopes.split())
        wanted = change(held)
        if wanted != held:
            conn.execute(_KEYS.update().where(_KEYS.c.id == key_id).values(scopes=" ".join(sorted(wanted))))


def grant_scope(conn: Connection, scope: str, full_before: Iterable[str]) -> None:
    """Add `scope` to every key holding all of `full_before`."""
    full = set(full_before)
    _rewrite(conn, lambda held: held | {scope} if full <= held else held)


def drop_scopes(conn: Connection, *scopes: str) -> None:
    """Take `scopes` from every key (a downgrade)."""
    _rewrite(conn, lambda held: held - set(scopes))
