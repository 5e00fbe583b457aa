"""Each tenant's SMS extension code: given to existing tenants by the migration, then to each new one."""

from __future__ import annotations

import sqlite3

from store import run_migrations
from store.db import sqlite_url


async def test_existing_tenants_get_codes_in_creation_order_and_new_ones_follow(tmp_path):

    path = tmp_path / "h.db"
    await run_migrations(sqlite_url(path), "0004")
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO tenants (id, name, signature, created_ms) VALUES (?, ?, ?, ?)",
        [("b", "B", "【乙方】", 2), ("a", "A", "【甲方】", 1), ("c", "C", "【丙方】", 2)],
    )
    conn.commit()
    conn.close()
    await run_migrations(sqlite_url(path))
    conn = sqlite3.connect(path)
    assert dict(conn.execute("SELECT id, sms_ext FROM tenants")) == {"a": "1001", "b": "1002", "c": "1003"}
    conn.close()


async def test_new_tenants_get_the_next_free_code(api):
    from server import ACCOUNTS

    accounts = api.client.app[ACCOUNTS]
    first = await accounts.get_tenant(api.tenant_id)
    second, _ = await accounts.create_tenant("Second brand")
    assert first.sms_ext == "1001" and second.sms_ext == "1002"
    assert (await accounts.tenant_by_sms_ext("1002")).id == second.id
    assert await accounts.tenant_by_sms_ext("9999") is None
