"""Validating and test-composing a send request's card through cards/ before accepting it.

Every recipient's variables are composed once at accept time so a missing variable, or a
variable that pushes a field over its limit, is a 422 naming the recipient — not a failure
discovered by the dispatcher later.
"""
from __future__ import annotations

from collections import OrderedDict

import orjson

import cards
from api.problems import FieldError, pointer
from messages.request import SendRequest

_COMPILED_CACHE = 256


class CardChecker:
    """Resolves `template` references and checks cards; compiled cards are cached by content."""

    def __init__(self) -> None:
        self._compiled: OrderedDict[bytes, cards.CompiledCard | list[FieldError]] = OrderedDict()

    def resolve(self, req: SendRequest) -> tuple[dict | None, str, list[FieldError]]:
        """(card, base JSON Pointer for its errors, errors) for the request's card or template."""
        if req.card is not None:
            return req.card, "/card", []
        name = req.template["name"]
        template = cards.load_library().get(name)
        if template is None:
            return None, "/template", [FieldError("/template/name", f"no template named {name!r}")]
        if req.template.get("version", 1) != 1:
            return None, "/template", [FieldError("/template/version", f"template {name!r} has only version 1")]
        return template.card, "/template", []

    def compiled(self, card: dict) -> cards.CompiledCard | list[FieldError]:
        key = orjson.dumps(card, option=orjson.OPT_SORT_KEYS)
        hit = self._compiled.get(key)
        if hit is not None:
            self._compiled.move_to_end(key)
            return hit
        try:
            result: cards.CompiledCard | list[FieldError] = cards.compile_template(card)
        except cards.CardInvalid as exc:
            result = list(exc.errors)
        self._compiled[key] = result
        if len(self._compiled) > _COMPILED_CACHE:
            self._compiled.popitem(last=False)
        return result

    async def __call__(self, req: SendRequest, tenant_id: str) -> list[FieldError]:
        card, base, errors = self.resolve(req)
        if errors:
            return errors
        compiled = self.compiled(card)
        if isinstance(compiled, list):
            return [FieldError(base + e.path if base == "/card" else base, e.message) for e in compiled]
        if compiled.is_static:
            # No variables: the card itself is what every recipient gets.
            try:
                compiled.compose({})
            except cards.CardInvalid as exc:
                return [FieldError(base + e.path if base == "/card" else base, e.message) for e in exc.errors]
            return []
        out: list[FieldError] = []
        for i, r in enumerate(req.recipients):
            where = "/variables" if not req.batch else pointer("recipients", i, "variables")
            try:
                compiled.compose(r.variables or {})
            except cards.MissingVariable as exc:
                out.append(FieldError(where, f"missing variable {exc.name!r} (used at {base}{exc.path})"))
            except cards.CardInvalid as exc:
                out.extend(FieldError(where, f"with these variables {base}{e.path}: {e.message}") for e in exc.errors)
            if len(out) >= 100:
                break
        return out

