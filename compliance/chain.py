"""Per-tenant hash chains of small records (review decisions, consent events).

Each record's hash is SM3(domain ‖ prev_hash ‖ facts), the facts canonical JSON; the first
record's prev_hash is the tenant's genesis, SM3(genesis domain ‖ tenant id). A record is
appended inside the caller's transaction, so it commits with the change it records.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from sqlalchemy import Connection, Table, select

from store import Database


def sm3(data: bytes) -> bytes:
    """The SM3 digest of `data`."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


class TenantChain:
    """One kind of chained record in `table` (tenant_id, seq, <subject>, facts, prev_hash, hash,
    at_ms), its hashes domain-separated by `name`."""

    def __init__(self, table: Table, name: str, subject_column: str):
        self.table, self.subject_column = table, subject_column
        self._domain = f"hongyan/{name}/v1\x00".encode()
        self._genesis = f"hongyan/{name}/genesis/v1\x00".encode()

    def genesis(self, tenant_id: str) -> bytes:
        return sm3(self._genesis + tenant_id.encode())

    def link(self, prev_hash: bytes, facts: bytes) -> bytes:
        return sm3(self._domain + prev_hash + facts)

    def append(self, conn: Connection, tenant_id: str, subject: str, facts: bytes, at_ms: int) -> None:
        """Chain one record inside the caller's transaction; a concurrent writer in another
        process makes the insert fail on (tenant_id, seq), and the caller's write is retried."""
        e = self.table
        last = conn.execute(
            select(e.c.seq, e.c.hash).where(e.c.tenant_id == tenant_id).order_by(e.c.seq.desc()).limit(1)
        ).first()
        seq, prev = (last.seq + 1, last.hash) if last else (0, self.genesis(tenant_id))
        conn.execute(
            e.insert().values(
                {
                    "tenant_id": tenant_id,
                    "seq": seq,
                    self.subject_column: subject,
                    "facts": facts.decode(),
                    "prev_hash": prev,
                    "hash": self.link(prev, facts),
                    "at_ms": at_ms,
                }
            )
        )

    async def verify(self, db: Database, tenant_id: str) -> tuple[int, int | None]:
        """Recompute a tenant's chain: (records checked, seq of the first break or None)."""
        e = self.table
        prev, checked, after = self.genesis(tenant_id), 0, -1
        while True:
            async with db.read.connect() as conn:
                rows = (
                    await conn.execute(
                        select(e).where(e.c.tenant_id == tenant_id, e.c.seq > after).order_by(e.c.seq).limit(1000)
                    )
                ).all()
            if not rows:
                return checked, None
            for r in rows:
                if r.seq != checked or r.prev_hash != prev or self.link(prev, r.facts.encode()) != r.hash:
                    return checked, r.seq
                prev, checked = r.hash, checked + 1
            after = rows[-1].seq
