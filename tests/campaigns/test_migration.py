"""The campaigns migration: the schema it makes is the declared one, and keys that held every
scope gain `campaigns` (narrowed keys keep what they had)."""

from __future__ import annotations

import campaigns.tables  # noqa: F401  (registers the tables on the metadata)
from store.db import sqlite_url
from tests.migrationkit import upgrade_with_keys

FULL = "audiences billing cards channels compliance keys messages privacy reviews templates users webhooks"


async def test_the_migration_matches_the_tables_and_grants_the_scope(tmp_path, database_url):
    url = database_url or sqlite_url(tmp_path / "m.db")
    before = ("0007", "audiences_0001", "billing_0001")  # a database from just before campaigns
    got = await upgrade_with_keys(url, before, {"all": FULL, "narrow": "messages audiences"}, ("campaign", "journey"))
    assert got.drift == []
    assert "channel" in got.columns["batches"]  # 0007: an SMS-only send
    assert {"campaigns", "campaign_recipients", "campaign_messages", "journeys", "journey_sends"} <= got.tables
    # Later migrations grant their scopes too: what matters here is that `campaigns` is added.
    assert set(FULL.split()) | {"campaigns"} <= set(got.scopes["all"].split())
    assert got.scopes["narrow"] == "messages audiences"
