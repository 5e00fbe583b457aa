"""Matching every word of a list against a document's texts in one Aho-Corasick pass.

The automaton holds the normalised words and the whitelist's allowed phrases together. A
document's texts are normalised one by one, joined with NUL (never part of a normalised word, so
no match straddles two fields) and scanned once; a word found inside an allowed phrase found in
the same pass is dropped (a tenant's allowed phrases cover only the tenant's own words; the
platform's cover every word).

pyahocorasick looks a letter up among a node's children one by one, and a list of 100k Chinese
words gives the root thousands of children. So keys and texts are fed to it as UTF-16 code-unit
bytes (each character two letters of at most 256 values): the fan-out of any node stays ≤ 256,
and a match is kept only when it starts on a character boundary (an even offset).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick

from compliance.normalise import is_latin, kept_positions, latin_bounded, normalise

WORD, ALLOW = "word", "allow"
BLOCK, REVIEW = "block", "review"
ACTIONS = (BLOCK, REVIEW)
PLATFORM = "platform"


@dataclass(frozen=True)
class Rule:
    """One listed word (kind `word`, with its category's action) or allowed phrase (`allow`)."""

    id: str
    term: str
    norm: str
    kind: str
    scope: str  # PLATFORM or a tenant id
    category: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class Match:
    """A word found in one field of a document (`path` is a JSON Pointer to the field)."""

    path: str
    rule: Rule

    def as_dict(self, *, with_term: bool) -> dict:
        out = {
            "path": self.path,
            "rule": self.rule.id,
            "category": self.rule.category,
            "action": self.rule.action,
            "scope": "platform" if self.rule.scope == PLATFORM else "tenant",
        }
        if with_term:
            out["term"] = self.rule.term
        return out


def _units(text: str) -> str:
    """The text as UTF-16 code-unit bytes, one letter per byte."""
    return text.encode("utf-16-be").decode("latin-1")


@dataclass(frozen=True)
class _Group:
    """Every rule whose normal form is one key of the automaton."""

    length: int  # in characters of the normal form
    rules: tuple[Rule, ...]
    latin_start: bool
    latin_end: bool


class Matcher:
    """An automaton over a set of rules; immutable once built (build it off the event loop)."""

    def __init__(self, rules: Iterable[Rule], version: object = None):
        self.version = version
        by_norm: dict[str, list[Rule]] = {}
        for rule in rules:
            if rule.norm:
                by_norm.setdefault(rule.norm, []).append(rule)
        self._groups: list[_Group] = []
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for norm, group in by_norm.items():
            self._automaton.add_word(_units(norm), len(self._groups))
            self._groups.append(_Group(len(norm), tuple(group), is_latin(norm[0]), is_latin(norm[-1])))
        self.size = sum(len(g.rules) for g in self._groups)
        if self._groups:
            self._automaton.make_automaton()

    def scan(self, fields: Sequence[tuple[str, str]]) -> list[Match]:
        """Every listed word in `fields` ((JSON Pointer, text) pairs) not covered by an allowed
        phrase, in field order."""
        if not self._groups or not fields:
            return []
        return [Match(fields[i][0], rule) for i, rule in self.find([text for _, text in fields])]

    def find(self, texts: Sequence[str]) -> list[tuple[int, Rule]]:
        """`scan` without paths: (index of the text, rule) for every listed word found, in text
        order. Each distinct text is scanned once (a batch repeats amounts, dates, names)."""
        if not self._groups or not texts:
            return []
        distinct: dict[str, int] = {}
        for text in texts:
            distinct.setdefault(text, len(distinct))
        if len(distinct) == len(texts):
            return self._find(texts)
        unique = list(distinct)
        rules: list[list[Rule]] = [[] for _ in unique]
        for i, rule in self._find(unique):
            rules[i].append(rule)
        return [(i, rule) for i, text in enumerate(texts) for rule in rules[distinct[text]]]

    def _find(self, texts: Sequence[str]) -> list[tuple[int, Rule]]:
        norms = [normalise(text) for text in texts]
        starts, offset = [], 0
        for n in norms:
            starts.append(offset)
            offset += len(n) + 1
        joined = "\x00".join(norms)
        words: list[tuple[int, int, int, _Group]] = []  # field, start, end (in the field), group
        allowed: list[tuple[int, int, int, _Group]] = []
        for end_unit, gid in self._automaton.iter(_units(joined)):
            group = self._groups[gid]
            start_unit = end_unit + 1 - 2 * group.length
            if start_unit % 2:
                continue  # a key's bytes found astride two characters
            start = start_unit // 2
            field = bisect.bisect_right(starts, start) - 1
            s = start - starts[field]
            hit = (field, s, s + group.length, group)
            if any(r.kind == ALLOW for r in group.rules):
                allowed.append(hit)
            if any(r.kind == WORD for r in group.rules):
                words.append(hit)
        out: list[tuple[int, Rule]] = []
        positions: dict[int, list[int]] = {}
        for field, s, e, group in words:
            if (group.latin_start or group.latin_end) and not self._bounded(
                texts[field], s, e, group, positions, field
            ):
                continue
            covering = [a for a in allowed if a[0] == field and a[1] <= s and e <= a[2] and (a[1], a[2]) != (s, e)]
            for rule in group.rules:
                if rule.kind != WORD:
                    continue
                if any(r.kind == ALLOW and r.scope in (PLATFORM, rule.scope) for a in covering for r in a[3].rules):
                    continue
                if _same_norm_allowed(group, rule):
                    continue
                out.append((field, rule))
        return out

    @staticmethod
    def _bounded(text: str, s: int, e: int, group: _Group, cache: dict[int, list[int]], field: int) -> bool:
        if field not in cache:
            cache[field] = kept_positions(text)
        return latin_bounded(text, s, e, cache[field], head=group.latin_start, tail=group.latin_end)


def _same_norm_allowed(group: _Group, rule: Rule) -> bool:
    """An allowed phrase identical to the word allows it (a tenant's only its own words)."""
    return any(r.kind == ALLOW and r.scope in (PLATFORM, rule.scope) for r in group.rules)


def worst(matches: Iterable[Match]) -> str | None:
    """The outcome of a set of matches: `block` beats `review`; None when there are none."""
    actions = {m.rule.action for m in matches}
    return BLOCK if BLOCK in actions else REVIEW if REVIEW in actions else None
