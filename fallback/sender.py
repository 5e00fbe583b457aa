"""Sending one SMS through the routed SMPP binds: route choice, rate limit, health feedback."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from typing import Awaitable, Callable, Mapping

from fallback import smpp
from fallback.client import SmppClient, SmppError, SubmitResult
from fallback.routing import CarrierRouter


@dataclass(frozen=True)
class SentSms:
    route: str
    carrier: str
    result: SubmitResult


class SmsSender:
    """Routes each SMS to one of `clients` (route name → bound `SmppClient`) via `router`.

    Submit outcomes feed the router's health: a transient failure (no bind, timeout, SMSC system
    error) counts against the route, a refused message (bad number…) does not, and throttle
    responses slow the route without counting as errors.
    """

    def __init__(
        self,
        router: CarrierRouter,
        clients: Mapping[str, SmppClient],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        missing = {r["route"] for r in router.health()} - set(clients)
        if missing:
            raise ValueError(f"no SMPP client for routes {sorted(missing)}")
        self.router, self.clients = router, clients
        self._clock, self._sleep = clock, sleep
        for name, client in clients.items():
            client.on_throttle = partial(router.record_throttled, name)

    async def send(self, dest_e164: str, text: str, source_addr: str, *,
                   reference: str | None = None) -> SentSms:
        """Submit `text` on the route chosen for `dest_e164`. Raises `NoRouteAvailable` when
        every route of the carrier is out of rotation, `SmppError` when the submit fails."""
        choice = await self.router.pick(dest_e164)
        if choice.wait > 0:
            await self._sleep(choice.wait)  # the route's token-bucket rate limit
        started = self._clock()
        try:
            result = await self.clients[choice.route].submit(
                dest_e164, text, source_addr, reference=reference)
        except SmppError as exc:
            if exc.status not in smpp.THROTTLE_STATUSES:
                # A refused message says nothing bad about the route; a transient failure does.
                self.router.record(choice.route, ok=not exc.transient,
                                   latency=self._clock() - started)
            raise
        except BaseException:
            if choice.probe:
                self.router.release_probe(choice.route)
            raise
        # Judge the route by how fast the SMSC answered, not by throttle pauses it asked for.
        self.router.record(choice.route, ok=True, latency=result.latency)
        return SentSms(choice.route, choice.carrier, result)
