"""The per-brand marketing opt-out list (DESIGN.md §5): honoured at accept and again at send."""
from __future__ import annotations

from sqlalchemy import and_, select

from messages.tables import opt_outs
from store import Database

OPTED_OUT_REASON = "the recipient opted out of this brand's marketing"


async def opted_out(db: Database, tenant_id: str, bidxs: list[bytes]) -> set[bytes]:
    """Which of these recipients (blind indexes) are on the tenant's opt-out list."""
    found: set[bytes] = set()
    async with db.read.connect() as conn:
        for i in range(0, len(bidxs), 500):
            chunk = bidxs[i:i + 500]
            rows = await conn.execute(select(opt_outs.c.to_bidx).where(
                and_(opt_outs.c.tenant_id == tenant_id, opt_outs.c.to_bidx.in_(chunk))))
            found.update(r.to_bidx for r in rows)
    return found
