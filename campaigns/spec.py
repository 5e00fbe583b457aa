"""A campaign's definition as the API takes it, checked field by field (every problem at once,
each a JSON Pointer into the body), and the variant each contact of the audience falls into."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.problems import FieldError, Problem, pointer
from cards.library import TRAFFIC_TYPES
from messages.request import DEFAULT_TTL_S, FALLBACKS, MAX_TTL_S, MIN_TTL_S, parse_rfc3339
from messages.rules import DEFAULT_ZONE, Window, parse_window

FIELDS = {
    "name",
    "template",
    "segment_id",
    "traffic_type",
    "ttl",
    "fallback",
    "start_at",
    "throttle",
    "window",
    "time_zone",
    "variables",
    "defaults",
    "ab",
    "resend",
}
MAX_NAME = 200
DEFAULT_THROTTLE, MAX_THROTTLE = 100, 10_000
MAX_VARIANTS = 5
VARIANT = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
RESERVED_VARIANTS = {"holdout", "rest", "main", "resend"}
METRICS = ("delivered", "read", "clicked", "replied", "converted")
RESEND_UNLESS = ("read", "clicked", "read_or_clicked")
MAX_HOURS = 30 * 24
HOLDOUT, REST, MAIN = "holdout", "rest", "main"
ATTRIBUTE = re.compile(r"^[^\x00-\x1f]{1,64}$")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_DEFAULT = 500


@dataclass(frozen=True)
class Variant:
    name: str
    template: dict  # {"name", "version"?}
    share: float


@dataclass(frozen=True)
class Spec:
    """A checked campaign definition (`raw` is what is stored and shown back)."""

    raw: dict

    @property
    def variants(self) -> list[Variant]:
        ab = self.raw.get("ab")
        if not ab:
            return [Variant(MAIN, self.raw["template"], 1.0)]
        return [Variant(v["name"], v.get("template") or self.raw["template"], v["share"]) for v in ab["variants"]]

    @property
    def holdout(self) -> float:
        ab = self.raw.get("ab")
        return float(ab.get("holdout", 0)) if ab else 0.0

    @property
    def winner(self) -> dict | None:
        ab = self.raw.get("ab")
        return ab.get("winner") if ab else None

    @property
    def resend(self) -> dict | None:
        return self.raw.get("resend")

    @property
    def throttle(self) -> int:
        return int(self.raw.get("throttle", DEFAULT_THROTTLE))

    @property
    def window(self) -> Window | None:
        value = self.raw.get("window")
        return parse_window(value, "/window", []) if value else None

    @property
    def time_zone(self) -> str:
        return self.raw.get("time_zone", DEFAULT_ZONE)

    def template_of(self, variant: str) -> dict:
        """The template a variant sends (the winner's for `rest`)."""
        for v in self.variants:
            if v.name == variant:
                return v.template
        return self.raw["template"]


def is_zone(value: Any) -> bool:
    """An IANA time zone this machine knows."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_template(value: Any, where: str, errors: list[FieldError]) -> dict | None:
    """A template reference: a name, or {"name", "version"?}; None (the error added) otherwise."""
    if isinstance(value, str) and value:
        return {"name": value}
    if (
        isinstance(value, dict)
        and set(value) <= {"name", "version"}
        and isinstance(value.get("name"), str)
        and value["name"]
        and (
            "version" not in value
            or (isinstance(value["version"], int) and not isinstance(value["version"], bool) and value["version"] >= 1)
        )
    ):
        return dict(value)
    errors.append(FieldError(where, 'a template name, or {"name": …, "version"?: n ≥ 1}'))
    return None


def _share(value: Any, where: str, errors: list[FieldError], *, low: float = 0.0) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and low < value <= 1:
        return float(value)
    errors.append(FieldError(where, f"a share of the audience: a number above {low:g}, at most 1"))
    return 0.0


def _hours(value: Any, where: str, errors: list[FieldError]) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_HOURS):
        errors.append(FieldError(where, f"hours: a number above 0, at most {MAX_HOURS}"))


def _unknown(value: dict, known: set[str], where: str, errors: list[FieldError]) -> None:
    errors.extend(FieldError(f"{where}/{pointer(k)[1:]}", "unknown field") for k in value if k not in known)


def _ab(value: Any, errors: list[FieldError]) -> None:
    if not isinstance(value, dict):
        errors.append(FieldError("/ab", 'an object: {"variants": [...], "holdout"?: share, "winner"?: {...}}'))
        return
    _unknown(value, {"variants", "holdout", "winner"}, "/ab", errors)
    variants = value.get("variants")
    if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_VARIANTS:
        errors.append(FieldError("/ab/variants", f"2 to {MAX_VARIANTS} variants"))
        return
    names: set[str] = set()
    total = 0.0
    for i, v in enumerate(variants):
        where = f"/ab/variants/{i}"
        if not isinstance(v, dict):
            errors.append(FieldError(where, 'an object: {"name", "share", "template"?}'))
            continue
        _unknown(v, {"name", "share", "template"}, where, errors)
        name = v.get("name")
        if not isinstance(name, str) or not VARIANT.fullmatch(name) or name in RESERVED_VARIANTS:
            errors.append(FieldError(f"{where}/name", "1 to 16 of A–Z a–z 0–9 _ - (not holdout, rest, main, resend)"))
        elif name in names:
            errors.append(FieldError(f"{where}/name", "two variants with one name"))
        else:
            names.add(name)
        total += _share(v.get("share"), f"{where}/share", errors)
        if "template" in v:
            v["template"] = parse_template(v["template"], f"{where}/template", errors)
    holdout = value.get("holdout", 0)
    if holdout != 0:
        total += _share(holdout, "/ab/holdout", errors)
    winner = value.get("winner")
    if winner is not None:
        if not isinstance(winner, dict):
            errors.append(FieldError("/ab/winner", 'an object: {"after_hours", "metric"?}'))
        else:
            _unknown(winner, {"after_hours", "metric"}, "/ab/winner", errors)
            _hours(winner.get("after_hours"), "/ab/winner/after_hours", errors)
            winner.setdefault("metric", "clicked")
            if winner["metric"] not in METRICS:
                errors.append(FieldError("/ab/winner/metric", f"one of {', '.join(METRICS)}"))
    if total > 1 + 1e-9:
        errors.append(FieldError("/ab/variants", "the variants' shares and the holdout add up to more than 1"))
    elif winner is None and total < 1 - 1e-9:
        errors.append(
            FieldError("/ab/variants", "without a winner send, the variants' shares and the holdout must add up to 1")
        )
    elif winner is not None and total > 1 - 1e-9:
        errors.append(FieldError("/ab/winner", "a winner send needs the rest of the audience: shares add up to 1"))


def _resend(value: Any, errors: list[FieldError]) -> None:
    if not isinstance(value, dict):
        errors.append(FieldError("/resend", 'an object: {"after_hours", "unless"?, "channel"? | "template"?}'))
        return
    _unknown(value, {"after_hours", "unless", "channel", "template"}, "/resend", errors)
    _hours(value.get("after_hours"), "/resend/after_hours", errors)
    value.setdefault("unless", "read_or_clicked")
    if value["unless"] not in RESEND_UNLESS:
        errors.append(FieldError("/resend/unless", f"one of {', '.join(RESEND_UNLESS)}"))
    if "template" in value:
        if "channel" in value:
            errors.append(FieldError("/resend/channel", "give the SMS form (channel sms) or a second card (template)"))
        value["template"] = parse_template(value["template"], "/resend/template", errors)
    else:
        value.setdefault("channel", "sms")
        if value["channel"] != "sms":
            errors.append(FieldError("/resend/channel", "sms: the SMS form of the first message"))


def check_send_options(raw: dict, errors: list[FieldError], *, traffic_type: str) -> None:
    """`traffic_type`, `ttl` and `fallback` of what a campaign or journey sends: defaults set,
    problems added to `errors`."""
    raw.setdefault("traffic_type", traffic_type)
    if raw["traffic_type"] not in TRAFFIC_TYPES:
        errors.append(FieldError("/traffic_type", f"one of {', '.join(TRAFFIC_TYPES)}"))
    raw.setdefault("ttl", DEFAULT_TTL_S)
    ttl = raw["ttl"]
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not MIN_TTL_S <= ttl <= MAX_TTL_S:
        errors.append(FieldError("/ttl", f"whole seconds from {MIN_TTL_S} to {MAX_TTL_S}"))
    raw.setdefault("fallback", "sms")
    if raw["fallback"] not in FALLBACKS:
        errors.append(FieldError("/fallback", f"one of {', '.join(FALLBACKS)}"))


def check_variable_maps(raw: dict, errors: list[FieldError]) -> None:
    """`variables` (template variable → contact attribute) and `defaults` (template variable →
    the text for a contact without it)."""
    for key, check, what in (
        ("variables", lambda v: isinstance(v, str) and ATTRIBUTE.fullmatch(v), "an attribute name"),
        ("defaults", lambda v: isinstance(v, str) and len(v) <= MAX_DEFAULT, f"a text of ≤ {MAX_DEFAULT}"),
    ):
        value = raw.setdefault(key, {})
        if not isinstance(value, dict):
            errors.append(FieldError(f"/{key}", f"an object: template variable → {what}"))
            continue
        for k, v in value.items():
            if not VARIABLE.fullmatch(k) or not check(v):
                errors.append(FieldError(pointer(key, k), f"a variable name → {what}"))


def parse_spec(body: Any) -> Spec:
    """Check a campaign definition; a 422 lists every problem."""
    if not isinstance(body, dict):
        raise Problem(422, "a campaign is a JSON object", [FieldError("", "expected an object")])
    raw = dict(body)
    errors: list[FieldError] = []
    _unknown(raw, FIELDS, "", errors)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        errors.append(FieldError("/name", f"1 to {MAX_NAME} characters"))
    if not isinstance(raw.get("segment_id"), str) or not re.fullmatch(r"[0-9A-Za-z]{1,32}", raw["segment_id"]):
        errors.append(FieldError("/segment_id", "the id of one of your segments"))
    if "template" in raw:
        raw["template"] = parse_template(raw["template"], "/template", errors)
    check_send_options(raw, errors, traffic_type="marketing")
    if raw.get("start_at") is not None and parse_rfc3339(raw["start_at"]) is None:
        errors.append(FieldError("/start_at", "an RFC 3339 time with its offset"))
    raw.setdefault("throttle", DEFAULT_THROTTLE)
    throttle = raw["throttle"]
    if not isinstance(throttle, int) or isinstance(throttle, bool) or not 1 <= throttle <= MAX_THROTTLE:
        errors.append(FieldError("/throttle", f"messages a second: a whole number from 1 to {MAX_THROTTLE}"))
    if raw.get("window") is not None:
        parse_window(raw["window"], "/window", errors)
    if "time_zone" in raw and not is_zone(raw["time_zone"]):
        errors.append(FieldError("/time_zone", "an IANA time zone (Asia/Shanghai)"))
    check_variable_maps(raw, errors)
    if raw.get("ab") is not None:
        _ab(raw["ab"], errors)
    if raw.get("resend") is not None:
        _resend(raw["resend"], errors)
    has_own = isinstance(raw.get("ab"), dict) and all(
        isinstance(v, dict) and v.get("template") for v in raw["ab"].get("variants") or [{}]
    )
    if raw.get("template") is None and not has_own:
        errors.append(FieldError("/template", "required (unless every A/B variant names its own)"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    if raw.get("template") is None:
        raw["template"] = raw["ab"]["variants"][0]["template"]
    return Spec(raw)


def draw(campaign_id: str, contact_id: str) -> float:
    """A contact's fixed place in [0, 1) for this campaign: its variant never changes, and the
    split is uniform whatever order contacts were created in."""
    digest = hashlib.blake2b(f"{campaign_id}/{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def variant_of(spec: Spec, u: float) -> str:
    """The variant a draw falls into: variants by their shares, then the holdout, then the rest."""
    edge = 0.0
    for v in spec.variants:
        edge += v.share
        if u < edge:
            return v.name
    edge += spec.holdout
    if u < edge:
        return HOLDOUT
    return REST if spec.winner is not None else spec.variants[-1].name
