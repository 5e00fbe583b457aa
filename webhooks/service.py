"""Endpoint registry, the delivery list, and the sender that delivers the outbox.

The sender claims due deliveries in batches through the GroupWriter (on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so several processes can send), takes a lease on them, POSTs each
signed body, and records the outcome. A delivery waits while an earlier event of the same
message to the same endpoint is still pending, so each endpoint sees a message's events in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import Connection, and_, bindparam, delete, exists, func, or_, select, update

import security
from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from security.addresses import host_refusal
from security.resolver import PublicOnlyResolver
from security.webhooks import webhook_signature
from store import Clock, Database, GroupWriter, SystemClock, new_id
from store.background import Pacer, Timer, wait_event
from store.writer import WriteBatch
from webhooks.endpoints import Registration
from webhooks.outbox import enqueued_total, ms_to_rfc3339
from webhooks.tables import webhook_deliveries as deliveries
from webhooks.tables import webhook_endpoints as endpoints

log = logging.getLogger("hongyan.webhooks")

MAX_ENDPOINTS = 16
MAX_PAGE = 1000
DEFAULT_PAGE = 100
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")
DEFAULT_GRACE_S = 24 * 3600  # after a rotation the old secret still signs this long
MAX_GRACE_S = 7 * 24 * 3600
USER_AGENT = "Hongyan-Webhooks/1"
PURGE_EVERY_S = 3600
# With nothing due the sender looks ever less often, up to this; an enqueue wakes it (in this
# process after the commit, in others through store.notify on PostgreSQL), a retry's time too.
IDLE_S = 10.0

Backoff = Callable[[int], float]


def exponential_backoff(base: float, cap: float, rand: Callable[[], float] = random.random) -> Backoff:
    """Seconds to wait after failed attempt n (1, 2, …): base·2^(n-1), capped, ±20 % jitter."""

    def delay(attempt: int) -> float:
        raw = min(cap, base * 2 ** min(attempt - 1, 40))
        return raw * (0.8 + 0.4 * rand())

    return delay


@dataclass(frozen=True)
class Claimed:
    id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    created_ms: int
    attempts: int
    url: str
    payload_enc: bytes
    secret_enc: bytes
    previous_secret_enc: bytes | None = None
    previous_until_ms: int | None = None


class WebhookService:
    """Registers endpoints and delivers queued events to them, at least once."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: security.Keyring,
        clock: Clock | None = None,
        *,
        allow_http: bool = True,
        allow_private: bool | None = None,
        http_timeout: float = 10.0,
        backoff_base: float = 5.0,
        backoff_cap: float = 3600.0,
        backoff: Backoff | None = None,
        max_age_s: float = 3 * 86400,
        retention_s: float | None = 30 * 86400,
        batch_size: int = 100,
        concurrency: int = 64,
        per_endpoint: int = 16,
        poll_interval: float = 0.5,
        idle_s: float = IDLE_S,
        timer: Timer = wait_event,
        id_factory: Callable[[], str] = new_id,
    ):
        self.db = db
        self.writer = writer
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.allow_http = allow_http
        # Loopback / private receivers: the sandbox's; refused in production (SSRF).
        self.allow_private = allow_http if allow_private is None else allow_private
        self.http_timeout = http_timeout
        self.backoff = backoff or exponential_backoff(backoff_base, backoff_cap)
        self.max_age_ms = int(max_age_s * 1000)
        self.retention_ms = int(retention_s * 1000) if retention_s else None
        self.batch_size = batch_size
        self.concurrency = concurrency
        # One slow or dead endpoint may not take every connection: the others keep flowing.
        self.per_endpoint = per_endpoint
        self.poll_interval = poll_interval
        self.new_id = id_factory
        # A crashed sender's lease lapses after this; an attempt never takes longer.
        self.lease_ms = int((2 * http_timeout + 30) * 1000)
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id()[-8:]}"
        self.claim_rounds = 0  # how many claim queries ran (observable progress for tests and ops)
        self.pacer = Pacer(poll_interval, max(poll_interval, idle_s), timer=timer)
        self._wake = self.pacer.wake_event
        self._next_due_ms: int | None = None
        # Called when this process queued deliveries (server.py: wakes other processes' senders).
        self.on_enqueued: Callable[[], None] = lambda: None
        self._seen_enqueued = -1
        self._task: asyncio.Task | None = None
        self._purger: asyncio.Task | None = None
        self._stopped = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()
        self._busy: dict[str, int] = {}  # endpoint id → HTTP attempts under way in this process
        self._sending = 0
        self._session: aiohttp.ClientSession | None = None
        self._secrets: dict[str, tuple[bytes, str]] = {}  # endpoint id → (sealed, secret)
        self._outcomes: list[tuple[dict, asyncio.Future]] = []
        self._flushing: asyncio.Task | None = None
        self._stopping = False

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- registry ------------------------------------------------------------------------
    async def create_endpoint(self, tenant_id: str, reg: Registration) -> dict:
        """Register an endpoint; the answer is the only time its secret is shown."""
        async with self.db.read.connect() as conn:
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(endpoints)
                    .where(and_(endpoints.c.tenant_id == tenant_id, endpoints.c.deleted_ms.is_(None)))
                )
            ).scalar_one()
        if count >= MAX_ENDPOINTS:
            raise Problem(
                422,
                f"a tenant can register at most {MAX_ENDPOINTS} webhook endpoints",
                [FieldError("/url", "too many endpoints")],
            )
        now_ms = self._now_ms()
        eid = self.new_id()
        secret = security.new_webhook_secret()
        row = {
            "id": eid,
            "tenant_id": tenant_id,
            "url": reg.url,
            "events": reg.events,
            "secret_enc": self.keyring.seal(tenant_id, "webhook_endpoints", "secret", eid, secret.encode()),
            "created_ms": now_ms,
            "deleted_ms": None,
        }
        await self.writer.write(WriteBatch().insert(endpoints, row))
        return {"id": eid, "secret": secret, "url": reg.url, "events": reg.events, "created_at": ms_to_rfc3339(now_ms)}

    async def list_endpoints(self, tenant_id: str) -> list[dict]:
        """The tenant's endpoints, oldest first, without secrets."""
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(endpoints.c.id, endpoints.c.url, endpoints.c.events, endpoints.c.created_ms)
                    .where(and_(endpoints.c.tenant_id == tenant_id, endpoints.c.deleted_ms.is_(None)))
                    .order_by(endpoints.c.id)
                )
            ).all()
        return [{"id": r.id, "url": r.url, "events": r.events, "created_at": ms_to_rfc3339(r.created_ms)} for r in rows]

    async def rotate_secret(self, tenant_id: str, endpoint_id: str, grace_s: int = DEFAULT_GRACE_S) -> dict | None:
        """A new signing secret for an endpoint, used from the next attempt on (also for events
        queued earlier); the old one signs too (a second `v1=`) for `grace_s` seconds, so the
        receiver can switch without rejecting anything. The answer is the only time the new
        secret is shown. None if unknown."""
        secret = security.new_webhook_secret()
        sealed = self.keyring.seal(tenant_id, "webhook_endpoints", "secret", endpoint_id, secret.encode())
        now_ms = self._now_ms()
        until_ms = now_ms + grace_s * 1000
        found: list[bool] = []

        def rotate(conn: Connection) -> None:
            found.clear()
            row = conn.execute(
                select(endpoints.c.secret_enc).where(
                    and_(
                        endpoints.c.id == endpoint_id,
                        endpoints.c.tenant_id == tenant_id,
                        endpoints.c.deleted_ms.is_(None),
                    )
                )
            ).first()
            if row is None:
                return
            old = self.keyring.open(tenant_id, "webhook_endpoints", "secret", endpoint_id, row.secret_enc)
            previous = (
                self.keyring.seal(tenant_id, "webhook_endpoints", "previous_secret", endpoint_id, old)
                if grace_s
                else None
            )
            conn.execute(
                update(endpoints)
                .where(endpoints.c.id == endpoint_id)
                .values(
                    secret_enc=sealed,
                    previous_secret_enc=previous,
                    previous_until_ms=until_ms if grace_s else None,
                )
            )
            found.append(True)

        await self.writer.write(WriteBatch().run(rotate))
        if not found:
            return None
        return {
            "id": endpoint_id,
            "secret": secret,
            "rotated_at": ms_to_rfc3339(now_ms),
            "previous_secret_valid_until": ms_to_rfc3339(until_ms) if grace_s else None,
        }

    async def delete_endpoint(self, tenant_id: str, endpoint_id: str) -> bool:
        """Stop delivering to an endpoint (its pending deliveries are cancelled); False if unknown."""
        now_ms = self._now_ms()
        found: list[bool] = []

        def delete(conn: Connection) -> None:
            found.clear()
            result = conn.execute(
                update(endpoints)
                .where(
                    and_(
                        endpoints.c.id == endpoint_id,
                        endpoints.c.tenant_id == tenant_id,
                        endpoints.c.deleted_ms.is_(None),
                    )
                )
                .values(deleted_ms=now_ms)
            )
            if result.rowcount:
                found.append(True)
                conn.execute(
                    update(deliveries)
                    .where(and_(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "pending"))
                    .values(status="cancelled", next_attempt_ms=None, lease_owner=None, lease_until_ms=None)
                )

        await self.writer.write(WriteBatch().run(delete))
        self._secrets.pop(endpoint_id, None)
        return bool(found)

    # -- delivery list -------------------------------------------------------------------
    async def list_deliveries(
        self,
        tenant_id: str,
        *,
        message_id: str | None = None,
        endpoint_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> tuple[list[dict], str | None]:
        """A page of deliveries, newest first, and the cursor of the next page (None at the end)."""
        query = select(
            deliveries.c.id,
            deliveries.c.endpoint_id,
            deliveries.c.event_id,
            deliveries.c.event_type,
            deliveries.c.message_id,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.created_ms,
            deliveries.c.next_attempt_ms,
            deliveries.c.last_attempt_ms,
            deliveries.c.last_status,
            deliveries.c.last_error,
        ).where(deliveries.c.tenant_id == tenant_id)
        if message_id is not None:
            query = query.where(deliveries.c.message_id == message_id)
        if endpoint_id is not None:
            query = query.where(deliveries.c.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        if cursor is not None:
            query = query.where(deliveries.c.id < decode_cursor(cursor))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(deliveries.c.id.desc()).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [_delivery_view(r) for r in rows]
        return items, (encode_cursor(rows[-1].id) if more and rows else None)

    # -- sender --------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the sender task (and its pooled HTTP session)."""
        if self._task is not None:
            return
        self._stopping = False
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.http_timeout),
            connector=aiohttp.TCPConnector(
                limit=self.concurrency, ttl_dns_cache=300, resolver=None if self.allow_private else PublicOnlyResolver()
            ),
            headers={"User-Agent": USER_AGENT},
        )
        if self.db.sqlite:
            # One process owns an SQLite database: leases left by a crash can go at once.
            await self.writer.write(
                WriteBatch().run(
                    lambda conn: conn.execute(
                        update(deliveries)
                        .where(and_(deliveries.c.status == "pending", deliveries.c.lease_owner.is_not(None)))
                        .values(lease_owner=None, lease_until_ms=None)
                    )
                )
            )
        self._stopped.clear()
        self._task = asyncio.create_task(self._run(), name="webhook-sender")
        if self.retention_ms is not None:
            self._purger = asyncio.create_task(self._purge_hourly(), name="webhook-purge")

    async def stop(self) -> None:
        """Stop claiming, let attempts under way finish (each bounded by the HTTP timeout)."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        self._stopped.set()
        await self._task
        self._task = None
        if self._purger is not None:
            await self._purger
            self._purger = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))
        await self._session.close()
        self._session = None

    def notify(self) -> None:
        """Look for due deliveries now (call after committing a batch that enqueued events)."""
        self._wake.set()

    def notify_if_enqueued(self) -> None:
        """`notify` when this process queued deliveries since the last look; called after every
        commit of the group writer (deliveries queued by other processes: `on_enqueued`)."""
        if enqueued_total() != self._seen_enqueued:
            self._wake.set()
            self.on_enqueued()

    async def purge(self, batch: int = 5000) -> int:
        """Delete finished deliveries older than the retention; returns how many went."""
        if self.retention_ms is None:
            return 0
        cutoff_ms = self._now_ms() - self.retention_ms
        # Ids are time-ordered (UUIDv7): the primary key bounds the scan.
        cutoff_id = f"{max(cutoff_ms, 0):012x}" + "0" * 20
        victims = (
            select(deliveries.c.id)
            .where(deliveries.c.id < cutoff_id, deliveries.c.status != "pending", deliveries.c.created_ms < cutoff_ms)
            .limit(batch)
            .scalar_subquery()
        )
        stmt = delete(deliveries).where(deliveries.c.id.in_(victims))
        total = 0
        while True:
            counts: list[int] = []

            def run(conn: Connection, counts: list[int] = counts) -> None:
                counts[:] = [conn.execute(stmt).rowcount]

            await self.writer.write(WriteBatch().run(run))
            total += counts[0]
            if counts[0] < batch:
                return total

    async def _purge_hourly(self) -> None:
        while not self._stopping:
            try:
                purged = await self.purge()
                if purged:
                    log.info("purged %d finished webhook deliveries", purged)
            except Exception:
                log.exception("purging webhook deliveries failed")
            try:
                await asyncio.wait_for(self._stopped.wait(), PURGE_EVERY_S)
            except TimeoutError:
                pass

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            self._seen_enqueued = enqueued_total()
            room = min(self.batch_size, self.concurrency - self._sending)
            claimed: list[Claimed] = []
            if room > 0:
                try:
                    claimed = await self._claim(room)
                except Exception:
                    log.exception("claiming webhook deliveries failed")
                for c in claimed:
                    self._busy[c.endpoint_id] = self._busy.get(c.endpoint_id, 0) + 1
                    self._sending += 1
                    task = asyncio.create_task(self._attempt(c))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
            if claimed and len(claimed) == room and self._sending < self.concurrency:
                continue  # more may be due
            # Nothing claimed: idle, looking ever less often but never past the next retry due.
            # Enqueues here wake it (notify_if_enqueued after every commit), on PostgreSQL those
            # of other processes too (store.notify).
            due_in = None if self._next_due_ms is None else (self._next_due_ms - self._now_ms()) / 1000
            await self.pacer.wait(bool(claimed), at_most=due_in)

    def _sent(self, endpoint_id: str) -> None:
        """An HTTP attempt ended: its connection slot is free while the outcome is recorded."""
        self._sending -= 1
        left = self._busy.get(endpoint_id, 1) - 1
        if left:
            self._busy[endpoint_id] = left
        else:
            self._busy.pop(endpoint_id, None)

    async def _anything_due(self, now_ms: int) -> bool:
        """Whether a delivery is due now; else notes when the next one is (`_next_due_ms`)."""
        async with self.db.read.connect() as conn:
            row = (await conn.execute(_NEXT_DUE, {"now": now_ms})).first()
        self._next_due_ms = None if row is None else row.next_attempt_ms
        return row is not None and row.next_attempt_ms <= now_ms

    async def _claim(self, limit: int) -> list[Claimed]:
        now_ms = self._now_ms()
        out: list[Claimed] = []
        # A cheap read first: every dispatcher wake-up must not queue a write transaction when
        # nothing is waiting (most statuses have no endpoint to go to).
        if not await self._anything_due(now_ms):
            self.claim_rounds += 1
            return out
        earlier = deliveries.alias("earlier")
        query = (
            select(
                deliveries.c.id,
                deliveries.c.tenant_id,
                deliveries.c.endpoint_id,
                deliveries.c.event_id,
                deliveries.c.event_type,
                deliveries.c.created_ms,
                deliveries.c.attempts,
                deliveries.c.payload_enc,
                endpoints.c.url,
                endpoints.c.secret_enc,
                endpoints.c.previous_secret_enc,
                endpoints.c.previous_until_ms,
            )
            .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
            .where(
                deliveries.c.status == "pending",
                deliveries.c.next_attempt_ms <= now_ms,
                or_(deliveries.c.lease_until_ms.is_(None), deliveries.c.lease_until_ms < now_ms),
                ~exists().where(
                    earlier.c.endpoint_id == deliveries.c.endpoint_id,
                    earlier.c.message_id == deliveries.c.message_id,
                    earlier.c.status == "pending",
                    or_(
                        earlier.c.event_ms < deliveries.c.event_ms,
                        and_(earlier.c.event_ms == deliveries.c.event_ms, earlier.c.id < deliveries.c.id),
                    ),
                ),
            )
            .order_by(deliveries.c.next_attempt_ms)
            .limit(limit)
        )
        room = {eid: self.per_endpoint - n for eid, n in self._busy.items()}
        full = [eid for eid, left in room.items() if left <= 0]
        if full:
            query = query.where(deliveries.c.endpoint_id.not_in(full))
        if not self.db.sqlite:
            query = query.with_for_update(skip_locked=True, of=deliveries)

        def claim(conn: Connection) -> None:
            out.clear()  # the writer may run a statement again after a failed group
            left = dict(room)
            rows = []
            for r in conn.execute(query):
                # Rows over an endpoint's share are not leased: their locks end with this transaction.
                if left.setdefault(r.endpoint_id, self.per_endpoint) > 0:
                    left[r.endpoint_id] -= 1
                    rows.append(r)
            if not rows:
                return
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_([r.id for r in rows]))
                .values(lease_owner=self.owner, lease_until_ms=now_ms + self.lease_ms)
            )
            out.extend(Claimed(**r._mapping) for r in rows)

        await self.writer.write(WriteBatch().run(claim))
        self.claim_rounds += 1
        return out

    def _secret(self, c: Claimed, column: str = "secret") -> str:
        # Keyed by the sealed value too: a secret rotated by any process is picked up at once.
        sealed = c.secret_enc if column == "secret" else c.previous_secret_enc
        assert sealed is not None
        key = (c.endpoint_id, column)
        cached = self._secrets.get(key)
        if cached is None or cached[0] != sealed:
            secret = self.keyring.open(c.tenant_id, "webhook_endpoints", column, c.endpoint_id, sealed).decode()
            cached = self._secrets[key] = (sealed, secret)
        return cached[1]

    def _signature(self, c: Claimed, body: bytes, t: int) -> str:
        """The header: signed with the secret, and during a rotation's grace with the old one too."""
        header = security.sign_webhook(self._secret(c), body, t)
        if c.previous_secret_enc is not None and c.previous_until_ms is not None and t * 1000 < c.previous_until_ms:
            header += ",v1=" + webhook_signature(self._secret(c, "previous_secret"), body, t)
        return header

    async def _attempt(self, c: Claimed) -> None:
        try:
            status, error = await self._post(c)
        finally:
            self._sent(c.endpoint_id)
        self._wake.set()  # a connection slot is free
        try:
            await self._record(c, status, error)
        except Exception:
            log.exception("recording webhook delivery %s failed; its lease will lapse", c.id)
        self._wake.set()  # the next event of this message may now be due

    async def _post(self, c: Claimed) -> tuple[int | None, str | None]:
        """One signed POST: (HTTP status or None, error or None when it was accepted)."""
        try:
            body = self.keyring.open(c.tenant_id, "webhook_deliveries", "payload", c.id, c.payload_enc)
            if not self.allow_private:
                # A literal IP skips the resolver: check it here too (registration did already).
                refusal = host_refusal(urlsplit(c.url).hostname or "")
                if refusal:
                    return None, f"the URL's host {refusal}"
            t = int(self.clock.now().timestamp())
            headers = {
                "Content-Type": "application/json",
                security.SIGNATURE_HEADER: self._signature(c, body, t),
                "Hongyan-Event-Id": c.event_id,
                "Hongyan-Event-Type": c.event_type,
            }
            async with self._session.post(c.url, data=body, headers=headers, allow_redirects=False) as resp:
                await _drain(resp)
                return resp.status, None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
        except TimeoutError:
            return None, f"timed out after {self.http_timeout:g} s"
        except aiohttp.ClientError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a sealing or signing failure must not kill the sender
            log.exception("webhook delivery %s could not be attempted", c.id)
            return None, f"internal error: {type(exc).__name__}"

    async def _record(self, c: Claimed, status: int | None, error: str | None) -> None:
        now_ms = self._now_ms()
        outcome = {
            "b_id": c.id,
            "b_owner": self.owner,
            "b_status": "pending",
            "b_attempts": c.attempts + 1,
            "b_last_attempt_ms": now_ms,
            "b_last_status": status,
            "b_last_error": error[:200] if error else None,
            "b_next_attempt_ms": None,
        }
        if error is None:
            outcome["b_status"] = "delivered"
        elif now_ms - c.created_ms >= self.max_age_ms:
            outcome["b_status"] = "failed"
            log.warning(
                "webhook delivery %s to endpoint %s given up after %d attempts", c.id, c.endpoint_id, c.attempts + 1
            )
        else:
            outcome["b_next_attempt_ms"] = now_ms + int(self.backoff(c.attempts + 1) * 1000)
        done = asyncio.get_running_loop().create_future()
        self._outcomes.append((outcome, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_outcomes())
        await done

    async def _flush_outcomes(self) -> None:
        # Outcomes finishing while one flush commits go together in the next: one UPDATE
        # executemany per round instead of a statement built per delivery.
        while self._outcomes:
            taken, self._outcomes = self._outcomes, []
            params = [outcome for outcome, _ in taken]
            try:
                await self.writer.write(WriteBatch().run(lambda conn, params=params: conn.execute(_RECORD, params)))
            except Exception as exc:
                for _, done in taken:
                    done.set_exception(exc)
            else:
                for _, done in taken:
                    done.set_result(None)


# The next attempt due among deliveries nobody holds (ix_webhook_deliveries_due): a cheap read
# that says whether to claim now, else how long the sender may sleep.
_NEXT_DUE = (
    select(deliveries.c.next_attempt_ms)
    .where(
        deliveries.c.status == "pending",
        or_(deliveries.c.lease_until_ms.is_(None), deliveries.c.lease_until_ms < bindparam("now")),
    )
    .order_by(deliveries.c.next_attempt_ms)
    .limit(1)
)

# Only the lease holder records an outcome, and only while the delivery is still pending.

_RECORD = (
    update(deliveries)
    .where(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.status == "pending",
        deliveries.c.lease_owner == bindparam("b_owner"),
    )
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        last_attempt_ms=bindparam("b_last_attempt_ms"),
        last_status=bindparam("b_last_status"),
        last_error=bindparam("b_last_error"),
        next_attempt_ms=bindparam("b_next_attempt_ms"),
        lease_owner=None,
        lease_until_ms=None,
    )
)


async def _drain(resp: aiohttp.ClientResponse, limit: int = 64 * 1024) -> None:
    """Read (and drop) a small answer so the pooled connection can be reused; never keep it."""
    seen = 0
    while seen <= limit:
        chunk = await resp.content.readany()
        if not chunk:
            return
        seen += len(chunk)


def _delivery_view(r) -> dict:
    def at(ms):
        return ms_to_rfc3339(ms) if ms is not None else None

    return {
        "id": r.id,
        "event_id": r.event_id,
        "event_type": r.event_type,
        "endpoint_id": r.endpoint_id,
        "message_id": r.message_id,
        "status": r.status,
        "attempts": r.attempts,
        "last_status": r.last_status,
        "last_error": r.last_error,
        "created_at": at(r.created_ms),
        "last_attempt_at": at(r.last_attempt_ms),
        "next_attempt_at": at(r.next_attempt_ms),
    }
