"""`keys rotate`: a new write key for every tenant, then every sealed value re-encrypted.

Resumable and idempotent: each batch commits on its own and a value already under the
active key is left alone, so the job can be stopped and run again at any time, also while
servers keep serving the same database (they reload keys every KEY_REFRESH_SECONDS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import and_, select, update

import security
from accounts.service import Accounts, record_row
from accounts.tables import data_keys, tenants
from store import Database
from store.sealed import SealedColumn

# Servers refresh their keyring this often; the job waits this long (plus a margin) after
# publishing new keys, so no server meets a value sealed under a key it has not loaded.
KEY_REFRESH_SECONDS = 10.0  # rare (a rotation); each refresh reads every data key
BATCH = 500


async def rotate_all(
    db: Database,
    accounts: Accounts,
    columns: Sequence[SealedColumn],
    *,
    progress=print,
    settle_seconds: float | None = None,
) -> int:
    """Rotate every tenant's data key and re-encrypt every value of the sealed `columns` (every
    domain declares its own); returns how many values moved."""
    async with db.read.connect() as conn:
        tenant_ids = [r.id for r in (await conn.execute(select(tenants.c.id).order_by(tenants.c.id))).all()]
    await accounts.load_keys()
    now = accounts.clock.now()
    for tid in tenant_ids:
        changed = accounts.keyring.rotate(tid, now=now)
        await _persist(db, changed)
        progress(f"tenant {tid}: new write key {accounts.keyring.active_key_id(tid)}")
    await asyncio.sleep(KEY_REFRESH_SECONDS * 1.5 if settle_seconds is None else settle_seconds)
    moved = 0
    for col in columns:
        for tid in tenant_ids:
            n = await _reseal_column(db, accounts.keyring, tid, col)
            if n:
                progress(f"tenant {tid}: {col.table.name}.{col.column}: {n} values re-encrypted")
            moved += n
    return moved


async def _persist(db: Database, records: list[security.DataKeyRecord]) -> None:
    async with db.write.begin() as conn:
        for rec in records:
            key = and_(data_keys.c.tenant_id == rec.tenant_id, data_keys.c.key_id == rec.key_id)
            exists = (await conn.execute(select(data_keys.c.key_id).where(key))).first()
            if exists:
                await conn.execute(
                    update(data_keys)
                    .where(key)
                    .values(state=rec.state, wrapped=rec.wrapped, master_key_id=rec.master_key_id)
                )
            else:
                await conn.execute(data_keys.insert().values(**record_row(rec)))


async def _reseal_column(db: Database, keyring: security.Keyring, tenant_id: str, col: SealedColumn) -> int:
    t = col.table
    value = t.c[col.column]
    order = [t.c[c] for c in col.order_by]
    after = None
    moved = 0
    while True:
        query = select(*order, value).where(and_(t.c.tenant_id == tenant_id, value.is_not(None)))
        if after is not None:
            query = query.where(order[0] > after)
        query = query.order_by(*order).limit(BATCH)
        async with db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return moved
        pairs = [(col.row_id(r), getattr(r, col.column)) for r in rows]
        changed = dict(keyring.reseal_rows(tenant_id, t.name, col.ad_column, pairs))
        if changed:
            async with db.write.begin() as conn:
                for r in rows:
                    new = changed.get(col.row_id(r))
                    if new is not None:
                        await conn.execute(
                            update(t).where(order[0] == getattr(r, col.order_by[0])).values({col.column: new})
                        )
            moved += len(changed)
        after = getattr(rows[-1], col.order_by[0])


async def rotate_master(db: Database, accounts: Accounts, master: security.MasterKeyProvider, *, progress=print) -> int:
    """Re-wrap every data key under the current master key (after a new one was added).

    With the key file provider a new master key is generated first; with keys from the
    environment, list the new key first (`HONGYAN_MASTER_KEY=new,old`). Data keys do not
    change, so no sealed value is touched.
    """
    if isinstance(master, security.FileMasterKeyProvider):
        progress(f"new master key {master.add_key()}")
    await accounts.load_keys()
    records = accounts.keyring.rewrap_all(master)
    await _persist(db, records)
    progress(f"{len(records)} data keys re-wrapped under master key {master.current_id}")
    return len(records)
