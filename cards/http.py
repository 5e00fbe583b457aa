"""HTTP handlers for cards (authentication is the server middleware's job).

POST /v1/cards/validate — `{"card", "profile"?}` → 200 with warnings, or 422 listing all errors
POST /v1/cards/render?format=gsma|html|png|text — `{"card"|"template", "variables"?, "profile"?,
     "locale"?}` (locale zh-CN|en for a card's money/date filters; templates carry their own).
     A template name means what it means in a send: the tenant's own template first, then the
     library's (cards.store.service.resolve_template).
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

import orjson
from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.problems import FieldError, Problem, pointer
from api.query import query_choice
from cards import openapi as _openapi  # noqa: F401  (registers the API description)
from cards.compose import CardInvalid, CompiledCard, MissingVariable, compile_template, message_errors, off_loop
from cards.formats import DEFAULT_LOCALE
from cards.html import render_html
from cards.library import load_library
from cards.limits import DEFAULT_PROFILE, PROFILES
from cards.media.http import media_for_url
from cards.model import BOTMESSAGE_CONTENT_TYPE
from cards.png import render_png_cached
from cards.render import render_gsma, render_text
from cards.store.http import TEMPLATES
from cards.store.service import MAX_VERSION, resolve_template
from cards.validate import validate_card

routes = web.RouteTableDef()

FORMATS = ("gsma", "html", "png", "text")
LOCALES = ("zh-CN", "en")  # the locales money/date filters are written for


def _profile(body: dict) -> str:
    profile = body.get("profile", DEFAULT_PROFILE)
    if not isinstance(profile, str) or profile not in PROFILES:
        raise Problem(
            422, "unknown profile", [FieldError("/profile", f"{profile!r} is not one of " + ", ".join(PROFILES))]
        )
    return profile


@routes.post("/v1/cards/validate")
async def validate(request: web.Request) -> web.Response:
    """Validate a card; paths in the answer point into the card itself."""
    body = await read_json(request)
    profile = _profile(body)
    if "card" not in body:
        raise Problem(422, "a card is required", [FieldError("/card", "required")])
    card = body["card"]
    report = validate_card(card, profile)
    warnings = [w.as_dict() for w in report.warnings]
    # A card is what a send carries: a chip list or a menu alone is refused here as by a send.
    errors = [*message_errors(card, sending=False), *report.errors]
    if errors:
        raise Problem(
            422,
            f"the card breaks {len(errors)} rule(s) of the {profile} profile",
            errors,
            extra={"warnings": warnings, "profile": profile},
        )
    return web.Response(
        body=orjson.dumps({"valid": True, "card": card, "warnings": warnings, "profile": profile}),
        content_type="application/json",
    )


@routes.post("/v1/cards/render")
async def render(request: web.Request) -> web.Response:
    """Render a card (or a library template) with variables as GSMA JSON, HTML, PNG or text."""
    fmt = query_choice(request.query, "format", FORMATS, "gsma")
    body = await read_json(request)
    profile = _profile(body)
    card = await _composed(request, body, profile)
    try:
        if fmt == "gsma":
            return web.Response(body=render_gsma(card, profile), content_type=BOTMESSAGE_CONTENT_TYPE)
        if fmt == "text":
            return web.Response(text=render_text(card), content_type="text/plain", charset="utf-8")
        if fmt == "html":
            return web.Response(text=render_html(card), content_type="text/html", charset="utf-8")
        images = await _hosted_images(request.app, card)
        png = await asyncio.get_running_loop().run_in_executor(None, render_png_cached, card, images)
        return web.Response(body=png, content_type="image/png")
    except CardInvalid as exc:
        raise Problem(422, "the card is not valid", exc.errors) from None


async def _hosted_images(app: web.Application, card: dict) -> dict[str, bytes]:
    """The card's media that we host ourselves (uploaded through /v1/media), by URL."""
    images = {}
    for url in set(_media_urls(card)):
        data = await media_for_url(app, url)
        if data is not None:
            images[url] = data
    return images


def _media_urls(node):
    if isinstance(node, dict):
        url = node.get("mediaUrl")
        if isinstance(url, str):
            yield url
        for value in node.values():
            yield from _media_urls(value)
    elif isinstance(node, list):
        for value in node:
            yield from _media_urls(value)


async def _composed(request: web.Request, body: dict, profile: str) -> dict:
    """The card to render: the given card or template, with variables applied."""
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise Problem(422, "variables must be an object", [FieldError("/variables", "expected an object")])
    if "template" in body:
        name, version = _template_ref(body["template"])
        found = await resolve_template(request.app.get(TEMPLATES), request[TENANT_ID], name, version)
        prefix: tuple = ()
        if variables is None:
            variables = found.sample
        card = found.card
        if found.library:
            build = lambda: _compiled_template(name, profile)  # noqa: E731
        else:
            build = lambda: compile_template(card, profile=profile)  # noqa: E731
    elif "card" in body:
        source, prefix = body["card"], ("card",)
        if not isinstance(source, dict):
            raise Problem(422, "the card must be a JSON object", [FieldError("/card", "expected an object")])
        locale = body.get("locale", DEFAULT_LOCALE)
        if locale not in LOCALES:
            raise Problem(422, "unknown locale", [FieldError("/locale", f"one of {', '.join(LOCALES)}")])
        build = lambda: compile_template(source, profile=profile, locale=locale)  # noqa: E731
    else:
        raise Problem(
            422, "a card or a template is required", [FieldError("/card", "required (or give a template name)")]
        )
    try:
        # Compiling and composing are bounded (cards.sandbox) but can take a while: off the loop.
        return await off_loop(lambda: build().compose(variables or {}))
    except MissingVariable as exc:
        raise Problem(
            422,
            f"variable {exc.name!r} is missing",
            [
                FieldError(
                    pointer("variables", exc.name),
                    f"missing; used in {_join(prefix, exc.path)}",
                    "variable_missing",
                    {"name": exc.name, "used_in": _join(prefix, exc.path)},
                )
            ],
            extra={"variable": exc.name, "field": _join(prefix, exc.path)},
        ) from None
    except CardInvalid as exc:
        errors = [e.at(_join(prefix, e.path)) for e in exc.errors]
        raise Problem(422, "the card is not valid", errors) from None


def _template_ref(ref) -> tuple[str, int | None]:
    """A render's `template`: a name, or `{"name", "version"?}` as in a send."""
    if isinstance(ref, str):
        ref = {"name": ref}
    name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(name, str) or not name or set(ref) - {"name", "version"}:
        raise Problem(
            422, "unknown template", [FieldError("/template", 'a template name or {"name": …, "version"?: n}')]
        )
    version = ref.get("version")
    if version is not None and (type(version) is not int or not 1 <= version <= MAX_VERSION):
        raise Problem(422, "no such template version", [FieldError("/template/version", "a version number")])
    return name, version


@lru_cache(maxsize=64)
def _compiled_template(name: str, profile: str) -> CompiledCard:
    """Library templates compiled once per operator profile."""
    template = load_library()[name]
    if profile == template.compiled.profile:
        return template.compiled
    return compile_template(template.card, locale=template.locale, profile=profile)


def _join(prefix: tuple, path: str) -> str:
    return pointer(*prefix) + path
