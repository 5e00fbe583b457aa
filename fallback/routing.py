"""Carrier routing for SMS.

The carrier comes from the number prefix (`phonenumbers` carrier data: China Mobile, China Unicom,
China Telecom, China Broadnet); since nationwide number portability the prefix only gives the
original carrier, so a `PortabilityLookup` plug-in may answer first. Each carrier has a primary
and a backup route; numbers of other countries (or carriers without routes) use the ``default``
carrier's routes. Every route has a token-bucket throughput limit. A route whose error rate or
latency over a sliding window crosses its threshold is taken out of rotation, and after a
cool-down it is probed back in one request at a time. Throttling is not an error: it only slows
the route. The clock is injected, so the whole behaviour is testable without waiting.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import phonenumbers
from phonenumbers import carrier as phone_carrier

from fallback.route import IN_DOUBT_POLICIES, InDoubt, NoRouteAvailable
from security.numbers import ascii_digits

CHINA_MOBILE = "china_mobile"
CHINA_UNICOM = "china_unicom"
CHINA_TELECOM = "china_telecom"
CHINA_BROADNET = "china_broadnet"
DEFAULT_CARRIER = "default"
CN_CARRIERS = frozenset({CHINA_MOBILE, CHINA_UNICOM, CHINA_TELECOM, CHINA_BROADNET})

IN_ROTATION = "in_rotation"
OUT_OF_ROTATION = "out_of_rotation"
PROBING = "probing"


@dataclass(frozen=True)
class RouteSettings:
    """One SMPP route (an SMSC bind) and its throughput limit."""

    name: str
    max_per_second: float
    burst: float | None = None  # tokens the bucket holds; defaults to one second's worth
    weight: int = 1  # its share of the traffic among the routes of one tier
    # An SMS whose part was written and never answered (a crash, a dropped bind, a timeout):
    # "report" it as failed, never sent twice, or "resend" it, at least once.
    in_doubt: InDoubt = "report"

    def __post_init__(self):
        if self.max_per_second <= 0:
            raise ValueError(f"route {self.name}: max_per_second must be positive")
        if self.weight < 1:
            raise ValueError(f"route {self.name}: weight must be at least 1")
        if self.in_doubt not in IN_DOUBT_POLICIES:
            raise ValueError(f"route {self.name}: in_doubt must be one of {', '.join(IN_DOUBT_POLICIES)}")


Tier = str | tuple[str, ...]  # one route, or several sharing the traffic by their weights


@dataclass(frozen=True)
class CarrierRoutes:
    """A carrier's routes in failover order: the primary tier, then the backup, then any further.
    A tier is one route or several that share its traffic by weight."""

    primary: Tier
    backup: Tier | None = None
    further: tuple[Tier, ...] = ()

    @property
    def tiers(self) -> tuple[tuple[str, ...], ...]:
        given = (self.primary, *((self.backup,) if self.backup else ()), *self.further)
        return tuple((tier,) if isinstance(tier, str) else tuple(tier) for tier in given)

    @property
    def order(self) -> tuple[str, ...]:
        """Every route, in failover order."""
        return tuple(name for tier in self.tiers for name in tier)


@dataclass(frozen=True)
class HealthPolicy:
    """When a route leaves rotation and how it comes back."""

    window_seconds: float = 60.0
    min_samples: int = 20  # fewer outcomes than this in the window decide nothing
    max_error_rate: float = 0.2
    max_latency: float = 5.0  # seconds, compared with the window's 90th percentile
    cooldown_seconds: float = 30.0
    probe_successes: int = 3  # consecutive good probes that put a route back in rotation
    throttle_pause: float = 1.0  # seconds of sending a throttle response costs the route


@dataclass(frozen=True)
class RouterConfig:
    routes: tuple[RouteSettings, ...]
    carriers: Mapping[str, CarrierRoutes]  # must have DEFAULT_CARRIER
    health: HealthPolicy = field(default_factory=HealthPolicy)
    # E.164 number prefixes → carrier key, ahead of the prefix data (longest prefix wins): e.g.
    # "+852" to an international route, or a block of numbers a carrier took over.
    prefixes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        names = {r.name for r in self.routes}
        if len(names) != len(self.routes):
            raise ValueError("route names must be unique")
        if DEFAULT_CARRIER not in self.carriers:
            raise ValueError(f"carriers must include {DEFAULT_CARRIER!r}")
        for carrier, pair in self.carriers.items():
            for name in pair.order:
                if name not in names:
                    raise ValueError(f"carrier {carrier}: unknown route {name!r}")
        for prefix, carrier in self.prefixes.items():
            if not prefix.startswith("+") or not ascii_digits(prefix[1:]):
                raise ValueError(f"number prefix {prefix!r}: write it as + and digits, e.g. +852")
            if carrier not in self.carriers:
                raise ValueError(f"number prefix {prefix}: unknown carrier {carrier!r}")


class PortabilityLookup(Protocol):
    """Plug-in answering a ported number's current carrier (None when unknown)."""

    async def carrier_of(self, e164: str) -> str | None: ...


@dataclass(frozen=True)
class RouteChoice:
    """Where to send: `wait` seconds to hold back first (the route's rate limit), and whether
    this send is a probe of a route coming back from a cool-down."""

    route: str
    carrier: str
    wait: float = 0.0
    probe: bool = False


class TokenBucket:
    """Token bucket with reservations: a caller may take a token it has to wait for."""

    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = burst, now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until a token is free (0 when one is free now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> float:
        """Take a token, possibly in advance; returns how long to wait before using it."""
        wait = self.wait_time(now)
        self.tokens -= 1
        return wait

    def pause(self, seconds: float, now: float) -> None:
        """Nothing is free for `seconds` from now. Pauses do not add up: throttle answers that
        arrive together (a window's worth) are one signal, not many."""
        self._refill(now)
        self.tokens = min(self.tokens, -seconds * self.rate)


@dataclass
class _RouteState:
    settings: RouteSettings
    bucket: TokenBucket
    samples: deque = field(default_factory=deque)  # (time, ok, latency)
    state: str = IN_ROTATION
    out_until: float = 0.0
    reason: str | None = None
    probe_in_flight: bool = False
    probe_streak: int = 0
    throttles: int = 0  # how often the peer asked us to slow down
    throttled_until: float = 0.0  # the pause the last one asked for ends then
    changed_at: float = 0.0  # wall clock (Unix seconds) of the last change of `state`
    last_error: str | None = None  # the class of the last failure counted against the route
    last_error_at: float | None = None  # wall clock


class CarrierRouter:
    """Picks the SMPP route for a number and keeps per-route health."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        portability: PortabilityLookup | None = None,
        kinds: Mapping[str, str] | None = None,
        wall: Callable[[], float] = time.time,
    ):
        self.config = config
        self._clock, self._wall = clock, wall
        self._portability = portability
        self._kinds = dict(kinds or {})  # route → its kind (smpp, cmpp…), for the health view
        self.changes = 0  # bumped at every state change (a snapshot writer compares it)
        self._prefixes = sorted(config.prefixes, key=len, reverse=True)
        # Smooth weighted round robin within each tier: (carrier, tier) → route → current weight.
        self._turns: dict[tuple[str, int], dict[str, int]] = {}
        now = clock()
        self._routes = {
            r.name: _RouteState(
                r, TokenBucket(r.max_per_second, r.burst or max(1.0, r.max_per_second), now), changed_at=wall()
            )
            for r in config.routes
        }

    # --- carriers -------------------------------------------------------------------------

    def carrier_of(self, e164: str) -> str:
        """The carrier key from the number prefix: a configured prefix, a CN carrier with
        routes, else ``default``."""
        for prefix in self._prefixes:
            if e164.startswith(prefix):
                return self.config.prefixes[prefix]
        try:
            number = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:
            return DEFAULT_CARRIER
        if phonenumbers.region_code_for_number(number) != "CN":
            return DEFAULT_CARRIER
        key = phone_carrier.name_for_number(number, "en").strip().lower().replace(" ", "_")
        return key if key in self.config.carriers else DEFAULT_CARRIER

    async def resolve_carrier(self, e164: str) -> str:
        """The carrier now serving the number: the portability plug-in first, then the prefix."""
        if self._portability is not None:
            ported = await self._portability.carrier_of(e164)
            if ported is not None and ported in self.config.carriers:
                return ported
        return self.carrier_of(e164)

    # --- choosing -------------------------------------------------------------------------

    async def pick(self, e164: str) -> RouteChoice:
        """Choose the route for one SMS to `e164` (see `choose`)."""
        return self.choose(await self.resolve_carrier(e164))

    def choose(self, carrier: str) -> RouteChoice:
        """Tier by tier in failover order, a route in rotation with a free token (by weight
        within a tier); when all are rate-limited, a token is reserved on the one free soonest.
        Raises NoRouteAvailable."""
        if carrier not in self.config.carriers:
            carrier = DEFAULT_CARRIER
        routes = self.config.carriers[carrier]
        now = self._clock()
        usable, state = [], None
        for rank, tier in enumerate(routes.tiers):
            in_tier = []
            for name in tier:
                candidate = self._routes[name]
                self._advance(candidate, now)
                if candidate.state == IN_ROTATION or (candidate.state == PROBING and not candidate.probe_in_flight):
                    in_tier.append(candidate)
            usable.extend(in_tier)
            free = [c for c in in_tier if c.bucket.wait_time(now) == 0]
            if free:
                state = self._by_weight((carrier, rank), free)
                break
        if not usable:
            retry = min(max(0.0, self._routes[n].out_until - now) for n in routes.order)
            raise NoRouteAvailable(carrier, retry)
        if state is None:
            state = min(usable, key=lambda s: s.bucket.wait_time(now))
        wait = state.bucket.take(now)
        probe = state.state == PROBING
        if probe:
            state.probe_in_flight = True
        return RouteChoice(state.settings.name, carrier, wait, probe)

    def _by_weight(self, key: tuple[str, int], states: list[_RouteState]) -> _RouteState:
        if len(states) == 1:
            return states[0]
        turns = self._turns.setdefault(key, {})
        total, best = 0, states[0]
        for candidate in states:
            name, weight = candidate.settings.name, candidate.settings.weight
            turns[name] = turns.get(name, 0) + weight
            total += weight
            if turns[name] > turns.get(best.settings.name, 0):
                best = candidate
        turns[best.settings.name] -= total
        return best

    def _advance(self, state: _RouteState, now: float) -> None:
        if state.state == OUT_OF_ROTATION and now >= state.out_until:
            state.state, state.probe_streak, state.probe_in_flight = PROBING, 0, False
            self._changed(state)

    def _changed(self, state: _RouteState) -> None:
        state.changed_at = self._wall()
        self.changes += 1

    # --- outcomes -------------------------------------------------------------------------

    def record(self, route: str, *, ok: bool, latency: float, error: str | None = None) -> None:
        """Report one send's outcome on `route` (ok = accepted by the SMSC) and its latency;
        `error` names the class of a failure (e.g. "transient", "in_doubt") for the health view."""
        state = self._routes[route]
        now = self._clock()
        policy = self.config.health
        if not ok:
            state.last_error, state.last_error_at = error or "error", self._wall()
        if state.state == PROBING:
            state.probe_in_flight = False
            good = ok and latency <= policy.max_latency
            if not good:
                self._take_out(state, now, "probe failed")
                return
            state.probe_streak += 1
            if state.probe_streak >= policy.probe_successes:
                state.state, state.reason = IN_ROTATION, None
                state.samples.clear()
                self._changed(state)
            return
        state.samples.append((now, ok, latency))
        self._prune(state, now)
        if state.state != IN_ROTATION or len(state.samples) < policy.min_samples:
            return
        error_rate, p90 = _stats(state.samples)
        if error_rate > policy.max_error_rate:
            self._take_out(state, now, f"error rate {error_rate:.0%} over {policy.max_error_rate:.0%}")
        elif p90 > policy.max_latency:
            self._take_out(state, now, f"p90 latency {p90:.2f}s over {policy.max_latency:.2f}s")

    def record_throttled(self, route: str) -> None:
        """The SMSC asked us to slow down: the route pauses as a whole; no error is counted."""
        state = self._routes[route]
        now = self._clock()
        state.throttles += 1
        state.throttled_until = now + self.config.health.throttle_pause
        if state.state == PROBING:
            state.probe_in_flight = False
        state.bucket.pause(self.config.health.throttle_pause, now)

    def release_probe(self, route: str) -> None:
        """A probe send ended without an outcome (cancelled, invalid input): allow another."""
        self._routes[route].probe_in_flight = False

    def _take_out(self, state: _RouteState, now: float, reason: str) -> None:
        state.state = OUT_OF_ROTATION
        state.out_until = now + self.config.health.cooldown_seconds
        state.reason = reason
        state.probe_in_flight = False
        state.samples.clear()
        self._changed(state)

    def _prune(self, state: _RouteState, now: float) -> None:
        horizon = now - self.config.health.window_seconds
        while state.samples and state.samples[0][0] < horizon:
            state.samples.popleft()

    # --- reporting ------------------------------------------------------------------------

    def health(self) -> list[dict]:
        """Every route's health as plain dicts (for an API or a dashboard)."""
        now = self._clock()
        carriers_of: dict[str, list[str]] = {name: [] for name in self._routes}
        tiers_of: dict[str, list[dict]] = {name: [] for name in self._routes}
        for carrier, pair in sorted(self.config.carriers.items()):
            for rank, tier in enumerate(pair.tiers):
                role = "primary" if rank == 0 else "backup" if rank == 1 else f"backup{rank}"
                for name in tier:
                    carriers_of[name].append(f"{carrier}:{role}")
                    tiers_of[name].append({"carrier": carrier, "role": role, "tier": rank})
        out = []
        for name, state in self._routes.items():
            self._advance(state, now)
            self._prune(state, now)
            error_rate, p90 = _stats(state.samples)
            latencies = sorted(latency for _, _, latency in state.samples)
            out.append(
                {
                    "route": name,
                    "kind": self._kinds.get(name),
                    "state": state.state,
                    "serves": carriers_of[name],
                    "carriers": tiers_of[name],
                    "max_per_second": state.settings.max_per_second,
                    "samples": len(state.samples),
                    "error_rate": round(error_rate, 4),
                    "latency_p50": round(_percentile(latencies, 0.5), 4),
                    "latency_p90": round(p90, 4),
                    "latency_p95": round(_percentile(latencies, 0.95), 4),
                    "throttled": now < state.throttled_until,  # paused by the peer right now
                    "throttles": state.throttles,
                    "reason": state.reason,
                    "back_in": round(max(0.0, state.out_until - now), 3) if state.state == OUT_OF_ROTATION else None,
                    "last_error": state.last_error,
                    "last_error_at": _iso(state.last_error_at),
                    "changed_at": _iso(state.changed_at),
                }
            )
        return out


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _stats(samples) -> tuple[float, float]:
    if not samples:
        return 0.0, 0.0
    errors = sum(1 for _, ok, _ in samples if not ok)
    return errors / len(samples), _percentile(sorted(latency for _, _, latency in samples), 0.9)
