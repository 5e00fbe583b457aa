"""Sending one SMS through the configured routes: carrier routing, rate limit, health feedback,
failover (the `SmsGateway` the dispatcher uses)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from fallback.route import SentSms, SmsRoute, SubmitError
from fallback.routing import CarrierRouter


class SmsSender:
    """Routes each SMS to one of `routes` (route name → `SmsRoute`) via `router`.

    Submit outcomes feed the router's health: a transient failure (no connection, timeout, the
    peer's system error) counts against the route, a refused message (bad number…) does not,
    and throttle responses slow the route without counting as errors.
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
        self._clock, self._sleep = clock, sleep

    async def send(self, dest_e164: str, text: str, source_addr: str, *, reference: str | None = None) -> SentSms:
        """Submit `text` on the route chosen for `dest_e164`. Raises `NoRouteAvailable` when
        every route of the carrier is out of rotation, `SubmitError` when the submit fails."""
        choice = await self.router.pick(dest_e164)
        if choice.wait > 0:
            await self._sleep(choice.wait)  # the route's token-bucket rate limit
        started = self._clock()
        try:
            result = await self.routes[choice.route].submit(dest_e164, text, source_addr, reference=reference)
        except SubmitError as exc:
            if not exc.throttled:
                # A refused message says nothing bad about the route; a transient failure does.
                self.router.record(choice.route, ok=not exc.transient, latency=self._clock() - started)
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
