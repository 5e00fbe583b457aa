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

    def __init__(self, templates=None) -> None:
        # Tenant templates (cards.store.TemplateStore); the built-in library is the fallback.
        self.templates = templates
        self._compiled: OrderedDict[bytes, cards.CompiledCard | list[FieldError]] = OrderedDict()

    async def resolve(self, req: SendRequest, tenant_id: str) -> tuple[dict | None, str, list[FieldError]]:
        """(card, base JSON Pointer for its errors, errors) for the request's card or template.

        A template reference is pinned to the version found now (recorded in req.template), so
        the dispatcher composes exactly what was checked, whatever versions come later.
        """
        if req.card is not None:
            return req.card, "/card", []
        assert req.template is not None  # a request names a card or a template
        name, version = req.template["name"], req.template.get("version")
        if self.templates is not None:
            found = await self.templates.resolve(tenant_id, name, version)
            if found is not None:
                req.template = {"name": name, "version": found.version, "id": found.template_id}
                return found.card, "/template", []
        template = cards.load_library().get(name)
        if template is None:
            return None, "/template", [FieldError("/template/name", f"no template named {name!r}")]
        if version not in (None, 1):
            return None, "/template", [FieldError("/template/version", f"template {name!r} has only version 1")]
        req.template = {"name": name, "version": 1, "library": True}
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
        card, base, errors = await self.resolve(req, tenant_id)
        if errors:
            return errors
        req.resolved_card = card
        if card is None:
            return errors
        compiled = self.compiled(card)
        if isinstance(compiled, list):
            return [FieldError(req.request_pointer(e.path) if base == "/card" else base, e.message) for e in compiled]
        if compiled.is_static:
            # No variables: the card itself is what every recipient gets.
            try:
                compiled.compose({})
            except cards.CardInvalid as exc:
                return [
                    FieldError(req.request_pointer(e.path) if base == "/card" else base, e.message) for e in exc.errors
                ]
            return []
        out: list[FieldError] = []
        for i, r in enumerate(req.recipients):
            where = "/variables" if not req.batch else pointer("recipients", i, "variables")
            try:
                compiled.compose(r.variables or {})
            except cards.MissingVariable as exc:
                used = req.request_pointer(exc.path) if base == "/card" else base + exc.path
                out.append(FieldError(where, f"missing variable {exc.name!r} (used at {used})"))
            except cards.CardInvalid as exc:
                out.extend(
                    FieldError(
                        where,
                        f"with these variables {req.request_pointer(e.path) if base == '/card' else base + e.path}: {e.message}",
                    )
                    for e in exc.errors
                )
            if len(out) >= 100:
                break
        return out
