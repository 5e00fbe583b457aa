"""A send against the compliance word lists: refused (422) when a `block` word is in it, its
messages held for a reviewer when a `review` word is; and a reviewer's decision on held messages
(released as if just accepted, or rejected with the reason) through the lifecycle writer.

The card's own text is screened once, each recipient's variables on their own: a match in the
card holds every recipient, one in a recipient's variables only that recipient.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import select

import security
from api.problems import pointer
from compliance.reviews import MESSAGE, Applier, Decision, item_row
from compliance.screen import Screen, Verdict
from messages.lifecycle import Change, Lifecycle
from messages.request import SendRequest
from messages.status import Status
from messages.tables import batches
from store import Database, new_id
from store.clock import rfc3339
from store.writer import WriteBatch

SOURCE = "compliance"
# tenant id, batch id, {message id: due at accept}, now → {message id: due once approved}
DueAfterReview = Callable[[str, str, dict, int], Awaitable[dict[str, int]]]
_HELD = frozenset({Status.HELD})


@dataclass
class Hold:
    """Recipients of a send to hold for review (None: all of them), and why."""

    review_id: str
    verdict: Verdict

    def apply(
        self,
        life: Lifecycle,
        keyring: security.Keyring,
        *,
        tenant_id: str,
        batch_id: str,
        now_ms: int,
        msg_rows: list[dict],
        event_rows: list[dict],
        answer: list[dict],
    ) -> dict | None:
        """Turn the accept's new rows of the held recipients into `held` ones (no due time, one
        `held` event) and return the review item's row; None when nobody is left to hold."""
        chosen = self.verdict.review_recipients
        held: dict[str, int | None] = {}
        for seq, row in enumerate(msg_rows):
            if row["status"] == Status.REJECTED or (chosen is not None and seq not in chosen):
                continue
            held[row["id"]] = row["due_ms"]
            row["status"], row["due_ms"] = Status.HELD, None
            answer[seq]["status"] = Status.HELD
            answer[seq]["review_id"] = self.review_id
        if not held:
            return None
        categories = sorted({m.rule.category or "" for m in self.verdict.review})
        detail = {"review_id": self.review_id, "reason": "held for review: " + ", ".join(categories)}
        event_rows[:] = [e for e in event_rows if e["message_id"] not in held]
        event_rows.extend(life.event_row(mid, tenant_id, Status.HELD, now_ms, SOURCE, detail) for mid in held)
        return item_row(
            keyring,
            tenant_id=tenant_id,
            kind=MESSAGE,
            subject=batch_id,
            matches=self.verdict.review,
            detail={"held": len(held), "messages": held},
            now_ms=now_ms,
            review_id=self.review_id,
        )


async def screen_request(screen: Screen | None, req: SendRequest, tenant_id: str) -> Hold | None:
    """Screen a checked send request: raise the 422 for a `block` word, return what to hold for a
    `review` word, None when it passes (or no screen is wired)."""
    if screen is None:
        return None
    doc = req.card if req.card is not None else req.resolved_card
    recipients = [r.variables for r in req.recipients]
    # Where a document's field is in the request: a template's text has no place in the body.
    place = req.request_pointer if req.card is not None else (lambda path: "/template" + path)
    # A tenant's template version is sent only once approved: its own text was reviewed.
    reviewed = req.template is not None and "id" in req.template
    verdict = await screen.send(tenant_id, doc, place, recipients, _variables_place(req), reviewed=reviewed)
    verdict.refuse()
    if not verdict.review:
        return None
    return Hold(new_id(), verdict)


def _variables_place(req: SendRequest) -> Callable[[int], str]:
    """Where recipient i's variables are in the request."""
    if req.batch:
        return lambda i: pointer("recipients", i, "variables")
    return lambda i: "/variables"


def held_view(db: Database, keyring: security.Keyring) -> Callable[[dict], Awaitable[dict]]:
    """What a reviewer sees of a held batch: its content as stored (the card, or the template's
    card it resolved to), its template reference and traffic type."""

    async def view(item: dict) -> dict:
        async with db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        batches.c.card_enc, batches.c.template_ref, batches.c.traffic_type, batches.c.recipient_count
                    ).where(batches.c.id == item["subject"], batches.c.tenant_id == item["tenant_id"])
                )
            ).first()
        if row is None:
            return {}
        card = (
            keyring.open(item["tenant_id"], "batches", "card", item["subject"], row.card_enc) if row.card_enc else None
        )
        return {
            "batch_id": item["subject"],
            "content": orjson.loads(card) if card else None,
            "template": orjson.loads(row.template_ref) if row.template_ref else None,
            "traffic_type": row.traffic_type,
            "recipients": row.recipient_count,
        }

    return view


def release_held(life: Lifecycle, due_after_review: DueAfterReview) -> Applier:
    """The review queue's applier for held messages: approved, each goes on as if accepted now
    (scheduled while its send time — or its send window — is ahead); rejected, each ends
    `rejected` with the reason."""

    async def apply(d: Decision) -> WriteBatch:
        held: dict = (d.item.get("detail") or {}).get("messages") or {}
        dues = await due_after_review(d.item["tenant_id"], d.item["subject"], held, d.at_ms) if d.approved else {}
        changes = []
        for mid in held:
            detail: dict = {"review_id": d.item["id"]}
            due = dues.get(mid, d.at_ms)
            if not d.approved:
                detail["reason"] = f"rejected in review: {d.reason}"
                changes.append(Change(mid, Status.REJECTED, d.at_ms, "review", detail, when=_HELD, due_ms=None))
            elif due > d.at_ms:
                detail["send_at"] = rfc3339(datetime.fromtimestamp(due / 1000, UTC))
                changes.append(Change(mid, Status.SCHEDULED, d.at_ms, "review", detail, when=_HELD, due_ms=due))
            else:
                changes.append(Change(mid, Status.ACCEPTED, d.at_ms, "review", detail, when=_HELD, due_ms=d.at_ms))
        batch = WriteBatch()
        life.add(batch, changes)
        return batch

    return apply
