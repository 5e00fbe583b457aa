"""The dispatcher: accepted messages travel — RCS through the MaaP, else the SMS fallback.

A background task claims due messages in batches (`messages.due_ms`, with a lease so a dead
worker's messages are claimed again once the lease runs out; on PostgreSQL the claim is
`SELECT … FOR UPDATE SKIP LOCKED`, so several processes share the work). Each batch is
composed (one compiled card per batch), checked for RCS capability in one call, and sent;
the outcome of every message is one `Change` (status + event + webhook) committed together.

TTL expiry revokes first: only a `revokeOk` (or an RCS message the MaaP never accepted) sends
the SMS, so a recipient never gets both (DESIGN.md §3, §12, §13).
"""
from __future__ import annotations

import asyncio
import logging
import random
import secrets
import socket
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Protocol

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from sqlalchemy import Connection, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite

import cards
import security
import webhooks
from messages.optouts import OPTED_OUT_REASON, opted_out
from messages.tables import batches, messages
from rcs.capability import CapabilityCache
from rcs.maap import BOT_MESSAGE_TYPE, ContentPart, Maap, OutboundMessage
from rcs.results import Capability, DeliveryEvent, FailedAction, Outcome, SendResult, UserEvent, classify_failed_code
from rcs.transitions import KEEP, Applied, Change, Transitions, dispatch_state
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.clock import rfc3339
from store.writer import WriteBatch

log = logging.getLogger("hongyan.dispatch")

# Statuses the dispatcher acts on when they fall due.
TO_SEND = frozenset({"accepted", "scheduled", "queued"})
DUE_STATUSES = TO_SEND | {"rcs_sent", "fallback_pending"}
SOURCE = "dispatcher"


@dataclass(frozen=True)
class RetryPolicy:
    """Per-message backoff: 0.5 s, 1 s, 2 s … ×2, ±20 % jitter, capped; Retry-After honoured."""

    first_s: float = 0.5
    factor: float = 2.0
    jitter: float = 0.2
    cap_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        base = min(self.cap_s, self.first_s * self.factor ** max(0, attempt - 1))
        delay = min(self.cap_s, base * (1 + (rng or random).uniform(-self.jitter, self.jitter)))
        return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class DispatchOptions:
    batch_size: int = 100
    poll_s: float = 0.1  # picks up accepted messages well within 0.5 s
    lease_s: float = 30.0  # a claimed message is free again this long after a worker died
    max_batches_in_flight: int = 8
    revoke_wait_s: float = 5.0  # ask again if neither revokeOk nor revokeFail came by then
    retry: RetryPolicy = RetryPolicy()


@dataclass
class Job:
    """A claimed message, opened for sending (lives only in memory)."""

    id: str
    tenant_id: str
    batch_id: str
    status: str
    attempts: int
    expires_ms: int
    to: str
    variables: dict
    card: dict | None = None
    traffic_type: str = "notification"
    to_bidx: bytes = b""
    fallback: str = "sms"  # the batch's policy: "sms", or "none" (fail / expire instead)


class SmsStage(Protocol):
    """The SMS fallback (fallback/dispatch.py): sends fallback_pending jobs, returns their changes."""

    async def send(self, jobs: list[Job]) -> None: ...


_BATCH = select(batches).where(batches.c.id == bindparam("batch_id"))
# The newest message that reached a number by SMS (ids are time-ordered).
_LAST_SMS = (select(messages.c.id)
             .where(messages.c.tenant_id == bindparam("tenant_id"), messages.c.to_bidx == bindparam("to_bidx"),
                    messages.c.status.in_(("sms_sent", "sms_delivered", "sms_failed")))
             .order_by(messages.c.id.desc()).limit(1))


class CardSource:
    """Each batch's card, opened and compiled once; LRU-cached by batch id."""

    def __init__(self, db: Database, keyring: security.Keyring, max_batches: int = 2048):
        self.db, self.keyring, self.max_batches = db, keyring, max_batches
        self._cache: OrderedDict[str, tuple[cards.CompiledCard | None, str, str, str | None]] = OrderedDict()
        self._compiled: dict[bytes, cards.CompiledCard] = {}

    async def get(self, batch_id: str, tenant_id: str) -> tuple[cards.CompiledCard | None, str, str, str | None]:
        """(compiled card or None, traffic type, fallback policy, error) for a batch."""
        hit = self._cache.get(batch_id)
        if hit is not None:
            self._cache.move_to_end(batch_id)
            return hit
        async with self.db.read.connect() as conn:
            row = (await conn.execute(_BATCH, {"batch_id": batch_id})).first()
        if row is None:
            return None, "notification", "sms", "batch not found"
        if row.card_enc is not None:
            card = orjson.loads(self.keyring.open(tenant_id, "batches", "card", batch_id, row.card_enc))
        else:
            ref = orjson.loads(row.template_ref)
            template = cards.load_library().get(ref["name"])
            card = template.card if template is not None else None
        entry: tuple
        if card is None:
            entry = (None, row.traffic_type, row.fallback, "template not found")
        else:
            key = orjson.dumps(card, option=orjson.OPT_SORT_KEYS)
            try:
                compiled = self._compiled.get(key) or cards.compile_template(card)
                self._compiled[key] = compiled
                entry = (compiled, row.traffic_type, row.fallback, None)
            except cards.CardInvalid as exc:
                entry = (None, row.traffic_type, row.fallback,
                         f"card invalid: {exc.errors[0].message if exc.errors else ''}")
        self._cache[batch_id] = entry
        if len(self._cache) > self.max_batches:
            self._cache.popitem(last=False)
            if len(self._compiled) > self.max_batches:
                self._compiled.clear()
        return entry


def _upsert(conn: Connection, values: dict, update: dict) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(dispatch_state).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["message_id"], set_=update))


def rcs_traffic_type(traffic_type: str) -> str:
    """Our traffic types → the CSP interface's (marketing is `advertisement`)."""
    return "advertisement" if traffic_type == "marketing" else "notification"


class Dispatcher:
    """Claims due messages and moves them along the lifecycle; also the inbound status sink."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        maap: Maap,
        *,
        load_keys: Callable[[str | None], object],
        notify: Callable[[], None] = lambda: None,
        clock: Clock | None = None,
        options: DispatchOptions = DispatchOptions(),
        capability: CapabilityCache | None = None,
        sms: SmsStage | None = None,
        worker_id: str | None = None,
        id_factory: Callable[[], str] = new_id,
        rng: random.Random | None = None,
    ):
        self.db, self.writer, self.keyring, self.maap = db, writer, keyring, maap
        self.load_keys = load_keys
        self.notify = notify
        self.clock = clock or SystemClock()
        self.options = options
        # Keyed by an HMAC-SM3 of the number under a per-process key (DESIGN.md §7 blind index):
        # the cache holds no numbers.
        cache_key = secrets.token_bytes(32)

        def capability_key(number: str) -> bytes:
            mac = crypto_hmac.HMAC(cache_key, hashes.SM3())
            mac.update(number.encode())
            return mac.finalize()

        self.capability = capability or CapabilityCache(ttl=3600.0, negative_ttl=300.0, key=capability_key)
        self.sms = sms
        self.worker_id = worker_id or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.transitions = Transitions(keyring, id_factory)
        self.cards = CardSource(db, keyring)
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._slots = asyncio.Semaphore(options.max_batches_in_flight)
        self._tasks: set[asyncio.Task] = set()
        # Numbers of RCS messages awaiting their outcome, so a `failed` (code 1/2) teaches the
        # capability cache; in memory only, bounded.
        self._awaiting: OrderedDict[str, str] = OrderedDict()
        self.counts = {"claimed": 0, "rcs_sent": 0, "retries": 0, "fallback": 0, "revokes": 0}

    # -- lifecycle -------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def start(self) -> None:
        await self.load_keys(None)
        if self.db.sqlite:
            # SQLite has one dispatching process: leases still held belong to a dead predecessor.
            await self.writer.write(WriteBatch().run(lambda conn: conn.execute(
                messages.update().where(messages.c.lease_owner.is_not(None))
                .values(lease_owner=None, lease_until_ms=None))))
        self._task = asyncio.create_task(self._run(), name="dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _ensure_keys(self, tenant_id: str) -> None:
        # A tenant made by another process since start: load its data keys on first sight.
        if not self.keyring.has_tenant(tenant_id):
            await self.load_keys(tenant_id)

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
                try:
                    await asyncio.wait_for(self._wake.wait(), self.options.poll_s)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()

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
        task = asyncio.create_task(self._work(rows))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return len(rows)

    # -- claiming --------------------------------------------------------------------------
    async def _anything_due(self, now_ms: int) -> bool:
        query = select(messages.c.id).where(
            messages.c.due_ms <= now_ms,
            or_(messages.c.lease_until_ms.is_(None), messages.c.lease_until_ms < now_ms),
        ).limit(1)
        async with self.db.read.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def _claim(self) -> list:
        now_ms = self.now_ms()
        # A cheap read first: idle polling must not queue write transactions.
        if not await self._anything_due(now_ms):
            return []
        lease_until = now_ms + int(self.options.lease_s * 1000)
        out: list = []
        query = (
            select(messages.c.id, messages.c.tenant_id, messages.c.batch_id, messages.c.to_enc, messages.c.to_bidx,
                   messages.c.variables_enc, messages.c.status, messages.c.attempts, messages.c.expires_ms)
            .where(
                messages.c.due_ms <= now_ms,
                messages.c.status.in_(DUE_STATUSES),
                or_(messages.c.lease_until_ms.is_(None), messages.c.lease_until_ms < now_ms),
            )
            .order_by(messages.c.due_ms)
            .limit(self.options.batch_size)
            .with_for_update(skip_locked=True)
        )
        transitions = self.transitions
        owner = self.worker_id

        def claim(conn: Connection) -> None:
            rows = conn.execute(query).all()
            if not rows:
                return
            queued = [Change(r.id, "queued", now_ms, SOURCE, None, when=frozenset({"accepted", "scheduled"}),
                             due_ms=KEEP) for r in rows if r.status in ("accepted", "scheduled")]
            if queued:
                transitions._apply(conn, queued, Applied())
            conn.execute(
                messages.update().where(messages.c.id.in_([r.id for r in rows]))
                .values(lease_owner=owner, lease_until_ms=lease_until)
            )
            out.extend(rows)

        await self.writer.write(WriteBatch().run(claim))
        if out:
            self.counts["claimed"] += len(out)
            if any(r.status in ("accepted", "scheduled") for r in out):
                self.notify()
        return out

    # -- working a batch -------------------------------------------------------------------
    async def _work(self, rows: list) -> None:
        try:
            for tenant_id in {r.tenant_id for r in rows}:
                await self._ensure_keys(tenant_id)
            jobs, changes = await self._open(rows)
            jobs = await self._honour_opt_outs(jobs, changes)
            to_send = [j for j in jobs if j.status in TO_SEND]
            expiring = [j for j in jobs if j.status == "rcs_sent"]
            fallback = [j for j in jobs if j.status == "fallback_pending"]
            results = await asyncio.gather(
                self._send_rcs(to_send), self._expire(expiring), return_exceptions=True
            )
            for r in results:
                if isinstance(r, BaseException):
                    log.error("dispatch step failed", exc_info=r)
                else:
                    changes.extend(r)
            if changes:
                await self.commit(changes)
            if fallback:
                if self.sms is None:
                    log.error("%d messages wait for SMS fallback but no SMS stage is configured", len(fallback))
                else:
                    await self.sms.send(fallback)
        except Exception:
            # The lease runs out and another pass picks these messages up again.
            log.exception("dispatching a batch of %d failed", len(rows))
        finally:
            self._slots.release()

    async def _honour_opt_outs(self, jobs: list[Job], changes: list[Change]) -> list[Job]:
        """Marketing about to go out (RCS or SMS) to someone who opted out since it was
        accepted is rejected instead (DESIGN.md §5: checked before every marketing send)."""
        by_tenant: dict[str, list[Job]] = {}
        for j in jobs:
            if j.traffic_type == "marketing" and j.status in TO_SEND | {"fallback_pending"}:
                by_tenant.setdefault(j.tenant_id, []).append(j)
        if not by_tenant:
            return jobs
        refused: set[str] = set()
        now_ms = self.now_ms()
        for tenant_id, marketing in by_tenant.items():
            out = await opted_out(self.db, tenant_id, [j.to_bidx for j in marketing])
            for j in marketing:
                if j.to_bidx in out:
                    refused.add(j.id)
                    changes.append(Change(j.id, "rejected", now_ms, SOURCE, {"reason": OPTED_OUT_REASON},
                                          when=TO_SEND | {"fallback_pending"}, due_ms=None))
        return [j for j in jobs if j.id not in refused]

    async def _open(self, rows: list) -> tuple[list[Job], list[Change]]:
        jobs, changes = [], []
        now_ms = self.now_ms()
        for r in rows:
            to = self.keyring.open(r.tenant_id, "messages", "to", r.id, r.to_enc).decode()
            variables = (orjson.loads(self.keyring.open(r.tenant_id, "messages", "variables", r.id, r.variables_enc))
                         if r.variables_enc else {})
            compiled, traffic_type, fallback, error = await self.cards.get(r.batch_id, r.tenant_id)
            status = "queued" if r.status in ("accepted", "scheduled") else r.status
            job = Job(r.id, r.tenant_id, r.batch_id, status, r.attempts, r.expires_ms, to, variables,
                      traffic_type=traffic_type, fallback=fallback, to_bidx=r.to_bidx)
            if compiled is not None:
                try:
                    job.card = compiled.compose(variables)
                except (cards.CardInvalid, cards.MissingVariable) as exc:
                    error = f"card cannot be composed: {exc}"
            if error is not None:
                changes.append(Change(r.id, "failed", now_ms, SOURCE, {"reason": error}, due_ms=None))
                continue
            jobs.append(job)
        return jobs, changes

    async def _send_rcs(self, jobs: list[Job]) -> list[Change]:
        if not jobs:
            return []
        now_ms = self.now_ms()
        live, expired = [], []
        for j in jobs:
            (expired if now_ms >= j.expires_ms else live).append(j)
        # Expired before an accepted send was recorded: a send may still have reached the MaaP
        # (a crash between its answer and our commit), so revoke first; a MaaP that does not
        # know the message refuses the revoke and the SMS goes.
        changes: list[Change] = await self._expire(expired)
        caps = await self.capability.resolve_many({j.to for j in live}, self.maap.check_capabilities)
        sendable = []
        for j in live:
            if caps.get(j.to) in (Capability.NOT_SUPPORTED, Capability.INVALID):
                changes.append(self._to_fallback(j, now_ms, "not_rcs_capable", capability=caps[j.to].value))
            else:
                sendable.append(j)
        outcomes = await asyncio.gather(*(self._send_one(j) for j in sendable))
        changes.extend(outcomes)
        return changes

    async def _send_one(self, job: Job) -> Change:
        message = OutboundMessage(
            message_id=job.id,
            to=job.to,
            parts=(ContentPart(BOT_MESSAGE_TYPE, orjson.dumps({"message": job.card["message"]}).decode()),),
            conversation_id=job.batch_id,
            contribution_id=job.id,
            traffic_type=rcs_traffic_type(job.traffic_type),
        )
        attempt = job.attempts + 1
        try:
            result = await self.maap.send(message)
        except Exception as exc:  # connection refused, timeout…: transient
            result = SendResult(False, Outcome.RETRY, detail=type(exc).__name__)
        now_ms = self.now_ms()
        if result.accepted:
            self.counts["rcs_sent"] += 1
            self._awaiting[job.id] = job.to
            if len(self._awaiting) > 200_000:
                self._awaiting.popitem(last=False)
            return Change(job.id, "rcs_sent", now_ms, SOURCE, {"attempts": attempt},
                          when=frozenset({"queued"}), due_ms=job.expires_ms, attempts=attempt, record_anyway=True)
        error = _error_detail(result)
        if result.outcome in (Outcome.RETRY, Outcome.THROTTLE, Outcome.TOKEN, Outcome.REUPLOAD):
            self.counts["retries"] += 1
            delay_ms = int(self.options.retry.delay(attempt, result.retry_after, self.rng) * 1000)
            due = min(now_ms + delay_ms, job.expires_ms)
            return Change(job.id, "queued", now_ms, SOURCE,
                          {"attempt": attempt, "error": error, "retry_at": _rfc3339(due)},
                          when=frozenset({"queued"}), due_ms=due, attempts=attempt)
        if result.outcome is Outcome.INVALID:
            return Change(job.id, "failed", now_ms, SOURCE, {"reason": "rejected by the MaaP", "error": error},
                          when=frozenset({"queued"}), due_ms=None, attempts=attempt)
        return self._to_fallback(job, now_ms, "rcs_failed", attempts=attempt, error=error)

    def _to_fallback(self, job: Job, now_ms: int, reason: str, *, attempts=KEEP, **detail) -> Change:
        """RCS cannot deliver: the SMS fallback, or with fallback "none" the end of the message."""
        if job.fallback == "none":
            return _without_fallback(job.id, now_ms, reason, SOURCE, detail, attempts=attempts)
        self.counts["fallback"] += 1
        return Change(job.id, "fallback_pending", now_ms, SOURCE, {"reason": reason, **detail},
                      when=frozenset({"queued", "rcs_sent"}), due_ms=now_ms, attempts=attempts)

    async def _expire(self, jobs: list[Job]) -> list[Change]:
        """TTL passed while the RCS message is undelivered: ask the MaaP to revoke it."""
        if not jobs:
            return []
        results = await asyncio.gather(*(self._revoke(j) for j in jobs))
        changes, waits = [], []
        now_ms = self.now_ms()
        for job, result in zip(jobs, results):
            if result.accepted:
                waits.append((job, now_ms + int(self.options.revoke_wait_s * 1000)))
            elif result.outcome in (Outcome.RETRY, Outcome.THROTTLE, Outcome.TOKEN):
                delay = self.options.retry.delay(1, result.retry_after, self.rng)
                waits.append((job, now_ms + int(delay * 1000)))
            else:
                # The MaaP does not know the message (e.g. it lost its state): it cannot deliver it.
                changes.append(self._to_fallback(job, now_ms, "revoke_refused", error=_error_detail(result)))
        if waits:
            def wait(conn: Connection) -> None:
                for job, due in waits:
                    _upsert(conn, {"message_id": job.id, "tenant_id": job.tenant_id, "revoke_ms": now_ms},
                            {"revoke_ms": now_ms})
                    conn.execute(messages.update().where(messages.c.id == job.id,
                                                         messages.c.status.in_(("rcs_sent", "queued")))
                                 .values(due_ms=due, lease_owner=None, lease_until_ms=None))
            await self.writer.write(WriteBatch().run(wait))
        return changes

    async def _revoke(self, job: Job) -> SendResult:
        self.counts["revokes"] += 1
        try:
            return await self.maap.revoke(job.id, job.to)
        except Exception as exc:
            return SendResult(False, Outcome.RETRY, detail=type(exc).__name__)

    # -- writing -----------------------------------------------------------------------------
    async def commit(self, changes: list[Change], batch: WriteBatch | None = None) -> None:
        """Commit `changes` (and whatever else `batch` holds) in one transaction."""
        batch = batch or WriteBatch()
        self.transitions.add(batch, changes)
        await self.writer.write(batch)
        self.notify()
        if any(c.status == "fallback_pending" or any(t.status == "fallback_pending" for t in c.then)
               for c in changes):
            self.wake()

    # -- inbound from the MaaP ----------------------------------------------------------------
    async def on_delivery(self, chatbot_id: str, events: list[DeliveryEvent]) -> None:
        """Statuses from the MaaP → lifecycle transitions (CallbackEndpoints.on_delivery)."""
        # Only a revoke or a failure asks for the fallback policy (delivered/displayed do not).
        deciding = {e.message_id for e in events if e.status in ("revokeOk", "failed")}
        no_fallback = await self._without_fallback_policy(deciding) if deciding else set()
        changes = [c for c in (self._delivery_change(e, e.message_id in no_fallback) for e in events)
                   if c is not None]
        if changes:
            await self.commit(changes)

    async def _without_fallback_policy(self, message_ids: set[str]) -> set[str]:
        """Those of `message_ids` whose batch asked for no SMS fallback."""
        query = (select(messages.c.id).join(batches, batches.c.id == messages.c.batch_id)
                 .where(messages.c.id.in_(sorted(message_ids)), batches.c.fallback == "none"))
        async with self.db.read.connect() as conn:
            return {r.id for r in await conn.execute(query)}

    def _delivery_change(self, e: DeliveryEvent, no_fallback: bool = False) -> Change | None:
        if e.status in ("delivered", "displayed", "failed", "revokeOk", "revokeFail"):
            number = self._awaiting.pop(e.message_id, None)
            if number is not None and e.status == "failed":
                self.capability.note_failed(number, e.error_code)
        at_ms = int(e.at.timestamp() * 1000)
        now_ms = self.now_ms()
        detail = {"maap_status": e.status}
        if e.status == "delivered":
            # Late (after the SMS went) it is recorded, never acted on.
            return Change(e.message_id, "rcs_delivered", at_ms, "maap", detail,
                          when=frozenset({"queued", "rcs_sent"}), due_ms=None, record_anyway=True)
        if e.status == "displayed":
            return Change(e.message_id, "rcs_read", at_ms, "maap", detail,
                          when=frozenset({"queued", "rcs_sent", "rcs_delivered"}), due_ms=None, record_anyway=True)
        if e.status == "revokeOk":
            after = (_without_fallback(e.message_id, now_ms, "ttl_expired_revoked", SOURCE, {}, when=None)
                     if no_fallback else
                     Change(e.message_id, "fallback_pending", now_ms, SOURCE, {"reason": "ttl_expired_revoked"},
                            due_ms=now_ms))
            return Change(e.message_id, "revoked", at_ms, "maap", detail, when=frozenset({"rcs_sent", "queued"}),
                          due_ms=None, then=[after])
        if e.status == "revokeFail":
            # Too late to withdraw: the RCS message reached the handset, so no SMS.
            return Change(e.message_id, "rcs_delivered", at_ms, "maap", detail,
                          when=frozenset({"rcs_sent"}), due_ms=None)
        if e.status == "failed":
            action = classify_failed_code(e.error_code)
            detail["error_code"] = e.error_code
            if action in (FailedAction.SMS_NOW, FailedAction.UNKNOWN):
                if no_fallback:
                    return _without_fallback(e.message_id, at_ms, "rcs_failed", "maap", detail)
                return Change(e.message_id, "fallback_pending", now_ms, "maap",
                              {**detail, "reason": "rcs_failed"}, when=frozenset({"queued", "rcs_sent"}), due_ms=now_ms)
            if action in (FailedAction.REFUSED, FailedAction.CONTENT_REFUSED):
                reason = "the user refused this chatbot" if action is FailedAction.REFUSED else "content refused"
                return Change(e.message_id, "failed", at_ms, "maap", {**detail, "reason": reason},
                              when=frozenset({"queued", "rcs_sent"}), due_ms=None)
            return None  # offline with storing on: the MaaP keeps trying until our TTL revoke
        return None  # sent / deliveredToNetwork: rcs_sent was recorded when the MaaP accepted

    async def on_user(self, chatbot_id: str, event: UserEvent) -> None:
        """A user's reply / suggestion tap / location → `message.user_event` webhook."""
        # in_reply_to is the contributionId of the message answered: ours is our message id.
        message_id = event.in_reply_to or event.message_id
        if not message_id:
            log.info("user message without a message reference (%s) dropped", event.kind)
            return
        data = {"kind": event.kind, "at": rfc3339(event.at), "source": "rcs", "text": event.text,
                "postback": event.postback, "display_text": event.display_text}
        if event.location is not None:
            data["location"] = {"latitude": event.location.latitude, "longitude": event.location.longitude,
                                "label": event.location.label}
        await self.user_event(message_id, data, int(event.at.timestamp() * 1000))

    async def on_postback(self, tenant_id: str, message_id: str, display_text: str, postback: str | None) -> None:
        """A suggestion tapped on the SMS short-link page: the same user event as over RCS."""
        now_ms = self.now_ms()
        await self.user_event(message_id, {
            "kind": "suggestion_response", "at": _rfc3339(now_ms), "source": "sms_link", "text": None,
            "postback": postback, "display_text": display_text,
        }, now_ms, tenant_id=tenant_id)

    async def on_sms_reply(self, tenant_id: str, number: str, text: str, *, opt_out: bool) -> bool:
        """A reply to a brand's SMS → a `message.user_event` of the last SMS sent to that number
        (the same event an RCS reply gives, `source` "sms"); False when no SMS went to it."""
        await self._ensure_keys(tenant_id)
        bidx = self.keyring.blind_index(tenant_id, number)
        async with self.db.read.connect() as conn:
            row = (await conn.execute(_LAST_SMS, {"tenant_id": tenant_id, "to_bidx": bidx})).first()
        if row is None:
            return False
        now_ms = self.now_ms()
        await self.user_event(row.id, {
            "kind": "text", "at": _rfc3339(now_ms), "source": "sms", "text": text, "postback": None,
            "display_text": None, "opt_out": opt_out,
        }, now_ms, tenant_id=tenant_id)
        return True

    async def user_event(self, message_id: str, event: dict, at_ms: int, tenant_id: str | None = None) -> None:
        keyring, new_event_id = self.keyring, self.transitions.new_id

        def record(conn: Connection) -> None:
            row = conn.execute(select(messages.c.tenant_id, messages.c.batch_id, messages.c.to_enc)
                               .where(messages.c.id == message_id)).first()
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                return
            to = keyring.open(row.tenant_id, "messages", "to", message_id, row.to_enc).decode()
            hooks = WriteBatch()
            webhooks.enqueue(hooks, keyring, tenant_id=row.tenant_id, message_id=message_id,
                             kind=webhooks.MESSAGE_USER_EVENT,
                             payload={"message_id": message_id, "batch_id": row.batch_id, "to": to, "event": event},
                             at_ms=at_ms, event_id=new_event_id())
            for statement in hooks.statements:
                statement(conn)

        await self.writer.write(WriteBatch().run(record))
        self.notify()


# Why RCS could not deliver → what a message without SMS fallback becomes: its TTL ran out
# (`expired`), or RCS cannot reach the number at all (`failed`).
_EXPIRY_REASONS = frozenset({"ttl_expired_revoked", "revoke_refused"})


def _without_fallback(message_id: str, at_ms: int, reason: str, source: str, detail: dict, *,
                      attempts=KEEP, when: frozenset | None = frozenset({"queued", "rcs_sent"})) -> Change:
    """The end of a message whose batch asked for no SMS fallback (`"fallback": "none"`)."""
    status = "expired" if reason in _EXPIRY_REASONS else "failed"
    return Change(message_id, status, at_ms, source, {**detail, "reason": reason, "fallback": "none"},
                  when=when, due_ms=None, attempts=attempts)


def _error_detail(result: SendResult) -> str:
    parts = []
    if result.http_status is not None:
        parts.append(f"HTTP {result.http_status}")
    if result.code is not None:
        parts.append(f"errorCode {result.code}")
    if result.detail and not parts:
        parts.append(result.detail[:120])
    return " ".join(parts) or result.outcome.value


def _rfc3339(ms: int) -> str:
    return webhooks.outbox.ms_to_rfc3339(ms)
