"""Per-recipient composition of card templates (jinja2, sandboxed, compiled once).

`compile_template` walks the card once and compiles only the string fields that contain
`{{` or `{%`; `CompiledCard.compose` copies the rest and renders those fields, then validates
the result again (a variable can push a title over its limit). Every template is counted
before it is compiled and bounded while it runs (cards.sandbox); heavy ones are composed in a
small thread pool (`compose_async`, `off_loop`), off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import jinja2
import orjson
from jinja2 import meta
from jinja2 import nodes as jinja_nodes
from jinja2.runtime import new_context

from api.problems import FieldError, pointer
from cards.formats import DEFAULT_LOCALE, format_date, format_datetime, format_money, format_time
from cards.limits import DEFAULT_PROFILE
from cards.model import fix_warnings, parse_document
from cards.sandbox import (
    MAX_VALUE,
    CardSandbox,
    SecurityError,
    TemplateCost,
    TemplateRefused,
    analyse,
    bounded,
    check_cost,
    check_variables,
    is_template,
    outputs_fit,
)
from cards.validate import Revalidation, validate_card

# Where the card format wants a number (coordinates, file sizes), a field that renders as a
# JSON number becomes that number.
NUMERIC_KEYS = frozenset({"latitude", "longitude", "mediaFileSize", "thumbnailFileSize"})
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


class MissingVariable(Exception):
    """A template field used a variable the recipient's data does not have."""

    def __init__(self, name: str, path: str):
        super().__init__(f"variable {name!r} is missing (used in {path or '/'})")
        self.name = name
        self.path = path


class CardInvalid(Exception):
    """A template could not be compiled, or the composed card breaks the card rules.

    `refused`: a template would do more work than card templates may (cards.sandbox), or
    uses what they cannot; such a card is refused before (or as soon as) it runs.
    """

    def __init__(self, errors: list[FieldError], *, refused: bool = False):
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors
        self.refused = refused


# Composing heavier than this many steps (a few ms at worst) leaves the event loop for a small
# pool of threads, so one request's templates never stall the others.
INLINE_STEPS = 2_000
REFUSED = "template not allowed: "
COMPOSE_WORKERS = 2
_pool = ThreadPoolExecutor(COMPOSE_WORKERS, thread_name_prefix="card-compose")


async def off_loop(fn, /, *args, **kwargs):
    """Run slow card work (compiling, composing heavy templates) in the bounded compose pool."""
    return await asyncio.get_running_loop().run_in_executor(_pool, functools.partial(fn, *args, **kwargs))


@lru_cache(maxsize=8)
def template_environment(locale: str = DEFAULT_LOCALE) -> CardSandbox:
    """The sandboxed environment for card text; filters default to `locale`.

    Card text is JSON, not HTML, so nothing is escaped here; the HTML renderer escapes.
    """
    env = CardSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)

    def money(value, currency="CNY", loc=None):
        return format_money(value, currency, loc or locale)

    def date_(value, format="long", loc=None):
        return format_date(value, format, loc or locale)

    def datetime_(value, format="medium", loc=None):
        return format_datetime(value, format, loc or locale)

    def time_(value, format="short", loc=None):
        return format_time(value, format, loc or locale)

    for name, fn in (("money", money), ("date", date_), ("datetime", datetime_), ("time", time_)):
        env.add_filter(name, fn)
    return env


# Names Jinja resolves itself rather than from the variables (`self` is the template).
_SPECIAL_NAMES = frozenset({"self", "loop", "super", "caller", "varargs", "kwargs"})


def _plain_pieces(ast: jinja_nodes.Template) -> tuple[tuple[bool, str], ...] | None:
    """A template made only of text and bare `{{ name }}` outputs as (is a name, text) pieces;
    None for anything else (a filter, an attribute, a tag…)."""
    pieces: list[tuple[bool, str]] = []
    for node in ast.body:
        if not isinstance(node, jinja_nodes.Output):
            return None
        for child in node.nodes:
            if type(child) is jinja_nodes.TemplateData:
                pieces.append((False, child.data))
            elif type(child) is jinja_nodes.Name and child.ctx == "load" and child.name not in _SPECIAL_NAMES:
                pieces.append((True, child.name))
            else:
                return None
    return tuple(pieces)


class _Slot:
    __slots__ = ("parts", "path", "template", "names", "numeric", "dotted", "cost", "plain")

    def __init__(self, parts: tuple, template: jinja2.Template, ast: jinja_nodes.Template, cost: TemplateCost):
        self.parts = parts
        self.cost = cost
        self.plain = _plain_pieces(ast)
        self.path = pointer(*parts)
        self.template = template
        self.names = sorted(meta.find_undeclared_variables(ast))
        self.numeric = bool(parts) and parts[-1] in NUMERIC_KEYS
        # "user.phone" for `{{ user.phone }}` / `{{ user['phone'] }}`, to name what is missing
        self.dotted = {}
        for node in ast.find_all((jinja_nodes.Getattr, jinja_nodes.Getitem)):
            key = node.attr if isinstance(node, jinja_nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(node.node, jinja_nodes.Name) and isinstance(key, str):
                self.dotted.setdefault(key, f"{node.node.name}.{key}")


class CompiledCard:
    """A card template compiled once; `compose` fills it for one recipient."""

    def __init__(self, card: dict, *, locale: str = DEFAULT_LOCALE, profile: str = DEFAULT_PROFILE):
        self.profile = profile
        self.locale = locale
        # Warnings are resolved once here (openUrl → browser, image/jpg → image/jpeg), so every
        # composed card is what the operator should receive.
        skeleton = fix_warnings(parse_document(card)).to_json()
        self._slots: list[_Slot] = []
        self._refused = False
        self.steps = 0
        env = self._env = template_environment(locale)
        errors: list[FieldError] = []
        try:
            self._skeleton = orjson.dumps(skeleton)
            self._walk(card, (), env, errors)
        except (orjson.JSONEncodeError, RecursionError) as exc:  # too deep, or a 65-bit integer
            raise CardInvalid([FieldError("", f"not a card JSON can carry: {exc}")]) from None
        refused = self._refused
        if not errors:
            total = TemplateCost(sum(s.cost.steps for s in self._slots), sum(s.cost.chars for s in self._slots))
            try:
                check_cost(total)
            except TemplateRefused as exc:
                errors.append(FieldError("", f"{REFUSED}the card's templates together {exc}"))
                refused = True
            # The most steps composing one recipient's card can take (counted, not timed).
            self.steps = total.steps
        if errors:
            raise CardInvalid(errors, refused=refused)
        self.variables = sorted({n for s in self._slots for n in s.names})
        # Every field only puts variables into text: a recipient whose variables are all texts
        # is filled by joining strings, as rendering would (see _fill_plain), without Jinja.
        self._plain = all(s.plain is not None for s in self._slots)
        self._revalidation = Revalidation(skeleton, [s.parts for s in self._slots], profile) if self._slots else None
        # A card without template fields composes to itself: validate it once, here.
        self._static_errors = None
        if not self._slots:
            report = validate_card(card, profile)
            self._static_errors = report.errors

    def _walk(self, node, parts: tuple, env, errors: list[FieldError]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                self._walk(value, (*parts, key), env, errors)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self._walk(value, (*parts, i), env, errors)
        elif isinstance(node, str) and is_template(node):
            try:
                ast = env.parse(node)
                # Counted before it is compiled, let alone run (cards.sandbox).
                cost = analyse(ast, len(node))
                template = env.from_string(ast)
            except jinja2.TemplateSyntaxError as exc:
                errors.append(
                    FieldError(
                        pointer(*parts), f"template error: {exc.message}", "template_error", {"detail": exc.message}
                    )
                )
                return
            except TemplateRefused as exc:
                errors.append(FieldError(pointer(*parts), f"{REFUSED}{exc}", "template_refused", {"detail": str(exc)}))
                self._refused = True
                return
            self._slots.append(_Slot(parts, template, ast, cost))

    @property
    def is_static(self) -> bool:
        return not self._slots

    @property
    def heavy(self) -> bool:
        """Whether composing one recipient's card can take long enough to leave the event loop."""
        return self.steps > INLINE_STEPS

    async def compose_async(self, variables: dict) -> dict:
        """`compose`, in the compose pool when the template is heavy."""
        if not self.heavy:
            return self.compose(variables)
        return await off_loop(self.compose, variables)

    def compose(self, variables: dict) -> dict:
        """The card JSON for one recipient; raises MissingVariable or CardInvalid."""
        if not self._slots:
            if self._static_errors:
                raise CardInvalid(self._static_errors)
            return orjson.loads(self._skeleton)
        card = self._fill(variables)
        errors = self._revalidation.errors(card)
        if errors:
            raise CardInvalid(errors)
        return card

    def _fill(self, variables: dict) -> dict:
        """The template with the variables filled in, not yet checked."""
        card = orjson.loads(self._skeleton)
        too_long = check_variables(variables)
        if too_long is not None:
            name = ".".join(map(str, too_long))
            why = f"{REFUSED}variable {name!r} is longer than {MAX_VALUE:,} characters"
            raise CardInvalid([FieldError("", why)], refused=True)
        if self._plain and self._fill_plain(card, variables):
            return card
        # One render context for all fields of this recipient (a context per field costs more
        # than rendering the field).
        env = self._env
        context = new_context(env, None, {}, variables, False, env.globals, None)
        with bounded():
            for slot in self._slots:
                try:
                    text = env.concat(slot.template.root_render_func(context))
                except jinja2.UndefinedError as exc:
                    raise MissingVariable(_missing_name(exc, slot, variables), slot.path) from None
                except (SecurityError, RecursionError) as exc:
                    message = str(exc) if isinstance(exc, SecurityError) else "nested too deeply"
                    raise CardInvalid(
                        [FieldError(slot.path, REFUSED + message, "template_refused", {"detail": message})],
                        refused=True,
                    ) from None
                except (ValueError, TypeError, ArithmeticError, jinja2.TemplateError) as exc:
                    raise CardInvalid(
                        [FieldError(slot.path, f"template error: {exc}", "template_error", {"detail": str(exc)})]
                    ) from None
                place_value(card, slot.parts, text, numeric=slot.numeric)
        return card

    def _fill_plain(self, card: dict, variables: dict) -> bool:
        """Fill fields made of text and `{{ name }}` when every name used is a text variable: what
        rendering writes (the sandbox's finalize passes a text through, counted against the same
        budget), at a fraction of the cost. False, with nothing placed, for any other case — a
        missing or non-text variable, an exhausted budget — which rendering then reports."""
        outputs: list[str] = []
        filled: list[tuple[_Slot, str]] = []
        for slot in self._slots:
            texts: list[str] = []
            for is_name, text in slot.plain:  # type: ignore[union-attr]  # all plain (self._plain)
                if is_name:
                    value = variables.get(text)
                    if type(value) is not str:
                        return False
                    outputs.append(value)
                    texts.append(value)
                else:
                    texts.append(text)
            filled.append((slot, "".join(texts)))
        if not outputs_fit(outputs):
            return False
        for slot, text in filled:
            place_value(card, slot.parts, text, numeric=slot.numeric)
        return True

    def gsma(self, variables: dict) -> bytes:
        """The composed bot message as `application/vnd.gsma.botmessage.v1.0+json` bytes."""
        card = self.compose(variables)
        errors = message_errors(card)
        if errors:
            raise CardInvalid(errors)
        return orjson.dumps({"message": card["message"]})


def message_errors(card: dict, *, sending: bool = True) -> list[FieldError]:
    """A card needs its bot message where it goes with one: a chip list is the second part of a
    message, never sent alone (validation, templates and previews say so as a send does). A
    persistent menu alone is a document of its own, published on the channel: valid, but only
    a `sending` check refuses it."""
    if not isinstance(card, dict) or isinstance(card.get("message"), dict):
        return []
    if sending:
        return [
            FieldError(
                "/message",
                "required: the bot message object (a chip list or a menu cannot be sent alone)",
                "no_message",
            )
        ]
    if "suggestions" in card:
        return [
            FieldError("/message", "required: a chip list goes with a message (it cannot be sent alone)", "no_message")
        ]
    return []


def place_value(card: dict, parts: tuple, text: str, *, numeric: bool) -> None:
    """Put a rendered field into the card at `parts` (a number where the schema wants one)."""
    target = card
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = _number_or_text(text) if numeric else text


def _number_or_text(text: str):
    """A JSON number as int/float; any other text unchanged (the validator reports it)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text


def _missing_name(exc: jinja2.UndefinedError, slot: _Slot, variables: dict) -> str:
    for name in slot.names:
        if name not in variables:
            return name
    m = _UNDEFINED_NAME.search(str(exc.message or ""))
    if m and m.group(1):
        return m.group(1)
    if m:
        return slot.dotted.get(m.group(2), m.group(2))
    return str(exc.message)


def compile_template(card: dict, *, locale: str = DEFAULT_LOCALE, profile: str = DEFAULT_PROFILE) -> CompiledCard:
    """Compile a card template once (per template version) for many recipients."""
    if not isinstance(card, dict):
        raise CardInvalid([FieldError("", "expected a JSON object")])
    return CompiledCard(card, locale=locale, profile=profile)
