"""A person's conversations are personal data too: erasure by number deletes their threads (the
sealed number and every sealed message body), export by number returns them opened, and the
retention purge deletes thread messages older than the tenant's setting, then conversations
left with none and no activity since. Registered with the platform's privacy registry on import
(privacy sits below conversations)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, delete, select

from conversations.tables import conversation_messages, conversations
from privacy.registry import REGISTRY, ErasureContext, ExportContext, RetentionKind
from store.clock import ms_to_rfc3339
from store.writer import WriteBatch


async def erase_conversations(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    """The number's conversations with the brand and every message in them."""
    c, m = conversations.c, conversation_messages.c
    counts: list[tuple[int, int]] = []

    def run(conn: Connection) -> None:
        ids = select(c.id).where(c.tenant_id == ctx.tenant_id, c.number_bidx == ctx.bidx)
        thread = conn.execute(delete(conversation_messages).where(m.conversation_id.in_(ids))).rowcount
        convs = conn.execute(
            delete(conversations).where(c.tenant_id == ctx.tenant_id, c.number_bidx == ctx.bidx)
        ).rowcount
        counts.append((convs, thread))

    await ctx.writer.write(WriteBatch().run(run))
    convs, thread = counts[0] if counts else (0, 0)
    return {"erased": {"conversations": convs, "conversation_messages": thread}}


async def export_conversations(ctx: ExportContext) -> list[dict[str, Any]]:
    """Each conversation of the number with its thread, oldest message first, bodies opened."""
    c, m = conversations.c, conversation_messages.c
    async with ctx.db.read.connect() as conn:
        convs = (
            await conn.execute(
                select(c.id, c.channel, c.state, c.opened_ms)
                .where(c.tenant_id == ctx.tenant_id, c.number_bidx == ctx.bidx)
                .order_by(c.id)
            )
        ).all()
        out = []
        for conv in convs:
            rows = (
                await conn.execute(
                    select(m.id, m.direction, m.author, m.kind, m.body_enc, m.at_ms)
                    .where(m.conversation_id == conv.id)
                    .order_by(m.id)
                )
            ).all()
            thread = [
                {
                    "direction": r.direction,
                    "author": r.author,
                    "kind": r.kind,
                    "at": ms_to_rfc3339(r.at_ms),
                    "body": orjson.loads(
                        ctx.keyring.open(ctx.tenant_id, "conversation_messages", "body", r.id, r.body_enc)
                    )
                    if r.body_enc is not None
                    else None,
                }
                for r in rows
            ]
            out.append(
                {
                    "id": conv.id,
                    "channel": conv.channel,
                    "state": conv.state,
                    "opened_at": ms_to_rfc3339(conv.opened_ms),
                    "messages": thread,
                }
            )
    return out


def purge_conversations(conn: Connection, tenant_id: str, cutoff_ms: int, limit: int) -> int:
    """Thread messages made before `cutoff_ms`, then conversations idle since then and empty."""
    c, m = conversations.c, conversation_messages.c
    old = (
        conn.execute(select(m.id).where(m.tenant_id == tenant_id, m.at_ms < cutoff_ms).order_by(m.at_ms).limit(limit))
        .scalars()
        .all()
    )
    if old:
        conn.execute(delete(conversation_messages).where(m.id.in_(old)))
    room = limit - len(old)
    if room <= 0:
        return len(old)
    has_messages = select(m.id).where(m.conversation_id == c.id).exists()
    idle = (
        conn.execute(
            select(c.id)
            .where(c.tenant_id == tenant_id, c.updated_ms < cutoff_ms, ~has_messages)
            .order_by(c.updated_ms)
            .limit(room)
        )
        .scalars()
        .all()
    )
    if idle:
        conn.execute(delete(conversations).where(c.id.in_(idle)))
    return len(old) + len(idle)


REGISTRY.add_retention(
    RetentionKind(
        "conversations",
        "conversation messages (both ways, sealed), and conversations idle and empty since",
        180,
        purge_conversations,
    )
)
REGISTRY.add_eraser("conversations", erase_conversations)
REGISTRY.add_exporter("conversations", export_conversations)
