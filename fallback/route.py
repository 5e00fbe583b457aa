"""The interface every SMS route kind implements (SMPP today; CMPP, SGIP, SMGP behind the same
shape later), what it answers, and what the dispatcher needs of the routed whole.

A route kind is one module with a factory `(name, options, hooks) -> SmsRoute`, registered by
one line in `fallback.kinds.ROUTE_KINDS`; the routes file names the kind of each route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from fallback.segmentation import Segmentation

OutcomeStatus = Literal["delivered", "failed"]


class SubmitError(Exception):
    """A route refused or failed a submit. `transient`: a later retry may succeed; `throttled`:
    the peer asked us to slow down (not the message's fault, nor the route's)."""

    def __init__(
        self,
        status: object,
        message: str,
        *,
        transient: bool,
        part_ids: tuple[str, ...] = (),
        throttled: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.throttled = throttled
        self.part_ids = part_ids  # parts accepted before the failure (they may still arrive)


@dataclass(frozen=True)
class SubmitResult:
    """A message the route accepted: its reference and the peer's id of every part."""

    reference: str
    part_ids: tuple[str, ...]
    segmentation: Segmentation
    # Seconds the peer took to answer the accepted parts (throttle pauses and waits for a
    # connection excluded): what route health judges.
    latency: float = 0.0


@dataclass(frozen=True)
class PartState:
    message_id: str
    stat: str | None = None
    err: str | None = None


@dataclass(frozen=True)
class MessageOutcome:
    """The rolled-up delivery result of one message (every part's receipt)."""

    reference: str
    status: OutcomeStatus
    reason: str | None
    parts: tuple[PartState, ...]


@dataclass(frozen=True)
class InboundSms:
    """A mobile-originated SMS (a reply, an opt-out)."""

    source: str
    destination: str
    text: str


Hook = Callable[[Any], Awaitable[None] | None]


@dataclass(frozen=True)
class RouteHooks:
    """Where a route reports: rolled-up receipts, inbound SMS, and throttle responses."""

    on_outcome: Callable[[MessageOutcome], Awaitable[None] | None] | None = None
    on_inbound: Callable[[InboundSms], Awaitable[None] | None] | None = None
    on_throttle: Callable[[], None] | None = None


@runtime_checkable
class SmsRoute(Protocol):
    """One connection to one SMS peer (an SMSC bind, a carrier gateway)."""

    async def start(self) -> None:
        """Connect (and keep reconnecting in the background)."""
        ...

    async def stop(self) -> None:
        """Disconnect and release everything."""
        ...

    async def submit(
        self, dest_e164: str, text: str, source_addr: str, *, reference: str | None = None
    ) -> SubmitResult:
        """Send one SMS (in as many parts as it needs); raises `SubmitError`. Its receipts come
        back rolled up through `RouteHooks.on_outcome` under `reference`."""
        ...

    def track(self, reference: str, part_ids: list[str] | tuple[str, ...]) -> None:
        """Roll up receipts again for a message submitted earlier (e.g. before a restart)."""
        ...


RouteFactory = Callable[[str, Mapping[str, Any], RouteHooks], SmsRoute]


@dataclass(frozen=True)
class SentSms:
    """An SMS one of the routes accepted."""

    route: str
    carrier: str
    result: SubmitResult


class NoRouteAvailable(Exception):
    """Every route for the carrier is out of rotation; try again after `retry_after` seconds."""

    def __init__(self, carrier: str, retry_after: float):
        super().__init__(f"no SMS route in rotation for {carrier}; retry in {retry_after:.1f}s")
        self.carrier = carrier
        self.retry_after = retry_after


class SmsGateway(Protocol):
    """What the dispatcher sends SMS through: every configured route behind carrier routing."""

    async def send(self, dest_e164: str, text: str, source_addr: str, *, reference: str | None = None) -> SentSms:
        """Submit on the route chosen for the number; raises `NoRouteAvailable` or `SubmitError`."""
        ...

    def track(self, route: str, reference: str, part_ids: list[str] | tuple[str, ...]) -> bool:
        """Track receipts of an SMS sent earlier on `route`; False when that route is gone."""
        ...
