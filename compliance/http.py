"""HTTP handlers: the tenant's word lists (/v1/compliance/…) and the review queue (/v1/reviews)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.pagination import page_limit
from api.problems import FieldError, Problem
from api.query import query_choice
from api.responses import json_response
from compliance import openapi as _openapi  # noqa: F401  (registers the API description)
from compliance.lists import FORMATS, Entry, WordLists, json_lines
from compliance.matcher import ALLOW, WORD, worst
from compliance.reviews import ReviewQueue
from compliance.rules import template_errors
from compliance.screen import Screen
from compliance.signatures import SignatureReview
from compliance.texts import document_texts, literal_texts, variable_texts

WORD_LISTS = web.AppKey("word_lists", WordLists)
SCREEN = web.AppKey("screen", Screen)
REVIEWS = web.AppKey("reviews", ReviewQueue)
SIGNATURES = web.AppKey("signatures", SignatureReview)
MAX_PAGE = 1000
MAX_WORDS = 10_000
_CONTENT_TYPES = {
    "text/plain": "text",
    "text/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/json": "json",
}
_EXPORT_TYPES = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "text": "text/plain",
}

routes = web.RouteTableDef()


# -- categories and words ----------------------------------------------------------------
@routes.get("/v1/compliance/categories")
async def list_categories(request: web.Request) -> web.Response:
    return json_response({"data": await request.app[WORD_LISTS].categories(request[TENANT_ID])})


@routes.put("/v1/compliance/categories/{name}")
async def put_category(request: web.Request) -> web.Response:
    lists, tenant = request.app[WORD_LISTS], request[TENANT_ID]
    return json_response(await lists.put_category(tenant, request.match_info["name"], await read_json(request)))


@routes.delete("/v1/compliance/categories/{name}")
async def delete_category(request: web.Request) -> web.Response:
    await request.app[WORD_LISTS].delete_category(request[TENANT_ID], request.match_info["name"])
    return web.Response(status=204)


@routes.get("/v1/compliance/words")
async def list_words(request: web.Request) -> web.Response:
    q = request.query
    kind = q.get("kind")
    if kind is not None and kind not in (WORD, ALLOW):
        raise Problem(422, "kind is word or allow", [FieldError("/kind", "word or allow")])
    items, cursor = await request.app[WORD_LISTS].list_words(
        request[TENANT_ID],
        category=q.get("category"),
        kind=kind,
        cursor=q.get("cursor"),
        limit=page_limit(q, default=100, maximum=MAX_PAGE),
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.post("/v1/compliance/words")
async def add_words(request: web.Request) -> web.Response:
    """`{"words": [...], "category": …}` adds words; `{"allow": [...]}` whitelists phrases."""
    body = await read_json(request)
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("words", "category", "allow")]
    entries: list[Entry] = []
    for key, kind in (("words", WORD), ("allow", ALLOW)):
        items = body.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not 0 < len(items) <= MAX_WORDS:
            errors.append(FieldError(f"/{key}", f"a list of 1 to {MAX_WORDS} strings"))
            continue
        entries += [Entry(t, kind, body.get("category")) for t in items]
    if "words" in body and not isinstance(body.get("category"), str):
        errors.append(FieldError("/category", "required with words: the category they belong to"))
    if not entries and not errors:
        errors.append(FieldError("/words", "give words (with a category) or allow"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    words = [e for e in entries if e.kind == WORD]
    allowed = [e for e in entries if e.kind == ALLOW]
    lists, tenant = request.app[WORD_LISTS], request[TENANT_ID]
    added = 0
    if words:
        added += (await lists.add(tenant, words, where="/words"))["added"]
    if allowed:
        added += (await lists.add(tenant, allowed, where="/allow"))["added"]
    return json_response({"added": added}, status=201)


@routes.post("/v1/compliance/words/remove")
async def remove_words(request: web.Request) -> web.Response:
    body = await read_json(request)
    terms, kind = body.get("words"), body.get("kind", WORD)
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("words", "kind")]
    if not isinstance(terms, list) or not 0 < len(terms) <= MAX_WORDS or not all(isinstance(t, str) for t in terms):
        errors.append(FieldError("/words", f"a list of 1 to {MAX_WORDS} strings"))
    if kind not in (WORD, ALLOW):
        errors.append(FieldError("/kind", "word or allow"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    return json_response(await request.app[WORD_LISTS].remove(request[TENANT_ID], terms, kind))


@routes.post("/v1/compliance/words/import")
async def import_words(request: web.Request) -> web.Response:
    """A word file in the body, read line by line: text (one word a line), CSV
    (term,category,kind), ndjson, or a JSON array; `category` and `kind` in the query apply to
    lines that name none."""
    fmt = _CONTENT_TYPES.get(request.content_type)
    if fmt is None:
        raise Problem(415, f"Content-Type must be one of {', '.join(_CONTENT_TYPES)}")
    kind = query_choice(request.query, "kind", (WORD, ALLOW), WORD) or WORD
    lines: AsyncIterator[str]
    if fmt == "json":
        raw = await request.read()
        lines = _iterate(json_lines(raw))
        fmt = "ndjson"
    else:
        lines = _body_lines(request)
    result = await request.app[WORD_LISTS].import_lines(
        request[TENANT_ID], lines, fmt=fmt, category=request.query.get("category"), kind=kind
    )
    return json_response(result, status=201)


async def _iterate(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def _body_lines(request: web.Request) -> AsyncIterator[str]:
    first = True
    while line := await request.content.readline():
        text = line.decode("utf-8-sig" if first else "utf-8", errors="strict")
        first = False
        yield text


@routes.get("/v1/compliance/words/export")
async def export_words(request: web.Request) -> web.StreamResponse:
    fmt = request.query.get("format", "ndjson")
    if fmt not in FORMATS:
        raise Problem(422, f"format is one of {', '.join(FORMATS)}", [FieldError("/format", "unknown format")])
    response = web.StreamResponse(headers={"Content-Type": f"{_EXPORT_TYPES[fmt]}; charset=utf-8"})
    await response.prepare(request)
    async for chunk in request.app[WORD_LISTS].export(request[TENANT_ID], fmt):
        await response.write(chunk)
    await response.write_eof()
    return response


@routes.post("/v1/compliance/check")
async def check(request: web.Request) -> web.Response:
    """What screening would find in a card or a text (and its variables): each match with its
    word, category, action and field; with `"template": true` also the template rules."""
    body = await read_json(request)
    allowed = {"card", "text", "variables", "sample", "traffic_type", "template"}
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in allowed]
    card, text = body.get("card"), body.get("text")
    if (card is None) == (text is None):
        errors.append(FieldError("/card", "give exactly one of `card` or `text`"))
    elif card is not None and not isinstance(card, dict):
        errors.append(FieldError("/card", "must be a bot-message JSON object"))
    elif text is not None and not isinstance(text, str):
        errors.append(FieldError("/text", "must be a string"))
    for key in ("variables", "sample"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            errors.append(FieldError(f"/{key}", "must be an object"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    doc = card if card is not None else {"message": {"text": text}}
    base = "/card" if card is not None else ""
    matcher = await request.app[SCREEN].matcher(request[TENANT_ID])
    fields = literal_texts(document_texts(doc, base))
    if text is not None:
        fields = [("/text", t) for _, t in fields]
    fields += variable_texts(body.get("variables"), "/variables") + variable_texts(body.get("sample"), "/sample")
    matches = matcher.scan(fields)
    out: dict = {
        "outcome": worst(matches) or "pass",
        "matches": [m.as_dict(with_term=True) for m in matches],
    }
    if body.get("template") is True:
        rules = template_errors(doc, body.get("sample"), body.get("traffic_type", "notification"))
        out["template_rules"] = [e.as_dict() for e in rules]
        if rules and out["outcome"] == "pass":
            out["outcome"] = "block"
    return json_response(out)


@routes.get("/v1/compliance/policy")
async def get_policy(request: web.Request) -> web.Response:
    return json_response(await request.app[WORD_LISTS].policy(request[TENANT_ID]))


@routes.put("/v1/compliance/policy")
async def put_policy(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await request.app[WORD_LISTS].set_policy(request[TENANT_ID], body))


@routes.post("/v1/compliance/signature")
async def request_signature(request: web.Request) -> web.Response:
    """Ask for a new SMS signature: it waits in the review queue until approved."""
    item = await request.app[SIGNATURES].request(request[TENANT_ID], await read_json(request))
    return json_response(item, status=202)


# -- the review queue --------------------------------------------------------------------
@routes.get("/v1/reviews")
async def list_reviews(request: web.Request) -> web.Response:
    q = request.query
    items, cursor = await request.app[REVIEWS].page(
        request[TENANT_ID],
        kind=q.get("kind"),
        state=q.get("state"),
        cursor=q.get("cursor"),
        limit=page_limit(q, default=50, maximum=200),
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.get("/v1/reviews/{id}")
async def get_review(request: web.Request) -> web.Response:
    return json_response(await request.app[REVIEWS].get(request[TENANT_ID], request.match_info["id"]))


async def _decide(request: web.Request, approved: bool) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    extra = [FieldError(f"/{k}", "unknown field") for k in body if k != "reason"]
    if extra:
        raise Problem(422, f"{len(extra)} field(s) are invalid", extra)
    decided = await request.app[REVIEWS].decide(
        request[TENANT_ID], request.match_info["id"], approved=approved, reason=body.get("reason")
    )
    return json_response(decided)


@routes.post("/v1/reviews/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    return await _decide(request, True)


@routes.post("/v1/reviews/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    return await _decide(request, False)
