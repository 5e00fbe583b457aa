"""Normalisation and one-pass matching, table-driven: every spacing trick folds away, the
whitelist covers what it should and only that, Latin words match whole words only."""

from __future__ import annotations

import pytest

from compliance.matcher import ALLOW, BLOCK, PLATFORM, REVIEW, WORD, Matcher, Rule, worst
from compliance.normalise import normalise
from compliance.texts import document_texts, literal_texts, variable_texts
from tests.conftest import card


def rule(term: str, kind: str = WORD, scope: str = PLATFORM, category: str = "c", action: str = BLOCK) -> Rule:
    return Rule(f"r-{term}-{scope}", term, normalise(term), kind, scope, category if kind == WORD else None,
                action if kind == WORD else None)  # fmt: skip


RULES = [
    rule("加微信", action=REVIEW),
    rule("赌博"),
    rule("禁止赌博", ALLOW),
    rule("VX", action=REVIEW),
    rule("sex"),
    rule("代开发票"),
    rule("刷单", scope="t1"),
    rule("警惕刷单", ALLOW, scope="t2"),  # another tenant's phrase covers nothing of t1's
    rule("兼职刷单", ALLOW, scope="t1"),
    rule("内部价", scope="t1", action=REVIEW),
    rule("内部价", ALLOW, scope="t1"),  # the tenant whitelisted its own word outright
]
MATCHER = Matcher(RULES)

CASES = [
    # (text, terms found)
    ("加微信领红包", ["加微信"]),
    ("加 微 信", ["加微信"]),  # spaces
    ("加\u3000微\u200b信\ufeff", ["加微信"]),  # ideographic space, zero-width space, BOM
    ("加*微-信", ["加微信"]),  # punctuation and symbols between the characters
    ("加😀微🔥信", ["加微信"]),  # emoji
    ("加\u0336微\u0336信", ["加微信"]),  # combining strike-through marks
    ("加微信", ["加微信"]),
    ("ＶＸ：13800138000", ["VX"]),  # full width → half width, case folded
    ("加v.x详聊", ["VX"]),
    ("avx", []),  # a Latin word inside another word
    ("is exactly right", []),
    ("buy S E X now", ["sex"]),
    ("请勿参与赌博", ["赌博"]),
    ("严禁赌博！禁止赌博。", ["赌博"]),  # the second is whitelisted, the first is not
    ("禁止 赌博", []),  # the whitelist is normalised too
    ("代 开 发 票", ["代开发票"]),
    ("您的账单已出，本月话费 58.00 元", []),
]


@pytest.mark.parametrize("text,terms", CASES)
def test_platform_words_through_every_trick(text, terms):
    assert [m.rule.term for m in MATCHER.scan([("/t", text)])] == terms


TENANT_CASES = [
    # (text, tenant, terms)
    ("刷单返利", "t1", ["刷单"]),
    ("兼职刷单", "t1", []),  # the tenant's own phrase covers its own word
    ("警惕刷单", "t1", ["刷单"]),  # t2's phrase does not
    ("内部价", "t1", []),
]


@pytest.mark.parametrize("text,tenant,terms", TENANT_CASES)
def test_a_tenants_whitelist_covers_only_its_own_words(text, tenant, terms):
    assert [m.rule.term for m in MATCHER.scan([("/t", text)]) if m.rule.scope == tenant] == terms


def test_a_tenant_cannot_whitelist_a_platform_word():
    m = Matcher([rule("赌博"), rule("赌博", ALLOW, scope="t1"), rule("合法赌博", ALLOW, scope="t1")])
    assert [x.rule.term for x in m.scan([("/t", "合法赌博")])] == ["赌博"]


def test_no_match_straddles_two_fields_and_each_names_its_field():
    found = MATCHER.scan([("/a", "加微"), ("/b", "信"), ("/c", "赌博")])
    assert [(x.path, x.rule.term) for x in found] == [("/c", "赌博")]


def test_a_text_repeated_across_fields_is_found_in_each_in_field_order():
    """A batch repeats values: each distinct text is scanned once, and every field holding it
    gets its matches, in field order, as if each had been scanned."""
    fields = [("/r/0/a", "赌博 加微信"), ("/r/0/b", "58.00"), ("/r/1/a", "赌博 加微信"), ("/r/1/b", "sex")]
    found = [(x.path, x.rule.term) for x in MATCHER.scan(fields)]
    one_by_one = [(x.path, x.rule.term) for f in fields for x in MATCHER.scan([f])]
    assert found == one_by_one
    assert found == [
        ("/r/0/a", "赌博"),
        ("/r/0/a", "加微信"),
        ("/r/1/a", "赌博"),
        ("/r/1/a", "加微信"),
        ("/r/1/b", "sex"),
    ]


def test_worst_outcome():
    assert worst(MATCHER.scan([("/a", "加微信")])) == REVIEW
    assert worst(MATCHER.scan([("/a", "加微信 赌博")])) == BLOCK
    assert worst([]) is None


def test_an_empty_list_matches_nothing():
    assert Matcher([]).scan([("/a", "赌博")]) == []


def test_every_text_of_a_document_is_screened_with_its_pointer():
    doc = card(title="标题", description="描述")
    doc["message"]["generalPurposeCard"]["content"]["media"] = {
        "mediaUrl": "https://x.example/a.png",
        "mediaContentType": "image/png",
        "mediaFileSize": 10,
        "height": "MEDIUM_HEIGHT",
        "contentDescription": "图",
    }
    doc["suggestions"] = [
        {
            "action": {
                "displayText": "打开",
                "urlAction": {"openUrl": {"url": "https://x.example/p", "application": "browser"}},
            }
        }
    ]
    paths = [p for p, _ in document_texts(doc)]
    c = "/message/generalPurposeCard"
    assert paths == [
        f"{c}/content/title",
        f"{c}/content/description",
        f"{c}/content/suggestions/0/reply/displayText",
        f"{c}/content/suggestions/0/reply/postback/data",
        f"{c}/content/media/mediaUrl",
        f"{c}/content/media/contentDescription",
        "/suggestions/0/action/displayText",
        "/suggestions/0/action/urlAction/openUrl/url",
    ]  # layout enums, content types, sizes and heights carry no words


def test_a_templates_own_text_is_split_at_its_variables():
    assert literal_texts([("/t", "加微{{ x }}信，{% if y %}赌博{% endif %}")]) == [
        ("/t", "加微"),
        ("/t", "信，"),
        ("/t", "赌博"),
    ]
    assert variable_texts({"a": "x", "b": 5, "c": {"d": "y"}, "e": None}, "/variables") == [
        ("/variables/a", "x"), ("/variables/b", "5"), ("/variables/c/d", "y"),
    ]  # fmt: skip
