"""webhooks_0002: an endpoint made before it keeps signing with its one secret; the schema the
migration makes is the declared one."""

from __future__ import annotations

from store.db import sqlite_url
from tests.migrationkit import upgrade_with_keys


async def test_the_grace_columns_match_the_tables(tmp_path, database_url):
    url = database_url or sqlite_url(tmp_path / "m.db")
    got = await upgrade_with_keys(url, ("webhooks_0001",), {"all": "webhooks"}, ("webhook_endpoints",))
    assert got.drift == []
    assert {"previous_secret_enc", "previous_until_ms"} <= got.columns["webhook_endpoints"]
