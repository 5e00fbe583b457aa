"""The editor's live preview: one call validates a card template against a sample and renders
the RCS card, the fallback SMS and its H5 page exactly as a real send would build them.

A card is compiled once (bounded LRU keyed by its JSON bytes) with `cards.compile_template`,
composed with the sample and validated the way each recipient's card is. What cannot be
composed — variables the sample lacks, or `placeholders: true` — is filled by a second,
forgiving environment in which a missing variable renders as `{{ name }}`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

import jinja2
import orjson
from jinja2 import meta

from api.problems import FieldError, Problem, pointer
from cards import CardInvalid, CompiledCard, MissingVariable, compile_template, render_html, render_text, validate_card
from cards.compose import NUMERIC_KEYS, message_errors, place_value, template_environment
from cards.library import TRAFFIC_TYPES
from cards.limits import DEFAULT_PROFILE, PROFILES
from cards.sandbox import MAX_VALUE, CardSandbox, TemplateRefused, analyse, bounded, check_variables, is_template
from cards.view import MediaView
from fallback.compose import DEFAULT_OPT_OUT_TEXT, ComposeError, compose_sms
from fallback.segmentation import SegmentationError, format_cost, segment_sms
from fallback.shortlinks import render_card_page

log = logging.getLogger(__name__)

LOCALES = ("zh-CN", "en")
CACHE_SIZE = 256
# A short link of the real length (`<base>/s/` + 16 base64url characters), so the
# SMS is counted as it will be sent.
PREVIEW_TOKEN = "PreviewLink00000"
CURRENCY = "CNY"  # tenants' SMS prices are in yuan (China carrier billing)


@dataclass(frozen=True)
class PreviewRequest:
    card: dict
    variables: dict
    placeholders: bool = False
    profile: str = DEFAULT_PROFILE
    locale: str = "zh-CN"
    traffic_type: str = "notification"


def parse_request(body: dict) -> PreviewRequest:
    """The request, or a 422 naming every malformed field (an invalid card is not malformed)."""
    errors: list[FieldError] = []
    card = body.get("card")
    if not isinstance(card, dict):
        errors.append(FieldError("/card", "required; a card JSON object"))
    variables = body.get("variables", {})
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        errors.append(FieldError("/variables", "expected an object of sample values"))
    placeholders = body.get("placeholders", False)
    if not isinstance(placeholders, bool):
        errors.append(FieldError("/placeholders", "expected true or false"))
    choices = (
        ("profile", tuple(PROFILES), DEFAULT_PROFILE),
        ("locale", LOCALES, "zh-CN"),
        ("traffic_type", TRAFFIC_TYPES, "notification"),
    )
    picked = {}
    for name, allowed, default in choices:
        value = body.get(name, default)
        if not isinstance(value, str) or value not in allowed:
            errors.append(FieldError(pointer(name), f"one of {', '.join(allowed)}"))
        picked[name] = value
    if errors:
        raise Problem(422, "the preview request is malformed", errors)
    return PreviewRequest(card, variables, placeholders, **picked)


# -- the forgiving environment: missing variables render as {{ name }} -------------------------
class Placeholder(jinja2.ChainableUndefined):
    """An undefined variable shown as `{{ name }}`; `.attr` / `[key]` on it chain on."""

    __slots__ = ()

    def __str__(self) -> str:
        owner = self._undefined_obj
        name = self._undefined_name or "?"
        if isinstance(owner, _Named):  # a key missing from a given object: `user.level`
            name = f"{owner.path}.{name}"
        seen = _SHOWN.get()
        if seen is not None:
            seen.add(name)
        return "{{ " + name + " }}"

    def __getattr__(self, name: str):
        if name[:2] == "__":
            raise AttributeError(name)
        return Placeholder(name=f"{self._undefined_name}.{name}")

    def __getitem__(self, key):
        return Placeholder(name=f"{self._undefined_name}.{key}")


# The placeholders one fill() rendered (names of missing keys of given objects come from here).
_SHOWN: ContextVar[set | None] = ContextVar("shown_placeholders", default=None)


class _Named(dict):
    """A sample object that knows its variable path, to name a key it lacks."""

    __slots__ = ("path",)

    def __init__(self, path: str, items: dict):
        super().__init__(items)
        self.path = path


def _named(variables: dict, prefix: str = "", depth: int = 0) -> dict:
    if depth > 16:  # deeper sample objects are left as they are (a bound on the recursion)
        return variables
    return {
        k: _Named(f"{prefix}{k}", _named(v, f"{prefix}{k}.", depth + 1)) if isinstance(v, dict) else v
        for k, v in variables.items()
    }


def _passes_placeholders(fn):
    # money/date filters cannot format a placeholder: let it through as `{{ name }}`.
    def filt(value, *args, **kwargs):
        return value if isinstance(value, jinja2.Undefined) else fn(value, *args, **kwargs)

    return filt


@lru_cache(maxsize=len(LOCALES))
def placeholder_environment(locale: str) -> CardSandbox:
    """The card sandbox (same bounds, filters and globals) with `Placeholder` for the undefined."""
    base = template_environment(locale)
    env = CardSandbox(undefined=Placeholder, autoescape=False, keep_trailing_newline=True)
    for name in ("money", "date", "datetime", "time"):
        env.filters[name] = _passes_placeholders(base.filters[name])
    env.globals.update(base.globals)
    return env


class _Field:
    __slots__ = ("parts", "path", "template", "names", "numeric")

    def __init__(self, parts: tuple, template: jinja2.Template | None, names: frozenset[str]):
        self.parts = parts
        self.path = pointer(*parts)
        self.template = template  # None: a syntax error; the text is shown as written
        self.names = names
        self.numeric = bool(parts) and parts[-1] in NUMERIC_KEYS


class PlaceholderCard:
    """A card template filled leniently: never raises, a field that fails stays as written."""

    def __init__(self, card: dict, locale: str):
        self.card_json = orjson.dumps(card)
        self.fields: list[_Field] = []
        self._env = placeholder_environment(locale)
        self._walk(card, ())
        self.variables = sorted({n for f in self.fields for n in f.names})

    def _walk(self, node, parts: tuple) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                self._walk(value, (*parts, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self._walk(value, (*parts, i))
        elif isinstance(node, str) and is_template(node):
            try:
                ast = self._env.parse(node)
                analyse(ast, len(node))  # the bounds composing enforces: a refused field never runs
            except (jinja2.TemplateSyntaxError, TemplateRefused):
                self.fields.append(_Field(parts, None, frozenset()))
                return
            self.fields.append(
                _Field(parts, self._env.from_string(ast), frozenset(meta.find_undeclared_variables(ast)))
            )

    def fill(self, variables: dict, shown: set | None = None) -> dict:
        """The card with `variables` filled in; `shown` collects the placeholders drawn."""
        card = orjson.loads(self.card_json)
        if not self.fields:
            return card
        variables = _named(variables)
        token = _SHOWN.set(shown)
        try:
            self._fill(card, variables)
        finally:
            _SHOWN.reset(token)
        return card

    def _fill(self, card: dict, variables: dict) -> None:
        with bounded():  # one budget for the card, as composing has
            for f in self.fields:
                if f.template is None:
                    continue
                try:
                    value = f.template.render(variables)
                except Exception:  # noqa: BLE001 — sandbox refusals, filter errors: show the field as written
                    continue
                place_value(card, f.parts, value, numeric=f.numeric)

    def unresolved(self, missing: set[str]) -> list[str]:
        """Paths of fields that use a missing variable or do not compile."""
        return [f.path for f in self.fields if f.template is None or f.names & missing]


# -- the previewer -------------------------------------------------------------------------
@dataclass
class _Compiled:
    compiled: CompiledCard | None
    errors: list[FieldError]
    lenient: PlaceholderCard | None  # None: a refused template (never filled)
    refused: bool = False


def _refused(errors: list[FieldError]) -> Problem:
    """The 422 for a card whose templates would do more than card templates may."""
    return Problem(422, "a template in the card is not allowed", [e.at(pointer("card") + e.path) for e in errors])


class Previewer:
    """Builds preview answers; holds the bounded cache of compiled cards."""

    def __init__(self, base_url: str, *, cache_size: int = CACHE_SIZE):
        self.base_url = base_url.rstrip("/")
        self.short_link = f"{self.base_url}/s/{PREVIEW_TOKEN}"
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, _Compiled] = OrderedDict()
        self._lock = threading.Lock()  # previews are built in the compose pool's threads
        self.compilations = 0  # how many cache misses (tests check the cache works)

    def _compiled(self, card: dict, locale: str, profile: str) -> _Compiled:
        try:
            key = (hashlib.sha256(orjson.dumps(card)).digest(), locale, profile)
        except orjson.JSONEncodeError as exc:  # nested deeper than JSON interchange allows, a 65-bit integer
            raise Problem(422, "the card cannot be carried as JSON", [FieldError("/card", str(exc))]) from None
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            self.compilations += 1
        try:
            entry = _Compiled(compile_template(card, locale=locale, profile=profile), [], PlaceholderCard(card, locale))
        except CardInvalid as exc:
            lenient = None if exc.refused else PlaceholderCard(card, locale)
            entry = _Compiled(None, exc.errors, lenient, exc.refused)
        with self._lock:
            self._cache[key] = entry
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return entry

    def media_src(self, media: MediaView) -> str | None:
        """Media we host (`<base>/media/<id>`) is shown, by path so it loads from this origin;
        anything else is drawn as a placeholder (nothing remote is referenced)."""
        url = media.thumbnail_url if media.kind == "image" and media.thumbnail_url else media.url
        prefix = self.base_url + "/media/"
        if url and url.startswith(prefix) and "?" not in url and "#" not in url:
            return url[len(self.base_url) :]
        return None

    def preview(self, req: PreviewRequest, tenant: Mapping) -> dict:
        """The preview answer; a 422 Problem for a card whose templates are refused (cards.sandbox)."""
        too_long = check_variables(req.variables)
        if too_long is not None:
            raise Problem(
                422,
                "a sample value is too long",
                [FieldError(pointer("variables", *too_long), f"longer than {MAX_VALUE:,} characters")],
            )
        entry = self._compiled(req.card, req.locale, req.profile)
        if entry.refused or entry.lenient is None:
            raise _refused(entry.errors)
        lenient = entry.lenient
        variables = req.variables
        used = entry.compiled.variables if entry.compiled else lenient.variables
        missing = [n for n in used if n not in variables]
        # A card that is sent needs a message, as /v1/cards/validate and a send say.
        errors: list[FieldError] = [*message_errors(req.card, sending=False), *entry.errors]
        composed = None
        if entry.compiled is not None and not missing:
            try:
                composed = entry.compiled.compose(variables)
            except MissingVariable as exc:  # e.g. `user.phone` when the sample's user has no phone
                missing.append(exc.name)
            except CardInvalid as exc:
                if exc.refused:
                    raise _refused(exc.errors) from None
                errors.extend(exc.errors)
        shown: set[str] = set()
        filled = lenient.fill(variables, shown)
        if composed is None:
            # Every key a given object lacks (composing stops at the first one).
            lacking = {n for n in shown if "." in n and n.split(".")[0] in variables}
            # …named by their whole path (composing may name only the last key).
            missing = sorted(lacking | {n for n in missing if not any(m.endswith("." + n) for m in lacking)})
        # Warnings are read on the card as written (composing resolves them); errors come from
        # composing, as for a real recipient, unless it could not be composed.
        report = validate_card(filled, req.profile)
        if composed is None and (missing or entry.errors):
            # Judge what can be judged: leave out fields a missing variable or a broken template
            # decides (they would be judged on placeholders).
            skip = lenient.unresolved({n.split(".")[0] for n in missing}) + [e.path for e in errors]
            errors.extend(e for e in report.errors if not any(_under(e.path, p) for p in skip))
        # A variable without a sample value is a finding, not a "valid" card drawn on a guess.
        errors.extend(_missing_sample(n, lenient) for n in missing)
        warnings = report.warnings
        sample_card = composed if composed is not None else filled
        shown = lenient.fill({}) if req.placeholders else sample_card
        notes: list[FieldError] = missing_alt(req.card)
        answer = {
            "valid": not errors,
            "errors": [e.as_dict() for e in _unique(errors)],
            "missing_variables": missing,
            "variables_used": list(used),
            "card": composed,
            "phone_html": self._phone(shown, req.locale),
            # A persistent menu alone is the chatbot's, not a message: there is no SMS or page of it.
            "sms": None if _menu_only(shown) else self._sms(shown, req.traffic_type, tenant, notes),
            "h5_html": None if _menu_only(shown) else self._h5(shown, tenant, req.locale),
        }
        answer["warnings"] = [w.as_dict() for w in _unique([*warnings, *notes])]
        return answer

    def _phone(self, card: dict, locale: str) -> str | None:
        try:
            return render_html(card, page=False, media_src=self.media_src, lang=locale, paths=True, kinds=True)
        except Exception as exc:  # noqa: BLE001 — a half-typed card must not break the other previews
            # The type only: the message could quote the sample's values.
            log.warning("rendering the phone preview failed: %s", type(exc).__name__)
            return None

    def _h5(self, card: dict, tenant: Mapping, locale: str) -> str | None:
        try:
            return render_card_page(
                card, signature=tenant.get("signature") or "", media_src=self.media_src, lang=locale
            )
        except Exception as exc:  # noqa: BLE001
            log.warning("rendering the H5 preview failed: %s", type(exc).__name__)
            return None

    def _sms(self, card: dict, traffic_type: str, tenant: Mapping, notes: list[FieldError]) -> dict | None:
        """The fallback SMS as the dispatcher composes it, counted on the wire and as billed in China."""
        try:
            text = compose_sms(
                signature=tenant.get("signature") or "",
                body_text=render_text(card),
                short_link=self.short_link,
                traffic_type=traffic_type,
                opt_out_text=tenant.get("unsubscribe_text") or DEFAULT_OPT_OUT_TEXT,
            )
        except ComposeError as exc:
            notes.append(
                FieldError("", f"the fallback SMS cannot be sent: {exc}", "sms_unsendable", {"detail": str(exc)})
            )
            return None
        except Exception as exc:  # noqa: BLE001
            log.warning("composing the SMS preview failed: %s", type(exc).__name__)
            return None
        try:
            wire = segment_sms(text, "gsm")
        except SegmentationError as exc:
            notes.append(FieldError("", f"the fallback SMS is too long: {exc}", "sms_too_long", {"detail": str(exc)}))
            return None
        price = tenant.get("sms_price")
        out = {
            "text": text,
            "encoding": wire.encoding,
            "segments": wire.segments,
            "cn_billing_units": None,
            "cn_parts": None,
            "cost": None,
            "currency": None,
        }
        try:
            # The text already starts with the signature: cn mode adds none.
            billed = segment_sms(text, "cn")
        except SegmentationError as exc:
            notes.append(
                FieldError(
                    "",
                    f"the fallback SMS is longer than China carriers bill: {exc}",
                    "sms_over_cn_bill",
                    {"detail": str(exc)},
                )
            )
            return out
        out.update(cn_billing_units=billed.characters, cn_parts=billed.segments)
        if price is not None:
            out.update(cost=format_cost(billed.segments, price), currency=CURRENCY)
        return out


def _missing_sample(name: str, lenient: PlaceholderCard) -> FieldError:
    """The finding for a used variable the sample does not give, at the first field using it."""
    root = name.split(".")[0]
    path = next((f.path for f in lenient.fields if root in f.names), "")
    return FieldError(
        path, f"no sample value for {{{{ {name} }}}}: give one under Variables", "sample_missing", {"name": name}
    )


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def missing_alt(card) -> list[FieldError]:
    """Editor advice (not a schema rule, so /v1/cards/validate stays as §13 has it): an image or
    video without `contentDescription` is unreadable to screen readers and when images are off."""
    message = card.get("message") if isinstance(card, dict) else None
    if not isinstance(message, dict):
        return []
    places: list[tuple[tuple, object]] = []
    single = message.get("generalPurposeCard")
    if isinstance(single, dict) and isinstance(single.get("content"), dict):
        places.append((("message", "generalPurposeCard", "content"), single["content"]))
    carousel = message.get("generalPurposeCardCarousel")
    if isinstance(carousel, dict) and isinstance(carousel.get("content"), list):
        base = ("message", "generalPurposeCardCarousel", "content")
        places += [((*base, i), c) for i, c in enumerate(carousel["content"])]
    found = []
    for path, content in places:
        media = content.get("media") if isinstance(content, dict) else None
        if not isinstance(media, dict):
            continue
        ctype = media.get("mediaContentType")
        if not isinstance(ctype, str) or ctype.split("/", 1)[0] not in ("image", "video"):
            continue
        alt = media.get("contentDescription")
        if not isinstance(alt, str) or not alt.strip():
            found.append(
                FieldError(
                    pointer(*path, "media", "contentDescription"),
                    "the image has no alternative text (contentDescription) for screen readers",
                    "media_no_alt",
                )
            )
    return found


def _unique(findings: list[FieldError]) -> list[FieldError]:
    return list(dict.fromkeys(findings))


def _menu_only(card) -> bool:
    return isinstance(card, dict) and "menu" in card and "message" not in card and "suggestions" not in card
