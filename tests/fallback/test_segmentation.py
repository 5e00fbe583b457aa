"""Segmentation cases derived from 3GPP TS 23.038 / 23.040 and the China billing rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fallback.segmentation import Segmentation, SegmentationError, format_cost, gsm7_septets, segment_sms, utf16_units

SIG = "【鸿雁测试】"  # 6 characters
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: 8 UTF-16 units
THUMBS = "\U0001f44d\U0001f3fd"  # thumbs up + medium skin tone: 4 units
GRIN = "\U0001f600"  # one astral code point: a surrogate pair, 2 units

# (case id, text, encoding, [(part text, units), ...])
GSM_CASES = [
    ("empty", "", "GSM-7", [("", 0)]),
    ("one char", "a", "GSM-7", [("a", 1)]),
    ("160 fits one part", "a" * 160, "GSM-7", [("a" * 160, 160)]),
    ("161 needs two", "a" * 161, "GSM-7", [("a" * 153, 153), ("a" * 8, 8)]),
    ("153x2 is two parts", "a" * 306, "GSM-7", [("a" * 153, 153), ("a" * 153, 153)]),
    ("153x2+1 is three", "a" * 307, "GSM-7", [("a" * 153, 153), ("a" * 153, 153), ("a", 1)]),
    ("extension costs 2", "€", "GSM-7", [("€", 2)]),
    ("80 euro = 160 septets", "€" * 80, "GSM-7", [("€" * 80, 160)]),
    ("81 euro split on pairs", "€" * 81, "GSM-7", [("€" * 76, 152), ("€" * 5, 10)]),
    ("escape at 153 moves on", "a" * 152 + "€" + "a" * 10, "GSM-7", [("a" * 152, 152), ("€" + "a" * 10, 12)]),
    ("escape ending 153", "a" * 151 + "€" + "a" * 10, "GSM-7", [("a" * 151 + "€", 153), ("a" * 10, 10)]),
    ("every extension char", "^{}\\[~]|€\x0c", "GSM-7", [("^{}\\[~]|€\x0c", 20)]),
    (
        "default alphabet",
        "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà",
        "GSM-7",
        [("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", 42)],
    ),
    ("CR LF counts 2", "a\r\nb", "GSM-7", [("a\r\nb", 4)]),
    ("CR LF kept whole", "a" * 152 + "\r\n" + "a" * 10, "GSM-7", [("a" * 152, 152), ("\r\n" + "a" * 10, 12)]),
    ("c cedilla is not GSM", "ç", "UCS-2", [("ç", 1)]),
    ("backtick is not GSM", "`", "UCS-2", [("`", 1)]),
    ("ESC is not a character", "\x1b", "UCS-2", [("\x1b", 1)]),
    ("70 UCS-2 fit one", "你" * 70, "UCS-2", [("你" * 70, 70)]),
    ("71 UCS-2 need two", "你" * 71, "UCS-2", [("你" * 67, 67), ("你" * 4, 4)]),
    ("one Chinese char forces UCS-2", "a" * 70 + "你", "UCS-2", [("a" * 67, 67), ("a" * 3 + "你", 4)]),
    ("67x2 UCS-2", "你" * 134, "UCS-2", [("你" * 67, 67), ("你" * 67, 67)]),
    ("67x2+1 UCS-2", "你" * 135, "UCS-2", [("你" * 67, 67), ("你" * 67, 67), ("你", 1)]),
    ("surrogate pair counts 2", GRIN, "UCS-2", [(GRIN, 2)]),
    ("35 emoji = 70 units", GRIN * 35, "UCS-2", [(GRIN * 35, 70)]),
    ("emoji at 67 moves on", "你" * 66 + GRIN + "你" * 10, "UCS-2", [("你" * 66, 66), (GRIN + "你" * 10, 12)]),
    ("emoji ending 67", "你" * 65 + GRIN + "你" * 10, "UCS-2", [("你" * 65 + GRIN, 67), ("你" * 10, 10)]),
    ("ZWJ family kept whole", "你" * 60 + FAMILY + "你" * 10, "UCS-2", [("你" * 60, 60), (FAMILY + "你" * 10, 18)]),
    ("skin tone kept whole", "你" * 64 + THUMBS + "你" * 10, "UCS-2", [("你" * 64, 64), (THUMBS + "你" * 10, 14)]),
    (
        "combining mark kept whole",
        "你" * 66 + "e\u0301" + "你" * 10,
        "UCS-2",
        [("你" * 66, 66), ("e\u0301" + "你" * 10, 12)],
    ),
    (
        "cluster longer than a part is cut",
        "e" + "\u0301" * 100,
        "UCS-2",
        [("e" + "\u0301" * 66, 67), ("\u0301" * 34, 34)],
    ),
]


@pytest.mark.parametrize(("text", "encoding", "parts"), [c[1:] for c in GSM_CASES], ids=[c[0] for c in GSM_CASES])
def test_gsm_mode(text, encoding, parts):
    result = segment_sms(text, "gsm")
    assert result.encoding == encoding
    assert [(p.text, p.units) for p in result.parts] == parts
    assert result.segments == len(parts)
    assert result.characters == len(text)
    assert result.text == text
    assert result.cost is None


def test_gsm_mode_ignores_signature():
    assert segment_sms("hello", "gsm", SIG).parts[0].text == "hello"


CN_CASES = [
    ("signature only", "", 1, [(SIG, 6)]),
    ("70 with signature", "a" * 64, 1, [(SIG + "a" * 64, 70)]),
    ("71 with signature", "a" * 65, 2, [(SIG + "a" * 61, 67), ("a" * 4, 4)]),
    ("emoji counts 1", GRIN, 1, [(SIG + GRIN, 7)]),
    ("Chinese, digits, spaces all 1", "验证码 123456", 1, [(SIG + "验证码 123456", 16)]),
    ("67x2", "字" * 128, 2, [(SIG + "字" * 61, 67), ("字" * 67, 67)]),
    ("67x2+1", "字" * 129, 3, [(SIG + "字" * 61, 67), ("字" * 67, 67), ("字", 1)]),
    ("500 is the maximum", "字" * 494, 8, None),
]


@pytest.mark.parametrize(("text", "segments", "parts"), [c[1:] for c in CN_CASES], ids=[c[0] for c in CN_CASES])
def test_cn_mode(text, segments, parts):
    result = segment_sms(text, "cn", SIG)
    assert result.segments == segments
    assert result.encoding == "UCS-2"
    assert result.characters == len(SIG) + len(text)
    assert result.text == SIG + text
    if parts is not None:
        assert [(p.text, p.units) for p in result.parts] == parts


def test_cn_mode_rejects_501_characters():
    with pytest.raises(SegmentationError, match="501"):
        segment_sms("字" * 495, "cn", SIG)


def test_cn_mode_without_signature_counts_text_only():
    result = segment_sms("hello", "cn")
    assert (result.encoding, result.characters, result.segments) == ("GSM-7", 5, 1)


def test_empty_text_contract():
    assert segment_sms("", "gsm").as_dict() == {
        "encoding": "GSM-7",
        "segments": 1,
        "parts": [{"text": "", "units": 0}],
        "characters": 0,
        "cost": None,
    }


def test_more_than_255_parts_is_an_error():
    segment_sms("a" * 153 * 255, "gsm")
    with pytest.raises(SegmentationError):
        segment_sms("a" * (153 * 255 + 1), "gsm")


def test_unknown_mode():
    with pytest.raises(ValueError):
        segment_sms("x", "latin")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("segments", "price", "cost"),
    [
        (1, None, None),
        (1, "0.05", "0.05"),
        (2, "0.05", "0.10"),
        (3, "0.045", "0.135"),
        (1, "0.1", "0.10"),
        (3, "1", "3.00"),
        (1, "0.04567", "0.0457"),
        (3, "0.03335", "0.1001"),
        (2, "0", "0.00"),
    ],
)
def test_cost(segments, price, cost):
    assert format_cost(segments, price) == cost


@pytest.mark.parametrize("price", ["abc", "-0.01", "NaN", "Infinity"])
def test_bad_price(price):
    with pytest.raises(ValueError):
        format_cost(1, price)


def test_cost_uses_segments():
    assert segment_sms("a" * 161, "gsm", price="0.05").cost == "0.10"


# Texts mixing everything that matters: GSM basics, extension chars, CJK, astral emoji,
# ZWJ, skin tones, combining marks and CR LF.
_ALPHABET = st.sampled_from(
    ["a", "Z", "0", " ", "€", "^", "{", "\r\n", "\n", "é", "你", GRIN, FAMILY, THUMBS, "e\u0301", "ç"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=400).map("".join), st.sampled_from(["gsm", "cn"]))
def test_invariants(text, mode):
    try:
        result = segment_sms(text, mode, SIG if mode == "cn" else None)
    except SegmentationError:
        assert mode == "cn" and len(SIG + text) > 500
        return
    assert isinstance(result, Segmentation)
    full = SIG + text if mode == "cn" else text
    assert result.text == full
    assert result.segments == len(result.parts)
    if mode == "cn":
        unit = lambda ch: 1  # noqa: E731
        single, per_part = 70, 67
    elif result.encoding == "GSM-7":
        unit, single, per_part = gsm7_septets, 160, 153
    else:
        unit, single, per_part = utf16_units, 70, 67
    for part in result.parts:
        assert part.units == sum(unit(ch) for ch in part.text)
    limit = single if result.segments == 1 else per_part
    assert all(p.units <= limit for p in result.parts)
    # No part starts inside a cluster that would have fitted whole (clusters here are ≤ 8 units).
    for before, part in zip(result.parts, result.parts[1:]):
        assert not part.text.startswith(("\u200d", "\u0301", "\U0001f3fd"))
        assert not (before.text.endswith("\r") and part.text.startswith("\n"))
