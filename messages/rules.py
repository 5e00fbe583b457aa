"""A tenant's sending rules: when each traffic type may reach a recipient (send windows in the
recipient's local time) and how often (frequency caps per recipient over rolling periods,
per traffic type, and per segment: a send tagged with a segment such as `new_member` is held to
that segment's caps as well as its traffic type's).

Every rule is on by default the way the Chinese consoles have it: marketing only 08:00–21:00
local time and at most once a day per recipient; verification codes at most once a minute,
five times an hour and ten times a day; marketing to a `new_member` at most four times in 30
days; notifications unrestricted. A tenant may change them
(`PUT /v1/compliance/send-rules`); the answer of every refusal or deferral names the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_timezones

from api.problems import FieldError, pointer
from cards.library import TRAFFIC_TYPES

# Where a number's time zone is unknown (or the number is a non-geographic one), China's.
DEFAULT_ZONE = "Asia/Shanghai"
MAX_CAPS = 8  # per traffic type
MAX_CAP_PERIOD_S = 31 * 86_400
MAX_CAP_LIMIT = 10_000
MAX_DAILY_VOLUME = 10**12
MAX_SEGMENTS = 32
# A segment tag: what a send says about its recipient ("new_member"), set by the sender or a
# campaign's segment; lower-case letters, digits, `_`, `-` and `.`.
SEGMENT = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_PERIOD = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


@dataclass(frozen=True)
class Window:
    """Sending allowed from `start` up to (not including) `end`, local time; `end` before
    `start` spans midnight."""

    start: time
    end: time

    def allows(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def to_json(self) -> dict:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


@dataclass(frozen=True)
class Cap:
    """At most `limit` messages of one traffic type to one recipient in any `period_s` seconds."""

    limit: int
    period_s: int
    segment: str | None = None  # a segment's cap (in addition to the traffic type's)

    @property
    def name(self) -> str:
        name = f"{self.limit}/{format_period(self.period_s)}"
        return f"{name} for segment {self.segment}" if self.segment else name

    def to_json(self) -> dict:
        return {"limit": self.limit, "period": format_period(self.period_s)}


@dataclass(frozen=True)
class DailyVolume:
    """The tenant's recipients a day (its calendar day in China): an alert when `alert_at` is
    reached, refusals beyond `limit`; None: neither."""

    alert_at: int | None = 100_000
    limit: int | None = None

    def to_json(self) -> dict:
        return {"alert_at": self.alert_at, "limit": self.limit}


@dataclass(frozen=True)
class SendRules:
    """One tenant's rules: a window and caps per traffic type (absent: unrestricted), and its
    daily volume threshold."""

    windows: dict[str, Window] = field(default_factory=dict)
    caps: dict[str, tuple[Cap, ...]] = field(default_factory=dict)
    daily_volume: DailyVolume = DailyVolume()
    # segment → traffic type → its caps
    segment_caps: dict[str, dict[str, tuple[Cap, ...]]] = field(default_factory=dict)

    def caps_for(self, traffic_type: str, segment: str | None) -> tuple[Cap, ...]:
        """The caps a send of this traffic type to a recipient of this segment is held to."""
        caps = self.caps.get(traffic_type, ())
        if segment is not None:
            caps += self.segment_caps.get(segment, {}).get(traffic_type, ())
        return caps

    def counts(self, traffic_type: str) -> bool:
        """Whether sends of this traffic type are counted: it has caps, or a segment has caps on it."""
        return bool(self.caps.get(traffic_type)) or any(traffic_type in by for by in self.segment_caps.values())

    def to_json(self) -> dict:
        return {
            "windows": {t: self.windows[t].to_json() if t in self.windows else None for t in TRAFFIC_TYPES},
            "caps": {t: [c.to_json() for c in self.caps.get(t, ())] for t in TRAFFIC_TYPES},
            # A default segment removed stays named (null), so the rules read back as they were.
            "segment_caps": {
                seg: {t: [c.to_json() for c in caps] for t, caps in self.segment_caps[seg].items()}
                if seg in self.segment_caps
                else None
                for seg in sorted(set(self.segment_caps) | set(DEFAULT_RULES.segment_caps))
            },
            "daily_volume": self.daily_volume.to_json(),
        }


DEFAULT_RULES: SendRules = SendRules(
    windows={"marketing": Window(time(8, 0), time(21, 0))},
    caps={
        "otp": (Cap(1, 60), Cap(5, 3600), Cap(10, 86_400)),
        "marketing": (Cap(1, 86_400),),
    },
    segment_caps={"new_member": {"marketing": (Cap(4, 30 * 86_400, "new_member"),)}},
)


def format_period(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_S[unit] == 0:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"


def parse_rules(body) -> tuple[SendRules | None, list[FieldError]]:
    """`{"windows": {type: {"start", "end"} | null}, "caps": {type: [{"limit", "period"}]},
    "segment_caps": {segment: {type: [{"limit", "period"}]} | null}, "daily_volume": {"alert_at",
    "limit"}}`; what is left out keeps its default (a segment given replaces that segment's caps,
    null removes them)."""
    errors: list[FieldError] = []
    if not isinstance(body, dict):
        return None, [FieldError("", "expected an object with `windows` and/or `caps`")]
    for key in body:
        if key not in ("windows", "caps", "segment_caps", "daily_volume"):
            errors.append(FieldError(pointer(key), "unknown field"))
    windows = dict(DEFAULT_RULES.windows)
    caps = dict(DEFAULT_RULES.caps)
    given_windows = body.get("windows", {})
    if not isinstance(given_windows, dict):
        errors.append(FieldError("/windows", "expected an object keyed by traffic type"))
        given_windows = {}
    for traffic, value in given_windows.items():
        where = pointer("windows", traffic)
        if traffic not in TRAFFIC_TYPES:
            errors.append(FieldError(where, f"not a traffic type; one of {', '.join(TRAFFIC_TYPES)}"))
        elif value is None:
            windows.pop(traffic, None)
        else:
            window = parse_window(value, where, errors)
            if window is not None:
                windows[traffic] = window
    given_caps = body.get("caps", {})
    if not isinstance(given_caps, dict):
        errors.append(FieldError("/caps", "expected an object keyed by traffic type"))
        given_caps = {}
    for traffic, value in given_caps.items():
        where = pointer("caps", traffic)
        if traffic not in TRAFFIC_TYPES:
            errors.append(FieldError(where, f"not a traffic type; one of {', '.join(TRAFFIC_TYPES)}"))
        elif not isinstance(value, list) or len(value) > MAX_CAPS:
            errors.append(FieldError(where, f"expected a list of at most {MAX_CAPS} caps (empty: none)"))
        else:
            parsed = [_cap(v, f"{where}/{i}", errors) for i, v in enumerate(value)]
            caps[traffic] = tuple(c for c in parsed if c is not None)
    segment_caps = _segment_caps(body.get("segment_caps", {}), errors)
    volume = _daily_volume(body.get("daily_volume", DEFAULT_RULES.daily_volume.to_json()), errors)
    if errors:
        return None, errors
    return SendRules(
        windows, {t: c for t, c in caps.items() if c}, volume or DEFAULT_RULES.daily_volume, segment_caps
    ), []


def _segment_caps(given, errors: list[FieldError]) -> dict[str, dict[str, tuple[Cap, ...]]]:
    out = dict(DEFAULT_RULES.segment_caps)
    if not isinstance(given, dict):
        errors.append(FieldError("/segment_caps", "expected an object keyed by segment"))
        return out
    for segment, by_type in given.items():
        where = pointer("segment_caps", segment)
        if not SEGMENT.fullmatch(segment):
            errors.append(
                FieldError(where, "a segment is 1–32 of a–z, 0–9, _, - and ., starting with a letter or digit")
            )
        elif by_type is None:
            out.pop(segment, None)
        elif not isinstance(by_type, dict):
            errors.append(FieldError(where, "expected an object keyed by traffic type, or null (no caps)"))
        else:
            caps: dict[str, tuple[Cap, ...]] = {}
            for traffic, value in by_type.items():
                at = pointer("segment_caps", segment, traffic)
                if traffic not in TRAFFIC_TYPES:
                    errors.append(FieldError(at, f"not a traffic type; one of {', '.join(TRAFFIC_TYPES)}"))
                elif not isinstance(value, list) or len(value) > MAX_CAPS:
                    errors.append(FieldError(at, f"expected a list of at most {MAX_CAPS} caps (empty: none)"))
                else:
                    parsed = [_cap(v, f"{at}/{i}", errors, segment) for i, v in enumerate(value)]
                    if kept := tuple(c for c in parsed if c is not None):
                        caps[traffic] = kept
            if caps:
                out[segment] = caps
            else:
                out.pop(segment, None)
    if len(out) > MAX_SEGMENTS:
        errors.append(FieldError("/segment_caps", f"at most {MAX_SEGMENTS} segments"))
    return out


def _daily_volume(value, errors: list[FieldError]) -> DailyVolume | None:
    if not isinstance(value, dict) or not set(value) <= {"alert_at", "limit"}:
        errors.append(FieldError("/daily_volume", 'expected {"alert_at": n | null, "limit": n | null}'))
        return None
    out = {}
    for key in ("alert_at", "limit"):
        n = value.get(key, getattr(DEFAULT_RULES.daily_volume, key))
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DAILY_VOLUME):
            errors.append(FieldError(f"/daily_volume/{key}", "expected a whole number of recipients, or null"))
        out[key] = n
    return DailyVolume(**out)


def parse_window(value, where: str, errors: list[FieldError]) -> Window | None:
    """A window `{"start": "HH:MM", "end": "HH:MM"}`; None (with the error added) when it is not one."""
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        errors.append(FieldError(where, 'expected {"start": "HH:MM", "end": "HH:MM"} or null (any time)'))
        return None
    out = []
    for key in ("start", "end"):
        m = _HHMM.fullmatch(value[key]) if isinstance(value[key], str) else None
        if m is None:
            errors.append(FieldError(f"{where}/{key}", "expected a 24-hour time HH:MM"))
        else:
            out.append(time(int(m.group(1)), int(m.group(2))))
    if len(out) == 2 and out[0] == out[1]:
        errors.append(FieldError(f"{where}/end", "equal to start: an empty window (use null for any time)"))
        return None
    return Window(out[0], out[1]) if len(out) == 2 else None


def _cap(value, where: str, errors: list[FieldError], segment: str | None = None) -> Cap | None:
    if not isinstance(value, dict) or set(value) != {"limit", "period"}:
        errors.append(FieldError(where, 'expected {"limit": n, "period": "1m" | "1h" | "1d" | "30d" …}'))
        return None
    limit, period = value["limit"], value["period"]
    ok = True
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_CAP_LIMIT:
        errors.append(FieldError(f"{where}/limit", f"expected a whole number from 1 to {MAX_CAP_LIMIT}"))
        ok = False
    m = _PERIOD.fullmatch(period) if isinstance(period, str) else None
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)] if m else 0
    if not m or seconds > MAX_CAP_PERIOD_S:
        errors.append(FieldError(f"{where}/period", "expected a period such as 60s, 1m, 1h, 1d, up to 31d"))
        ok = False
    return Cap(limit, seconds, segment) if ok else None


# -- send windows --------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def zones_of(e164: str) -> tuple[str, ...]:
    """The IANA time zones a number may be in (China's when unknown)."""
    if e164.startswith("+86"):
        return (DEFAULT_ZONE,)  # one zone for the whole country: no parse (a batch is mostly these)
    try:
        found = number_timezones.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        found = ()
    zones = tuple(z for z in found if z != "Etc/Unknown")
    return zones or (DEFAULT_ZONE,)


def next_allowed(window: Window | None, zones: tuple[str, ...], at: datetime) -> datetime:
    """The first instant at or after `at` when the local time is inside `window` in every zone
    the number may be in (`at` itself when it already is)."""
    if window is None:
        return at
    candidates = [at]
    for zone in zones:
        tz = ZoneInfo(zone)
        local = at.astimezone(tz)
        for days in (0, 1, 2):
            start = datetime.combine(local.date() + timedelta(days=days), window.start, tz)
            if start >= local:
                candidates.append(start.astimezone(UTC))
    for candidate in sorted(candidates):
        if candidate >= at and all(window.allows(candidate.astimezone(ZoneInfo(z)).time()) for z in zones):
            return candidate
    # Zones too far apart to share the window: the first zone decides.
    return min(c for c in candidates[1:] if window.allows(c.astimezone(ZoneInfo(zones[0])).time()))


# (window, zones, UTC minute) → the next opening (ms) for a send due in that minute, or None
# when the minute is inside the window. Windows start and end on whole minutes and zones'
# offsets and transitions are whole minutes, so every instant of a UTC minute has one answer:
# a batch's thousand recipients (and a busy second's accepts) compute it once.
_OPENINGS: dict[tuple[Window, tuple[str, ...], int], int | None] = {}
_MAX_OPENINGS = 4096


def next_allowed_ms(window: Window | None, zones: tuple[str, ...], at_ms: int) -> int:
    """`next_allowed` in epoch milliseconds, remembered per UTC minute."""
    if window is None:
        return at_ms
    key = (window, zones, at_ms // 60_000)
    if key in _OPENINGS:
        opens = _OPENINGS[key]
        return at_ms if opens is None else opens
    at = datetime.fromtimestamp(at_ms / 1000, UTC)
    found = next_allowed(window, zones, at)
    opens_ms = at_ms if found == at else int(found.timestamp() * 1000)
    if _whole_minutes(window, zones, at):
        if len(_OPENINGS) >= _MAX_OPENINGS:
            _OPENINGS.clear()
        _OPENINGS[key] = None if opens_ms == at_ms else opens_ms
    return opens_ms


def _whole_minutes(window: Window, zones: tuple[str, ...], at: datetime) -> bool:
    """Whether the window's bounds and the zones' offsets at `at` are whole minutes (then the
    answer is the same for the whole UTC minute)."""
    bounds = (window.start, window.end)
    if any(t.second or t.microsecond for t in bounds):
        return False
    return all(not (at.astimezone(ZoneInfo(z)).utcoffset() or timedelta()).total_seconds() % 60 for z in zones)


def window_deferral(window: Window | None, e164: str, at: datetime) -> tuple[datetime, dict] | None:
    """When a send due at `at` to `e164` may go instead, and the reason to record (None: it may
    go at `at`)."""
    if window is None:
        return None
    zones = zones_of(e164)
    opens = next_allowed(window, zones, at)
    if opens <= at:
        return None
    return opens, {"reason": "send_window", "rule": "send_window", "window": window.to_json(), "time_zone": zones[0]}
