"""The per-brand marketing opt-out list: honoured at accept and again at send."""

from __future__ import annotations

from sqlalchemy import and_, select

from messages.tables import opt_outs
from store import Database, GroupWriter
from store.writer import WriteBatch

OPTED_OUT_REASON = "the recipient opted out of this brand's marketing"


async def opted_out(db: Database, tenant_id: str, bidxs: list[bytes]) -> set[bytes]:
    """Which of these recipients (blind indexes) are on the tenant's opt-out list."""
    found: set[bytes] = set()
    async with db.read.connect() as conn:
        for i in range(0, len(bidxs), 500):
            chunk = bidxs[i : i + 500]
            rows = await conn.execute(
                select(opt_outs.c.to_bidx).where(and_(opt_outs.c.tenant_id == tenant_id, opt_outs.c.to_bidx.in_(chunk)))
            )
            found.update(r.to_bidx for r in rows)
    return found


async def add_opt_out(writer: GroupWriter, tenant_id: str, to_bidx: bytes, *, source: str, now_ms: int) -> None:
    """Put a recipient (blind index) on the tenant's list; a second opt-out changes nothing."""

    def insert_once(conn) -> None:
        exists = conn.execute(
            select(opt_outs.c.to_bidx).where(and_(opt_outs.c.tenant_id == tenant_id, opt_outs.c.to_bidx == to_bidx))
        ).first()
        if exists is None:
            conn.execute(
                opt_outs.insert().values(tenant_id=tenant_id, to_bidx=to_bidx, created_ms=now_ms, source=source)
            )

    await writer.write(WriteBatch().run(insert_once))
