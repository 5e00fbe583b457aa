"""The audit log: append-only records of administrative actions, written through the group
writer (one transaction for many requests' records) and searched newest first.

The database refuses UPDATE and DELETE on `audit_log` (triggers, migration accounts_0004).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import select

from accounts.users_tables import audit_log
from api.auditentry import AuditEntry
from store import Clock, Database, SystemClock, new_id
from store.clock import rfc3339
from store.writer import GroupWriter, WriteBatch

MAX_DETAIL_KEYS = 20


class AuditLog:
    """The `api.audit.AUDIT` sink, and the searches of GET /v1/audit."""

    def __init__(self, db: Database, writer: GroupWriter, clock: Clock | None = None):
        self.db = db
        self.writer = writer
        self.clock = clock or SystemClock()

    async def record(self, entry: AuditEntry) -> None:
        """Append one record; returns once it is committed."""
        now_ms = int(self.clock.now().timestamp() * 1000)
        row = asdict(entry)
        row["detail"] = dict(list(row["detail"].items())[:MAX_DETAIL_KEYS])
        row["actor_display"] = row["actor_display"][:200]
        row["target_id"] = row["target_id"][:200] if row["target_id"] else None
        await self.writer.write(WriteBatch().insert(audit_log, {"id": new_id(now_ms), "at_ms": now_ms, **row}))

    async def search(
        self,
        tenant_id: str,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        before_id: str | None = None,
        limit: int = 50,
    ) -> tuple[list[dict], str | None]:
        """Records of the tenant newest first, filtered; (page, id to continue before or None).

        `actor` matches the actor's id or display; `action` a name or a prefix ending in `.`
        (`reviews.` finds every review decision); `target` a target id or `type/id`."""
        c = audit_log.c
        query = select(audit_log).where(c.tenant_id == tenant_id)
        if actor:
            query = query.where((c.actor_id == actor) | (c.actor_display == actor))
        if action:
            query = query.where(
                c.action.startswith(action, autoescape=True) if action.endswith(".") else c.action == action
            )
        if target:
            kind, slash, ident = target.partition("/")
            query = query.where((c.target_type == kind) & (c.target_id == ident) if slash else c.target_id == target)
        if since_ms is not None:
            query = query.where(c.at_ms >= since_ms)
        if until_ms is not None:
            query = query.where(c.at_ms < until_ms)
        if before_id is not None:
            query = query.where(c.id < before_id)
        query = query.order_by(c.id.desc()).limit(limit + 1)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [view(r) for r in rows], (rows[-1].id if more else None)


def view(row) -> dict:
    return {
        "id": row.id,
        "at": rfc3339(datetime.fromtimestamp(row.at_ms / 1000, UTC)),
        "actor": {"type": row.actor_type, "id": row.actor_id, "display": row.actor_display},
        "action": row.action,
        "target": {"type": row.target_type, "id": row.target_id},
        "detail": row.detail,
        "client": row.client,
        "status": row.status,
    }
