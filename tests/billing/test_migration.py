"""The billing migration: the schema it makes is the declared one, and keys that held every
scope gain `billing` (never the operator's `billing-admin`)."""

from __future__ import annotations

from store.db import sqlite_url
from tests.migrationkit import upgrade_with_keys


async def test_the_migration_matches_the_tables_and_grants_the_scope(tmp_path, database_url):
    url = database_url or sqlite_url(tmp_path / "m.db")
    full = "cards channels compliance keys messages privacy reviews templates users webhooks"
    before = ("privacy_0001", "accounts_0004")  # a database from before billing, with two keys
    got = await upgrade_with_keys(
        url, before, {"all": full, "narrow": "messages"}, ("billing_", "ix_message_events_at")
    )
    assert got.drift == []
    assert {"billing_prices", "billing_accounts", "billing_entries", "billing_cursor"} <= got.tables
    assert set(full.split()) | {"billing"} <= set(got.scopes["all"].split())
    assert "billing-admin" not in got.scopes["all"].split()
    assert got.scopes["narrow"] == "messages"
