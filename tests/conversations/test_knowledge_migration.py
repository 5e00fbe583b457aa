"""The knowledge migration: the schema it makes is the declared one, and keys that held every
scope gain `conversations` (narrowed keys keep what they had)."""

from __future__ import annotations

import conversations.knowledge_tables  # noqa: F401  (registers the tables on the metadata)
from store.db import sqlite_url
from tests.migrationkit import upgrade_with_keys

FULL = "audiences billing campaigns cards channels compliance keys messages privacy reviews templates users webhooks"


async def test_the_migration_matches_the_tables_and_grants_the_scope(tmp_path, database_url):
    url = database_url or sqlite_url(tmp_path / "m.db")
    got = await upgrade_with_keys(url, ("campaigns_0001",), {"all": FULL, "narrow": "messages"}, ("knowledge",))
    assert got.drift == []
    assert {"knowledge_faqs", "knowledge_settings"} <= got.tables
    assert "ai_key_enc" in got.columns["knowledge_settings"]
    assert set(FULL.split()) | {"conversations"} <= set(got.scopes["all"].split())
    assert got.scopes["narrow"] == "messages"
