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
# What becomes of an SMS in doubt (a part written to the peer that never answered): sent again
# (at least once: the recipient may get it twice) or reported as failed (at most once).
InDoubt = Literal["report", "resend"]
IN_DOUBT_POLICIES: tuple[InDoubt, ...] = ("report", "resend")


class SubmitError(Exception):
    """A route refused or failed a submit. `transient`: a later retry may succeed; `throttled`:
    the peer asked us to slow down (not the message's fault, nor the route's); `in_doubt`: a
    part went on the wire and no answer came, so the peer may have taken the message."""

    def __init__(
        self,
        status: object,
        message: str,
        *,
        transient: bool,
        part_ids: tuple[str, ...] = (),
        throttled: bool = False,
        in_doubt: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.throttled = throttled
        self.in_doubt = in_doubt
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
    # The MO's id where the route gives one (SMPP's deliver_sm carries none: the platform names it).
    message_id: str | None = None


Hook = Callable[[Any], Awaitable[None] | None]
# Awaited by a route right before the first part of a message goes on the wire (the durable
# "about to send" mark); when it raises, nothing is sent and the exception propagates.
BeforeWrite = Callable[[], Awaitable[None]]


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
        self,
        dest_e164: str,
        text: str,
        source_addr: str,
        *,
        reference: str | None = None,
        before_write: BeforeWrite | None = None,
    ) -> SubmitResult:
        """Send one SMS (in as many parts as it needs); raises `SubmitError`. Its receipts come
        back rolled up through `RouteHooks.on_outcome` under `reference`. `before_write` is
        awaited right before the first part goes on the wire (and not again)."""
        ...

    def track(self, reference: str, part_ids: list[str] | tuple[str, ...]) -> None:
        """Roll up receipts again for a message submitted earlier (e.g. before a restart)."""
        ...


@runtime_checkable
class QueryableRoute(Protocol):
    """The optional capability of a route whose peer answers status queries (SMPP query_sm)."""

    async def query(self, part_id: str, source_addr: str) -> PartState:
        """The peer's state of one part it accepted: `stat` a final receipt state (DELIVRD,
        UNDELIV, … UNKNOWN when the peer does not know the id) or None while undecided.
        Raises `SubmitError` when the peer cannot be asked now."""
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

    async def send(
        self,
        dest_e164: str,
        text: str,
        source_addr: str,
        *,
        reference: str | None = None,
        before_write: Callable[[str], Awaitable[None]] | None = None,
    ) -> SentSms:
        """Submit on the route chosen for the number; raises `NoRouteAvailable` or `SubmitError`
        (in doubt and not transient when the route's policy is to report). `before_write(route)`
        is awaited right before the first part goes on the wire."""
        ...

    def track(self, route: str, reference: str, part_ids: list[str] | tuple[str, ...]) -> bool:
        """Track receipts of an SMS sent earlier on `route`; False when that route is gone."""
        ...

    def in_doubt(self, route: str) -> InDoubt:
        """The route's policy for an SMS in doubt ("report" for a route no longer configured)."""
        ...

    async def query(self, route: str, part_ids: list[str], source_addr: str) -> tuple[PartState, ...] | None:
        """Ask `route`'s peer for the state of each part; None when it cannot be asked (a route
        kind without queries, a route no longer configured). Raises `SubmitError`."""
        ...


def route_options(
    kind: str,
    name: str,
    options: Mapping[str, Any],
    required: tuple[str, ...],
    tuning: Mapping[str, Callable[[Any], Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A routes-file entry checked: its required options (a `Secret` revealed here, the one place
    that needs it) and its tuning options converted; ValueError naming the route otherwise."""
    for key in required:
        if key not in options:
            raise ValueError(f"{kind} route {name}: {key} is required")
    unknown = set(options) - set(required) - set(tuning)
    if unknown:
        raise ValueError(f"{kind} route {name}: unknown option(s) {', '.join(sorted(unknown))}")
    given = {}
    for key in required:
        value = options[key]
        reveal = getattr(value, "reveal", None)  # security.secrets.Secret
        given[key] = reveal() if callable(reveal) else value
    try:
        tuned = {key: tuning[key](value) for key, value in options.items() if key in tuning}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{kind} route {name}: {exc}") from None
    return given, tuned
