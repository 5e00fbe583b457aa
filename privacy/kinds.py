"""The platform's personal data, registered kind by kind (see `privacy.registry`).

Every sealed copy of a recipient's data is reached one of three ways, and docs/privacy.md lists
which way each takes:
- by the blind index: a message row (`to_bidx`), the send-cap counters, the opt-out list;
- through the message ids found that way: events, short links (the composed card), clicks,
  dispatch state, the webhook payloads queued for the message, evidence records;
- by opening each candidate of a small, short-lived set and looking for the number or the erased
  message ids in it: idempotency replays and webhook payloads that name no message (both purged
  within days by retention, so the scan stays bounded).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, exists, false, func, or_, select, true, update

from analytics.tables import conversions
from audiences.contacts import erase_contact, export_contact
from cards.media.tables import media
from compliance.consent import CONSENT_MIN_RETENTION_DAYS
from compliance.consent_tables import consents
from compliance.tables import review_items
from dispatch.state import dispatch_state
from fallback.shortlinks.tables import link_clicks, short_links
from messages.evidence import evidence_records
from messages.send_rules import cap_keys, cap_sends
from messages.status import FINAL, Status
from messages.tables import batches, idempotency_keys, message_events, message_interactions, messages, opt_outs
from privacy.registry import (
    FIVE_MONTHS_DAYS,
    REGISTRY,
    ErasureContext,
    ExportContext,
    Registry,
    RetentionKind,
)
from security.sealing import SealError
from store.clock import ms_to_rfc3339
from store.writer import WriteBatch
from webhooks.tables import webhook_deliveries

FINAL_STATUSES = sorted(s.value for s in FINAL)
PENDING_DELIVERY = "pending"
_CHUNK = 500  # ids per IN (…) list: well under SQLite's and asyncpg's parameter limits


def ended(m=messages):
    """A message nothing more is sent for: a final status, or revoked with nothing due (a cancel;
    a revoke at TTL expiry moves on to the fallback in the same transaction)."""
    return or_(m.c.status.in_(FINAL_STATUSES), and_(m.c.status == Status.REVOKED.value, m.c.due_ms.is_(None)))


def id_floor(ms: int) -> str:
    """The smallest id `store.ids.new_id` makes at `ms`: ids are time-ordered, so rows made
    before `ms` have smaller ids, and a purge walks the primary key instead of the whole table."""
    return f"{max(ms, 0) & ((1 << 48) - 1):012x}" + "0" * 20


# -- deleting messages (retention and erasure share it) ---------------------------------------


def delete_messages(conn: Connection, tenant_id: str, ids: Sequence[str], batch_ids: Iterable[str]) -> dict[str, int]:
    """Delete messages and everything hanging off them, children first; then their batches once
    empty (the card and client reference go with them). The sealed word matches of the batches'
    review items (a match may quote a recipient's variable) are blanked once decided, or once the
    batch is gone; the decision itself stays, for its chain. Counts per table."""
    counts: dict[str, int] = {}
    if not ids:
        return counts
    ids = list(ids)

    def gone(name: str, statement) -> None:
        counts[name] = counts.get(name, 0) + (conn.execute(statement).rowcount or 0)

    gone("clicks", delete(link_clicks).where(link_clicks.c.tenant_id == tenant_id, link_clicks.c.message_id.in_(ids)))
    gone("short_links", delete(short_links).where(short_links.c.message_id.in_(ids)))
    gone("dispatch_state", delete(dispatch_state).where(dispatch_state.c.message_id.in_(ids)))
    gone("send_caps", delete(cap_sends).where(cap_sends.c.message_id.in_(ids)))
    gone(
        "webhook_deliveries",
        delete(webhook_deliveries).where(
            webhook_deliveries.c.tenant_id == tenant_id, webhook_deliveries.c.message_id.in_(ids)
        ),
    )
    gone("events", delete(message_events).where(message_events.c.message_id.in_(ids)))
    gone("interactions", delete(message_interactions).where(message_interactions.c.message_id.in_(ids)))
    gone(
        "conversions",
        delete(conversions).where(conversions.c.tenant_id == tenant_id, conversions.c.message_id.in_(ids)),
    )
    gone("messages", delete(messages).where(messages.c.tenant_id == tenant_id, messages.c.id.in_(ids)))
    touched = sorted(set(batch_ids))
    empty = [b for b in touched if not conn.execute(select(exists().where(messages.c.batch_id == b))).scalar()]
    r = review_items
    conn.execute(
        update(r)
        .where(
            r.c.tenant_id == tenant_id,
            r.c.kind == "message",
            r.c.subject.in_(touched),
            or_(r.c.state != "pending", r.c.subject.in_(empty or [""])),
            r.c.matches_enc.is_not(None),
        )
        .values(matches_enc=None)
    )
    if empty:
        gone("batches", delete(batches).where(batches.c.tenant_id == tenant_id, batches.c.id.in_(empty)))
    return counts


# -- retention: one short batch per call ------------------------------------------------------


def purge_messages(conn: Connection, tenant_id: str, cutoff_ms: int, limit: int) -> int:
    """Final messages untouched since the cutoff whose events are all in the evidence log."""
    m, e = messages, message_events
    unchained = exists().where(and_(e.c.message_id == m.c.id, e.c.chained == false()))
    rows = conn.execute(
        select(m.c.id, m.c.batch_id)
        .where(
            m.c.tenant_id == tenant_id,
            m.c.id < id_floor(cutoff_ms),
            m.c.updated_ms < cutoff_ms,
            ended(m),
            ~unchained,
        )
        .order_by(m.c.id)
        .limit(limit)
    ).all()
    delete_messages(conn, tenant_id, [r.id for r in rows], {r.batch_id for r in rows})
    return len(rows)


def purge_events(conn: Connection, tenant_id: str, cutoff_ms: int, limit: int) -> int:
    """Events of final messages from before the cutoff, once the evidence log holds them."""
    e, m = message_events, messages
    final = select(m.c.id).where(m.c.tenant_id == tenant_id, ended(m))
    ids = (
        conn.execute(
            select(e.c.id)
            .where(
                e.c.tenant_id == tenant_id,
                e.c.id < id_floor(cutoff_ms),
                e.c.at_ms < cutoff_ms,
                e.c.chained == true(),
                e.c.message_id.in_(final),
            )
            .order_by(e.c.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if ids:
        conn.execute(delete(e).where(e.c.id.in_(ids)))
    return len(ids)


def purge_clicks(conn: Connection, tenant_id: str, cutoff_ms: int, limit: int) -> int:
    c = link_clicks
    ids = (
        conn.execute(
            select(c.c.id)
            .where(c.c.tenant_id == tenant_id, c.c.id < id_floor(cutoff_ms), c.c.at_ms < cutoff_ms)
            .order_by(c.c.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if ids:
        conn.execute(delete(c).where(c.c.id.in_(ids)))
    return len(ids)


def purge_media(conn: Connection, tenant_id: str, cutoff_ms: int, limit: int) -> int:
    ids = (
        conn.execute(
            select(media.c.id)
            .where(media.c.tenant_id == tenant_id, media.c.created_ms < cutoff_ms)
            .order_by(media.c.created_ms)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if ids:
        conn.execute(delete(media).where(media.c.id.in_(ids)))
    return len(ids)


def purge_webhook_deliveries(conn: Connection, tenant_id: str, cutoff_ms: int, limit: int) -> int:
    """Deliveries done with (delivered, given up, cancelled); one still pending is never dropped."""
    w = webhook_deliveries
    ids = (
        conn.execute(
            select(w.c.id)
            .where(
                w.c.tenant_id == tenant_id,
                w.c.id < id_floor(cutoff_ms),
                w.c.created_ms < cutoff_ms,
                w.c.status != PENDING_DELIVERY,
            )
            .order_by(w.c.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if ids:
        conn.execute(delete(w).where(w.c.id.in_(ids)))
    return len(ids)


def purge_idempotency(conn: Connection, tenant_id: str, cutoff_ms: int, limit: int) -> int:
    k = idempotency_keys
    keys = (
        conn.execute(select(k.c.key_bidx).where(k.c.tenant_id == tenant_id, k.c.created_ms < cutoff_ms).limit(limit))
        .scalars()
        .all()
    )
    if keys:
        conn.execute(delete(k).where(k.c.tenant_id == tenant_id, k.c.key_bidx.in_(keys)))
    return len(keys)


# -- erasure ---------------------------------------------------------------------------------


async def _write(ctx: ErasureContext, fn) -> Any:
    out: list = []
    await ctx.writer.write(WriteBatch().run(lambda conn: out.append(fn(conn))))
    return out[0] if out else None


async def erase_messages(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    """The number's messages (all final: the service refuses while one is in flight) and what
    hangs off them, a chunk per transaction."""
    async with ctx.db.read.connect() as conn:
        rows = (
            await conn.execute(
                select(messages.c.id, messages.c.batch_id).where(
                    messages.c.tenant_id == ctx.tenant_id, messages.c.to_bidx == ctx.bidx
                )
            )
        ).all()
    erased: dict[str, int] = {}
    for start in range(0, len(rows), ctx.batch):
        chunk = rows[start : start + ctx.batch]
        counts = await _write(
            ctx,
            lambda conn, chunk=chunk: delete_messages(
                conn, ctx.tenant_id, [r.id for r in chunk], {r.batch_id for r in chunk}
            ),
        )
        for name, n in (counts or {}).items():
            erased[name] = erased.get(name, 0) + n
    return {"erased": erased}


async def erase_send_caps(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    """The frequency-cap counters keyed by the number's blind index."""

    def run(conn: Connection) -> int:
        n = conn.execute(
            delete(cap_sends).where(cap_sends.c.tenant_id == ctx.tenant_id, cap_sends.c.to_bidx == ctx.bidx)
        ).rowcount
        n += conn.execute(
            delete(cap_keys).where(cap_keys.c.tenant_id == ctx.tenant_id, cap_keys.c.to_bidx == ctx.bidx)
        ).rowcount
        return n or 0

    return {"erased": {"send_caps": int(await _write(ctx, run) or 0)}}


def _names_subject(plain: bytes, ctx: ErasureContext, ids: set[bytes]) -> bool:
    if ctx.to.encode() in plain or ctx.to.lstrip("+").encode() in plain:
        return True
    return any(i in plain for i in ids)


async def _scan_and_delete(ctx: ErasureContext, table, where, key_of, open_row, delete_where) -> int:
    """Open each row of a bounded, short-lived set and delete those naming the number or one of
    its erased messages (they cannot be found by the blind index: a batch's replay names many)."""
    ids = {i.encode() for i in ctx.message_ids}
    found: list = []
    after = None
    key_col = key_of(table)
    while True:
        query = select(table).where(*where)
        if after is not None:
            query = query.where(key_col > after)
        async with ctx.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(key_col).limit(ctx.batch))).all()
        for row in rows:
            try:
                plain = open_row(row)
            except (SealError, LookupError, ValueError):
                continue  # does not open: nothing readable to erase
            if _names_subject(plain, ctx, ids):
                found.append(getattr(row, key_col.name))
        if len(rows) < ctx.batch:
            break
        after = getattr(rows[-1], key_col.name)
    for start in range(0, len(found), _CHUNK):
        chunk = found[start : start + _CHUNK]
        await _write(ctx, lambda conn, chunk=chunk: conn.execute(delete(table).where(*delete_where(chunk))))
    return len(found)


async def erase_idempotency(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    k = idempotency_keys
    n = await _scan_and_delete(
        ctx,
        k,
        [k.c.tenant_id == ctx.tenant_id],
        lambda t: t.c.key_bidx,
        lambda r: ctx.keyring.open(ctx.tenant_id, "idempotency_keys", "response", r.key_bidx.hex(), r.response_enc),
        lambda chunk: [k.c.tenant_id == ctx.tenant_id, k.c.key_bidx.in_(chunk)],
    )
    return {"erased": {"idempotency_replays": n}}


async def erase_unlinked_webhooks(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    """Webhook payloads that name no message (user messages, tenant alerts): opened and checked."""
    w = webhook_deliveries
    n = await _scan_and_delete(
        ctx,
        w,
        [w.c.tenant_id == ctx.tenant_id, w.c.message_id.is_(None)],
        lambda t: t.c.id,
        lambda r: ctx.keyring.open(ctx.tenant_id, "webhook_deliveries", "payload", r.id, r.payload_enc),
        lambda chunk: [w.c.id.in_(chunk)],
    )
    return {"erased": {"webhook_deliveries": n}}


async def erase_opt_out_numbers(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    """An opt-out is kept: honouring it is in the person's interest (an erased number that comes
    back must still not get marketing). Only its blind index stays; the sealed number goes."""
    o = opt_outs.c

    def run(conn: Connection) -> tuple[int, int]:
        where = and_(o.tenant_id == ctx.tenant_id, o.to_bidx == ctx.bidx)
        kept = conn.execute(select(func.count()).select_from(opt_outs).where(where)).scalar() or 0
        blanked = conn.execute(update(opt_outs).where(where, o.to_enc.is_not(None)).values(to_enc=None)).rowcount
        return int(kept), int(blanked or 0)

    kept, blanked = await _write(ctx, run)
    return {"erased": {"opt_out_numbers": blanked}, "kept": {"opt_outs": kept}}


async def erase_contacts(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    """The number's contact (audiences), its attributes and tags."""
    n = await _write(ctx, lambda conn: erase_contact(conn, ctx.tenant_id, ctx.bidx))
    return {"erased": {"contacts": n}}


async def export_contacts(ctx: ExportContext) -> list[dict]:
    return await export_contact(ctx.db, ctx.keyring, ctx.tenant_id, ctx.bidx)


async def erase_consents(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    """The number's consent records with their sealed number and proof. What was agreed stays
    provable by the consent chain, which holds only blind indexes and HMACs."""

    def run(conn: Connection) -> int:
        c = consents.c
        return int(
            conn.execute(delete(consents).where(c.tenant_id == ctx.tenant_id, c.to_bidx == ctx.bidx)).rowcount or 0
        )

    return {"erased": {"consents": await _write(ctx, run)}}


def purge_consents(conn: Connection, tenant_id: str, cutoff_ms: int, limit: int) -> int:
    """Withdrawn consents, counted from their withdrawal (active ones are what allows sending)."""
    c = consents.c
    ids = (
        conn.execute(
            select(c.id)
            .where(c.tenant_id == tenant_id, c.withdrawn_ms.is_not(None), c.withdrawn_ms < cutoff_ms)
            .order_by(c.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if ids:
        conn.execute(delete(consents).where(c.id.in_(ids)))
    return len(ids)


async def keep_evidence(ctx: ErasureContext) -> dict[str, dict[str, int]]:
    """Evidence records stay: they hold hashes (blind index, keyed content commitment), and
    deleting one would break every later proof of the tenant's log."""
    n = 0
    async with ctx.db.read.connect() as conn:
        for start in range(0, len(ctx.message_ids), _CHUNK):
            chunk = ctx.message_ids[start : start + _CHUNK]
            n += (
                await conn.execute(
                    select(func.count())
                    .select_from(evidence_records)
                    .where(evidence_records.c.tenant_id == ctx.tenant_id, evidence_records.c.message_id.in_(chunk))
                )
            ).scalar() or 0
    return {"kept": {"evidence_records": n}}


# -- export ----------------------------------------------------------------------------------


def _json(raw: bytes | None):
    return orjson.loads(raw) if raw else None


async def export_messages(ctx: ExportContext) -> list[dict]:
    """Each message as the recipient got it: number, card or template and the variables filled
    in, the card page an SMS linked to, the status and its history."""
    k, t = ctx.keyring, ctx.tenant_id
    out = []
    async with ctx.db.read.connect() as conn:
        rows = (
            await conn.execute(
                select(messages, batches.c.card_enc, batches.c.template_ref, batches.c.traffic_type)
                .join(batches, batches.c.id == messages.c.batch_id)
                .where(messages.c.tenant_id == t, messages.c.to_bidx == ctx.bidx)
                .order_by(messages.c.id)
            )
        ).all()
        for r in rows:
            events = (
                await conn.execute(
                    select(message_events)
                    .where(message_events.c.message_id == r.id)
                    .order_by(message_events.c.at_ms, message_events.c.id)
                )
            ).all()
            links = (await conn.execute(select(short_links).where(short_links.c.message_id == r.id))).all()
            item = {
                "id": r.id,
                "batch_id": r.batch_id,
                "to": k.open(t, "messages", "to", r.id, r.to_enc).decode(),
                "traffic_type": r.traffic_type,
                "status": r.status,
                "created_at": ms_to_rfc3339(r.created_ms),
                "updated_at": ms_to_rfc3339(r.updated_ms),
                "card": _json(k.open(t, "batches", "card", r.batch_id, r.card_enc)) if r.card_enc else None,
                "template": _json(r.template_ref.encode()) if r.template_ref else None,
                "variables": _json(k.open(t, "messages", "variables", r.id, r.variables_enc))
                if r.variables_enc
                else None,
                "events": [
                    {"type": e.type, "at": ms_to_rfc3339(e.at_ms), "source": e.source, "detail": e.detail or {}}
                    for e in events
                ],
                "link_pages": [
                    {
                        "created_at": ms_to_rfc3339(link.created_ms),
                        "expires_at": ms_to_rfc3339(link.expires_ms),
                        "card": _json(k.open(t, "short_links", "card", link.token, link.card_enc))
                        if link.card_enc
                        else None,
                    }
                    for link in links
                ],
            }
            out.append(item)
    ctx.message_ids[:] = [m["id"] for m in out]
    return out


async def export_clicks(ctx: ExportContext) -> list[dict]:
    """Taps and page views on the number's link pages (no address or agent is ever stored)."""
    out = []
    async with ctx.db.read.connect() as conn:
        for start in range(0, len(ctx.message_ids), _CHUNK):
            chunk = ctx.message_ids[start : start + _CHUNK]
            rows = await conn.execute(
                select(link_clicks)
                .where(link_clicks.c.tenant_id == ctx.tenant_id, link_clicks.c.message_id.in_(chunk))
                .order_by(link_clicks.c.id)
            )
            out += [
                {
                    "message_id": c.message_id,
                    "at": ms_to_rfc3339(c.at_ms),
                    "kind": c.kind,
                    "action": c.action,
                    "agent": c.agent,
                }
                for c in rows
            ]
    return out


async def export_opt_outs(ctx: ExportContext) -> list[dict]:
    async with ctx.db.read.connect() as conn:
        rows = await conn.execute(
            select(opt_outs).where(opt_outs.c.tenant_id == ctx.tenant_id, opt_outs.c.to_bidx == ctx.bidx)
        )
        return [{"created_at": ms_to_rfc3339(r.created_ms), "source": r.source} for r in rows]


async def export_consents(ctx: ExportContext) -> list[dict]:
    """The number's consents, with the proof as it was recorded."""
    c = consents.c
    async with ctx.db.read.connect() as conn:
        rows = (
            await conn.execute(
                select(consents).where(c.tenant_id == ctx.tenant_id, c.to_bidx == ctx.bidx).order_by(c.id)
            )
        ).all()
    return [
        {
            "id": r.id,
            "scope": r.scope,
            "brand": r.brand,
            "source": r.source,
            "granted_at": ms_to_rfc3339(r.granted_ms),
            "withdrawn_at": ms_to_rfc3339(r.withdrawn_ms) if r.withdrawn_ms is not None else None,
            "proof": _json(ctx.keyring.open(ctx.tenant_id, "consents", "proof", r.id, r.proof_enc))
            if r.proof_enc
            else None,
        }
        for r in rows
    ]


def register(registry: Registry) -> None:
    """The platform's own kinds, consent records and the opt-out list among them."""
    # Order matters: a message purge takes its events and clicks along, so those kinds go first
    # (each is counted under its own name when its own retention is the shorter).
    for kind in (
        RetentionKind("clicks", "short-link page views and taps", 90, purge_clicks),
        RetentionKind(
            "events",
            "status history of final messages (kept as hashes in the evidence log)",
            180,
            purge_events,
            min_days=FIVE_MONTHS_DAYS,
        ),
        RetentionKind(
            "webhook_deliveries", "webhook deliveries done with (pending ones are kept)", 30, purge_webhook_deliveries
        ),
        RetentionKind("idempotency_replays", "answers kept for Idempotency-Key replays", 7, purge_idempotency),
        RetentionKind(
            "messages",
            "final messages (recipient number, variables, card) with their events, link pages and clicks",
            180,
            purge_messages,
            min_days=FIVE_MONTHS_DAYS,
        ),
        RetentionKind("media", "uploaded images and videos (brand content; kept unless set)", None, purge_media),
        RetentionKind(
            "consents",
            "withdrawn consents, counted from the withdrawal (active ones are kept)",
            365,
            purge_consents,
            min_days=CONSENT_MIN_RETENTION_DAYS,
        ),
    ):
        registry.add_retention(kind)
    registry.add_eraser("messages", erase_messages)
    registry.add_eraser("send_caps", erase_send_caps)
    registry.add_eraser("idempotency_replays", erase_idempotency)
    registry.add_eraser("webhook_deliveries", erase_unlinked_webhooks)
    registry.add_eraser("opt_outs", erase_opt_out_numbers)
    registry.add_eraser("consents", erase_consents)
    registry.add_eraser("contacts", erase_contacts)
    registry.add_eraser("evidence_records", keep_evidence)
    registry.add_exporter("messages", export_messages)
    registry.add_exporter("clicks", export_clicks)
    registry.add_exporter("opt_outs", export_opt_outs)
    registry.add_exporter("consents", export_consents)
    registry.add_exporter("contacts", export_contacts)


register(REGISTRY)
