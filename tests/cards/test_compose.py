"""Per-recipient composition: sandbox, missing variables, filters, compile-once, re-validation."""

from __future__ import annotations

from unittest import mock

import jinja2
import pytest
from cardkit import location, media, reply, standalone

from cards import CardInvalid, MissingVariable, compile_template, format_date
from cards.compose import template_environment
from cards.formats import format_datetime

CARD = "/message/generalPurposeCard/content"


def test_variables_fill_any_text_field_and_leave_the_rest():
    card = standalone(
        title="{{ name }}，您好",
        suggestions=[reply("给{{ name }}回电", "call:{{ id }}")],
        media=media(contentDescription="{{ name }}的海报"),
    )
    out = compile_template(card).compose({"name": "张三", "id": 7})
    c = out["message"]["generalPurposeCard"]["content"]
    assert c["title"] == "张三，您好"
    assert c["suggestions"][0] == {"reply": {"displayText": "给张三回电", "postback": {"data": "call:7"}}}
    assert c["media"]["contentDescription"] == "张三的海报"
    assert c["media"]["mediaFileSize"] == 1024
    assert card["message"]["generalPurposeCard"]["content"]["title"] == "{{ name }}，您好"


def test_each_compose_returns_a_fresh_card():
    compiled = compile_template(standalone(title="{{ n }}"))
    a, b = compiled.compose({"n": "a"}), compiled.compose({"n": "b"})
    a["message"]["generalPurposeCard"]["content"]["description"] = "changed"
    assert b["message"]["generalPurposeCard"]["content"]["description"] == "描述"


@pytest.mark.parametrize(
    "template, variables, name, path",
    [
        ("{{ name }}", {}, "name", f"{CARD}/title"),
        ("{{ a }}{{ b }}", {"a": 1}, "b", f"{CARD}/title"),
        ("{{ user.phone }}", {"user": {}}, "user.phone", f"{CARD}/title"),
        ("{{ user['tel'] }}", {"user": {}}, "user.tel", f"{CARD}/title"),
        ("{% if vip %}贵宾{% endif %}", {}, "vip", f"{CARD}/title"),
    ],
)
def test_missing_variable_names_the_variable_and_the_field(template, variables, name, path):
    with pytest.raises(MissingVariable) as err:
        compile_template(standalone(title=template)).compose(variables)
    assert (err.value.name, err.value.path) == (name, path)


def test_a_variable_can_push_a_field_over_its_limit():
    compiled = compile_template(standalone(title="尊敬的{{ name }}"))
    assert compiled.compose({"name": "字" * 197})
    with pytest.raises(CardInvalid) as err:
        compiled.compose({"name": "字" * 198})
    assert [(e.path, e.message) for e in err.value.errors] == [(f"{CARD}/title", "201 characters; the limit is 200")]


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ items.append(1) }}",  # immutable sandbox: no mutating calls
        "{{ 'x' * 1000000000 }}",  # no unbounded allocation
        "{{ [1] * 100000 }}",
        "{{ 10 ** 100000 }}",
        "{% for i in range(10000000) %}x{% endfor %}",
    ],
)
def test_sandbox_blocks_unsafe_templates(template):
    with pytest.raises(CardInvalid) as err:
        compile_template(standalone(title=template)).compose({"items": []})
    assert err.value.errors[0].path == f"{CARD}/title"


def test_loops_are_allowed_but_not_nested_deeply():
    items = standalone(description="{% for i in items %}{{ i.label }} {{ i.amount|money }}\n{% endfor %}")
    out = compile_template(items).compose({"items": [{"label": "月费", "amount": 58}, {"label": "流量", "amount": 5}]})
    assert out["message"]["generalPurposeCard"]["content"]["description"] == "月费 ¥58.00\n流量 ¥5.00\n"
    deep = "{% for a in range(9) %}{% for b in range(9) %}{% for c in range(9) %}x{% endfor %}{% endfor %}{% endfor %}"
    with pytest.raises(CardInvalid) as err:
        compile_template(standalone(description=deep))
    assert err.value.refused
    assert err.value.errors[0].message == (
        "template not allowed: loops nested deeper than 2 (loops in the macros they call count too)"
    )


def test_syntax_errors_are_reported_at_compile_time():
    with pytest.raises(CardInvalid) as err:
        compile_template(standalone(title="{{ name ", description="{% for %}"))
    assert [e.path for e in err.value.errors] == [f"{CARD}/title", f"{CARD}/description"]


def test_numbers_stay_numbers_where_the_format_wants_numbers():
    card = location(latitude="{{ lat }}", longitude="{{ lng }}", label="{{ place }}")
    out = compile_template(card).compose({"lat": 39.91, "lng": 116.41, "place": 3})
    loc = out["message"]["generalPurposeCard"]["content"]["suggestions"][0]["action"]["mapAction"]["showLocation"][
        "location"
    ]
    assert loc == {"latitude": 39.91, "longitude": 116.41, "label": "3"}
    with pytest.raises(MissingVariable) as err:
        compile_template(card).compose({"lng": 1, "place": "x"})
    assert err.value.name == "lat"


def test_templates_are_parsed_once_per_version_not_per_recipient():
    card = standalone(title="{{ name }}", description="账单 {{ amount|money }}", suggestions=[reply("查看", "static")])
    env = template_environment("zh-CN")
    with mock.patch.object(type(env), "_parse", autospec=True, side_effect=jinja2.Environment._parse) as parse:
        compiled = compile_template(card)
        for i in range(1000):
            compiled.compose({"name": f"客户{i}", "amount": i})
    assert parse.call_count == 2  # the two templated fields, once each
    assert compiled.variables == ["amount", "name"]


def test_a_card_without_variables_is_validated_once():
    compiled = compile_template(standalone())
    assert compiled.is_static and compiled.compose({}) == standalone()
    with pytest.raises(CardInvalid):
        compile_template(standalone(title="")).compose({})


def test_filters_in_templates_follow_the_template_locale():
    card = standalone(title="{{ amount|money }} {{ due|date }}", description="{{ amount|money('USD', 'en') }}")
    zh = compile_template(card).compose({"amount": 58, "due": "2026-02-01"})
    en = compile_template(card, locale="en").compose({"amount": 58, "due": "2026-02-01"})
    assert zh["message"]["generalPurposeCard"]["content"]["title"] == "¥58.00 2026年2月1日"
    assert en["message"]["generalPurposeCard"]["content"]["title"] == "CN¥58.00 February 1, 2026"
    assert zh["message"]["generalPurposeCard"]["content"]["description"] == "$58.00"


def test_a_bad_filter_value_is_a_card_error():
    with pytest.raises(CardInvalid) as err:
        compile_template(standalone(title="{{ x|money }}")).compose({"x": "lots"})
    assert err.value.errors[0].path == f"{CARD}/title"


def test_composed_cards_resolve_warnings_and_serialise_as_gsma():
    import orjson
    from cardkit import action

    card = standalone(
        title="{{ t }}",
        media=media(mediaUrl="https://c.cn/a.jpg", mediaContentType="image/jpg"),
        suggestions=[action("urlAction", "openUrl", {"url": "https://a.cn/{{ id }}"})],
    )
    compiled = compile_template(card)
    body = orjson.loads(compiled.gsma({"t": "标题", "id": 9}))
    c = body["message"]["generalPurposeCard"]["content"]
    assert c["media"]["mediaContentType"] == "image/jpeg"
    assert c["suggestions"][0]["action"]["urlAction"]["openUrl"] == {"url": "https://a.cn/9", "application": "browser"}
    with pytest.raises(CardInvalid):
        compile_template({"suggestions": [reply()]}).gsma({})


# Re-validation after composition checks only what the variables can change; it must find
# exactly what a full validation finds.
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cards import load_library, validate_card  # noqa: E402

_LIB = load_library()
_TEXT_VALUES = st.one_of(
    st.text(max_size=30),
    st.text(min_size=150, max_size=2100).map(lambda t: t or "x"),
    st.sampled_from(["", "2026-13-01T00:00:00+08:00", "not a url", "字" * 201]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_LIB)), st.data())
def test_revalidation_agrees_with_full_validation(name, data):
    template = _LIB[name]
    variables = dict(template.sample)
    for key in data.draw(st.lists(st.sampled_from(sorted(variables)), max_size=4, unique=True)):
        if isinstance(variables[key], str) and not key.endswith(
            ("_at", "due", "start", "end", "checkin", "expiry", "issued", "eta", "as_of", "valid_until", "offer_end")
        ):
            variables[key] = data.draw(_TEXT_VALUES)
    compiled = template.compiled
    try:
        composed = compiled._fill(variables)
    except CardInvalid:  # a money/date filter refused the drawn value: not what this tests
        assume(False)
    full = validate_card(composed).errors
    fast = compiled._revalidation.errors(composed)
    assert sorted((e.path, e.message) for e in fast) == sorted((e.path, e.message) for e in full)


def test_revalidation_covers_carousel_and_chip_suggestions():
    from cardkit import carousel

    card = carousel(2, suggestions=[reply("{{ a }}", "x")])
    card["suggestions"] = [reply("{{ b }}", "y")]
    compiled = compile_template(card)
    assert not compiled._revalidation.full
    with pytest.raises(CardInvalid) as err:
        compiled.compose({"a": "字" * 26, "b": "字" * 26})
    assert sorted(e.path for e in err.value.errors) == [
        "/message/generalPurposeCardCarousel/content/0/suggestions/0/reply/displayText",
        "/message/generalPurposeCardCarousel/content/1/suggestions/0/reply/displayText",
        "/suggestions/0/reply/displayText",
    ]


def test_template_fields_outside_known_units_fall_back_to_full_validation():
    card = standalone()
    card["message"]["generalPurposeCard"]["layout"]["cardOrientation"] = "{{ o }}"
    compiled = compile_template(card)
    assert compiled._revalidation.full
    with pytest.raises(CardInvalid) as err:
        compiled.compose({"o": "DIAGONAL"})
    assert err.value.errors[0].path == "/message/generalPurposeCard/layout/cardOrientation"
    assert compiled.compose({"o": "VERTICAL"})["message"]["generalPurposeCard"]["layout"] == {
        "cardOrientation": "VERTICAL"
    }


def test_absurdly_deep_cards_are_refused_not_crashed():
    deep = "x"
    for _ in range(5000):
        deep = [deep]
    card = standalone()
    card["x-deep"] = deep
    with pytest.raises(CardInvalid):
        compile_template(card)


def test_custom_date_patterns_and_bad_ones():
    assert format_date("2026-11-26", "yyyy年M月d日") == "2026年11月26日"
    assert format_datetime("2026-11-26T09:30:00+08:00", "M/d HH:mm") == "11/26 09:30"
    with pytest.raises(ValueError):
        format_date("2026-11-26", "HH:mm")  # no time in a date
    with pytest.raises(CardInvalid):
        compile_template(standalone(title="{{ d|date('HH:mm') }}")).compose({"d": "2026-11-26"})


@pytest.mark.parametrize(
    "variables, path",
    [
        (
            {"s": "2026-01-31T10:00:00+08:00", "e": "2026-01-31T09:00:00+08:00", "lat": 39.9},
            "calendarAction/createCalendarEvent/endTime",
        ),
        (
            {"s": "tomorrow", "e": "2026-01-31T09:00:00+08:00", "lat": 39.9},
            "calendarAction/createCalendarEvent/startTime",
        ),
        (
            {"s": "2026-01-31T08:00:00+08:00", "e": "2026-01-31T09:00:00+08:00", "lat": 91},
            "mapAction/showLocation/location/latitude",
        ),
    ],
)
def test_event_and_location_fields_are_rechecked_together(variables, path):
    from cardkit import action

    card = standalone(
        suggestions=[
            action(
                "calendarAction", "createCalendarEvent", {"startTime": "{{ s }}", "endTime": "{{ e }}", "title": "复诊"}
            ),
            action(
                "mapAction",
                "showLocation",
                {"location": {"latitude": "{{ lat }}", "longitude": 116.4, "label": "医院"}},
            ),
        ]
    )
    compiled = compile_template(card)
    assert set(compiled._revalidation.units.values()) == {"createCalendarEvent", "showLocation"}
    with pytest.raises(CardInvalid) as err:
        compiled.compose(variables)
    index = 1 if "mapAction" in path else 0
    assert [e.path for e in err.value.errors] == [f"{CARD}/suggestions/{index}/action/{path}"]


# Text and `{{ name }}` fields are filled without Jinja when every variable is a text: the same
# card, the same error, as rendering gives — checked against a compilation that always renders.
_PIECE = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="{}%#", blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(["{{ name }}", "{{name}}", "{{- name -}}", "{{ id }}", "{{ code }}", "{{ self }}", "\r\n"]),
)
_VALUE = st.one_of(st.text(max_size=30), st.integers(), st.none(), st.just("x" * 3000))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.lists(_PIECE, min_size=1, max_size=6).map("".join),
    description=st.lists(_PIECE, max_size=4).map("".join),
    variables=st.dictionaries(st.sampled_from(["name", "id", "code", "self"]), _VALUE, max_size=4),
)
def test_plain_fields_are_filled_as_rendering_fills_them(title, description, variables):
    card = standalone(title=title, description=description or "描述", suggestions=[reply("{{ name }}", "d")])
    try:
        plain = compile_template(card)
    except CardInvalid:
        return
    rendered = compile_template(card)
    rendered._plain = False

    def outcome(compiled):
        try:
            return compiled.compose(variables)
        except MissingVariable as exc:
            return ("missing", exc.name, exc.path)
        except CardInvalid as exc:
            return ("invalid", [(e.path, e.message) for e in exc.errors])

    assert outcome(plain) == outcome(rendered)


def test_a_plain_card_is_filled_without_rendering():
    compiled = compile_template(standalone(title="{{ name }}，您的账单已出", suggestions=[reply("{{ name }}", "d")]))
    assert compiled._plain
    with mock.patch("cards.compose.new_context", side_effect=AssertionError("rendered")):
        out = compiled.compose({"name": "张三"})
    assert out["message"]["generalPurposeCard"]["content"]["title"] == "张三，您的账单已出"
    assert not compile_template(standalone(title="{{ name | upper }}"))._plain
    assert not compile_template(standalone(title="{{ user.name }}"))._plain
