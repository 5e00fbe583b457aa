"""Sealing template contents stored in plaintext by versions before cards_0004.

A migration has no keys, so this runs after the schema migration: `python server.py migrate`
runs it when it has the master key, and every server runs it at start (before it serves).
Idempotent and resumable: each batch commits on its own, a row already sealed is left alone.
"""

from __future__ import annotations

import orjson
from sqlalchemy import and_, null, select, update

import security
from cards.store.tables import template_drafts, template_versions
from store import Database

BATCH = 500


async def seal_plaintext(db: Database, keyring: security.Keyring) -> int:
    """Seal every template version and draft still held in plaintext; returns how many."""
    sealed = 0
    for table, key in ((template_versions, template_versions.c.id), (template_drafts, template_drafts.c.template_id)):
        plain = table.c.card.is_not(None)
        while True:
            query = select(key.label("row_id"), table.c.tenant_id, table.c.card, table.c.sample).where(plain)
            async with db.read.connect() as conn:
                rows = (await conn.execute(query.order_by(key).limit(BATCH))).all()
            if not rows:
                break
            async with db.write.begin() as conn:
                for r in rows:
                    content = orjson.dumps({"card": r.card, "sample": r.sample})
                    blob = keyring.seal(r.tenant_id, table.name, "content", r.row_id, content)
                    await conn.execute(
                        update(table)
                        .where(and_(key == r.row_id, plain))
                        .values(content_enc=blob, card=null(), sample=null())
                    )
            sealed += len(rows)
    return sealed
