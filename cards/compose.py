"""Per-recipient composition of card templates (jinja2, sandboxed, compiled once).

`compile_template` walks the card once and compiles only the string fields that contain
`{{` or `{%`; `CompiledCard.compose` copies the rest and renders those fields, then validates
the result again (a variable can push a title over its limit).
"""

from __future__ import annotations

import re
from functools import lru_cache

import jinja2
import orjson
from jinja2 import meta
from jinja2 import nodes as jinja_nodes
from jinja2.runtime import new_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from api.problems import FieldError, pointer
from cards.formats import DEFAULT_LOCALE, format_date, format_datetime, format_money, format_time
from cards.limits import DEFAULT_PROFILE
from cards.model import fix_warnings, parse_document
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
    """A template could not be compiled, or the composed card breaks the card rules."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


# Card text is written by tenants: an expression must not allocate without bound
# ("{{ 'x' * 10**9 }}"). Results are capped well above every card limit.
MAX_EXPRESSION_ITEMS = 10_000
MAX_EXPONENT = 64
MAX_RANGE = 1_000
MAX_LOOP_NESTING = 2


def _card_range(*args) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise SecurityError(f"range() of more than {MAX_RANGE} items")
    return r


def _loop_nesting(node, depth: int = 0) -> int:
    if isinstance(node, jinja_nodes.For):
        depth += 1
    return max([depth, *(_loop_nesting(child, depth) for child in node.iter_child_nodes())])


class CardSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus bounds on `*` and `**`."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(times, int)
                    and len(seq) * times > MAX_EXPRESSION_ITEMS
                ):
                    raise SecurityError(f"a repeated sequence longer than {MAX_EXPRESSION_ITEMS}")
        return super().call_binop(context, operator, left, right)


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

    env.filters.update(money=money, date=date_, datetime=datetime_, time=time_)
    env.globals["range"] = _card_range
    return env


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


class _Slot:
    __slots__ = ("parts", "path", "template", "names", "numeric", "dotted")

    def __init__(self, parts: tuple, template: jinja2.Template, ast: jinja_nodes.Template):
        self.parts = parts
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
        env = self._env = template_environment(locale)
        errors: list[FieldError] = []
        try:
            self._skeleton = orjson.dumps(skeleton)
            self._walk(card, (), env, errors)
        except (orjson.JSONEncodeError, RecursionError) as exc:  # too deep, or a 65-bit integer
            raise CardInvalid([FieldError("", f"not a card JSON can carry: {exc}")]) from None
        if errors:
            raise CardInvalid(errors)
        self.variables = sorted({n for s in self._slots for n in s.names})
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
        elif isinstance(node, str) and _is_template(node):
            try:
                ast = env.parse(node)
                template = env.from_string(ast)
            except jinja2.TemplateSyntaxError as exc:
                errors.append(FieldError(pointer(*parts), f"template error: {exc.message}"))
                return
            if _loop_nesting(ast) > MAX_LOOP_NESTING:
                # bounded work per recipient: at most MAX_RANGE ** MAX_LOOP_NESTING iterations
                errors.append(FieldError(pointer(*parts), f"loops nested deeper than {MAX_LOOP_NESTING}"))
                return
            self._slots.append(_Slot(parts, template, ast))

    @property
    def is_static(self) -> bool:
        return not self._slots

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
        # One render context for all fields of this recipient (a context per field costs more
        # than rendering the field).
        env = self._env
        context = new_context(env, None, {}, variables, False, env.globals, None)
        for slot in self._slots:
            try:
                text = env.concat(slot.template.root_render_func(context))
            except jinja2.UndefinedError as exc:
                raise MissingVariable(_missing_name(exc, slot, variables), slot.path) from None
            except SecurityError as exc:
                raise CardInvalid([FieldError(slot.path, f"template not allowed: {exc}")]) from None
            except (ValueError, TypeError, ArithmeticError, jinja2.TemplateError) as exc:
                raise CardInvalid([FieldError(slot.path, f"template error: {exc}")]) from None
            place_value(card, slot.parts, text, numeric=slot.numeric)
        return card

    def gsma(self, variables: dict) -> bytes:
        """The composed bot message as `application/vnd.gsma.botmessage.v1.0+json` bytes."""
        card = self.compose(variables)
        if "message" not in card:
            raise CardInvalid([FieldError("/message", "required for a bot message")])
        return orjson.dumps({"message": card["message"]})


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
