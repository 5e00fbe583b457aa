"""The SMS routes file (TOML): which connections exist, which carrier uses which, in what order.

```toml
sender = "1069000000"            # the platform's sender number (tenants' extension codes follow)

[routes.cm-primary]
kind = "smpp"                     # a key of fallback.kinds.ROUTE_KINDS
host = "smsc.example.net"
port = 2775
system_id = "hongyan"
password = { env = "CM_SMPP_PASSWORD" }   # or { file = "/run/secrets/cm-smpp" }
max_per_second = 200
in_doubt = "report"               # or "resend": an SMS written but never answered (see docs/delivery.md)

[carriers]
china_mobile = ["cm-primary", "aggregator"]   # failover order
default = ["aggregator"]
# a tier of several routes shares its traffic by their `weight` (1 by default):
# china_unicom = [["cu-a", "cu-b"], "aggregator"]

[prefixes]
"+852" = "default"               # number prefix → carrier, ahead of the prefix data

[health]                          # optional, fallback.routing.HealthPolicy fields
cooldown_seconds = 30
```
Every error names the entry at fault; nothing in it is echoed when it is a secret.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fallback.route import IN_DOUBT_POLICIES
from fallback.routing import CarrierRoutes, HealthPolicy, RouterConfig, RouteSettings
from security.numbers import ascii_digits
from security.secrets import SecretError, resolve_secret

# Option names whose values are credentials: they must come from the environment or a file.
SECRET_OPTIONS = frozenset({"password", "secret", "api_key", "token", "smg_password"})  # smg_password: SGIP
_ROUTE_KEYS = frozenset({"kind", "max_per_second", "burst", "weight", "in_doubt"})


class RoutesFileError(ValueError):
    """The routes file is wrong; the message says where."""


@dataclass(frozen=True)
class RouteDefinition:
    """One route of the file: its kind, its limit, and the options its kind's factory takes
    (credentials already read, as `security.secrets.Secret`)."""

    name: str
    kind: str
    settings: RouteSettings
    options: Mapping[str, Any]


@dataclass(frozen=True)
class RoutesFile:
    routes: tuple[RouteDefinition, ...]
    router: RouterConfig
    sender: str | None = None


def load_routes(path: str | Path, *, kinds: Mapping[str, object], env: Mapping[str, str] | None = None) -> RoutesFile:
    """Read and check a routes file; `kinds` are the route kinds that may be named."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutesFileError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RoutesFileError(f"{path}: not valid TOML: {exc}") from None
    return parse_routes(raw, kinds=kinds, env=env, where=str(path))


def carrier_names(path: str | Path) -> frozenset[str]:
    """The carriers a routes file names (its [carriers] keys, and ``default``), read without
    resolving any credential: for processes that only check input against them (the API)."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RoutesFileError(f"{path}: cannot read: {exc}") from None
    carriers = raw.get("carriers") or {}
    return frozenset(carriers if isinstance(carriers, Mapping) else ()) | {"default"}


def parse_routes(
    raw: Mapping[str, Any], *, kinds: Mapping[str, object], env: Mapping[str, str], where: str
) -> RoutesFile:
    """A routes file already parsed from TOML (see `load_routes`)."""
    unknown = set(raw) - {"sender", "routes", "carriers", "prefixes", "health"}
    if unknown:
        raise RoutesFileError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}")
    routes_raw = raw.get("routes")
    if not isinstance(routes_raw, Mapping) or not routes_raw:
        raise RoutesFileError(f"{where}: [routes] must define at least one route")
    routes = tuple(_route(name, entry, kinds, env, f"{where}: routes.{name}") for name, entry in routes_raw.items())

    carriers_raw = raw.get("carriers") or {}
    if not isinstance(carriers_raw, Mapping):
        raise RoutesFileError(f"{where}: [carriers] must map carriers to lists of routes")
    carriers: dict[str, CarrierRoutes] = {}
    for carrier, order in carriers_raw.items():
        if isinstance(order, str):
            order = [order]
        tiers = [tier if isinstance(tier, str) else tuple(tier) for tier in order] if isinstance(order, list) else []
        if not tiers or not all(_is_tier(t) for t in tiers):
            raise RoutesFileError(
                f"{where}: carriers.{carrier} must be a list of route names in failover order "
                '(a list of names inside it is a tier sharing traffic by weight), e.g. ["a", ["b", "c"]]'
            )
        carriers[carrier] = CarrierRoutes(tiers[0], tiers[1] if len(tiers) > 1 else None, tuple(tiers[2:]))
    if "default" not in carriers:
        if len(routes) != 1:
            raise RoutesFileError(f"{where}: [carriers] needs a default = [...] for numbers of other carriers")
        carriers["default"] = CarrierRoutes(routes[0].name)

    prefixes = raw.get("prefixes") or {}
    if not isinstance(prefixes, Mapping) or not all(isinstance(v, str) for v in prefixes.values()):
        raise RoutesFileError(f"{where}: [prefixes] must map number prefixes to carrier names")

    health_raw = raw.get("health") or {}
    names = {f.name for f in fields(HealthPolicy)}
    if not isinstance(health_raw, Mapping) or set(health_raw) - names:
        bad = sorted(set(health_raw) - names) if isinstance(health_raw, Mapping) else ["(not a table)"]
        raise RoutesFileError(f"{where}: [health] has unknown key(s) {', '.join(bad)}")

    sender = raw.get("sender")
    if sender is not None and (not isinstance(sender, str) or not ascii_digits(sender)):
        raise RoutesFileError(f"{where}: sender must be a string of digits (the sender number)")
    try:
        router = RouterConfig(
            routes=tuple(r.settings for r in routes),
            carriers=carriers,
            health=HealthPolicy(**health_raw),
            prefixes=dict(prefixes),
        )
    except (TypeError, ValueError) as exc:
        raise RoutesFileError(f"{where}: {exc}") from None
    return RoutesFile(routes, router, sender)


def _route(name: str, entry: Any, kinds: Mapping[str, object], env: Mapping[str, str], where: str) -> RouteDefinition:
    if not isinstance(entry, Mapping):
        raise RoutesFileError(f"{where}: must be a table")
    kind = entry.get("kind")
    if kind not in kinds:
        raise RoutesFileError(f"{where}: kind must be one of {', '.join(sorted(kinds))}")
    rate = entry.get("max_per_second")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
        raise RoutesFileError(f"{where}: max_per_second must be a positive number")
    burst = entry.get("burst")
    if burst is not None and (not isinstance(burst, int | float) or burst < 1):
        raise RoutesFileError(f"{where}: burst must be a number of at least 1")
    weight = entry.get("weight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
        raise RoutesFileError(f"{where}: weight must be a whole number of at least 1")
    in_doubt = entry.get("in_doubt", "report")
    if in_doubt not in IN_DOUBT_POLICIES:
        raise RoutesFileError(f"{where}: in_doubt must be one of {', '.join(IN_DOUBT_POLICIES)}")
    options: dict[str, Any] = {}
    for key, value in entry.items():
        if key in _ROUTE_KEYS:
            continue
        if key in SECRET_OPTIONS:
            try:
                value = resolve_secret(value, env, where=f"{where}.{key}")
            except SecretError as exc:
                raise RoutesFileError(str(exc)) from None
        options[key] = value
    settings = RouteSettings(name, float(rate), float(burst) if burst else None, weight, in_doubt)
    return RouteDefinition(name, kind, settings, options)


def _is_tier(tier: object) -> bool:
    if isinstance(tier, str):
        return True
    return isinstance(tier, tuple) and len(tier) > 0 and all(isinstance(name, str) for name in tier)
