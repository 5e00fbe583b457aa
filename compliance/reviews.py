"""The review queue: what was held for a person to decide, and every decision, chained.

An item is a batch's held messages (`message`), a template version (`template`), a signature
(`signature`) or chatbot information submitted to the operator (`chatbot`: a menu or profile
publish, which the operator audits; the CN CSP interface audits nothing else a tenant submits). Deciding runs the item kind's applier — which releases or rejects the held
messages, approves or rejects the template version… — and records the decision in the same
transaction where the applier allows it: the item's new state, and a `review_events` record
chained per tenant (SM3 over the previous hash and the decision's canonical facts), which
`verify_chain` recomputes.

One state per item combines our reviewer's decision and the operator's audit: `pending` (our
reviewer's turn) → `approved` | `rejected`; an item the operator audits waits in
`pending_operator` → `operator_approved` | `operator_rejected` (the operator's reason), each
verdict chained like a decision (actor `operator`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, and_, select, update
from sqlalchemy.exc import IntegrityError

import security
from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from compliance.chain import TenantChain, sm3
from compliance.matcher import Match
from compliance.tables import review_events, review_items
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import rfc3339
from store.writer import WriteBatch

MESSAGE, TEMPLATE, SIGNATURE, CHATBOT = "message", "template", "signature", "chatbot"
KINDS = (MESSAGE, TEMPLATE, SIGNATURE, CHATBOT)
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
PENDING_OPERATOR, OPERATOR_APPROVED, OPERATOR_REJECTED = "pending_operator", "operator_approved", "operator_rejected"
STATES = (PENDING, APPROVED, REJECTED, PENDING_OPERATOR, OPERATOR_APPROVED, OPERATOR_REJECTED)
OPERATOR = "operator"  # the actor of an operator's audit verdict
MAX_REASON = 500


def _at(ms: int | None) -> str | None:
    return None if ms is None else rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


_CHAIN = TenantChain(review_events, "review", "review_id")
genesis, chain_hash = _CHAIN.genesis, _CHAIN.link


@dataclass(frozen=True)
class Decision:
    """A reviewer's decision on an item, handed to the item kind's applier."""

    item: dict  # the item row as a mapping
    approved: bool
    reason: str | None
    at_ms: int
    actor: str | None


# An applier carries a decision out: it returns a WriteBatch to commit with the decision (its
# changes and the decision together), or None when it committed its own change already.
Applier = Callable[[Decision], Awaitable[WriteBatch | None]]


def item_row(
    keyring: security.Keyring,
    *,
    tenant_id: str,
    kind: str,
    subject: str,
    matches: list[Match],
    detail: dict | None,
    now_ms: int,
    review_id: str | None = None,
) -> dict:
    """A new pending `review_items` row (its matches sealed: one may quote a recipient's variable)."""
    rid = review_id or new_id()
    found = orjson.dumps([m.as_dict(with_term=True) for m in matches])
    return {
        "id": rid,
        "tenant_id": tenant_id,
        "kind": kind,
        "subject": subject,
        "state": PENDING,
        "matches_enc": keyring.seal(tenant_id, "review_items", "matches", rid, found),
        "detail": detail,
        "reason": None,
        "created_ms": now_ms,
        "decided_ms": None,
    }


def operator_item_row(*, tenant_id: str, kind: str, subject: str, detail: dict | None, now_ms: int) -> dict:
    """A `review_items` row for something submitted to the operator, waiting for its audit."""
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "kind": kind,
        "subject": subject,
        "state": PENDING_OPERATOR,
        "matches_enc": None,
        "detail": detail,
        "reason": None,
        "created_ms": now_ms,
        "decided_ms": None,
    }


def record_operator_verdict(
    conn: Connection, *, tenant_id: str, kind: str, subject: str, passed: bool, reason: str | None, at_ms: int
) -> bool:
    """The operator's audit of an item waiting in `pending_operator` (inside the caller's
    transaction): its state, the operator's reason, and a chained record. False when no item
    waits for it."""
    r = review_items
    row = conn.execute(
        select(r).where(
            and_(r.c.tenant_id == tenant_id, r.c.kind == kind, r.c.subject == subject, r.c.state == PENDING_OPERATOR)
        )
    ).first()
    if row is None:
        return False
    reason = reason[:MAX_REASON] if reason else None
    _record(conn, Decision(dict(row._mapping), passed, reason, at_ms, OPERATOR), from_state=PENDING_OPERATOR)
    return True


class ReviewQueue:
    """Lists, shows and decides review items."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        clock: Clock | None = None,
    ):
        self.db = db
        self.writer = writer
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.appliers: dict[str, Applier] = {}
        # Called after a decision of that kind committed (held messages: wake the dispatchers).
        self.on_decided: dict[str, Callable[[], None]] = {}
        self.views: dict[str, Callable[[dict], Awaitable[dict]]] = {}  # kind → what the item is about

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def add(self, row: dict) -> None:
        """Queue an item made with `item_row` (templates and signatures; held messages come in
        their batch's own accept transaction)."""
        await self.writer.write(WriteBatch().insert(review_items, row))

    # -- reading -----------------------------------------------------------------------
    async def page(
        self, tenant_id: str, *, kind: str | None, state: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict], str | None]:
        errors = []
        if kind is not None and kind not in KINDS:
            errors.append(FieldError("/kind", f"one of {', '.join(KINDS)}"))
        if state is not None and state not in STATES:
            errors.append(FieldError("/state", f"one of {', '.join(STATES)}"))
        if errors:
            raise Problem(422, f"{len(errors)} query parameter(s) are invalid", errors)
        r = review_items
        query = select(r).where(r.c.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(r.c.kind == kind)
        if state is not None:
            query = query.where(r.c.state == state)
        if cursor:
            query = query.where(r.c.id < decode_cursor(cursor))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(r.c.id.desc()).limit(limit + 1))).all()
        more, rows = len(rows) > limit, rows[:limit]
        return [self._view(row) for row in rows], encode_cursor(rows[-1].id) if more and rows else None

    async def get(self, tenant_id: str, review_id: str, *, with_subject: bool = True) -> dict:
        row = await self._row(tenant_id, review_id)
        view = self._view(row)
        view["decisions"] = await self._decisions(tenant_id, review_id)
        describe = self.views.get(row.kind)
        if with_subject and describe is not None:
            view["subject_detail"] = await describe(dict(row._mapping))
        return view

    async def _row(self, tenant_id: str, review_id: str):
        r = review_items
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(r).where(and_(r.c.id == review_id, r.c.tenant_id == tenant_id)))).first()
        if row is None:
            raise Problem(404, "no such review item")
        return row

    def _view(self, row) -> dict:
        matches = (
            orjson.loads(self.keyring.open(row.tenant_id, "review_items", "matches", row.id, row.matches_enc))
            if row.matches_enc
            else []
        )
        detail = row.detail or {}
        return {
            "id": row.id,
            "kind": row.kind,
            "subject": row.subject,
            "state": row.state,
            "matches": matches,
            "held": detail.get("held"),
            "reason": row.reason,
            "created_at": _at(row.created_ms),
            "decided_at": _at(row.decided_ms),
        }

    async def _decisions(self, tenant_id: str, review_id: str) -> list[dict]:
        e = review_events
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(e).where(and_(e.c.tenant_id == tenant_id, e.c.review_id == review_id)).order_by(e.c.seq)
                )
            ).all()
        return [{"seq": r.seq, "facts": orjson.loads(r.facts), "hash": r.hash.hex()} for r in rows]

    # -- deciding ----------------------------------------------------------------------
    async def decide(
        self, tenant_id: str, review_id: str, *, approved: bool, reason: str | None, actor: str | None = None
    ) -> dict:
        """Approve or reject a pending item (a rejection needs a reason); 409 once decided."""
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise Problem(422, "reason is a string", [FieldError("/reason", f"at most {MAX_REASON} characters")])
        reason = reason.strip() if reason else None
        if not approved and not reason:
            raise Problem(422, "a rejection needs a reason", [FieldError("/reason", "required to reject")])
        row = await self._row(tenant_id, review_id)
        if row.state == PENDING_OPERATOR:
            raise Problem(409, "this item waits for the operator's audit, not a reviewer", extra={"state": row.state})
        if row.state != PENDING:
            raise Problem(409, f"this item was already {row.state}", extra={"state": row.state})
        decision = Decision(dict(row._mapping), approved, reason, self.now_ms(), actor)
        applier = self.appliers.get(row.kind)
        if applier is None:
            raise Problem(503, f"{row.kind} reviews cannot be decided by this server")
        batch = await applier(decision) or WriteBatch()
        batch.run(lambda conn: _record(conn, decision))
        for attempt in range(3):
            try:
                await self.writer.write(batch)
                break
            except IntegrityError:  # another process chained a decision of this tenant first
                if attempt == 2:
                    raise
        decided = self.on_decided.get(row.kind)
        if decided is not None:
            decided()
        return await self.get(tenant_id, review_id)


def _record(conn: Connection, d: Decision, *, from_state: str = PENDING) -> None:
    """The item's new state and the chained decision record (inside the applier's transaction)."""
    item = d.item
    if from_state == PENDING_OPERATOR:
        state = OPERATOR_APPROVED if d.approved else OPERATOR_REJECTED
    else:
        state = APPROVED if d.approved else REJECTED
    changed = conn.execute(
        update(review_items)
        .where(review_items.c.id == item["id"], review_items.c.state == from_state)
        .values(state=state, reason=d.reason, decided_ms=d.at_ms)
    ).rowcount
    if not changed:
        raise Problem(409, "this item was decided meanwhile")
    _CHAIN.append(conn, item["tenant_id"], item["id"], decision_facts(item, state, d), d.at_ms)


def decision_facts(item: dict, state: str, d: Decision) -> bytes:
    """The canonical facts of a decision (the reason as its SM3: free text stays out of the chain)."""
    return orjson.dumps(
        {
            "actor": d.actor,
            "at": _at(d.at_ms),
            "decision": state,
            "kind": item["kind"],
            "reason_sm3": sm3((d.reason or "").encode()).hex(),
            "review_id": item["id"],
            "subject": item["subject"],
        },
        option=orjson.OPT_SORT_KEYS,
    )


async def verify_chain(db: Database, tenant_id: str) -> tuple[int, int | None]:
    """Recompute a tenant's decision chain: (records checked, seq of the first break or None)."""
    return await _CHAIN.verify(db, tenant_id)


async def verify_all_chains(db: Database) -> list[tuple[str, int, int | None]]:
    """Every tenant's decision chain recomputed: [(tenant id, records checked, first break or None)]."""
    async with db.read.connect() as conn:
        tenants = [r[0] for r in await conn.execute(select(review_events.c.tenant_id).distinct())]
    return [(t, *(await verify_chain(db, t))) for t in sorted(tenants)]
