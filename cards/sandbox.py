"""Bounded jinja2 for card text: the work a template may do is counted before it runs.

Card templates are written by tenants and run for every recipient, so no template may take
unbounded time or memory. Three layers keep it bounded:

1. `analyse` reads a template's syntax tree before anything runs and counts the steps it can
   take at most (every loop multiplies its body by its items, a macro call costs the macro's
   whole body, both branches of an `if` count). A template over `MAX_STEPS` or `MAX_OUTPUT`, a
   recursive macro, a macro used as a value, `{% call %}` blocks, recursive loops and template
   inheritance are refused, so the answer is a 422 naming the field before a single step ran.
2. At run time every loop is capped at `MAX_ITEMS` items, every value a template is given or
   makes at `MAX_VALUE` characters (checked before the value is built where an operation can
   multiply sizes: `*`, `+`, `~`, `%`, `replace`, `join`, `format`, widths), and only a list of
   cheap string, list and dict methods can be called.
3. `bounded()` gives one recipient's composition a step, output and call-depth budget, spent by
   loops, calls, filters and output, in case something slipped past the count in (1).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg

MAX_ITEMS = 1_000  # items one loop, range() or filter may go over
MAX_VALUE = 20_000  # characters (or items) of a value: the longest card field is 2,000 characters
MAX_ARGUMENT = 10_000  # an integer argument of a filter or method (a width, a count)
MAX_STEPS = 20_000  # steps a card's templates may take for one recipient (≈ tens of ms at worst)
MAX_OUTPUT = 100_000  # characters a card's templates may write for one recipient
MAX_CALL_DEPTH = 16  # macro calls inside macro calls
MAX_TEMPLATE = 20_000  # characters of one template field
MAX_LOOP_NESTING = 2  # loops inside loops, counting the loops of the macros they call
MAX_EXPONENT = 64
MAX_INT_BITS = 4_096  # integers a template computes (`*` and `**` can grow them fast)
_CHARS_PER_STEP = 256  # a filter or call over a long value costs a step per this many characters

# Filters that call another filter or test once per item.
_PER_ITEM_FILTERS = frozenset({"map", "select", "reject", "selectattr", "rejectattr"})
# Filters whose output can grow far beyond their input (indent, wordwrap's wrapstring) or that
# card text has no use for; templates cannot use them.
_DROPPED_FILTERS = frozenset({"indent", "wordwrap", "pprint", "urlize", "xmlattr", "tojson"})
# The methods a template may call on strings, lists, tuples, dicts and numbers: each costs at
# most its input's size, or has its growth checked (join, replace, widths).
_METHODS = {
    str: frozenset(
        "capitalize casefold count endswith find index isalnum isalpha isascii isdecimal isdigit "
        "isidentifier islower isnumeric isprintable isspace istitle isupper lower lstrip partition "
        "removeprefix removesuffix rfind rindex rpartition rsplit rstrip split splitlines startswith "
        "strip swapcase title upper center ljust rjust zfill join replace".split()
    ),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values"}),
    int: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
}
_SIZED = (str, list, tuple, dict)
# Filters whose arguments are checked before they run (sizes, growth, what they add up).
_CHECKED_FILTERS = frozenset({"format", "replace", "join", "sum"})
# Filters and methods whose integer arguments are sizes (widths, counts): capped at MAX_ARGUMENT.
_SIZE_ARGUMENTS = frozenset({"center", "ljust", "rjust", "zfill", "truncate", "batch", "slice"})
_CHECKED_FILTERS = _CHECKED_FILTERS | _SIZE_ARGUMENTS
_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateRefused(Exception):
    """A template does more work than a card template may (its message says what)."""


# -- static analysis ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TemplateCost:
    """What a template can do at most for one recipient, counted from its syntax tree."""

    steps: int = 0
    chars: int = 0  # characters of literal text it can write
    loops: int = 0  # loops nested inside each other


_UNSUPPORTED = {
    nodes.CallBlock: "{% call %} blocks",
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Block: "{% block %}",
}


class _Analysis:
    def __init__(self, ast: nodes.Template):
        self.macros: dict[str, list[nodes.Macro]] = {}
        for macro in ast.find_all(nodes.Macro):
            self.macros.setdefault(macro.name, []).append(macro)
        self.done: dict[str, TemplateCost] = {}
        self.active: list[str] = []

    def all(self, items) -> TemplateCost:
        steps = chars = loops = 0
        for item in items:
            c = self.node(item)
            steps, chars, loops = steps + c.steps, chars + c.chars, max(loops, c.loops)
        return TemplateCost(steps, chars, loops)

    def macro(self, name: str) -> TemplateCost:
        if name in self.done:
            return self.done[name]
        if name in self.active:
            chain = " → ".join([*self.active[self.active.index(name) :], name])
            raise TemplateRefused(f"macro {name!r} calls itself ({chain}): recursion is not allowed in card templates")
        self.active.append(name)
        costs = [self.all([*m.defaults, *m.body]) for m in self.macros[name]]
        self.active.pop()
        worst = TemplateCost(max(c.steps for c in costs), max(c.chars for c in costs), max(c.loops for c in costs))
        self.done[name] = worst
        return worst

    def node(self, node: nodes.Node) -> TemplateCost:
        kind = type(node)
        if kind in _UNSUPPORTED:
            raise TemplateRefused(f"{_UNSUPPORTED[kind]} cannot be used in card templates")
        if isinstance(node, nodes.TemplateData):
            return TemplateCost(0, len(node.data))
        if isinstance(node, nodes.Macro):
            return TemplateCost()  # its body costs where it is called
        if isinstance(node, nodes.Name):
            if node.ctx == "load" and node.name in self.macros:
                raise TemplateRefused(f"macro {node.name!r} can only be called, not used as a value")
            return TemplateCost(1)
        if isinstance(node, nodes.For):
            if node.recursive:
                raise TemplateRefused("recursive loops cannot be used in card templates")
            items = _items(node.iter)
            head = self.node(node.iter)
            body = self.all(node.body)
            test = self.node(node.test) if node.test is not None else TemplateCost()
            other = self.all(node.else_)
            return TemplateCost(
                head.steps + items * (1 + body.steps + test.steps) + other.steps,
                items * body.chars + other.chars,
                max(1 + body.loops, other.loops),
            )
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in self.macros:
            body = self.macro(node.node.name)
            args = self.all([*node.args, *node.kwargs, *filter(None, (node.dyn_args, node.dyn_kwargs))])
            return TemplateCost(1 + args.steps + body.steps, args.chars + body.chars, max(args.loops, body.loops))
        inner = self.all(node.iter_child_nodes())
        steps = inner.steps + (1 if isinstance(node, nodes.Expr) else 0)
        if isinstance(node, nodes.Filter) and node.name in _PER_ITEM_FILTERS:
            steps += MAX_ITEMS
        return TemplateCost(steps, inner.chars, inner.loops)


def _items(expr: nodes.Expr) -> int:
    """How many items a loop over `expr` can take: counted for a constant `range()` or literal,
    else the cap every loop has at run time."""
    if isinstance(expr, (nodes.List, nodes.Tuple)):
        return min(len(expr.items), MAX_ITEMS)
    if isinstance(expr, nodes.Dict):
        return min(len(expr.items), MAX_ITEMS)
    if isinstance(expr, nodes.Const) and isinstance(expr.value, (str, tuple, list)):
        return min(len(expr.value), MAX_ITEMS)
    if (
        isinstance(expr, nodes.Call)
        and isinstance(expr.node, nodes.Name)
        and expr.node.name == "range"
        and not expr.kwargs
        and expr.dyn_args is None
        and expr.dyn_kwargs is None
        and 1 <= len(expr.args) <= 3
        and all(isinstance(a, nodes.Const) and type(a.value) is int for a in expr.args)
    ):
        try:
            return min(len(range(*(a.value for a in expr.args))), MAX_ITEMS)
        except ValueError:  # a zero step: fails when it runs
            return 0
    return MAX_ITEMS


def count(ast: nodes.Template) -> TemplateCost:
    """The most a template can do for one recipient, counted on its syntax tree without running
    it; raises TemplateRefused for what card templates cannot use (recursion, macros as values…)."""
    try:
        return _Analysis(ast).all(ast.body)
    except RecursionError:
        raise TemplateRefused("the template is nested too deeply") from None


def analyse(ast: nodes.Template, source_length: int = 0) -> TemplateCost:
    """`count`, and TemplateRefused for a template that could do more than a card template may."""
    if source_length > MAX_TEMPLATE:
        raise TemplateRefused(f"a template field of {source_length:,} characters; the limit is {MAX_TEMPLATE:,}")
    cost = count(ast)
    check_cost(cost)
    if cost.loops > MAX_LOOP_NESTING:
        raise TemplateRefused(f"loops nested deeper than {MAX_LOOP_NESTING} (loops in the macros they call count too)")
    return cost


def check_cost(cost: TemplateCost) -> None:
    """Refuse a cost (of one field, or of a whole card's fields together) beyond the limits."""
    if cost.steps > MAX_STEPS:
        raise TemplateRefused(
            f"could take up to {cost.steps:,} steps for one recipient; the limit is {MAX_STEPS:,} "
            "(loops multiply their body, a macro call costs the macro's body)"
        )
    if cost.chars > MAX_OUTPUT:
        raise TemplateRefused(f"could write up to {cost.chars:,} characters; the limit is {MAX_OUTPUT:,}")


# -- run-time budget ---------------------------------------------------------------------------
class Budget:
    """What one recipient's composition may still spend."""

    __slots__ = ("steps", "output", "depth")

    def __init__(self, steps: int = MAX_STEPS, output: int = MAX_OUTPUT):
        self.steps = steps
        self.output = output
        self.depth = 0


_BUDGET: ContextVar[Budget | None] = ContextVar("card_template_budget", default=None)


@contextmanager
def bounded(budget: Budget | None = None) -> Iterator[Budget]:
    """Run card templates inside a fresh budget (one per recipient's card)."""
    budget = budget or Budget()
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def _spend(steps: int) -> None:
    budget = _BUDGET.get()
    # No budget: constant folding while compiling (run-time renders always have one).
    if budget is not None:
        budget.steps -= steps
        if budget.steps < 0:
            raise SecurityError(f"the template took more than {MAX_STEPS:,} steps")


def _size(value) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict)) else 0


def _check_size(value):
    if _size(value) > MAX_VALUE:
        raise SecurityError(f"a value of more than {MAX_VALUE:,} characters or items")
    return value


def _check_ints(values) -> None:
    for v in values:
        if type(v) is int and abs(v) > MAX_ARGUMENT:
            raise SecurityError(f"an argument of {v} is larger than {MAX_ARGUMENT:,}")


def check_variables(variables) -> tuple | None:
    """Where (a path of keys and indexes) the variables hold a text longer than `MAX_VALUE`, if
    anywhere: every comparison or filter on it would be long, and no card field can show it."""
    stack: list[tuple[tuple, object]] = []
    for key, value in variables.items():  # most variables are flat: one pass, nothing pushed
        kind = type(value)
        if kind is str:
            if len(value) > MAX_VALUE:
                return (key,)
        elif kind is dict or kind is list:
            stack.append(((key,), value))
    while stack:
        parts, value = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_VALUE:
                return parts
        elif isinstance(value, dict):
            stack.extend(((*parts, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*parts, i), v) for i, v in enumerate(value))
    return None


def _formatted_size(fmt: str, args) -> int:
    """The most characters `fmt % args` (or the format filter) can make, computed before it runs."""
    values = list(args.values()) if isinstance(args, dict) else list(args) if isinstance(args, tuple) else [args]
    widths = [n for m in _WIDTH.finditer(fmt) for n in m.groups() if n]
    if "*" in widths:
        raise SecurityError("a width taken from the arguments (`*`) cannot be used in card templates")
    widths = [int(n) for n in widths]
    _check_ints(widths)
    longest = max([len(str(v)) for v in values] + [0])
    return len(fmt) + fmt.count("%") * (longest + max(widths + [0]))


def _check_growth(name: str, target, args) -> None:
    """Refuse `target.name(*args)` (a string method or filter) when its result could pass MAX_VALUE."""
    if not isinstance(target, str):
        return
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        times = target.count(args[0])
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            times = min(times, args[2])
        grown = len(target) + times * max(0, len(args[1]) - len(args[0]))
    elif name == "join" and args:
        items = args[0]
        grown = len(target) * max(0, _size(items) - 1) if _size(items) else len(target) * MAX_ITEMS
    else:
        return
    if grown > MAX_VALUE:
        raise SecurityError(f"{name}() would make a value of {grown:,} characters; the limit is {MAX_VALUE:,}")


def _bounded_filter(name: str, fn):
    """A filter that spends the budget, checks its arguments and the size of what it makes."""
    first = 1 if _PassArg.from_obj(fn) is not None else 0
    if name not in _CHECKED_FILTERS:

        @functools.wraps(fn)
        def plain(*args, **kwargs):  # the common case, kept lean: it runs for every recipient
            value = args[first] if len(args) > first else None
            _spend(1 + (len(value) // _CHARS_PER_STEP if type(value) in _SIZED else 0))
            result = fn(*args, **kwargs)
            if type(result) in _SIZED and len(result) > MAX_VALUE:
                _check_size(result)
            return result

        return plain

    @functools.wraps(fn)
    def run(*args, **kwargs):
        value, rest = (args[first], args[first + 1 :]) if len(args) > first else (None, ())
        _spend(1 + _size(value) // _CHARS_PER_STEP)
        if name in _SIZE_ARGUMENTS:
            _check_ints([*rest, *kwargs.values()])
        if name == "format" and isinstance(value, str):
            if _formatted_size(value, kwargs or tuple(rest)) > MAX_VALUE:
                raise SecurityError(f"format would make a value longer than {MAX_VALUE:,} characters")
        elif name == "replace":
            _check_growth("replace", value if isinstance(value, str) else str(value), rest)
        elif name == "join":
            sep = rest[0] if rest else kwargs.get("d", "")
            if isinstance(sep, str) and value is not None:
                value = list(_capped(value))
                args = (*args[:first], value, *rest)
                _check_growth("join", sep, (value,))
        elif name == "sum" and not isinstance(kwargs.get("start", rest[1] if len(rest) > 1 else 0), (int, float)):
            raise SecurityError("sum() adds numbers only")
        return _check_size(fn(*args, **kwargs))

    return run


def _capped(items) -> Iterator:
    for n, item in enumerate(items):
        if n >= MAX_ITEMS:
            raise SecurityError(f"a loop over more than {MAX_ITEMS:,} items")
        _spend(1)
        yield item


def card_range(*args) -> range:
    """range() for card templates: at most MAX_ITEMS items."""
    r = range(*args)
    if len(r) > MAX_ITEMS:
        raise SecurityError(f"range() of more than {MAX_ITEMS:,} items")
    return r


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator with every loop's items and every `~` counted."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        counted = nodes.Call(nodes.EnvironmentAttribute("card_items"), [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(
            nodes.For(node.target, counted, node.body, node.else_, node.test, node.recursive, lineno=node.lineno),
            frame,
        )

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.card_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class CardSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, bounded: counted loops and calls, capped values, few methods."""

    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options):
        options.setdefault("finalize", _finalize)
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, fn) for name, fn in FILTERS.items() if name not in _DROPPED_FILTERS}
        self.globals.pop("lipsum", None)
        self.globals["range"] = card_range

    @staticmethod
    def card_items(items) -> Iterator:
        """A loop's items: counted, at most MAX_ITEMS."""
        return _capped(items)

    @staticmethod
    def card_concat(parts) -> str:
        """`a ~ b`, refused before it is built when longer than MAX_VALUE."""
        texts = [str(p) for p in parts]
        total = sum(map(len, texts))
        if total > MAX_VALUE:
            raise SecurityError(f"joining text of {total:,} characters; the limit is {MAX_VALUE:,}")
        _spend(1 + total // _CHARS_PER_STEP)
        return "".join(texts)

    def add_filter(self, name: str, fn) -> None:
        """Add a filter that is counted and checked like the built-in ones."""
        self.filters[name] = _bounded_filter(name, fn)

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, (int, float)):
            if abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
            if type(left) is int and left.bit_length() * abs(right) > MAX_INT_BITS:
                raise SecurityError(f"a number of more than {MAX_INT_BITS} bits")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_VALUE:
                    raise SecurityError(f"a repeated sequence longer than {MAX_VALUE:,}")
            if type(left) is int and type(right) is int and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError(f"a number of more than {MAX_INT_BITS} bits")
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                if len(left) + len(right) > MAX_VALUE:
                    raise SecurityError(f"a value of more than {MAX_VALUE:,} characters or items")
        elif operator == "%" and isinstance(left, str):
            if _formatted_size(left, right) > MAX_VALUE:
                raise SecurityError(f"formatting would make a value longer than {MAX_VALUE:,} characters")
        _spend(1)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 — jinja's signature
        """Call from a template: counted, depth-capped, and only the allowed methods."""
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if owner is not None and isinstance(owner, (str, list, tuple, dict, int, float)):
            name = getattr(__obj, "__name__", "")
            kind = next(t for t in (str, bool, int, float, list, tuple, dict) if isinstance(owner, t))
            if name not in _METHODS.get(kind, ()):
                raise SecurityError(f"{kind.__name__}.{name}() cannot be used in card templates")
            if name in _SIZE_ARGUMENTS:
                _check_ints([*args, *kwargs.values()])
            _check_growth(name, owner, args)
            _spend(1 + _size(owner) // _CHARS_PER_STEP)
        else:
            _spend(1)
        budget = _BUDGET.get()
        if budget is None:
            return _check_size(super().call(__context, __obj, *args, **kwargs))
        budget.depth += 1
        try:
            if budget.depth > MAX_CALL_DEPTH:
                raise SecurityError(f"calls nested deeper than {MAX_CALL_DEPTH}")
            return _check_size(super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.depth -= 1


def _finalize(value):
    """Every `{{ … }}` output: at most MAX_VALUE characters, counted against the card's output.
    (Runs for every output of every recipient: kept to a few operations.)"""
    text = value if type(value) is str else str(value)
    n = len(text)
    if n > MAX_VALUE:
        raise SecurityError(f"a value of more than {MAX_VALUE:,} characters")
    budget = _BUDGET.get()
    if budget is not None:
        budget.output -= n
        budget.steps -= 1 + n // _CHARS_PER_STEP
        if budget.output < 0:
            raise SecurityError(f"the template wrote more than {MAX_OUTPUT:,} characters")
        if budget.steps < 0:
            raise SecurityError(f"the template took more than {MAX_STEPS:,} steps")
    return text


def outputs_fit(texts) -> bool:
    """Whether writing these `{{ … }}` outputs stays within one recipient's budget, counted as
    `_finalize` counts them (for a card whose templates do nothing else)."""
    steps = output = 0
    for text in texts:
        n = len(text)
        if n > MAX_VALUE:
            return False
        output += n
        steps += 1 + n // _CHARS_PER_STEP
    return output <= MAX_OUTPUT and steps <= MAX_STEPS


def is_template(text: str) -> bool:
    """Whether a card string is a template (has `{{` or `{%`)."""
    return "{{" in text or "{%" in text


__all__ = [
    "MAX_ITEMS",
    "MAX_LOOP_NESTING",
    "MAX_STEPS",
    "outputs_fit",
    "Budget",
    "CardSandbox",
    "SecurityError",
    "TemplateCost",
    "TemplateRefused",
    "analyse",
    "bounded",
    "card_range",
    "check_cost",
    "check_variables",
    "count",
    "is_template",
]
