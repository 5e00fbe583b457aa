"""Sending one SMS through the configured routes: carrier routing, rate limit, health feedback,
failover, each route's policy for an SMS in doubt, and status queries (the `SmsGateway` the
dispatcher uses)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from fallback.route import InDoubt, PartState, QueryableRoute, SentSms, SmsRoute, SubmitError
from fallback.routing import CarrierRouter


def error_class(exc: SubmitError) -> str:
    """What a failure counted against a route was, for its health view: "transient" or
    "in_doubt" and the peer's status name (a protocol status: no number, no text)."""
    status = getattr(exc.status, "name", None) or str(exc.status)
    return f"{'in_doubt' if exc.in_doubt else 'transient'}: {status[:40]}"


class SmsSender:
    """Routes each SMS to one of `routes` (route name → `SmsRoute`) via `router`.

    Submit outcomes feed the router's health: a transient failure (no connection, timeout, the
    peer's system error) counts against the route, a refused message (bad number…) does not,
    and throttle responses slow the route without counting as errors. A submit in doubt (a
    part written and never answered) follows the route's `in_doubt` policy: "resend" leaves it
    transient (the dispatcher tries again), "report" makes it final.
    """

    def __init__(
        self,
        router: CarrierRouter,
        routes: Mapping[str, SmsRoute],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        missing = {r["route"] for r in router.health()} - set(routes)
        if missing:
            raise ValueError(f"no connection for routes {sorted(missing)}")
        self.router, self.routes = router, routes
        self._policies = {r.name: r.in_doubt for r in router.config.routes}
        self._clock, self._sleep = clock, sleep

    async def send(
        self,
        dest_e164: str,
        text: str,
        source_addr: str,
        *,
        reference: str | None = None,
        before_write: Callable[[str], Awaitable[None]] | None = None,
    ) -> SentSms:
        """Submit `text` on the route chosen for `dest_e164`. Raises `NoRouteAvailable` when
        every route of the carrier is out of rotation, `SubmitError` when the submit fails.
        `before_write(route)` is awaited right before the first part goes on the wire."""
        choice = await self.router.pick(dest_e164)
        if choice.wait > 0:
            await self._sleep(choice.wait)  # the route's token-bucket rate limit
        started = self._clock()
        mark = None if before_write is None else (lambda: before_write(choice.route))
        try:
            result = await self.routes[choice.route].submit(
                dest_e164, text, source_addr, reference=reference, before_write=mark
            )
        except SubmitError as exc:
            if not exc.throttled:
                # A refused message says nothing bad about the route; a transient failure does.
                self.router.record(
                    choice.route,
                    ok=not exc.transient,
                    latency=self._clock() - started,
                    error=error_class(exc),
                )
            if exc.in_doubt and self.in_doubt(choice.route) == "report":
                raise SubmitError(exc.status, str(exc), transient=False, part_ids=exc.part_ids, in_doubt=True) from exc
            raise
        except BaseException:
            if choice.probe:
                self.router.release_probe(choice.route)
            raise
        # Judge the route by how fast the peer answered, not by throttle pauses it asked for.
        self.router.record(choice.route, ok=True, latency=result.latency)
        return SentSms(choice.route, choice.carrier, result)

    def track(self, route: str, reference: str, part_ids: list[str] | tuple[str, ...]) -> bool:
        """Track receipts of an SMS sent earlier on `route`; False when that route is gone."""
        found = self.routes.get(route)
        if found is None:
            return False
        found.track(reference, part_ids)
        return True

    def in_doubt(self, route: str) -> InDoubt:
        """The route's policy for an SMS in doubt; "report" for a route no longer configured."""
        return self._policies.get(route, "report")

    async def query(self, route: str, part_ids: list[str], source_addr: str) -> tuple[PartState, ...] | None:
        """Each part's state at `route`'s peer; None when the route cannot be asked."""
        found = self.routes.get(route)
        if not isinstance(found, QueryableRoute):
            return None
        return tuple(await asyncio.gather(*(found.query(part_id, source_addr) for part_id in part_ids)))
