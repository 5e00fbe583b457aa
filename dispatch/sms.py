"""The SMS step: fallback_pending → sms_sent → sms_delivered | sms_failed.

The SMS is the tenant's signature, the card as plain text and a short link to the card's page.
The link is created in the same transaction as the `sms_sent` change; the route's part ids
are stored with it so a restart tracks their receipts again.

Nothing is lost or sent twice by a crash: right before a message's first part goes on the wire
(inside the route's window) a mark naming the route is committed, and each message's answer is
committed as soon as it comes. At most `max_in_flight` messages are between the two at any time.
After a restart only a message marked and never recorded as answered is *in doubt* — the SMSC
may or may not have it — and its route's policy decides: "report" ends it `sms_failed` (reason:
in doubt), "resend" sends it again. A message not marked was never written, and is simply sent. An SMS whose receipts do not come is asked about (query_sm) and,
past the receipt deadline, reported failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, and_, bindparam, select

import cards
from dispatch.batched import Batched
from dispatch.jobs import Job
from dispatch.observer import QUIET, Observer
from dispatch.retry import RetryPolicy
from dispatch.state import clear_sms_intent, dispatch_state, mark_sms_intent, sms_in_doubt
from fallback.compose import DEFAULT_OPT_OUT_TEXT, MARKETING_TRAFFIC, ComposeError, compose_sms
from fallback.route import MessageOutcome, NoRouteAvailable, PartState, SentSms, SmsGateway, SubmitError
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
_SENT = frozenset({S.SMS_SENT})
_OUTCOMES_PER_COMMIT = 500
DEFAULT_RETRY = RetryPolicy()
IN_DOUBT_REASON = "in doubt: handed to the SMSC without an answer (a restart or a lost connection); not sent again"
DELIVERED = "DELIVRD"
# Receipts overdue: asked about again after as long as the SMS has waited so far, at most this.
MAX_RECEIPT_WAIT_S = 6 * 3600.0
# A message's answer from the SMSC must not be lost to a database restart: retried this often.
_RESULT_ATTEMPTS = 8
# A message whose routes do not run here (none configured; for a test message, no sandbox
# route) waits this long before it is tried again: never on another's routes.
TEST_CARRIER = "sandbox"
NO_GATEWAY_RETRY_S = 60.0


class LinkMaker(Protocol):
    """Short links to a card's page (fallback.shortlinks.ShortLinks)."""

    def add_link(self, batch: WriteBatch, *, tenant_id: str, message_id: str, batch_id: str, card: dict) -> str: ...


@dataclass
class SmsCounts:
    sms_sent: int = 0
    sms_delivered: int = 0
    sms_failed: int = 0
    retries: int = 0
    in_doubt: int = 0
    queries: int = 0


@dataclass
class _Mark:
    message_id: str
    tenant_id: str
    route: str
    at_ms: int
    ok: bool = False  # set when committed: still fallback_pending and nobody else sending it


@dataclass
class _Result:
    """What became of one message: its change and the rows that go with it."""

    change: Change | None
    batch: WriteBatch = field(default_factory=WriteBatch)


class _MovedOn(Exception):
    """The message left fallback_pending (cancelled, opted out) or another sender has it."""


class SmsStage:
    """Sends fallback SMS for claimed jobs and turns rolled-up receipts into statuses."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        lifecycle: Lifecycle,
        gateway: SmsGateway | None,
        links: LinkMaker,
        *,
        signature_of: Callable[[str], Awaitable[str]],
        extension_of: Callable[[str], Awaitable[str | None]] | None = None,
        unsubscribe_text_of: Callable[[str], Awaitable[str]] | None = None,
        now_ms: Callable[[], int],
        notify: Callable[[], None] = lambda: None,
        source_addr: str = DEFAULT_SOURCE_ADDR,
        retry: RetryPolicy = DEFAULT_RETRY,
        receipt_wait_s: float = 600.0,
        receipt_deadline_s: float = 72 * 3600.0,
        max_in_flight: int = 32,
        rng: random.Random | None = None,
        observer: Observer = QUIET,
        test_gateway: SmsGateway | None = None,
    ):
        self.db, self.writer, self.lifecycle = db, writer, lifecycle
        self.observer = observer
        self.gateway, self.links = gateway, links
        # A test key's SMS go only here (the sandbox SMSC simulator), whatever routes are
        # configured; None: they wait for one.
        self.test_gateway = test_gateway
        self.signature_of = signature_of
        self.extension_of = extension_of
        # The tenant's unsubscribe text ending every marketing SMS (its compliance policy).
        self.unsubscribe_text_of = unsubscribe_text_of
        self.now_ms = now_ms
        self.notify = notify
        self.source_addr = source_addr
        self.retry = retry
        self.receipt_wait_ms = int(receipt_wait_s * 1000)
        self.receipt_deadline_ms = int(receipt_deadline_s * 1000)
        self.rng = rng or random.Random()
        self.counts = SmsCounts()
        self._outcomes: asyncio.Queue[MessageOutcome] = asyncio.Queue()
        self._reader: asyncio.Task | None = None
        self._sending: set[str] = set()  # messages this process is submitting now
        # Marked and not yet recorded as answered: what a crash can leave in doubt.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._mark = Batched(writer, self._marks_batch)
        self._record = Batched(writer, self._results_batch, attempts=_RESULT_ATTEMPTS, retry=retry)

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

    def gateway_for(self, test: bool) -> SmsGateway:
        """Where an SMS goes: the configured routes, or for a test message the simulator's;
        `NoRouteAvailable` when that is not there (the message waits for it)."""
        gateway = self.test_gateway if test else self.gateway
        if gateway is None:
            raise NoRouteAvailable(TEST_CARRIER if test else "any", NO_GATEWAY_RETRY_S)
        return gateway

    def outcome(self, outcome: MessageOutcome) -> None:
        """A route's rolled-up receipt (the routes' `on_outcome` hook); recorded in batches."""
        self._outcomes.put_nowait(outcome)

    async def resume(self) -> int:
        """Track the part ids of every SMS still waiting for its receipts; returns how many."""
        query = (
            select(
                dispatch_state.c.message_id, dispatch_state.c.sms_route, dispatch_state.c.sms_part_ids, messages.c.test
            )
            .join(messages, messages.c.id == dispatch_state.c.message_id)
            .where(and_(messages.c.status == S.SMS_SENT, dispatch_state.c.sms_part_ids.is_not(None)))
        )
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        tracked = 0
        for r in rows:
            try:
                gateway = self.gateway_for(bool(r.test))
            except NoRouteAvailable:
                continue
            if not gateway.track(r.sms_route, r.message_id, list(r.sms_part_ids)):
                log.warning("SMS %s was sent on route %s, which is no longer configured", r.message_id, r.sms_route)
                continue
            tracked += 1
        return tracked

    # -- sending -----------------------------------------------------------------------------
    async def send(self, jobs: list[Job]) -> None:
        """Send the SMS of claimed fallback_pending jobs; what became of each is committed as
        soon as it is known. A job found in doubt (marked, never answered) follows its route's
        policy."""
        jobs = [j for j in jobs if j.id not in self._sending]  # still in flight here
        if not jobs:
            return
        doubt = await sms_in_doubt(self.db, [j.id for j in jobs])
        fresh = [j for j in jobs if j.id not in doubt]
        again: list[Job] = []
        reported: list[_Result] = []
        for j in jobs:
            if j.id not in doubt:
                continue
            route = doubt[j.id]
            self.counts.in_doubt += 1
            gateway = self.test_gateway if j.test else self.gateway
            if route is not None and gateway is not None and gateway.in_doubt(route) == "resend":
                again.append(j)
            else:
                reported.append(_Result(self._in_doubt_change(j.id, route)))
        if again:
            # At least once: the route may have it already; its mark goes, and it is sent again.
            await self.writer.write(WriteBatch().run(lambda conn: clear_sms_intent(conn, [j.id for j in again])))
        sends = [self._send_one(j) for j in fresh] + [self._send_one(j, resent=True) for j in again]
        await asyncio.gather(*(self._commit(r) for r in reported), *sends)
        self.notify()

    def _in_doubt_change(self, message_id: str, route: str | None, **detail) -> Change:
        detail = {"reason": IN_DOUBT_REASON, "in_doubt": True, "route": route, **detail}
        return Change(message_id, S.SMS_FAILED, self.now_ms(), SOURCE, detail, when=_PENDING, due_ms=None)

    async def _unsubscribe_text(self, job: Job) -> str:
        if self.unsubscribe_text_of is None or job.traffic_type not in MARKETING_TRAFFIC:
            return DEFAULT_OPT_OUT_TEXT
        return await self.unsubscribe_text_of(job.tenant_id)

    async def sender_number(self, tenant_id: str) -> str:
        """The platform's sender number and the tenant's extension code: replies reach the brand."""
        ext = await self.extension_of(tenant_id) if self.extension_of is not None else None
        return self.source_addr + (ext or "")

    def _marks_batch(self, marks: list[_Mark]) -> WriteBatch:
        def mark(conn: Connection) -> None:
            pending = lifecycle.in_status(conn, [m.message_id for m in marks], S.FALLBACK_PENDING)
            done = mark_sms_intent(
                conn, [(m.message_id, m.tenant_id, m.route, m.at_ms) for m in marks if m.message_id in pending]
            )
            for m in marks:
                m.ok = m.message_id in done

        return WriteBatch().run(mark)

    async def _commit(self, result: _Result) -> None:
        """Record `result` (batched with others meanwhile), then tell the observer its statuses."""
        await self._record(result)
        if result.change is not None:
            self.observer.statuses([result.change.status.value, *(t.status.value for t in result.change.then)])

    def _results_batch(self, results: list[_Result]) -> WriteBatch:
        batch = WriteBatch()
        for r in results:
            for table, rows in r.batch.inserts.items():
                batch.insert(table, rows)
            batch.statements.extend(r.batch.statements)
        self.lifecycle.add(batch, [r.change for r in results if r.change is not None])
        return batch

    async def _send_one(self, job: Job, *, resent: bool = False) -> None:
        async def before_write(route: str) -> None:
            mark = _Mark(job.id, job.tenant_id, route, self.now_ms())
            await self._mark(mark)
            if not mark.ok:
                raise _MovedOn(job.id)

        self._sending.add(job.id)
        try:
            # Taken before the route's window (never inside it: a message between its parts
            # must always find a free slot), given back once the answer is recorded.
            async with self._in_flight:
                result = await self._submit(job, resent, before_write)
                await self._commit(result)
        except _MovedOn:
            pass  # nothing was written; whoever moved it has recorded why
        except Exception:
            # E.g. the database is down: a message not marked is claimed again once its lease
            # runs out; one marked and unrecorded is then in doubt.
            log.exception("sending SMS %s failed", job.id)
        finally:
            self._sending.discard(job.id)

    async def _submit(self, job: Job, resent: bool, before_write: Callable[[str], Awaitable[None]]) -> _Result:
        now_ms = self.now_ms()
        if job.card is None:
            failed = {"reason": "no card to send"}
            return _Result(Change(job.id, S.SMS_FAILED, now_ms, SOURCE, failed, when=_PENDING, due_ms=None))
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
                opt_out_text=await self._unsubscribe_text(job),
            )
        except ComposeError as exc:
            reason = {"reason": f"cannot compose the SMS: {exc}"}
            return _Result(Change(job.id, S.SMS_FAILED, now_ms, SOURCE, reason, when=_PENDING, due_ms=None))
        attempt = job.attempts + 1
        sender = await self.sender_number(job.tenant_id)
        started = time.perf_counter()
        try:
            gateway = self.gateway_for(job.test)
            sent: SentSms = await gateway.send(job.to, text, sender, reference=job.id, before_write=before_write)
        except (NoRouteAvailable, SubmitError) as exc:
            self.observer.send(
                "sms", "no_route" if isinstance(exc, NoRouteAvailable) else "error", time.perf_counter() - started
            )
            return self._not_sent(job, exc, attempt)
        self.observer.send("sms", "sent", time.perf_counter() - started)
        part_ids, route, sent_ms = list(sent.result.part_ids), sent.route, self.now_ms()
        mine.run(
            lambda conn: conn.execute(
                dispatch_state.update()
                .where(dispatch_state.c.message_id == job.id)
                .values(sms_route=route, sms_part_ids=part_ids, sms_sent_ms=sent_ms)
            )
        )
        self.counts.sms_sent += 1
        seg = sent.result.segmentation
        detail: dict = {"segments": seg.segments, "encoding": seg.encoding, "route": route, "short_link": link}
        if resent:
            detail["resent"] = "in_doubt"
        change = Change(
            job.id,
            S.SMS_SENT,
            sent_ms,
            SOURCE,
            detail,
            when=_PENDING,
            due_ms=sent_ms + self.receipt_wait_ms,  # asked about if its receipts do not come
            attempts=attempt,
            record_anyway=True,
        )
        return _Result(change, mine)

    def _not_sent(self, job: Job, exc: NoRouteAvailable | SubmitError, attempt: int) -> _Result:
        """A submit that failed: in doubt (reported), refused (failed), or to be tried again."""
        now_ms = self.now_ms()
        if isinstance(exc, SubmitError) and exc.in_doubt and not exc.transient:
            # The route's policy is to report: its mark stays, it is never sent again.
            self.counts.in_doubt += 1
            return _Result(self._in_doubt_change(job.id, None, error=str(exc.status)))
        batch = WriteBatch().run(lambda conn: clear_sms_intent(conn, [job.id]))
        if isinstance(exc, SubmitError) and not exc.transient:
            refused = {"reason": f"refused by the SMSC: {exc.status}"}
            change = Change(job.id, S.SMS_FAILED, now_ms, SOURCE, refused, when=_PENDING, due_ms=None, attempts=attempt)
            return _Result(change, batch)
        self.counts.retries += 1
        wait = exc.retry_after if isinstance(exc, NoRouteAvailable) else None
        due = now_ms + int(self.retry.delay(attempt, wait, self.rng) * 1000)
        log.info("SMS %s not sent (%s); trying again in %.1fs", job.id, _why(exc), (due - now_ms) / 1000)
        # Not a status change: the message stays fallback_pending until a route takes it.
        batch.run(
            lambda conn: lifecycle.reschedule(conn, job.id, due_ms=due, when=_PENDING, attempts=attempt, send=True)
        )
        return _Result(None, batch)

    # -- receipts ----------------------------------------------------------------------------
    async def _read_outcomes(self) -> None:
        while True:
            outcomes = [await self._outcomes.get()]
            while not self._outcomes.empty() and len(outcomes) < _OUTCOMES_PER_COMMIT:
                outcomes.append(self._outcomes.get_nowait())
            try:
                await self.on_outcomes(outcomes)
            except Exception:
                # Not lost for good: the messages stay sms_sent and are asked about when due.
                log.exception("recording %d SMS receipts failed", len(outcomes))

    async def on_outcomes(self, outcomes: list[MessageOutcome]) -> None:
        """Rolled-up receipts → sms_delivered | sms_failed with every part's receipt."""
        await asyncio.gather(*(self._commit(_Result(self._outcome_change(o, "smsc"))) for o in outcomes))
        self.notify()

    def _outcome_change(self, o: MessageOutcome, source: str) -> Change:
        status = S.SMS_DELIVERED if o.status == "delivered" else S.SMS_FAILED
        if status is S.SMS_DELIVERED:
            self.counts.sms_delivered += 1
        else:
            self.counts.sms_failed += 1
        detail: dict = {"parts": [{"id": p.message_id, "stat": p.stat, "err": p.err} for p in o.parts]}
        if o.reason:
            detail["reason"] = o.reason
        if source != "smsc":
            detail["via"] = source
        return Change(o.reference, status, self.now_ms(), "smsc", detail, due_ms=None)

    async def check(self, jobs: list[Job]) -> None:
        """SMS whose receipts are overdue: ask the route's peer (query_sm) for each part; past
        the receipt deadline without an answer, report the SMS failed."""
        if not jobs:
            return
        async with self.db.read.connect() as conn:
            rows = {r.message_id: r for r in await conn.execute(_SENT_PARTS, {"ids": [j.id for j in jobs]})}
        results = await asyncio.gather(*(self._check_one(j, rows.get(j.id)) for j in jobs))
        await asyncio.gather(*(self._commit(r) for r in results))
        self.notify()

    async def _check_one(self, job: Job, row) -> _Result:
        now_ms = self.now_ms()
        if row is None or not row.sms_part_ids:
            missing = {"reason": "no record of the parts sent"}
            return _Result(Change(job.id, S.SMS_FAILED, now_ms, SOURCE, missing, when=_SENT, due_ms=None))
        states: tuple[PartState, ...] | None = None
        try:
            self.counts.queries += 1
            source = await self.sender_number(job.tenant_id)
            states = await self.gateway_for(job.test).query(row.sms_route, list(row.sms_part_ids), source)
        except SubmitError as exc:
            log.info("asking about SMS %s failed: %s", job.id, exc.status)
        except NoRouteAvailable:
            log.info("SMS %s cannot be asked about: its routes do not run here", job.id)
        if states and all(p.stat is not None for p in states):
            failed = next((p for p in states if p.stat != DELIVERED), None)
            reason = None if failed is None else (f"{failed.stat} err:{failed.err}" if failed.err else failed.stat)
            outcome = MessageOutcome(job.id, "delivered" if failed is None else "failed", reason, states)
            return _Result(self._outcome_change(outcome, "query_sm"))
        sent_ms = row.sms_sent_ms or now_ms
        if now_ms >= sent_ms + self.receipt_deadline_ms:
            hours = self.receipt_deadline_ms / 3_600_000
            detail: dict = {"reason": f"no delivery receipt within {hours:g} h"}
            if states:
                detail["parts"] = [{"id": p.message_id, "stat": p.stat, "err": p.err} for p in states]
            self.counts.sms_failed += 1
            return _Result(Change(job.id, S.SMS_FAILED, now_ms, SOURCE, detail, when=_SENT, due_ms=None))
        # Still en route (or the peer cannot be asked): ask again after as long again, capped.
        wait = min(max(self.receipt_wait_ms, now_ms - sent_ms), int(MAX_RECEIPT_WAIT_S * 1000))
        due = min(now_ms + wait, sent_ms + self.receipt_deadline_ms)
        return _Result(None, WriteBatch().run(lambda conn: lifecycle.reschedule(conn, job.id, due_ms=due, when=_SENT)))


def _why(exc: NoRouteAvailable | SubmitError) -> str:
    return "no route in rotation" if isinstance(exc, NoRouteAvailable) else str(exc.status)


_SENT_PARTS = select(
    dispatch_state.c.message_id, dispatch_state.c.sms_route, dispatch_state.c.sms_part_ids, dispatch_state.c.sms_sent_ms
).where(dispatch_state.c.message_id.in_(bindparam("ids", expanding=True)))
