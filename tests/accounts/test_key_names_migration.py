"""accounts_0006: keys made before it have no name and no last-used time; the schema is the
declared one."""

from __future__ import annotations

from store.db import sqlite_url
from tests.migrationkit import upgrade_with_keys


async def test_the_key_columns_match_the_tables(tmp_path, database_url):
    url = database_url or sqlite_url(tmp_path / "m.db")
    got = await upgrade_with_keys(url, ("accounts_0005",), {"old": "messages"}, ("api_keys",))
    assert got.drift == []
    assert {"name", "last_used_ms"} <= got.columns["api_keys"]
    assert got.scopes["old"] == "messages"
