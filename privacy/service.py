"""Retention settings, the purge job, erasure by number and export by number."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import and_, or_, select, update

from accounts.tables import tenants
from api.problems import FieldError, Problem
from messages.tables import messages
from privacy.kinds import ended  # importing it registers the platform's kinds
from privacy.registry import DAY_MS, REGISTRY, ErasureContext, ExportContext, Registry
from privacy.tables import privacy_erasures, privacy_jobs, privacy_retention
from security.keyring import Keyring
from security.numbers import normalise_number
from store import Database, GroupWriter
from store.clock import Clock, SystemClock, ms_to_rfc3339
from store.ids import new_id
from store.writer import WriteBatch

log = logging.getLogger(__name__)

PURGE_JOB = "purge"
LEASE_MS = 5 * 60 * 1000  # a purge that stops renewing (its process died) is taken over after this
BATCH = 500  # rows per purge transaction: short enough never to hold the writer long
DEFAULT_INTERVAL_S = 3600.0
MAX_PAGE = 100


class ErasureInFlight(Exception):
    """The number has messages still being sent; they are never erased under the dispatcher."""

    def __init__(self, message_ids: list[str]):
        super().__init__(f"{len(message_ids)} message(s) to this number are still in flight")
        self.message_ids = message_ids


def subject_number(body: Any) -> str:
    """The E.164 number of an erasure or export body `{"to": "+86…"}`; 422 naming /to otherwise."""
    if not isinstance(body, dict):
        raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
    unknown = sorted(k for k in body if k != "to")
    if unknown:
        raise Problem(422, "unknown field(s)", [FieldError(f"/{k}", "unknown field") for k in unknown])
    raw = body.get("to")
    number = normalise_number(raw) if isinstance(raw, str) else None
    if number is None:
        raise Problem(422, "`to` must be a phone number", [FieldError("/to", "expected a phone number, e.g. +86…")])
    return number


class Privacy:
    """One tenant's retention settings, the purge job over every tenant, erasure and export."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: Keyring,
        clock: Clock | None = None,
        *,
        registry: Registry = REGISTRY,
        settle: Callable[[], Awaitable[Any]] | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        batch: int = BATCH,
        ensure_keys: Callable[[str], Awaitable[Any]] | None = None,
        forget: Callable[[str, str], None] | None = None,
    ):
        self.db, self.writer, self.keyring = db, writer, keyring
        # Drops what a process holds of a number in memory (e.g. its RCS capability) on erasure.
        self.forget = forget
        self.clock = clock or SystemClock()
        self.registry = registry
        # Adds committed events to the evidence log before their messages go (EvidenceLog.append_pending).
        self.settle = settle
        self.interval_s = interval_s
        self.batch = batch
        self.ensure_keys = ensure_keys
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id()[-8:]}"
        self._task: asyncio.Task | None = None

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- settings ---------------------------------------------------------------------------

    async def retention(self, tenant_id: str) -> dict[str, int | None]:
        """Days each kind is kept for the tenant (None: until erased)."""
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(select(privacy_retention.c.days).where(privacy_retention.c.tenant_id == tenant_id))
            ).first()
        own = row.days if row is not None else {}
        return {name: own.get(name, kind.default_days) for name, kind in self.registry.retention.items()}

    async def set_retention(self, tenant_id: str, body: Any) -> dict[str, int | None]:
        """Change some kinds' days (those the body names); 422 listing every bad field."""
        if not isinstance(body, dict):
            raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
        errors = []
        for name, value in body.items():
            kind = self.registry.retention.get(name)
            path = "/" + name.replace("~", "~0").replace("/", "~1")
            if kind is None:
                errors.append(FieldError(path, f"unknown kind; one of {', '.join(self.registry.retention)}"))
            elif value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not kind.min_days <= value <= kind.max_days
            ):
                errors.append(FieldError(path, f"days from {kind.min_days} to {kind.max_days}, or null to keep"))
        if errors:
            raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
        current = await self.retention(tenant_id)
        days = {**current, **body}
        own = {k: v for k, v in days.items() if v != self.registry.retention[k].default_days}
        now = self.now_ms()

        def upsert(conn) -> None:
            t = privacy_retention
            found = conn.execute(select(t.c.tenant_id).where(t.c.tenant_id == tenant_id)).first()
            if found is None:
                conn.execute(t.insert().values(tenant_id=tenant_id, days=own, updated_ms=now))
            else:
                conn.execute(update(t).where(t.c.tenant_id == tenant_id).values(days=own, updated_ms=now))

        await self.writer.write(WriteBatch().run(upsert))
        return days

    # -- purge ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="privacy-purge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                report = await self.purge()
                if report and any(report["purged"].values()):
                    log.info("retention purge: %s", report["purged"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention purge failed; the next run resumes it")

    async def _run(self, fn) -> Any:
        out: list = []
        await self.writer.write(WriteBatch().run(lambda conn: out.append(fn(conn))))
        return out[0] if out else None

    async def _lease(self, *, cursor: str | None = None, keep_cursor: bool = True) -> bool:
        """Take or renew the purge job's lock row (a conditional UPDATE: on PostgreSQL the row
        lock makes a second process wait, re-check and find the lease taken)."""
        now = self.now_ms()
        j = privacy_jobs
        values: dict[str, Any] = {"owner": self.owner, "lease_until_ms": now + LEASE_MS}
        if not keep_cursor:
            values["cursor"] = cursor

        def take(conn) -> bool:
            free = or_(j.c.owner.is_(None), j.c.owner == self.owner, j.c.lease_until_ms < now)
            return bool(conn.execute(update(j).where(and_(j.c.name == PURGE_JOB, free)).values(**values)).rowcount)

        return bool(await self._run(take))

    async def _release(self, *, finished: bool) -> None:
        j = privacy_jobs
        values: dict[str, Any] = {"owner": None, "lease_until_ms": None}
        if finished:
            values.update(cursor=None, finished_ms=self.now_ms())
        await self._run(
            lambda conn: conn.execute(
                update(j).where(and_(j.c.name == PURGE_JOB, j.c.owner == self.owner)).values(**values)
            )
        )

    async def purge(self, tenant_id: str | None = None, *, now_ms: int | None = None) -> dict | None:
        """Delete what is past each tenant's retention (one tenant, or all from where the last
        run stopped), a short transaction per batch. None when another process holds the job."""
        if not await self._lease():
            return None
        now = self.now_ms() if now_ms is None else now_ms
        purged: dict[str, int] = {name: 0 for name in self.registry.retention}
        finished = False
        try:
            if tenant_id is not None:
                todo = [tenant_id]
            else:
                async with self.db.read.connect() as conn:
                    cursor = (
                        await conn.execute(select(privacy_jobs.c.cursor).where(privacy_jobs.c.name == PURGE_JOB))
                    ).scalar()
                    query = select(tenants.c.id).order_by(tenants.c.id)
                    if cursor:
                        query = query.where(tenants.c.id > cursor)
                    todo = list((await conn.execute(query)).scalars())
            for tenant in todo:
                days = await self.retention(tenant)
                for name, kind in self.registry.retention.items():
                    kept = days[name]
                    if kept is None:
                        continue
                    cutoff = now - kept * DAY_MS
                    while True:
                        n = await self._run(
                            lambda conn, kind=kind, cutoff=cutoff, tenant=tenant: kind.purge(
                                conn, tenant, cutoff, self.batch
                            )
                        )
                        purged[name] += n
                        if n < self.batch:
                            break
                    if not await self._lease():
                        log.warning("the purge job's lease was taken over; stopping this run")
                        return {"purged": purged, "complete": False}
                if tenant_id is None:
                    await self._lease(cursor=tenant, keep_cursor=False)  # resume after this tenant
            finished = tenant_id is None
        finally:
            await self._release(finished=finished)
        return {"purged": purged, "complete": True, "at": ms_to_rfc3339(now)}

    # -- erasure ----------------------------------------------------------------------------

    async def erase(self, tenant_id: str, to: str, *, source: str = "api") -> dict:
        """Erase what the tenant holds on `to`; the receipt (counts per kind) is recorded under
        the number's blind index. ErasureInFlight while a message to it is still being sent."""
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant_id)
        bidx = self.keyring.blind_index(tenant_id, to)
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(
                    select(messages.c.id, ended().label("ended")).where(
                        messages.c.tenant_id == tenant_id, messages.c.to_bidx == bidx
                    )
                )
            ).all()
        flying = [r.id for r in rows if not r.ended]
        if flying:
            raise ErasureInFlight(flying)
        if self.settle is not None and rows:
            await self.settle()  # their last events into the evidence log before they go
        now = self.now_ms()
        ctx = ErasureContext(
            self.db, self.writer, self.keyring, tenant_id, to, bidx, now, [r.id for r in rows], self.batch
        )
        erased: dict[str, int] = {}
        kept: dict[str, int] = {}
        for _name, eraser in self.registry.erasers:
            result = await eraser(ctx)
            for bucket, into in (("erased", erased), ("kept", kept)):
                for kind, n in result.get(bucket, {}).items():
                    into[kind] = into.get(kind, 0) + n
        if self.forget is not None:
            self.forget(tenant_id, to)
        receipt_id = new_id(now)
        counts = {"erased": erased, "kept": kept}
        await self.writer.write(
            WriteBatch().insert(
                privacy_erasures,
                {
                    "id": receipt_id,
                    "tenant_id": tenant_id,
                    "subject_bidx": bidx,
                    "source": source,
                    "counts": counts,
                    "at_ms": now,
                },
            )
        )
        return {"id": receipt_id, "erased_at": ms_to_rfc3339(now), "source": source, **counts}

    async def erasures(self, tenant_id: str, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        """The tenant's erasure receipts, newest first (they name no number)."""
        e = privacy_erasures
        query = select(e).where(e.c.tenant_id == tenant_id)
        if after:
            query = query.where(e.c.id < after)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(e.c.id.desc()).limit(limit + 1))).all()
        items = [
            {"id": r.id, "erased_at": ms_to_rfc3339(r.at_ms), "source": r.source, **r.counts} for r in rows[:limit]
        ]
        return items, (rows[limit - 1].id if len(rows) > limit else None)

    # -- export -----------------------------------------------------------------------------

    async def export(self, tenant_id: str, to: str) -> dict:
        """Everything the tenant holds on `to`, opened, as one JSON document."""
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant_id)
        ctx = ExportContext(self.db, self.keyring, tenant_id, to, self.keyring.blind_index(tenant_id, to))
        out: dict[str, Any] = {"to": to, "exported_at": ms_to_rfc3339(self.now_ms())}
        for name, exporter in self.registry.exporters.items():
            out[name] = await exporter(ctx)
        out["retention_days"] = await self.retention(tenant_id)
        return out
