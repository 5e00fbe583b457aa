"""The dispatcher: accepted messages travel — RCS through the channel, else the SMS fallback.

A background task claims due messages in batches (`messages.due_ms`, with a lease so a dead
worker's messages are claimed again once the lease runs out; on PostgreSQL the claim is
`SELECT … FOR UPDATE SKIP LOCKED`, so several processes share the work). Each batch is opened
(one compiled card per batch), checked against the opt-out list, and handed to its step: RCS
send, TTL revoke, or SMS. Every outcome is one lifecycle `Change` committed with its event and
webhook.

TTL expiry revokes first: only a `revokeOk` (or an RCS message the operator never accepted)
sends the SMS, so a recipient never gets both. The same revoke re-asks the operator about an RCS
message it stays silent about for `rcs_silence_s` (the CN interface has no status query): a
`revokeFail` says it was delivered, a `revokeOk` that it was not (the SMS goes). An SMS whose
receipts stay away is asked about through its route (query_sm), see `dispatch.sms`.

Send windows are checked again right before each send: a marketing message accepted inside its
window whose RCS retry, late-claimed schedule or SMS fallback falls due after the window closed
waits for the next opening (`scheduled` before anything went over RCS; `fallback_pending` with
a new due time for the SMS, since RCS is over for it), the reason recorded as its event. So are
frequency caps: a counted send's reservation moves to the time it really goes, checked there
under the ledger's lock rows (one write per pass); over a cap it waits the same way, or past its
TTL expires.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection, select

import security
from compliance.consent import CONSENT_REQUIRED, CONSENT_REQUIRED_REASON, ConsentPolicies
from dispatch.channels import Channels
from dispatch.decisions import SOURCE
from dispatch.inbound import Inbound
from dispatch.jobs import CardSource, Job
from dispatch.media import MediaFetch, OperatorMedia
from dispatch.observer import QUIET, Observer
from dispatch.rcs import RcsStage
from dispatch.retry import RetryPolicy
from dispatch.sms import SmsStage
from dispatch.state import cancels_pending, dispatch_state, sms_in_doubt, upsert_state
from messages import lifecycle
from messages.lifecycle import KEEP, Change, Lifecycle, TooLateToCancel
from messages.optouts import OPTED_OUT_REASON, opted_out
from messages.rules import DEFAULT_RULES, SendRules, Window, next_allowed_ms, zones_of
from messages.send_rules import FREQUENCY_CAP, CapLedger, Move, Moved, RulesStore
from messages.status import TO_SEND, Status
from rcs.capability import DEFAULT_MAX_ENTRIES, CapabilityCache
from rcs.maap import RcsChannel
from rcs.results import Capability, Notice
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.background import Pacer
from store.bulk import named
from store.clock import rfc3339
from store.writer import WriteBatch

log = logging.getLogger("hongyan.dispatch")


S = Status
# Statuses the dispatcher acts on when they fall due.
DUE_STATUSES = TO_SEND | {S.RCS_SENT, S.FALLBACK_PENDING, S.SMS_SENT}
_NEW = frozenset({S.ACCEPTED, S.SCHEDULED})
_CANCEL_AT_ONCE = frozenset({S.ACCEPTED, S.SCHEDULED, S.HELD, S.FALLBACK_PENDING})
_QUEUED = frozenset({S.QUEUED})
_PENDING = frozenset({S.FALLBACK_PENDING})


def _unless_sms_started(message_id: str):
    """A statement that makes the transaction fail when the SMS submit has begun."""

    def check(conn: Connection) -> None:
        started = conn.execute(
            select(dispatch_state.c.sms_intent_ms).where(
                dispatch_state.c.message_id == message_id, dispatch_state.c.sms_intent_ms.is_not(None)
            )
        ).first()
        if started is not None:
            raise TooLateToCancel(S.FALLBACK_PENDING)

    return check


def _opening(window: Window | None, to: str) -> Callable[[int], int]:
    """When a send wished for at a time (ms) may go by its window: that time, or the next opening."""
    if window is None:
        return lambda at_ms: at_ms
    zones = zones_of(to)
    return lambda at_ms: next_allowed_ms(window, zones, at_ms)


def _held_back(job: Job, now_ms: int, moved: Moved, rules: SendRules) -> Change | None:
    """What a send that cannot go now becomes (None: it goes now): deferred to when its window
    and caps allow — `scheduled` before anything went over RCS, another `fallback_pending` for
    the SMS — or `expired`, a cap pushing it past its TTL; the reason recorded in its event."""
    if moved.at_ms is not None and moved.at_ms <= now_ms:
        return None
    when = _PENDING if job.status == S.FALLBACK_PENDING else _QUEUED  # claimed: queued by now
    if moved.refusal is not None:
        cap = moved.refusal.cap
        detail: dict = {
            "reason": FREQUENCY_CAP,
            "rule": FREQUENCY_CAP,
            "traffic_type": job.traffic_type,
            "cap": cap.to_json(),
            **({"segment": cap.segment} if cap.segment else {}),
        }
    else:
        window = rules.windows[job.traffic_type]
        detail = {"reason": "send_window", "rule": "send_window", "window": window.to_json()}
        detail["time_zone"] = zones_of(job.to)[0]
    if moved.at_ms is None:
        return Change(job.id, S.EXPIRED, now_ms, SOURCE, detail, when=when, due_ms=None)
    detail["send_at"] = rfc3339(datetime.fromtimestamp(moved.at_ms / 1000, UTC))
    status = S.FALLBACK_PENDING if job.status == S.FALLBACK_PENDING else S.SCHEDULED
    return Change(job.id, status, now_ms, SOURCE, detail, when=when, due_ms=moved.at_ms)


@dataclass(frozen=True)
class DispatchOptions:
    batch_size: int = 100
    poll_s: float = 0.1  # a pass after work or a wake-up looks again this soon
    # Passes that find nothing look again ever later, up to this, but never past the earliest
    # due time they saw (retries, TTLs, scheduled sends go on time): an idle server barely works.
    # Accepts and status changes in this process wake it at once, on PostgreSQL accepts in
    # other processes too (store.notify); this bounds what nothing announces (a lease left by
    # a dead worker).
    idle_poll_max_s: float = 5.0
    lease_s: float = 30.0  # a claimed message is free again this long after a worker died
    max_batches_in_flight: int = 8
    revoke_wait_s: float = 5.0  # ask again if neither revokeOk nor revokeFail came by then
    # A revoke still unanswered this long after the TTL (the operator unreachable, or silent)
    # ends the message `failed`: no SMS, since the RCS message may have been delivered.
    revoke_give_up_s: float = 3600.0
    # An RCS message with an SMS fallback and no status from the operator this long after it was
    # accepted is re-asked about (a revoke) rather than left until its TTL.
    rcs_silence_s: float = 300.0
    # An SMS without its receipts this long is asked about (query_sm); without an answer by
    # the deadline it is reported failed.
    sms_receipt_wait_s: float = 600.0
    sms_receipt_deadline_s: float = 72 * 3600.0
    # SMS handed to a route and not yet recorded as answered, at most: a crash leaves no more
    # than this many in doubt.
    sms_in_flight: int = 32
    # Numbers whose RCS capability is remembered, at most (live and test messages each); the
    # ones written longest ago go first.
    capability_cache_entries: int = DEFAULT_MAX_ENTRIES
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class Dispatcher:
    """Claims due messages and hands each to its step; owns the RCS step, the SMS step (once
    attached) and the inbound sink."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        channel: RcsChannel | Channels,
        *,
        ensure_keys: Callable[[str], Awaitable[None]],
        notify: Callable[[], None] = lambda: None,
        clock: Clock | None = None,
        options: DispatchOptions = DispatchOptions(),
        capability: CapabilityCache | None = None,
        media_fetch: MediaFetch | None = None,
        on_audit: Callable[[str, Notice], Awaitable[None]] | None = None,
        worker_id: str | None = None,
        id_factory: Callable[[], str] = new_id,
        rng: random.Random | None = None,
        rules: RulesStore | None = None,
        consent_policies: ConsentPolicies | None = None,
        observer: Observer = QUIET,
    ):
        self.db, self.writer, self.keyring = db, writer, keyring
        self.observer = observer
        self.rules = rules
        self.consent_policies = consent_policies
        self.ensure_keys = ensure_keys
        self.notify = notify
        self.clock = clock or SystemClock()
        self.options = options
        self.worker_id = worker_id or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.lifecycle = Lifecycle(keyring, id_factory)
        self.cards = CardSource(db, keyring)
        self.channels = channel if isinstance(channel, Channels) else Channels(channel)
        self.rcs = RcsStage(
            self.channels,
            writer,
            now_ms=self.now_ms,
            retry=options.retry,
            revoke_wait_s=options.revoke_wait_s,
            revoke_give_up_s=options.revoke_give_up_s,
            silence_s=options.rcs_silence_s,
            capability=capability,
            capability_entries=options.capability_cache_entries,
            media=OperatorMedia(media_fetch) if media_fetch is not None else None,
            rng=rng,
            observer=observer,
        )
        self.sms: SmsStage | None = None
        self.inbound = Inbound(
            db,
            writer,
            keyring,
            self.lifecycle,
            now_ms=self.now_ms,
            commit=self.commit,
            ensure_keys=ensure_keys,
            notify=notify,
            settled=self.rcs.settled,
            on_audit=on_audit,
        )
        self.claimed = 0
        # Messages this process claimed and is still working on: their leases are renewed until
        # the work ends, so only a dead process's claims lapse to another worker.
        self._held: set[str] = set()
        # Set where this process does not dispatch (an API process): changes it commits that are
        # due now (an operator callback's fallback_pending) wake the dispatch processes instead.
        self.wake_others: Callable[[], None] | None = None
        self.pacer = Pacer(options.poll_s, options.idle_poll_max_s)
        self._wake = self.pacer.wake_event
        self._next_due_ms: int | None = None  # the earliest due time the last empty look saw
        self._task: asyncio.Task | None = None
        self._renewer: asyncio.Task | None = None
        self._slots = asyncio.Semaphore(options.max_batches_in_flight)
        self._tasks: set[asyncio.Task] = set()

    @property
    def capability(self) -> CapabilityCache:
        return self.rcs.capability

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the claim loop is alive (not stopped, not ended by an error)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.db.sqlite:
            # SQLite has one dispatching process: leases still held belong to a dead predecessor.
            await self.writer.write(WriteBatch().run(lifecycle.release_all_leases))
        self._task = asyncio.create_task(self._run(), name="dispatcher")
        self._renewer = asyncio.create_task(self._renew(), name="dispatch-leases")

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.channels.close()

    def wake(self) -> None:
        """Look for due work now (e.g. right after an accept)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                claimed = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher pass failed")
                claimed = 0
            if claimed < self.options.batch_size:
                due_in = None if self._next_due_ms is None else (self._next_due_ms - self.now_ms()) / 1000
                await self.pacer.wait(claimed > 0, at_most=due_in)

    async def _renew(self) -> None:
        """Every third of the lease, extend the leases of the messages still being worked on: a
        batch slower than its lease (a slow operator, a busy database) is not claimed again by
        another worker — only a dead process's leases run out."""
        every = self.options.lease_s / 3
        while True:
            await asyncio.sleep(every)
            if not self._held:
                continue
            until_ms = self.now_ms() + int(self.options.lease_s * 1000)
            renew = partial(
                lifecycle.renew_leases, message_ids=list(self._held), owner=self.worker_id, until_ms=until_ms
            )
            try:
                await self.writer.write(WriteBatch().run(renew))
            except Exception:
                log.exception("renewing %d leases failed; trying again", len(self._held))

    async def run_once(self) -> int:
        """Claim one batch of due messages and start working on it; returns how many."""
        await self._slots.acquire()
        try:
            rows = await self._claim()
        except BaseException:
            self._slots.release()
            raise
        if not rows:
            self._slots.release()
            return 0
        self._held.update(r.id for r in rows)
        task = asyncio.create_task(self._work(rows))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return len(rows)

    # -- claiming --------------------------------------------------------------------------
    async def _claim(self) -> list:
        now_ms = self.now_ms()
        # A cheap read first: idle polling must not queue write transactions.
        async with self.db.read.connect() as conn:
            due = (await conn.execute(lifecycle.next_due_query(now_ms))).first()
        self._next_due_ms = None if due is None or due.due_ms <= now_ms else due.due_ms
        if due is None or due.due_ms > now_ms:
            return []
        lease_until = now_ms + int(self.options.lease_s * 1000)
        query = lifecycle.claim_query(DUE_STATUSES, now_ms, self.options.batch_size)
        out: list = []

        def claim(conn: Connection) -> None:
            rows = named(conn.execute(query))
            if not rows:
                return
            queued = [
                Change(r.id, S.QUEUED, now_ms, SOURCE, None, when=_NEW, due_ms=KEEP) for r in rows if r.status in _NEW
            ]
            if queued:
                self.lifecycle.apply(conn, queued)
            lifecycle.lease(conn, [r.id for r in rows], self.worker_id, lease_until)
            out.extend(rows)

        await self.writer.write(WriteBatch().run(claim))
        if out:
            self.claimed += len(out)
            if any(r.status in _NEW for r in out):
                self.notify()
        return out

    # -- working a batch -------------------------------------------------------------------
    async def _work(self, rows: list) -> None:
        try:
            for tenant_id in {r.tenant_id for r in rows}:
                await self.ensure_keys(tenant_id)
            jobs, changes = await self._open(rows)
            jobs = await self._honour_opt_outs(jobs, changes)
            # Only a message already in flight when claimed can have a cancel pending (one still
            # `accepted` or `scheduled` is revoked by the cancel itself): most batches ask nothing.
            in_flight = [r.id for r in rows if r.status in (S.QUEUED, S.RCS_SENT)]
            cancelled = await cancels_pending(self.db, in_flight)
            jobs = await self._honour_rules(jobs, cancelled)
            to_send = [j for j in jobs if j.status in TO_SEND and j.id not in cancelled]
            expiring = [j for j in jobs if j.status == S.RCS_SENT or j.id in cancelled]
            fallback = [j for j in jobs if j.status == S.FALLBACK_PENDING]
            overdue = [j for j in jobs if j.status == S.SMS_SENT]
            results = await asyncio.gather(
                self.rcs.send(to_send), self.rcs.expire(expiring, cancelled), return_exceptions=True
            )
            for r in results:
                if isinstance(r, BaseException):
                    log.error("dispatch step failed", exc_info=r)
                else:
                    changes.extend(r)
            if changes:
                await self.commit(changes)
            if fallback or overdue:
                if self.sms is None:
                    log.error("%d messages wait for SMS but no SMS route is configured", len(fallback) + len(overdue))
                else:
                    await asyncio.gather(self.sms.send(fallback), self.sms.check(overdue))
        except Exception:
            # The lease runs out and another pass picks these messages up again.
            log.exception("dispatching a batch of %d failed", len(rows))
        finally:
            self._held.difference_update(r.id for r in rows)
            self._slots.release()

    async def _open(self, rows: list) -> tuple[list[Job], list[Change]]:
        jobs, changes = [], []
        now_ms = self.now_ms()
        for r in rows:
            job, error = await self.cards.open(self.keyring, r)
            if error is not None:
                changes.append(Change(r.id, S.FAILED, now_ms, SOURCE, {"reason": error}, due_ms=None))
                continue
            jobs.append(job)
        return jobs, changes

    async def _honour_opt_outs(self, jobs: list[Job], changes: list[Change]) -> list[Job]:
        """Marketing about to go out (RCS or SMS) to someone who opted out since it was
        accepted — or, where the tenant's policy requires consent, whose consent was withdrawn
        since — is rejected instead (checked before every marketing send)."""
        by_tenant: dict[str, list[Job]] = {}
        for j in jobs:
            if j.traffic_type == "marketing" and j.status in TO_SEND | {S.FALLBACK_PENDING}:
                by_tenant.setdefault(j.tenant_id, []).append(j)
        if not by_tenant:
            return jobs
        refused: set[str] = set()
        now_ms = self.now_ms()
        for tenant_id, marketing in by_tenant.items():
            bidxs = [j.to_bidx for j in marketing]
            out = await opted_out(self.db, tenant_id, bidxs)
            unconsented: set[bytes] = set()
            if self.consent_policies is not None:
                unconsented = await self.consent_policies.without_consent(tenant_id, bidxs, "marketing")
            for j in marketing:
                if j.to_bidx in out:
                    refused.add(j.id)
                    changes.append(Change(j.id, S.REJECTED, now_ms, SOURCE, {"reason": OPTED_OUT_REASON}, due_ms=None))
                elif j.to_bidx in unconsented:
                    refused.add(j.id)
                    detail = {"reason": CONSENT_REQUIRED, "rule": CONSENT_REQUIRED, "detail": CONSENT_REQUIRED_REASON}
                    changes.append(Change(j.id, S.REJECTED, now_ms, SOURCE, detail, due_ms=None))
        return [j for j in jobs if j.id not in refused]

    async def _honour_rules(self, jobs: list[Job], cancelled: set[str]) -> list[Job]:
        """Sends about to go are held to their rules at the time they really go. Outside its
        traffic type's send window a send waits for the next opening: the RCS send (`queued →
        scheduled`) or the SMS (`fallback_pending`, a new due time). A counted send's cap
        reservation follows it to that time (an RCS retry, an SMS fallback or retry, a late
        claim or a window may have moved it since accept), checked there against the
        recipient's other sends: over a cap it waits for the cap to free (and the window to
        open), or, when that falls past its TTL, expires. A revoke is not a send: expired and
        cancelled messages go on to it; so does an SMS in doubt, which its stage settles."""
        now_ms = self.now_ms()
        rules: dict[str, SendRules] = {}
        going: list[Job] = []
        for j in jobs:
            if j.id in cancelled or not (
                (j.status in TO_SEND and now_ms < j.expires_ms) or j.status == S.FALLBACK_PENDING
            ):
                continue
            if j.tenant_id not in rules:
                rules[j.tenant_id] = await self.rules.get(j.tenant_id) if self.rules is not None else DEFAULT_RULES
            going.append(j)
        # Caps are counted where a ledger keeps them (the app's rules store); windows always.
        counted = [j for j in going if self.rules is not None and rules[j.tenant_id].counts(j.traffic_type)]
        openings = {j.id: _opening(rules[j.tenant_id].windows.get(j.traffic_type), j.to) for j in going}
        counted_ids = {j.id for j in counted}
        windowed = [j for j in going if j.id not in counted_ids and openings[j.id](now_ms) > now_ms]
        if not counted and not windowed:
            return jobs
        pending = [j.id for j in counted + windowed if j.status == S.FALLBACK_PENDING]
        doubt = await sms_in_doubt(self.db, pending) if pending else {}
        groups: dict[tuple[str, str], list[Job]] = {}
        for j in counted:
            if j.id not in doubt:
                groups.setdefault((j.tenant_id, j.traffic_type), []).append(j)
        windowed = [j for j in windowed if j.id not in doubt]
        held: set[str] = set()

        def decide(conn: Connection) -> None:
            held.clear()  # the writer may run this again, alone, when its group failed
            changes: list[Change] = []
            for (tenant_id, traffic_type), group in sorted(groups.items()):  # one lock order everywhere
                tenant_rules = rules[tenant_id]
                moves = [Move(j.id, j.to_bidx, now_ms, max(j.expires_ms, now_ms), openings[j.id]) for j in group]
                moved = CapLedger.move_in(
                    conn, tenant_id, traffic_type, moves, partial(tenant_rules.caps_for, traffic_type)
                )
                for j in group:
                    change = _held_back(j, now_ms, moved[j.id], tenant_rules)
                    if change is not None:
                        changes.append(change)
            for j in windowed:
                change = _held_back(j, now_ms, Moved(openings[j.id](now_ms), None), rules[j.tenant_id])
                if change is not None:
                    changes.append(change)
            held.update(c.message_id for c in changes)
            if changes:
                self.lifecycle.apply(conn, changes)

        await self.writer.write(WriteBatch().run(decide))
        if held:
            self.notify()
        return [j for j in jobs if j.id not in held]

    # -- asked by the API ------------------------------------------------------------------
    async def cancel(self, tenant_id: str, message_id: str) -> str | None:
        """Cancel a message: not sent yet → `revoked` at once; in flight over RCS → revoked at the
        operator first (the outcome arrives as events). Returns "revoked" or "revoking"; None
        when the tenant has no such message; raises `TooLateToCancel` once it was delivered or sent."""
        for _ in range(3):  # the dispatcher may move it meanwhile: decide again on what it became
            status = await self.lifecycle_status(tenant_id, message_id)
            if status is None:
                return None
            now_ms = self.now_ms()
            if status in _CANCEL_AT_ONCE:
                change = Change(message_id, S.REVOKED, now_ms, "api", {"reason": "cancelled"}, when=frozenset({status}))
                batch = WriteBatch()
                if status == S.FALLBACK_PENDING:
                    # An SMS already being submitted cannot be called back.
                    batch.run(_unless_sms_started(message_id))
                applied = self.lifecycle.add(batch, [change])
                await self.writer.write(batch)
                self.notify()
                if applied.applied:
                    return "revoked"
                continue
            if status in (S.QUEUED, S.RCS_SENT):

                def ask(conn: Connection, status: Status = status, at_ms: int = now_ms) -> None:
                    upsert_state(conn, message_id, tenant_id, cancel_ms=at_ms)
                    lifecycle.reschedule(conn, message_id, due_ms=at_ms, when=frozenset({status}))

                await self.writer.write(WriteBatch().run(ask))
                self.wake()
                return "revoking"
            raise TooLateToCancel(status)
        raise TooLateToCancel(S.QUEUED)  # it kept moving under us: say so rather than guess

    async def lifecycle_status(self, tenant_id: str, message_id: str) -> Status | None:
        async with self.db.read.connect() as conn:
            row = (await conn.execute(lifecycle.status_query(tenant_id, message_id))).first()
        return Status(row.status) if row is not None else None

    async def capabilities(self, tenant_id: str, numbers: list[str], *, test: bool = False) -> dict[str, Capability]:
        """What the platform knows of these E.164 numbers' RCS capability, from the cache and the
        channel's own check where its operator offers one (never an endpoint it lacks); asked by
        a test key (`test`), what the simulator says."""
        channel = await self.channels.for_tenant(tenant_id, test)
        return await self.rcs.cache_for(test).resolve_many(numbers, channel.check_capabilities)

    # -- writing -----------------------------------------------------------------------------
    async def commit(self, changes: list[Change], batch: WriteBatch | None = None) -> None:
        """Commit `changes` (and whatever else `batch` holds) in one transaction."""
        batch = batch or WriteBatch()
        self.lifecycle.add(batch, changes)
        await self.writer.write(batch)
        self.observer.statuses([c.status.value for c in changes] + [t.status.value for c in changes for t in c.then])
        self.notify()
        fallback = any(
            c.status == S.FALLBACK_PENDING or any(t.status == S.FALLBACK_PENDING for t in c.then) for c in changes
        )
        if fallback or self._due_soon(changes):  # a retry or a deferral sooner than the idle pass would look
            self.wake()
            if self.wake_others is not None:
                self.wake_others()

    def _due_soon(self, changes: list[Change]) -> bool:
        soon_ms = self.now_ms() + int(self.options.idle_poll_max_s * 1000)
        return any(
            isinstance(d, int) and d <= soon_ms for c in changes for d in (c.due_ms, *(t.due_ms for t in c.then))
        )
