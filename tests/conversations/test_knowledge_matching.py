"""Matching, table-driven: normalisation, tokens (stop words, synonyms, bigrams), ranking and
confidence, the index cache, the AI service URL rules."""

from __future__ import annotations

import asyncio

import pytest

from conversations.knowledge import _url_refusal, parse_faq
from conversations.matching import BIGRAM, SEGMENTER, Entry, FaqIndex, Segmenter, Synonyms, normalise, tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("５Ｇ套餐", "5g套餐"),  # full-width letters and digits → half-width, lower case
        ("ＡＢＣ　ｄｅｆ", "abc def"),  # an ideographic space is a space
        ("话费，还剩多少？！", "话费 还剩多少"),  # Chinese punctuation goes
        ("  流量...查询!!  ", "流量 查询"),
        ("VoLTE开通", "volte开通"),
        ("积分😀兑换", "积分 兑换"),  # symbols go
        ("套餐\t\n变更", "套餐 变更"),
        ("", ""),
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


def words(text: str, synonyms: Synonyms | None = None) -> list[str]:
    return [t for t in tokens(text, synonyms or Synonyms()) if not t.startswith(BIGRAM)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的话费还剩多少", ["话费", "剩"]),  # 我 的 还 多少: stop words
        ("请问怎么查流量啊", ["查", "流量"]),
        ("国际漫游怎么开通", ["国际", "漫游", "国际漫游", "开通"]),  # search mode: the parts too
        ("你好", []),
    ],
)
def test_tokens_drop_stop_words_and_keep_the_parts_of_long_words(text, expected):
    assert words(text) == expected


def test_bigrams_keep_a_typo_close():
    assert f"{BIGRAM}余额" in tokens("话废余额", Synonyms())


@pytest.mark.parametrize(
    ("groups", "text", "expected"),
    [
        ({"流量": ["数据", "上网"]}, "数据查询", ["流量", "查询"]),
        ({"流量": ["上网流量"]}, "上网流量还有吗", ["流量"]),  # a variant jieba would split
        ({"5g": ["五g", "５Ｇ"]}, "升级五G", ["升级", "5g"]),  # normalised both sides
        ({}, "数据查询", ["数据", "查询"]),
    ],
)
def test_synonyms_map_to_the_canonical_word(groups, text, expected):
    assert words(text, Synonyms.of(groups)) == expected


INDEX = FaqIndex(
    [
        Entry("balance", ["如何查询话费余额", "查话费"]),
        Entry("data", ["怎么查询剩余流量", "流量查询"]),
        Entry("roaming", ["国际漫游怎么开通", "出国使用手机"]),
    ]
)


@pytest.mark.parametrize(
    ("question", "top", "at_least", "below"),
    [
        ("流量查询", "data", 0.9, 1.01),  # a variant as it is: nothing competes
        ("我的流量还剩多少", "data", 0.5, 1.0),
        ("话费余额", "balance", 0.5, 1.0),
        ("去国外手机能用吗", "roaming", 0.2, 1.0),
        ("查询", None, 0.0, 0.5),  # a word every entry has: ambiguous, low
        ("今天天气怎么样", None, 0.0, 0.0),  # nothing shared: no match at all
    ],
)
def test_matching_ranks_and_grades(question, top, at_least, below):
    found = INDEX.match(question)
    if top is None:
        assert not found or found[0].confidence < below
        return
    assert found[0].faq_id == top
    assert at_least <= found[0].confidence < below
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    assert all(0 <= m.confidence <= 1 for m in found)


def test_the_runner_up_is_less_confident_than_the_winner():
    found = INDEX.match("查询话费和流量")
    assert len(found) >= 2 and found[0].confidence > found[1].confidence


@pytest.mark.parametrize("question", ["查询话费和流量", "查询", "我的流量还剩多少", "话费余额"])
def test_the_best_match_is_as_confident_whatever_the_limit(question):
    # The pipeline asks for one match: its margin is still over the runner-up, as /match reports.
    assert INDEX.match(question, 1) == INDEX.match(question, 5)[:1]


def test_an_empty_faq_matches_nothing():
    assert FaqIndex([]).match("流量") == []
    assert FaqIndex([Entry("x", ["的了吗"])]).match("的了吗") == []  # nothing but stop words


def test_a_small_faq_still_ranks_by_a_word_half_the_entries_share():
    index = FaqIndex(
        [Entry("a", ["流量查询"]), Entry("b", ["流量套餐"]), Entry("c", ["宽带报修"]), Entry("d", ["积分"])]
    )
    assert index.match("流量查询")[0].faq_id == "a"


def test_a_long_question_is_cut_not_refused():
    assert INDEX.match("流量查询" + "啊" * 10_000)[0].faq_id == "data"


async def test_the_dictionary_loads_once_in_a_thread():
    segmenter = Segmenter()
    await asyncio.gather(segmenter.ready(), segmenter.ready())
    assert segmenter.words("流量查询") == ["流量", "查询"]
    await SEGMENTER.ready()


@pytest.mark.parametrize(
    ("url", "allow_private", "refused"),
    [
        ("https://ai.example.com/v1", False, False),
        ("http://ai.example.com/v1", False, True),
        ("https://127.0.0.1/v1", False, True),
        ("https://10.1.2.3/v1", False, True),
        ("https://169.254.169.254/latest", False, True),
        ("https://localhost/v1", False, True),
        ("http://127.0.0.1:8080/v1", True, False),  # the sandbox
        ("https://ai.example.com/v1?key=1", False, True),
        ("https://u:p@ai.example.com/v1", False, True),
        ("ftp://ai.example.com", True, True),
        ("https://", True, True),
        ("https://ai.example.com:99999", True, True),
        (5, True, True),
    ],
)
def test_ai_service_urls(url, allow_private, refused):
    assert (_url_refusal(url, allow_private) is not None) is refused


def test_an_faq_entry_is_cleaned():
    got = parse_faq({"questions": [" 查话费 "], "answer": {"text": " 发送 YE "}})
    assert got == {"questions": ["查话费"], "answer": {"text": "发送 YE"}, "enabled": True, "tags": []}
