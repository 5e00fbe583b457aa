"""The SMS step: fallback_pending → sms_sent → sms_delivered | sms_failed.

The SMS is the tenant's signature, the card as plain text and a short link to the card's page.
The link is created in the same transaction as the `sms_sent` change; the route's part ids
are stored with it so a restart tracks their receipts again. Before a submit an intent is
committed: a restart that finds an intent without part ids cannot know whether the route took
the message, and fails it rather than risk a second SMS.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, and_, select

import cards
from dispatch.jobs import Job
from dispatch.retry import RetryPolicy
from dispatch.state import dispatch_state, upsert_state
from fallback.compose import ComposeError, compose_sms
from fallback.route import MessageOutcome, NoRouteAvailable, SentSms, SmsGateway, SubmitError
from messages import lifecycle
from messages.lifecycle import Change, Lifecycle
from messages.status import Status
from messages.tables import messages
from store import Database, GroupWriter
from store.writer import WriteBatch

log = logging.getLogger("hongyan.dispatch.sms")

S = Status
SOURCE = "sms"
DEFAULT_SOURCE_ADDR = "1069000000"
_PENDING = frozenset({S.FALLBACK_PENDING})
_OUTCOMES_PER_COMMIT = 500
DEFAULT_RETRY = RetryPolicy()


class LinkMaker(Protocol):
    """Short links to a card's page (fallback.shortlinks.ShortLinks)."""

    def add_link(self, batch: WriteBatch, *, tenant_id: str, message_id: str, batch_id: str, card: dict) -> str: ...


@dataclass
class SmsCounts:
    sms_sent: int = 0
    sms_delivered: int = 0
    sms_failed: int = 0
    retries: int = 0


class SmsStage:
    """Sends fallback SMS for claimed jobs and turns rolled-up receipts into statuses."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        lifecycle: Lifecycle,
        gateway: SmsGateway,
        links: LinkMaker,
        *,
        signature_of: Callable[[str], Awaitable[str]],
        extension_of: Callable[[str], Awaitable[str | None]] | None = None,
        now_ms: Callable[[], int],
        notify: Callable[[], None] = lambda: None,
        source_addr: str = DEFAULT_SOURCE_ADDR,
        retry: RetryPolicy = DEFAULT_RETRY,
        rng: random.Random | None = None,
    ):
        self.db, self.writer, self.lifecycle = db, writer, lifecycle
        self.gateway, self.links = gateway, links
        self.signature_of = signature_of
        self.extension_of = extension_of
        self.now_ms = now_ms
        self.notify = notify
        self.source_addr = source_addr
        self.retry = retry
        self.rng = rng or random.Random()
        self.counts = SmsCounts()
        self._outcomes: asyncio.Queue[MessageOutcome] = asyncio.Queue()
        self._reader: asyncio.Task | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Record receipts as they come, and track the parts of SMS sent before a restart."""
        self._reader = asyncio.create_task(self._read_outcomes(), name="sms-receipts")
        await self.resume()

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None

    def outcome(self, outcome: MessageOutcome) -> None:
        """A route's rolled-up receipt (the routes' `on_outcome` hook); recorded in batches."""
        self._outcomes.put_nowait(outcome)

    async def resume(self) -> int:
        """Track the part ids of every SMS still waiting for its receipts; returns how many."""
        query = (
            select(dispatch_state.c.message_id, dispatch_state.c.sms_route, dispatch_state.c.sms_part_ids)
            .join(messages, messages.c.id == dispatch_state.c.message_id)
            .where(and_(messages.c.status == S.SMS_SENT, dispatch_state.c.sms_part_ids.is_not(None)))
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        tracked = 0
        for r in rows:
            if not self.gateway.track(r.sms_route, r.message_id, list(r.sms_part_ids)):
                log.warning("SMS %s was sent on route %s, which is no longer configured", r.message_id, r.sms_route)
                continue
            tracked += 1
        return tracked

    # -- sending -----------------------------------------------------------------------------
    async def send(self, jobs: list[Job]) -> None:
        """Send the SMS of claimed fallback_pending jobs and commit what became of each."""
        if not jobs:
            return
        interrupted, moved = await self._mark_intent(jobs)
        now_ms = self.now_ms()
        reason = "interrupted by a restart during the SMS submit; not sent again"
        changes = [
            Change(j.id, S.SMS_FAILED, now_ms, SOURCE, {"reason": reason}, when=_PENDING, due_ms=None)
            for j in jobs
            if j.id in interrupted
        ]
        batch = WriteBatch()
        results = await asyncio.gather(
            *(self._send_one(j, batch) for j in jobs if j.id not in interrupted and j.id not in moved)
        )
        changes.extend(c for c in results if c is not None)
        self.lifecycle.add(batch, changes)
        await self.writer.write(batch)
        self.notify()

    async def sender_number(self, tenant_id: str) -> str:
        """The platform's sender number and the tenant's extension code: replies reach the brand."""
        ext = await self.extension_of(tenant_id) if self.extension_of is not None else None
        return self.source_addr + (ext or "")

    async def _mark_intent(self, jobs: list[Job]) -> tuple[set[str], set[str]]:
        """Commit the intent to submit: (interrupted before, moved on meanwhile). A message no
        longer `fallback_pending` (cancelled, opted out since it was claimed) is not sent."""
        now_ms = self.now_ms()
        ids = [j.id for j in jobs]
        interrupted: set[str] = set()
        moved: set[str] = set()

        def mark(conn: Connection) -> None:
            pending = lifecycle.in_status(conn, ids, S.FALLBACK_PENDING)
            moved.update(i for i in ids if i not in pending)
            seen = conn.execute(
                select(dispatch_state.c.message_id).where(
                    dispatch_state.c.message_id.in_(ids), dispatch_state.c.sms_intent_ms.is_not(None)
                )
            ).all()
            interrupted.update(r.message_id for r in seen)
            for j in jobs:
                if j.id not in interrupted and j.id not in moved:
                    upsert_state(conn, j.id, j.tenant_id, sms_intent_ms=now_ms)

        await self.writer.write(WriteBatch().run(mark))
        return interrupted, moved

    async def _send_one(self, job: Job, batch: WriteBatch) -> Change | None:
        now_ms = self.now_ms()
        if job.card is None:
            return Change(
                job.id, S.SMS_FAILED, now_ms, SOURCE, {"reason": "no card to send"}, when=_PENDING, due_ms=None
            )
        mine = WriteBatch()
        link = self.links.add_link(
            mine, tenant_id=job.tenant_id, message_id=job.id, batch_id=job.batch_id, card=job.card
        )
        try:
            text = compose_sms(
                signature=await self.signature_of(job.tenant_id),
                body_text=cards.render_text(job.card),
                short_link=link,
                traffic_type=job.traffic_type,
            )
        except ComposeError as exc:
            reason = {"reason": f"cannot compose the SMS: {exc}"}
            return Change(job.id, S.SMS_FAILED, now_ms, SOURCE, reason, when=_PENDING, due_ms=None)
        attempt = job.attempts + 1
        try:
            sent: SentSms = await self.gateway.send(
                job.to, text, await self.sender_number(job.tenant_id), reference=job.id
            )
        except (NoRouteAvailable, SubmitError) as exc:
            now_ms = self.now_ms()
            batch.run(_clear_intent(job.id))
            if isinstance(exc, SubmitError) and not exc.transient:
                refused = {"reason": f"refused by the SMSC: {exc.status}"}
                return Change(
                    job.id, S.SMS_FAILED, now_ms, SOURCE, refused, when=_PENDING, due_ms=None, attempts=attempt
                )
            self.counts.retries += 1
            wait = exc.retry_after if isinstance(exc, NoRouteAvailable) else None
            due = now_ms + int(self.retry.delay(attempt, wait, self.rng) * 1000)
            # Not a status change: the message stays fallback_pending until a route takes it.
            batch.run(lambda conn: lifecycle.reschedule(conn, job.id, due_ms=due, when=_PENDING, attempts=attempt))
            return None
        seg = sent.result.segmentation
        for table, rows in mine.inserts.items():
            batch.insert(table, rows)
        part_ids, route, sent_ms = list(sent.result.part_ids), sent.route, self.now_ms()
        batch.run(
            lambda conn: conn.execute(
                dispatch_state.update()
                .where(dispatch_state.c.message_id == job.id)
                .values(sms_route=route, sms_part_ids=part_ids, sms_sent_ms=sent_ms)
            )
        )
        self.counts.sms_sent += 1
        detail: dict = {"segments": seg.segments, "encoding": seg.encoding, "route": route, "short_link": link}
        return Change(
            job.id,
            S.SMS_SENT,
            sent_ms,
            SOURCE,
            detail,
            when=_PENDING,
            due_ms=None,
            attempts=attempt,
            record_anyway=True,
        )

    # -- receipts ----------------------------------------------------------------------------
    async def _read_outcomes(self) -> None:
        while True:
            outcomes = [await self._outcomes.get()]
            while not self._outcomes.empty() and len(outcomes) < _OUTCOMES_PER_COMMIT:
                outcomes.append(self._outcomes.get_nowait())
            try:
                await self.on_outcomes(outcomes)
            except Exception:
                log.exception("recording %d SMS receipts failed", len(outcomes))

    async def on_outcomes(self, outcomes: list[MessageOutcome]) -> None:
        """Rolled-up receipts → sms_delivered | sms_failed with every part's receipt."""
        now_ms = self.now_ms()
        changes = []
        for o in outcomes:
            status = S.SMS_DELIVERED if o.status == "delivered" else S.SMS_FAILED
            if status is S.SMS_DELIVERED:
                self.counts.sms_delivered += 1
            else:
                self.counts.sms_failed += 1
            detail: dict = {"parts": [{"id": p.message_id, "stat": p.stat, "err": p.err} for p in o.parts]}
            if o.reason:
                detail["reason"] = o.reason
            changes.append(Change(o.reference, status, now_ms, "smsc", detail, due_ms=None))
        batch = WriteBatch()
        self.lifecycle.add(batch, changes)
        await self.writer.write(batch)
        self.notify()


def _clear_intent(message_id: str):
    def clear(conn: Connection) -> None:
        conn.execute(
            dispatch_state.update().where(dispatch_state.c.message_id == message_id).values(sms_intent_ms=None)
        )

    return clear
