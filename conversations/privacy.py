"""A person's conversations are personal data too: erasure by number deletes their threads (the
sealed number and every sealed message body), export by number returns them opened. Registered
with the platform's privacy registry on import (privacy sits below conversations)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, delete, select

from conversations.tables import conversation_messages, conversations
from privacy.registry import REGISTRY, ErasureContext, ExportContext
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


REGISTRY.add_eraser("conversations", erase_conversations)
REGISTRY.add_exporter("conversations", export_conversations)
