"""Bounded card templates (cards.sandbox): work is counted before a template runs, and capped
while it runs; what would freeze the server or exhaust memory is refused, never run."""

from __future__ import annotations

import threading

import jinja2
import pytest
from cardkit import standalone

from cards import CardInvalid, MissingVariable, compile_template
from cards.compose import INLINE_STEPS, off_loop, template_environment
from cards.sandbox import MAX_STEPS, Budget, bounded, count
from editor.preview import PlaceholderCard

DESCRIPTION = "/message/generalPurposeCard/content/description"
# The repro: the macro's loop escaped the loop-nesting bound (50 million iterations).
FREEZER = (
    "{% macro f() %}{% for k in range(1000) %}{% endfor %}{% endmacro %}"
    "{% for i in range(1000) %}{% for j in range(50) %}{{ f() }}{% endfor %}{% endfor %}"
)

# Each would take seconds or gigabytes unbounded; each is refused, at compile time where the
# syntax tree shows it, else as soon as it passes a bound while running.
ATTACKS = [
    FREEZER,
    "{% macro f() %}{% for k in range(1000) %}{% endfor %}{% endmacro %}{% for i in range(1000) %}{{ f() }}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",  # recursion (was a 500)
    "{% macro f(n) %}{% if n %}{{ g(n-1) }}{% endif %}{% endmacro %}{% macro g(n) %}{{ f(n) }}{% endmacro %}{{ f(3) }}",
    "{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% macro a() %}x{% endmacro %}{% set b = a %}{{ b() }}",  # a macro escaping the count
    "{% macro a() %}x{% endmacro %}{% set ns = namespace(f=a) %}{{ ns.f() }}",
    "{% macro a() %}{{ caller() }}{% endmacro %}{% call a() %}y{% endcall %}",
    "{% for x in items recursive %}{{ loop(x) }}{% endfor %}",
    "{% include 'x' %}",
    "{% for c in 'x' * 10000 %}{% for d in 'y' * 10000 %}{% endfor %}{% endfor %}",
    "{% set x %}{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}{% endset %}",
    "{% for i in items %}{% for j in items %}{{ i }}{% endfor %}{% endfor %}",
    # growth by doubling, widths, repetition
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "{{ 'x' ~ ('y' * 10000) ~ ('z' * 10000) ~ ('w' * 10000) }}",
    "{{ 'x'|center(1000000000) }}",
    "{{ 'x'.center(1000000000) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ ('x' * 10000).replace('x', 'y' * 10000) }}",
    "{{ ('x' * 10000)|replace('x', 'y' * 10000) }}",
    "{{ ('y' * 10000).join(['a'] * 10000) }}",
    "{{ (1).to_bytes(1000000000, 'big') }}",
    "{{ ('\\t' * 10000).expandtabs(10000) }}",
    "{{ 'abc'.translate({97: 'x' * 10000}) }}",
    "{{ [1]|batch(1000000000, 'x')|list }}",
    "{{ ((10 ** 64) ** 64) ** 64 }}",
    "{% set a = 10 ** 64 %}{{ a * a * a * a * a * a * a * a * a * a * a * a * a * a * a * a * a * a * a * a * a * a * a }}",
    "{{ items|sum(start=[]) }}",
    # output: each piece small, together huge
    "{% macro a() %}{{ 'x' * 10000 }}{% endmacro %}{% macro b() %}{{ a() }}{{ a() }}{{ a() }}{{ a() }}"
    "{{ a() }}{{ a() }}{{ a() }}{{ a() }}{% endmacro %}{{ b() }}{{ b() }}{{ b() }}{{ b() }}",
    "{% for i in range(1000) %}{{ 'x' * 5000 }}{% endfor %}",
    "{{ ''.__class__.__mro__ }}",
]


@pytest.mark.parametrize("template", ATTACKS)
def test_templates_that_could_freeze_the_server_are_refused(template):
    with pytest.raises(CardInvalid) as err:
        compile_template(standalone(description=template)).compose({"items": [1, 2]})
    assert err.value.refused
    assert [e.path for e in err.value.errors] == [DESCRIPTION]
    assert err.value.errors[0].message.startswith("template not allowed: ")


@pytest.mark.parametrize("template", ATTACKS)
def test_the_editors_forgiving_fill_never_runs_them_either(template):
    card = standalone(description=template)
    filled = PlaceholderCard(card, "zh-CN").fill({"items": [1, 2]})
    shown = filled["message"]["generalPurposeCard"]["content"]["description"]
    # Shown as written (or, for an unsafe attribute, as a placeholder): nothing ran that could grow.
    assert shown == template or shown == "{{ __class__.__mro__ }}"


def test_the_freezer_is_counted_before_it_runs():
    env = template_environment()
    cost = count(env.parse(FREEZER))
    # 1,000 × 50 macro calls, each running its own loop of 1,000: counted, not run.
    assert cost.steps > 50_000_000 and cost.loops == 3
    with pytest.raises(CardInvalid) as err:
        compile_template(standalone(description=FREEZER))
    assert err.value.errors[0].message.startswith(f"template not allowed: could take up to {cost.steps:,} steps")


@pytest.mark.parametrize(
    "template, steps",
    [
        ("{{ name }}", 1),
        ("{% for i in range(10) %}{{ i }}{% endfor %}", 3 + 10 * 2),
        ("{% macro f() %}{{ x }}{% endmacro %}{{ f() }}{{ f() }}", 2 * (1 + 1)),
        ("{% if a %}{{ b }}{% else %}{{ c }}{% endif %}", 3),  # both branches count
        ("{% for i in items %}{{ i }}{% endfor %}", 1 + 1000 * 2),  # data loops count as the cap
    ],
)
def test_steps_are_counted_from_the_syntax_tree(template, steps):
    assert count(template_environment().parse(template)).steps == steps


def test_the_budget_stops_a_run_that_passes_it():
    template = template_environment().from_string("{% for i in range(100) %}{{ i }}{% endfor %}")
    with bounded(Budget(steps=1_000)) as budget:
        assert template.render() == "".join(map(str, range(100)))
    assert (
        0
        < 1_000 - budget.steps
        <= count(template_environment().parse("{% for i in range(100) %}{{ i }}{% endfor %}")).steps
    )
    with bounded(Budget(steps=50)), pytest.raises(jinja2.sandbox.SecurityError):
        template.render()


def test_values_given_are_capped_too():
    compiled = compile_template(standalone(description="{% if 'a' in v %}{{ v|length }}{% endif %}"))
    with pytest.raises(CardInvalid) as err:
        compiled.compose({"v": "a" * 20_001})
    assert err.value.refused and "'v' is longer than 20,000 characters" in err.value.errors[0].message
    assert compiled.compose({"v": "a" * 20_000})["message"]["generalPurposeCard"]["content"]["description"] == "20000"


def test_ordinary_templates_still_work():
    card = standalone(
        title="{{ name|upper }} {{ '%.2f'|format(amount) }}",
        description=(
            "{% macro line(i) %}{{ i.label }}：{{ i.amount|money }}{% endmacro %}"
            "{% for i in items if i.amount %}{{ line(i) }}{{ '，' if not loop.last else '' }}{% endfor %}"
            "{{ ' / '.join(tags) }} {{ note.replace('旧', '新') }} {{ (items|map(attribute='label')|join('、')) }}"
        ),
    )
    variables = {
        "name": "ab",
        "amount": 3,
        "items": [{"label": "月费", "amount": 58}, {"label": "流量", "amount": 5}, {"label": "空", "amount": 0}],
        "tags": ["x", "y"],
        "note": "旧套餐",
    }
    out = compile_template(card).compose(variables)["message"]["generalPurposeCard"]["content"]
    assert out["title"] == "AB 3.00"
    assert out["description"] == "月费：¥58.00，流量：¥5.00x / y 新套餐 月费、流量、空"


def test_refusals_name_a_card_wide_total_too():
    # Each field is under the limit, the card's fields together are not.
    field = "{% for i in range(1000) %}" + "{{ i }}" * 9 + "{% endfor %}"
    assert MAX_STEPS / 2 < count(template_environment().parse(field)).steps < MAX_STEPS
    card = standalone(title=field, description=field)
    with pytest.raises(CardInvalid) as err:
        compile_template(card)
    assert err.value.refused and err.value.errors[0].path == ""
    assert "the card's templates together could take up to" in err.value.errors[0].message


async def test_heavy_templates_compose_in_the_pool_off_the_event_loop():
    light = compile_template(standalone(description="{{ name }}"))
    heavy = compile_template(standalone(description="{% for i in items %}{{ i }}{% endfor %}"))
    assert not light.heavy and light.steps <= INLINE_STEPS
    assert heavy.heavy and heavy.steps > INLINE_STEPS
    out = await heavy.compose_async({"items": [1, 2, 3]})
    assert out["message"]["generalPurposeCard"]["content"]["description"] == "123"
    assert (await off_loop(threading.current_thread)).name.startswith("card-compose")
    with pytest.raises(MissingVariable):
        await heavy.compose_async({})
