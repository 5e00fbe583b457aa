"""Validating and test-composing a send request's card through cards/ before accepting it.

Every recipient's variables are composed once at accept time so a missing variable, or a
variable that pushes a field over its limit, is a 422 naming the recipient — not a failure
discovered by the dispatcher later. Templates are counted before they run (cards.sandbox): one
that could do too much is a 422 naming the field. Compiling a new card, and composing when the
recipients' cards together are heavy, happen in the compose pool, off the event loop.
"""

from __future__ import annotations

from collections import OrderedDict

import orjson

import cards
from api.problems import FieldError, Problem, pointer
from cards.compose import INLINE_STEPS, message_errors, off_loop
from cards.store.service import resolve_template
from messages.request import SendRequest

_COMPILED_CACHE = 256
MAX_ERRORS = 100


class CardChecker:
    """Resolves `template` references and checks cards; compiled cards are cached by content."""

    def __init__(self, templates=None) -> None:
        # Tenant templates (cards.store.TemplateStore); the built-in library is the fallback.
        self.templates = templates
        self._compiled: OrderedDict[bytes, cards.CompiledCard | list[FieldError]] = OrderedDict()

    async def resolve(self, req: SendRequest, tenant_id: str) -> tuple[dict | None, str, list[FieldError]]:
        """(card, base JSON Pointer for its errors, errors) for the request's card or template.

        A template reference is pinned to the version found now (recorded in req.template), so
        the dispatcher composes exactly what was checked, whatever versions come later. The
        tenant's own template of that name comes first, then the library's (resolve_template).
        """
        if req.card is not None:
            return req.card, "/card", []
        assert req.template is not None  # a request names a card or a template
        try:
            found = await resolve_template(self.templates, tenant_id, req.template["name"], req.template.get("version"))
        except Problem as exc:
            if exc.status != 422:
                raise
            return None, "/template", list(exc.errors)
        req.template = found.ref
        return found.card, "/template", []

    async def compiled(self, card: dict) -> cards.CompiledCard | list[FieldError]:
        """The card compiled (cached by content), or the errors that stop it."""
        try:
            key = orjson.dumps(card, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError as exc:  # nested deeper than JSON interchange allows
            return [FieldError("", f"not a card JSON can carry: {exc}")]
        hit = self._compiled.get(key)
        if hit is not None:
            self._compiled.move_to_end(key)
            return hit
        result = await off_loop(_compile, card)
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

        def where(path: str) -> str:
            return req.request_pointer(path) if base == "/card" else base + path

        compiled = await self.compiled(card)
        if isinstance(compiled, list):
            return [e.at(where(e.path) if base == "/card" else base) for e in compiled]
        missing_message = message_errors(card)
        if missing_message:
            return [e.at(where(e.path)) for e in missing_message]
        if compiled.is_static:
            # No variables: the card itself is what every recipient gets.
            try:
                compiled.compose({})
            except cards.CardInvalid as exc:
                return [e.at(where(e.path) if base == "/card" else base) for e in exc.errors]
            return []
        if compiled.steps * len(req.recipients) > INLINE_STEPS:
            return await off_loop(_compose_each, compiled, req, where)
        return _compose_each(compiled, req, where)


def _compile(card: dict) -> cards.CompiledCard | list[FieldError]:
    try:
        return cards.compile_template(card)
    except cards.CardInvalid as exc:
        return list(exc.errors)


def _compose_each(compiled: cards.CompiledCard, req: SendRequest, where) -> list[FieldError]:
    """Compose every recipient's card once; the errors, each naming its recipient."""
    out: list[FieldError] = []
    for i, r in enumerate(req.recipients):
        try:
            compiled.compose(r.variables or {})
        except cards.MissingVariable as exc:
            at = "/variables" if not req.batch else pointer("recipients", i, "variables")
            out.append(FieldError(at, f"missing variable {exc.name!r} (used at {where(exc.path)})"))
        except cards.CardInvalid as exc:
            at = "/variables" if not req.batch else pointer("recipients", i, "variables")
            out.extend(FieldError(at, f"with these variables {where(e.path)}: {e.message}") for e in exc.errors)
            if exc.refused:  # the template is refused for everyone: no need to run it again
                break
        if len(out) >= MAX_ERRORS:
            break
    return out
