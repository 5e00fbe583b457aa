"""Screening content against the word lists: a document's own text once (cached per matcher
and document), then each recipient's variable values on their own — a batch's card is never
composed once more per recipient just to be screened."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from api.problems import FieldError, Problem, pointer, problem_type
from compliance.lists import WordLists
from compliance.matcher import BLOCK, REVIEW, Match, Matcher
from compliance.texts import document_texts, literal_texts, variable_values

CACHE = 512
COMPLIANCE_PROBLEM = problem_type("compliance")


@dataclass
class Verdict:
    """What screening found: `matches` with JSON Pointers into the request, and which
    recipients (by position) a review match concerns — None when the content itself did."""

    matches: list[Match] = field(default_factory=list)
    review_recipients: set[int] | None = field(default_factory=set)

    @property
    def blocked(self) -> list[Match]:
        return [m for m in self.matches if m.rule.action == BLOCK]

    @property
    def review(self) -> list[Match]:
        return [m for m in self.matches if m.rule.action == REVIEW]

    def refuse(self) -> None:
        """Raise the 422 for blocked matches (naming rule, category and field, never the word)."""
        blocked = self.blocked
        if not blocked:
            return
        by_path: dict[str, list[Match]] = {}
        for m in blocked:
            by_path.setdefault(m.path, []).append(m)
        raise Problem(
            422,
            f"{len(by_path)} text(s) contain words this platform or brand does not allow",
            [
                FieldError(
                    path,
                    "; ".join(
                        f"compliance rule {m.rule.id}: a word of category `{m.rule.category}` "
                        f"({'platform' if m.rule.scope == 'platform' else 'brand'} list) is not allowed"
                        for m in found
                    ),
                    code="blocked_word",
                    params={"categories": sorted({m.rule.category for m in found})},
                )
                for path, found in list(by_path.items())[:100]
            ],
            type=COMPLIANCE_PROBLEM,
            extra={"violations": [m.as_dict(with_term=False) for m in blocked[:100]]},
        )


class Screen:
    """Screens documents and variables with each tenant's matcher."""

    def __init__(self, lists: WordLists):
        self.lists = lists
        self._own: OrderedDict[tuple, list[Match]] = OrderedDict()

    async def matcher(self, tenant_id: str) -> Matcher:
        return await self.lists.matcher(tenant_id)

    def own_text(self, matcher: Matcher, doc: dict) -> list[Match]:
        """Matches in a document's own text (a template's literal pieces), paths into the document."""
        key = (matcher.version, orjson.dumps(doc))
        hit = self._own.get(key)
        if hit is not None:
            self._own.move_to_end(key)
            return hit
        found = matcher.scan(literal_texts(document_texts(doc)))
        self._own[key] = found
        if len(self._own) > CACHE:
            self._own.popitem(last=False)
        return found

    async def send(
        self,
        tenant_id: str,
        doc: dict | None,
        place: Callable[[str], str],
        recipients: Sequence[dict | None],
        recipient_place: Callable[[int], str],
        *,
        reviewed: bool = False,
    ) -> Verdict:
        """Screen a send: the document (`place` turns a JSON Pointer into it into one into the
        request) and each recipient's variables, in recipient order (`recipient_place(i)`: the
        JSON Pointer of recipient i's variables in the request, asked only for a match).
        A `reviewed` document (an approved template version) is not held again for its own
        text; its `block` words still refuse it."""
        matcher = await self.matcher(tenant_id)
        verdict = Verdict()
        if not matcher.size:
            return verdict
        if doc is not None:
            own = self.own_text(matcher, doc)
            if reviewed:
                own = [m for m in own if m.rule.action != REVIEW]
            verdict.matches.extend(Match(place(m.path), m.rule) for m in own)
            if any(m.rule.action == REVIEW for m in own):
                verdict.review_recipients = None
        # Every recipient's variables in one pass (a batch's thousand scans cost more than the
        # matching); each match goes back to its recipient, and only then gets its pointer.
        texts: list[str] = []
        owners: list[tuple[int, tuple[str | int, ...]]] = []
        for i, variables in enumerate(recipients):
            for parts, text in variable_values(variables):
                texts.append(text)
                owners.append((i, parts))
        for n, rule in matcher.find(texts):
            i, parts = owners[n]
            verdict.matches.append(Match(recipient_place(i) + pointer(*parts), rule))
            if rule.action == REVIEW and verdict.review_recipients is not None:
                verdict.review_recipients.add(i)
        return verdict

    async def texts(self, tenant_id: str, fields: list[tuple[str, str]]) -> Verdict:
        """Screen plain (JSON Pointer, text) pairs: a signature, a template's sample…"""
        matcher = await self.matcher(tenant_id)
        return Verdict(matcher.scan(fields), None)
