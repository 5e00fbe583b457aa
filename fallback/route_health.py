"""Route health shared between processes: dispatch processes hold the SMS routes (and their
health, in memory); API processes answer `GET /v1/sms/routes` from the snapshots they write.

Each dispatch process looks at its router every `interval_s` (5 s) and writes one row per route
(`sms_route_health`, keyed by process and route) only when something an operator sees changed —
state, error rate, latencies, throttling, the last error — and at least every `heartbeat_s`
(60 s) so readers can tell a live process from a dead one. A process that stops cleanly deletes
its rows; rows older than `stale_s` (180 s) are ignored. Readers merge the processes' rows per
route: the worst state, summed samples and throttles, sample-weighted error rate, the slowest
latencies, the latest error and change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, BigInteger, String, delete, select
from sqlmodel import Field

from store import Database
from store.background import wait_event
from store.models import Model

log = logging.getLogger(__name__)

INTERVAL_S = 5.0
HEARTBEAT_S = 60.0
STALE_S = 180.0
# Fields that change by themselves as time passes: not a reason to write.
_VOLATILE = ("back_in",)
_WORST = {"out_of_rotation": 2, "probing": 1, "in_rotation": 0}


class RouteHealthRow(Model, table=True):
    """One dispatch process's view of one route, as `CarrierRouter.health()` gives it."""

    __tablename__ = "sms_route_health"

    process: str = Field(sa_type=String(64), primary_key=True)
    route: str = Field(sa_type=String(64), primary_key=True)
    state: str = Field(sa_type=String(16))
    health: dict = Field(sa_type=JSON)
    updated_ms: int = Field(sa_type=BigInteger)


table = RouteHealthRow.__table__  # type: ignore[attr-defined]


class HealthPublisher:
    """Writes a router's health for the other processes (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        health: Callable[[], list[dict]],
        process: str,
        *,
        interval_s: float = INTERVAL_S,
        heartbeat_s: float = HEARTBEAT_S,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ):
        self.db, self.health, self.process = db, health, process[:64]
        self.interval_s, self.heartbeat_s = interval_s, heartbeat_s
        self._clock, self._wall_ms = clock, wall_ms
        self._last: list[dict] | None = None
        self._written_at = float("-inf")
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.writes = 0  # observable for tests and the idle budget

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="route-health-publisher")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            async with self.db.write.begin() as conn:
                await conn.execute(delete(table).where(table.c.process == self.process))
        except Exception as exc:  # the database is gone: readers drop the rows once stale
            log.warning("route health rows of this process were left behind: %s", type(exc).__name__)

    async def publish(self) -> bool:
        """Write the rows when they changed or the heartbeat is due; True when written."""
        health = self.health()
        shown = [{k: v for k, v in h.items() if k not in _VOLATILE} for h in health]
        now = self._clock()
        if shown == self._last and now - self._written_at < self.heartbeat_s:
            return False
        updated_ms = self._wall_ms()
        rows = [
            {"process": self.process, "route": h["route"], "state": h["state"], "health": h, "updated_ms": updated_ms}
            for h in health
        ]
        async with self.db.write.begin() as conn:
            await conn.execute(delete(table).where(table.c.process == self.process))
            if rows:
                await conn.execute(table.insert(), rows)
        self._last, self._written_at = shown, now
        self.writes += 1
        return True

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.publish()
            except Exception as exc:  # a database hiccup: the next look writes again
                log.warning("writing route health failed: %s", type(exc).__name__)
                self._last = None
            await wait_event(self._stop, self.interval_s)


async def shared_health(db: Database, *, now_ms: int | None = None, stale_s: float = STALE_S) -> list[dict]:
    """Every route's health as the live dispatch processes last wrote it, merged per route (the
    same shape as `CarrierRouter.health()`, plus `processes` and `updated_at`)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    since = now_ms - int(stale_s * 1000)
    async with db.read.connect() as conn:
        rows = (
            await conn.execute(
                select(table.c.route, table.c.health, table.c.updated_ms)
                .where(table.c.updated_ms >= since)
                .order_by(table.c.route, table.c.process)
            )
        ).all()
    by_route: dict[str, list[tuple[dict, int]]] = {}
    for route, health, updated_ms in rows:
        by_route.setdefault(route, []).append((health, updated_ms))
    return [_merge(views) for views in by_route.values()]


def _merge(views: list[tuple[dict, int]]) -> dict[str, Any]:
    healths = [h for h, _ in views]
    worst = max(healths, key=lambda h: _WORST.get(h.get("state", ""), 0))
    samples = sum(h.get("samples", 0) for h in healths)
    errors = sum(h.get("error_rate", 0.0) * h.get("samples", 0) for h in healths)
    latest_error = max(healths, key=lambda h: h.get("last_error_at") or "")
    merged = dict(worst)
    merged.update(
        kind=next((h["kind"] for h in healths if h.get("kind")), None),
        samples=samples,
        error_rate=round(errors / samples, 4) if samples else 0.0,
        throttled=any(h.get("throttled") for h in healths),
        throttles=sum(h.get("throttles", 0) for h in healths),
        last_error=latest_error.get("last_error"),
        last_error_at=latest_error.get("last_error_at"),
        changed_at=max((h.get("changed_at") or "" for h in healths), default="") or None,
        processes=len(views),
        updated_at=_iso_ms(max(ms for _, ms in views)),
    )
    for key in ("latency_p50", "latency_p90", "latency_p95"):
        merged[key] = max(h.get(key, 0.0) for h in healths)
    return merged


def _iso_ms(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
