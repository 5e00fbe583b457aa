"""The SMS stage of the dispatcher: fallback_pending → sms_sent → sms_delivered | sms_failed.

The SMS is the tenant's signature, the card as plain text and a short link to the card's page
(DESIGN.md §5, §6). The link is created in the same transaction as the `sms_sent` transition;
the SMSC's part ids are stored with it so a restart tracks their receipts again. Before a
submit an intent is committed: a restart that finds an intent without part ids cannot know
whether the SMSC took the message, and fails it rather than risk a second SMS.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Awaitable, Callable, Mapping

from sqlalchemy import Connection, and_, select

import cards
from fallback.client import MessageOutcome, SmppClient, SmppError
from fallback.compose import ComposeError, compose_sms
from fallback.routing import NoRouteAvailable
from fallback.sender import SentSms, SmsSender
from fallback.shortlinks import ShortLinks
from messages.tables import messages
from rcs.dispatcher import Job, RetryPolicy, _upsert
from rcs.transitions import Change, Transitions, dispatch_state
from store import Clock, Database, GroupWriter, SystemClock
from store.writer import WriteBatch

log = logging.getLogger("hongyan.dispatch.sms")

SOURCE = "sms"
DEFAULT_SOURCE_ADDR = "1069000000"


class SmsDispatch:
    """Sends fallback SMS for claimed jobs and turns rolled-up receipts into statuses."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        transitions: Transitions,
        sender: SmsSender,
        links: ShortLinks,
        *,
        signature_of: Callable[[str], Awaitable[str]],
        extension_of: Callable[[str], Awaitable[str | None]] | None = None,
        notify: Callable[[], None] = lambda: None,
        clock: Clock | None = None,
        source_addr: str = DEFAULT_SOURCE_ADDR,
        retry: RetryPolicy = RetryPolicy(),
        rng: random.Random | None = None,
    ):
        self.db, self.writer, self.transitions = db, writer, transitions
        self.sender, self.links = sender, links
        self.signature_of = signature_of
        self.extension_of = extension_of
        self.notify = notify
        self.clock = clock or SystemClock()
        self.source_addr = source_addr
        self.retry = retry
        self.rng = rng or random.Random()
        self._readers: list[asyncio.Task] = []
        self.counts = {"sms_sent": 0, "sms_delivered": 0, "sms_failed": 0, "retries": 0}

    @property
    def clients(self) -> Mapping[str, SmppClient]:
        return self.sender.clients

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Read receipts from every route and track the parts of SMS sent before a restart."""
        for name, client in self.clients.items():
            self._readers.append(asyncio.create_task(self._read_outcomes(client), name=f"sms-receipts-{name}"))
        await self.resume()

    async def stop(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._readers.clear()

    async def resume(self) -> int:
        """`track()` the part ids of every SMS still waiting for its receipts; returns how many."""
        query = select(dispatch_state.c.message_id, dispatch_state.c.sms_route, dispatch_state.c.sms_part_ids).join(
            messages, messages.c.id == dispatch_state.c.message_id
        ).where(and_(messages.c.status == "sms_sent", dispatch_state.c.sms_part_ids.is_not(None)))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        tracked = 0
        for r in rows:
            client = self.clients.get(r.sms_route)
            if client is None:
                log.warning("SMS %s was sent on route %s, which is no longer configured", r.message_id, r.sms_route)
                continue
            client.track(r.message_id, list(r.sms_part_ids))
            tracked += 1
        return tracked

    # -- sending -----------------------------------------------------------------------------
    async def send(self, jobs: list[Job]) -> None:
        """Send the SMS of claimed fallback_pending jobs and commit what became of each."""
        if not jobs:
            return
        interrupted = await self._mark_intent(jobs)
        now_ms = self.now_ms()
        changes = [Change(j.id, "sms_failed", now_ms, SOURCE,
                          {"reason": "interrupted by a restart during the SMS submit; not sent again"},
                          when=frozenset({"fallback_pending"}), due_ms=None)
                   for j in jobs if j.id in interrupted]
        batch = WriteBatch()
        results = await asyncio.gather(*(self._send_one(j, batch) for j in jobs if j.id not in interrupted))
        changes.extend(c for c in results if c is not None)
        self.transitions.add(batch, changes)
        await self.writer.write(batch)
        self.notify()

    async def sender_number(self, tenant_id: str) -> str:
        """The platform's sender number and the tenant's extension code: replies reach the brand."""
        ext = await self.extension_of(tenant_id) if self.extension_of is not None else None
        return self.source_addr + (ext or "")

    async def _mark_intent(self, jobs: list[Job]) -> set[str]:
        now_ms = self.now_ms()
        ids = [j.id for j in jobs]
        interrupted: set[str] = set()

        def mark(conn: Connection) -> None:
            seen = conn.execute(select(dispatch_state.c.message_id).where(
                dispatch_state.c.message_id.in_(ids), dispatch_state.c.sms_intent_ms.is_not(None))).all()
            interrupted.update(r.message_id for r in seen)
            for j in jobs:
                if j.id not in interrupted:
                    _upsert(conn, {"message_id": j.id, "tenant_id": j.tenant_id, "sms_intent_ms": now_ms},
                            {"sms_intent_ms": now_ms})

        await self.writer.write(WriteBatch().run(mark))
        return interrupted

    async def _send_one(self, job: Job, batch: WriteBatch) -> Change | None:
        now_ms = self.now_ms()
        pending = frozenset({"fallback_pending"})
        if job.card is None:
            return Change(job.id, "sms_failed", now_ms, SOURCE, {"reason": "no card to send"}, when=pending, due_ms=None)
        mine = WriteBatch()
        link = self.links.add_link(mine, tenant_id=job.tenant_id, message_id=job.id, batch_id=job.batch_id,
                                   card=job.card)
        try:
            text = compose_sms(signature=await self.signature_of(job.tenant_id),
                               body_text=cards.render_text(job.card), short_link=link, traffic_type=job.traffic_type)
        except ComposeError as exc:
            return Change(job.id, "sms_failed", now_ms, SOURCE, {"reason": f"cannot compose the SMS: {exc}"},
                          when=pending, due_ms=None)
        attempt = job.attempts + 1
        try:
            sent: SentSms = await self.sender.send(job.to, text, await self.sender_number(job.tenant_id),
                                                   reference=job.id)
        except (NoRouteAvailable, SmppError) as exc:
            now_ms = self.now_ms()
            permanent = isinstance(exc, SmppError) and not exc.transient
            batch.run(_clear_intent(job.id))
            if permanent:
                return Change(job.id, "sms_failed", now_ms, SOURCE, {"reason": f"refused by the SMSC: {exc.status}"},
                              when=pending, due_ms=None, attempts=attempt)
            self.counts["retries"] += 1
            wait = exc.retry_after if isinstance(exc, NoRouteAvailable) else None
            due = now_ms + int(self.retry.delay(attempt, wait, self.rng) * 1000)
            # Not a transition: the message stays fallback_pending until a route takes it.
            batch.run(_reschedule(job.id, due, attempt))
            return None
        seg = sent.result.segmentation
        batch.inserts.update({t: batch.inserts.get(t, []) + rows for t, rows in mine.inserts.items()})
        part_ids, route, sent_ms = list(sent.result.part_ids), sent.route, self.now_ms()
        batch.run(lambda conn: conn.execute(
            dispatch_state.update().where(dispatch_state.c.message_id == job.id)
            .values(sms_route=route, sms_part_ids=part_ids, sms_sent_ms=sent_ms)))
        self.counts["sms_sent"] += 1
        return Change(job.id, "sms_sent", sent_ms, SOURCE,
                      {"segments": seg.segments, "encoding": seg.encoding, "route": route, "short_link": link},
                      when=pending, due_ms=None, attempts=attempt, record_anyway=True)

    # -- receipts ----------------------------------------------------------------------------
    async def _read_outcomes(self, client: SmppClient) -> None:
        while True:
            outcomes = [await client.outcomes.get()]
            while not client.outcomes.empty() and len(outcomes) < 500:
                outcomes.append(client.outcomes.get_nowait())
            try:
                await self.on_outcomes(outcomes)
            except Exception:
                log.exception("recording %d SMS receipts failed", len(outcomes))

    async def on_outcomes(self, outcomes: list[MessageOutcome]) -> None:
        """Rolled-up receipts → sms_delivered | sms_failed with every part's receipt."""
        now_ms = self.now_ms()
        changes = []
        for o in outcomes:
            status = "sms_delivered" if o.status == "delivered" else "sms_failed"
            self.counts[status] += 1
            detail = {"parts": [{"id": p.message_id, "stat": p.stat, "err": p.err} for p in o.parts]}
            if o.reason:
                detail["reason"] = o.reason
            changes.append(Change(o.reference, status, now_ms, "smsc", detail,
                                  when=frozenset({"sms_sent", "fallback_pending"}), due_ms=None))
        batch = WriteBatch()
        self.transitions.add(batch, changes)
        await self.writer.write(batch)
        self.notify()


def _clear_intent(message_id: str):
    def clear(conn: Connection) -> None:
        conn.execute(dispatch_state.update().where(dispatch_state.c.message_id == message_id)
                     .values(sms_intent_ms=None))
    return clear


def _reschedule(message_id: str, due_ms: int, attempts: int):
    def reschedule(conn: Connection) -> None:
        conn.execute(messages.update().where(messages.c.id == message_id, messages.c.status == "fallback_pending")
                     .values(due_ms=due_ms, attempts=attempts, lease_owner=None, lease_until_ms=None))
    return reschedule
