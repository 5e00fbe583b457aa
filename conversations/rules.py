"""A brand's bot rules: an ordered list, the first enabled rule that matches an inbound answers.

A rule matches a keyword (exact, prefix, a regular expression), a numbered reply ("1", "2": the
options of an SMS menu), postback data (a chip tapped) or a persistent-menu entry's postback, or
anything; it answers with text, a card, a template version, the next menu level (numbered
options over SMS, chips over RCS), sets a contact tag, starts a journey for the contact, or hands
the conversation to a person.

Regular expressions come from the brand: the `regex` library runs them with a timeout, patterns
and the text they see are bounded, so no pattern can hold the event loop.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import regex

from api.problems import FieldError, Problem, pointer

MAX_RULES = 200
MAX_PATTERN = 200  # characters of a regular expression
MAX_VALUE = 500  # characters of a keyword or postback
MAX_TEXT = 2000  # characters of a reply text
MAX_MATCHED_INPUT = 1000  # characters of an inbound a rule looks at
REGEX_TIMEOUT_S = 0.02  # one expression on one inbound
REGEX_BUDGET_S = 0.1  # every expression on one inbound together
MAX_OPTIONS = 10  # options of a menu level
MATCH_KINDS = ("exact", "prefix", "regex", "number", "postback", "menu", "any")
ACTION_KINDS = ("text", "card", "template", "menu", "tag", "journey", "handoff")
CHANNELS = ("rcs", "sms")
ON_MISS = ("ask_back", "handoff")
# The one confidence an FAQ or AI answer needs to be sent (below it the bot asks back or hands
# off): measured on tests/conversations/test_knowledge_accuracy.py, no out-of-domain question
# reaches 0.5 and two thirds of paraphrases do (docs/knowledge.md).
DEFAULT_THRESHOLD = 0.5
DEFAULT_SETTINGS = {"threshold": DEFAULT_THRESHOLD, "on_miss": "ask_back"}
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_TAG = re.compile(r"^[^\x00-\x1f]{1,64}$")
_JOURNEY_ID = re.compile(r"^[0-9A-Za-z]{1,32}$")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    enabled: bool
    match_kind: str
    value: str | None
    channels: tuple[str, ...]
    action: dict
    raw: dict
    pattern: Any = None  # the compiled regular expression of a `regex` rule


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    threshold: float = DEFAULT_THRESHOLD
    on_miss: str = "ask_back"
    by_id: dict[str, Rule] = field(default_factory=dict)

    def view(self) -> dict:
        return {"rules": [r.raw for r in self.rules], "threshold": self.threshold, "on_miss": self.on_miss}


def normalise(text: str) -> str:
    """What keywords compare: NFKC (full-width digits and letters as ASCII), trimmed, case-folded."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def parse_rules(body: Any) -> RuleSet:
    """A PUT /v1/conversations/rules body → RuleSet; a 422 naming every bad field."""
    errors: list[FieldError] = []
    if not isinstance(body, dict):
        raise Problem(422, "1 field(s) are invalid", [FieldError("", 'expected {"rules": […]}')])
    for key in body:
        if key not in ("rules", "threshold", "on_miss"):
            errors.append(FieldError(pointer(key), "unknown field"))
    items = body.get("rules")
    rules: list[Rule] = []
    if not isinstance(items, list):
        errors.append(FieldError("/rules", "required: a list of rules"))
        items = []
    elif len(items) > MAX_RULES:
        errors.append(FieldError("/rules", f"at most {MAX_RULES} rules"))
        items = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        rule = _parse_rule(item, f"/rules/{i}", errors)
        if rule is None:
            continue
        if rule.id in seen:
            errors.append(FieldError(f"/rules/{i}/id", "another rule has this id"))
        seen.add(rule.id)
        rules.append(rule)
    threshold = body.get("threshold", DEFAULT_SETTINGS["threshold"])
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        errors.append(FieldError("/threshold", "a number from 0 to 1"))
        threshold = DEFAULT_THRESHOLD
    on_miss = body.get("on_miss", DEFAULT_SETTINGS["on_miss"])
    if on_miss not in ON_MISS:
        errors.append(FieldError("/on_miss", f"one of {', '.join(ON_MISS)}"))
    for i, rule in enumerate(rules):
        menu = rule.raw["match"].get("menu")
        if menu is not None and menu not in seen:
            errors.append(FieldError(f"/rules/{i}/match/menu", "no rule has this id"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    return rule_set(rules, float(threshold), str(on_miss))


def rule_set(rules: list[Rule], threshold: float, on_miss: str) -> RuleSet:
    return RuleSet(tuple(rules), threshold, on_miss, {r.id: r for r in rules})


def load_rules(stored: list[dict], settings: dict) -> RuleSet:
    """The stored document (checked when it was put) as a RuleSet."""
    body = {"rules": stored, **{k: settings[k] for k in ("threshold", "on_miss") if k in settings}}
    return parse_rules(body)


def _string(value: Any, where: str, errors: list[FieldError], *, limit: int, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        errors.append(FieldError(where, f"a non-empty string of at most {limit} characters"))
        return None
    return value


def _parse_rule(item: Any, at: str, errors: list[FieldError]) -> Rule | None:
    if not isinstance(item, dict):
        errors.append(FieldError(at, 'a rule: {"id", "name", "match": {…}, "action": {…}}'))
        return None
    before = len(errors)
    for key in item:
        if key not in ("id", "name", "enabled", "match", "action"):
            errors.append(FieldError(f"{at}/{key}", "unknown field"))
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        errors.append(FieldError(f"{at}/id", "1–32 of A–Z, a–z, 0–9, _ and -"))
    name = item.get("name", rule_id)
    _string(name, f"{at}/name", errors, limit=200)
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(FieldError(f"{at}/enabled", "true or false"))
    match, pattern = _parse_match(item.get("match"), f"{at}/match", errors)
    action = _parse_action(item.get("action"), f"{at}/action", errors)
    if len(errors) > before or match is None or action is None:
        return None
    raw = {"id": rule_id, "name": name, "enabled": enabled, "match": match, "action": action}
    return Rule(
        str(rule_id),
        str(name),
        bool(enabled),
        match["kind"],
        match.get("value"),
        tuple(match.get("channels", CHANNELS)),
        action,
        raw,
        pattern,
    )


def _parse_match(value: Any, at: str, errors: list[FieldError]) -> tuple[dict | None, Any]:
    if not isinstance(value, dict):
        errors.append(FieldError(at, f'an object: {{"kind": one of {", ".join(MATCH_KINDS)}, "value": …}}'))
        return None, None
    for key in value:
        if key not in ("kind", "value", "channels", "menu"):
            errors.append(FieldError(f"{at}/{key}", "unknown field"))
    kind = value.get("kind")
    if kind not in MATCH_KINDS:
        errors.append(FieldError(f"{at}/kind", f"one of {', '.join(MATCH_KINDS)}"))
        return None, None
    out: dict = {"kind": kind}
    pattern = None
    if kind == "any":
        if value.get("value") is not None:
            errors.append(FieldError(f"{at}/value", "`any` takes no value"))
    elif kind == "regex":
        text = _string(value.get("value"), f"{at}/value", errors, limit=MAX_PATTERN)
        if text is not None:
            try:
                pattern = regex.compile(text, regex.IGNORECASE | regex.V1)
            except (regex.error, OverflowError, RecursionError) as exc:
                errors.append(FieldError(f"{at}/value", f"not a regular expression: {exc}"[:200]))
            out["value"] = text
    elif kind == "number":
        number = value.get("value")
        if not isinstance(number, str) or not number.isascii() or not number.isdigit() or len(number) > 3:
            errors.append(FieldError(f"{at}/value", 'a number of 1–3 digits as a string, e.g. "1"'))
        out["value"] = number
    else:
        text = _string(value.get("value"), f"{at}/value", errors, limit=MAX_VALUE)
        out["value"] = text
    channels = value.get("channels")
    if channels is not None:
        if not isinstance(channels, list) or not channels or any(c not in CHANNELS for c in channels):
            errors.append(FieldError(f"{at}/channels", 'a non-empty list of "rcs" and "sms"'))
        else:
            out["channels"] = sorted(set(channels))
    menu = value.get("menu")
    if menu is not None:
        if not isinstance(menu, str) or not _ID.match(menu):
            errors.append(FieldError(f"{at}/menu", "the id of the menu rule whose options this answers"))
        else:
            out["menu"] = menu
    return out, pattern


def _parse_action(value: Any, at: str, errors: list[FieldError]) -> dict | None:
    if not isinstance(value, dict):
        errors.append(FieldError(at, f'an object: {{"kind": one of {", ".join(ACTION_KINDS)}, …}}'))
        return None
    kind = value.get("kind")
    if kind not in ACTION_KINDS:
        errors.append(FieldError(f"{at}/kind", f"one of {', '.join(ACTION_KINDS)}"))
        return None
    allowed = {
        "text": {"text", "suggestions"},
        "card": {"card"},
        "template": {"template", "version", "variables"},
        "menu": {"text", "options"},
        "tag": {"tag", "text"},
        "journey": {"journey_id", "text"},
        "handoff": {"text"},
    }[kind]
    for key in value:
        if key != "kind" and key not in allowed:
            errors.append(FieldError(f"{at}/{key}", "unknown field"))
    out: dict = {"kind": kind}
    required_text = kind in ("text", "menu")
    text = _string(value.get("text"), f"{at}/text", errors, limit=MAX_TEXT, required=required_text)
    if text is not None:
        out["text"] = text
    if kind == "text" and value.get("suggestions") is not None:
        chips = value["suggestions"]
        if not isinstance(chips, list) or len(chips) > MAX_OPTIONS:
            errors.append(FieldError(f"{at}/suggestions", f"a chip list of at most {MAX_OPTIONS} suggestions"))
        else:
            out["suggestions"] = chips
    elif kind == "card":
        card = value.get("card")
        if not isinstance(card, dict) or not isinstance(card.get("message"), dict):
            errors.append(FieldError(f"{at}/card", "a GSMA bot-message object with `message`"))
        else:
            out["card"] = card
    elif kind == "template":
        out["template"] = _string(value.get("template"), f"{at}/template", errors, limit=200)
        version = value.get("version")
        if version is not None:
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                errors.append(FieldError(f"{at}/version", "a positive integer"))
            else:
                out["version"] = version
        variables = value.get("variables")
        if variables is not None:
            if not isinstance(variables, dict):
                errors.append(FieldError(f"{at}/variables", "an object"))
            else:
                out["variables"] = variables
    elif kind == "menu":
        options = value.get("options")
        if not isinstance(options, list) or not 0 < len(options) <= MAX_OPTIONS:
            errors.append(FieldError(f"{at}/options", f"a list of 1–{MAX_OPTIONS} options"))
        else:
            out["options"] = []
            for i, option in enumerate(options):
                where = f"{at}/options/{i}"
                if not isinstance(option, dict) or set(option) - {"label", "postback"}:
                    errors.append(FieldError(where, '{"label": …, "postback"?: …}'))
                    continue
                label = _string(option.get("label"), f"{where}/label", errors, limit=25)
                postback = _string(option.get("postback", label), f"{where}/postback", errors, limit=MAX_VALUE)
                if label is not None and postback is not None:
                    out["options"].append({"label": label, "postback": postback})
    elif kind == "tag":
        tag = value.get("tag")
        if not isinstance(tag, str) or not _TAG.match(tag):
            errors.append(FieldError(f"{at}/tag", "a tag of 1–64 characters"))
        out["tag"] = tag
    elif kind == "journey":
        journey_id = value.get("journey_id")
        if not isinstance(journey_id, str) or not _JOURNEY_ID.match(journey_id):
            errors.append(FieldError(f"{at}/journey_id", "the id of one of your journeys"))
        out["journey_id"] = journey_id
    return out


@dataclass(frozen=True)
class Inbound:
    """What the rules look at."""

    channel: str
    text: str | None = None
    postback: str | None = None
    menu: str | None = None  # the SMS menu shown last (a menu rule's id)


def _regex_matches(rule: Rule, text: str, deadline: float) -> bool:
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    try:
        return rule.pattern.search(text[:MAX_MATCHED_INPUT], timeout=min(REGEX_TIMEOUT_S, left)) is not None
    except TimeoutError:
        return False


def menu_choice(rules: RuleSet, inbound: Inbound) -> str | None:
    """A numbered reply to the SMS menu shown last → that option's postback."""
    if inbound.menu is None or inbound.text is None:
        return None
    menu = rules.by_id.get(inbound.menu)
    digits = normalise(inbound.text)
    if menu is None or menu.action["kind"] != "menu" or not digits.isdigit() or len(digits) > 3:
        return None
    n = int(digits)
    options = menu.action["options"]
    return options[n - 1]["postback"] if 1 <= n <= len(options) else None


def first_match(rules: RuleSet, inbound: Inbound) -> Rule | None:
    """The first enabled rule for the inbound's channel that matches it."""
    text = normalise(inbound.text) if inbound.text is not None else None
    deadline = time.monotonic() + REGEX_BUDGET_S
    for rule in rules.rules:
        if not rule.enabled or inbound.channel not in rule.channels:
            continue
        kind, value = rule.match_kind, rule.value
        if kind == "any":
            return rule
        if kind in ("postback", "menu"):
            if inbound.postback is not None and inbound.postback == value:
                return rule
            continue
        if text is None or value is None:
            continue
        if kind == "exact" and text == normalise(value):
            return rule
        if kind == "prefix" and text.startswith(normalise(value)):
            return rule
        if kind == "number" and text == value:
            menu = rule.raw["match"].get("menu")
            if menu is None or menu == inbound.menu:
                return rule
        if kind == "regex" and _regex_matches(rule, inbound.text or "", deadline):
            return rule
    return None
