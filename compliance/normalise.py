"""The one normal form that words and texts are matched in.

NFKC folds full-width letters and digits to half-width (and compatibility forms such as
circled or styled letters to plain ones), casefold folds case, and everything that is not a
letter or a digit is dropped: spaces, zero-width and other format characters, punctuation,
symbols and combining marks. So "加 微*信", "加\u200b微信" and "ＶＸ" are "加微信" and "vx"
by the time they are matched. There is no pinyin folding: a word written in pinyin is a word
of its own in the list.
"""

from __future__ import annotations

import re
import unicodedata

# Not a letter or digit (Python's \w is str.isalnum() plus "_"): every separator trick at once.
_SEPARATORS = re.compile(r"[\W_]+")
# A Latin word only matches where it starts and ends a word of the text ("sex" is not a word of
# "is exactly"); CJK has no word boundaries, so its words match anywhere.
_LATIN = re.compile(r"[a-z0-9]")


def soft(text: str) -> str:
    """NFKC and casefold only (separators kept): where word boundaries are judged."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def normalise(text: str) -> str:
    """The matching form of a word or a text: NFKC, casefolded, letters and digits only."""
    return _SEPARATORS.sub("", soft(text))


def is_latin(char: str) -> bool:
    """Whether a normalised character is an ASCII letter or digit (a word-boundary character)."""
    return _LATIN.match(char) is not None


def kept_positions(text: str) -> list[int]:
    """For each character of `normalise(text)`, its index in `soft(text)` (boundaries are looked
    up only when a Latin word matched, so this runs rarely)."""
    return [m.start() for m in re.finditer(r"[^\W_]", soft(text))]


def latin_bounded(
    text: str, start: int, end: int, positions: list[int] | None = None, *, head: bool = True, tail: bool = True
) -> bool:
    """Whether `normalise(text)[start:end]` begins (`head`) and ends (`tail`) on word boundaries
    of the soft text, i.e. no Latin letter or digit touches it there."""
    s = soft(text)
    pos = positions if positions is not None else kept_positions(text)
    if len(pos) < end:  # normal forms disagree (combining sequences): count it as a match
        return True
    before = pos[start] - 1
    after = pos[end - 1] + 1
    return (not head or before < 0 or not is_latin(s[before])) and (
        not tail or after >= len(s) or not is_latin(s[after])
    )
