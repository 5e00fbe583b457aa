"""POST /v1/cards/validate and /v1/cards/render over a real aiohttp server on loopback."""

from __future__ import annotations

import io

import orjson
import pytest
from aiohttp import web
from cardkit import media, reply, standalone, with_action
from PIL import Image

from api.middleware import TENANT_ID
from api.problems import PROBLEM_CONTENT_TYPE, Problem
from api.responses import problem_response
from cards import BOTMESSAGE_CONTENT_TYPE, load_library
from cards.http import routes

CARD = "/message/generalPurposeCard/content"


@web.middleware
async def _problems(request, handler):
    request[TENANT_ID] = "t1"
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem)


@pytest.fixture
async def client(aiohttp_client):
    app = web.Application(middlewares=[_problems])
    app.add_routes(routes)
    return await aiohttp_client(app)


async def test_valid_card_comes_back_unchanged_with_warnings(client):
    card = with_action("urlAction", "openUrl", {"url": "https://a.cn"})
    card["x-vendor"] = {"keep": [1, None]}
    resp = await client.post("/v1/cards/validate", json={"card": card})
    assert resp.status == 200
    body = await resp.json()
    assert body["valid"] is True and body["card"] == card
    assert body["warnings"] == [
        {
            "path": f"{CARD}/suggestions/0/action/urlAction/openUrl/application",
            "message": "openUrl without application; treated as browser",
            "code": "no_application",
        }
    ]


async def test_invalid_card_is_422_listing_all_errors_as_pointers_into_the_card(client):
    card = standalone(title="字" * 201, suggestions=[reply("x" * 26)], media=media(mediaFileSize=None))
    resp = await client.post("/v1/cards/validate", json={"card": card, "profile": "gsma"})
    assert resp.status == 422 and resp.content_type == PROBLEM_CONTENT_TYPE
    body = await resp.json()
    assert {e["path"]: e["message"] for e in body["errors"]} == {
        f"{CARD}/title": "201 characters; the limit is 200",
        f"{CARD}/suggestions/0/reply/displayText": "26 characters; the limit is 25",
        f"{CARD}/media/mediaFileSize": "must not be null",
    }


@pytest.mark.parametrize(
    "body, path",
    [
        ({"card": "not a card"}, ""),
        ({"card": []}, ""),
        ({"card": {"message": {"generalPurposeCard": 5}}}, "/message/generalPurposeCard"),
        (
            {"card": {"message": {"generalPurposeCardCarousel": {"content": "x"}}}},
            "/message/generalPurposeCardCarousel/content",
        ),
        ({}, "/card"),
        ({"card": standalone(), "profile": "mars"}, "/profile"),
        ({"card": standalone(), "profile": ["gsma"]}, "/profile"),
    ],
)
async def test_malformed_cards_are_422_never_400_or_500(client, body, path):
    resp = await client.post("/v1/cards/validate", json=body)
    assert resp.status == 422
    assert path in [e["path"] for e in (await resp.json())["errors"]]


async def test_carousel_limit_depends_on_profile(client):
    from cardkit import carousel

    card = carousel(11)
    assert (await client.post("/v1/cards/validate", json={"card": card})).status == 200
    assert (await client.post("/v1/cards/validate", json={"card": card, "profile": "rbm"})).status == 422


@pytest.mark.parametrize(
    "fmt, ctype",
    [
        ("gsma", BOTMESSAGE_CONTENT_TYPE),
        ("html", "text/html"),
        ("png", "image/png"),
        ("text", "text/plain"),
    ],
)
async def test_render_template_in_every_format(client, fmt, ctype):
    resp = await client.post(
        f"/v1/cards/render?format={fmt}",
        json={
            "template": "monthly_bill",
            "variables": {**load_library()["monthly_bill"].sample, "name": "<b>钱女士</b>"},
        },
    )
    assert resp.status == 200, await resp.text()
    assert resp.content_type == ctype
    data = await resp.read()
    if fmt == "png":
        assert Image.open(io.BytesIO(data)).format == "PNG"
    elif fmt == "html":
        assert "&lt;b&gt;钱女士&lt;/b&gt;" in data.decode()
    else:
        assert "<b>钱女士</b>" in data.decode()


async def test_render_a_card_with_variables(client):
    card = standalone(title="{{ name }}的账单", description="{{ amount|money }}")
    resp = await client.post(
        "/v1/cards/render?format=text", json={"card": card, "variables": {"name": "孙", "amount": 3}}
    )
    assert (await resp.text()) == "孙的账单\n¥3.00\n\n回复1 查看"


async def test_template_without_variables_uses_its_sample(client):
    resp = await client.post("/v1/cards/render?format=text", json={"template": "verification_code"})
    assert "482913" in await resp.text()


async def test_missing_variable_is_422_naming_it(client):
    resp = await client.post(
        "/v1/cards/render?format=gsma", json={"card": standalone(title="{{ name }}"), "variables": {}}
    )
    assert resp.status == 422
    body = await resp.json()
    assert body["variable"] == "name" and body["field"] == f"/card{CARD}/title"
    assert body["errors"] == [
        {
            "path": "/variables/name",
            "message": f"missing; used in /card{CARD}/title",
            "code": "variable_missing",
            "params": {"name": "name", "used_in": f"/card{CARD}/title"},
        }
    ]


async def test_composed_card_over_a_limit_is_422_with_the_field_path(client):
    resp = await client.post(
        "/v1/cards/render?format=png", json={"card": standalone(title="{{ t }}"), "variables": {"t": "字" * 201}}
    )
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["path"] == f"/card{CARD}/title"


@pytest.mark.parametrize(
    "query, body, status",
    [
        ("format=pdf", {"card": standalone()}, 422),
        ("format=gsma", {"template": "no_such_template"}, 422),
        ("format=gsma", {"template": "monthly_bill", "variables": [1]}, 422),
        ("format=gsma", {"nothing": 1}, 422),
        ("format=gsma", {"template": ["monthly_bill"]}, 422),
        ("format=text", {"card": standalone(), "locale": ["en"]}, 422),
        ("format=png", {"card": standalone(), "profile": {"x": 1}}, 422),
        ("format=gsma", {"card": {"suggestions": [reply()]}}, 422),  # a chip list alone is no bot message
    ],
)
async def test_render_errors(client, query, body, status):
    resp = await client.post(f"/v1/cards/render?{query}", json=body)
    assert resp.status == status
    assert resp.content_type == PROBLEM_CONTENT_TYPE


async def test_non_json_body_is_rejected_by_the_shared_reader(client):
    resp = await client.post("/v1/cards/validate", data=b"{", headers={"Content-Type": "application/json"})
    assert resp.status == 400


async def test_render_card_in_english_and_templates_per_profile(client):
    card = standalone(title="{{ amount|money }} due {{ due|date }}")
    resp = await client.post(
        "/v1/cards/render?format=text",
        json={"card": card, "locale": "en", "variables": {"amount": 5, "due": "2026-02-01"}},
    )
    assert (await resp.text()).startswith("CN¥5.00 due February 1, 2026")
    bad = await client.post("/v1/cards/render", json={"card": card, "locale": "fr"})
    assert bad.status == 422 and (await bad.json())["errors"][0]["path"] == "/locale"
    rbm = await client.post("/v1/cards/render?format=gsma", json={"template": "plan_upgrade_5g", "profile": "rbm"})
    assert rbm.status == 200


async def test_answers_match_the_openapi_description(client):
    import jsonschema
    from openapi_spec_validator import validate

    from api.openapi import openapi_document

    document = openapi_document("http://127.0.0.1:8080")
    validate(document)
    schemas = document["components"]["schemas"]

    def check(instance, name):
        schema = {**schemas[name], "$defs": schemas}
        text = orjson.dumps(schema).decode().replace("#/components/schemas/", "#/$defs/")
        jsonschema.validate(instance, orjson.loads(text))

    body = {"card": standalone(), "profile": "gsma"}
    check(body, "CardValidateRequest")
    resp = await client.post("/v1/cards/validate", json=body)
    check(await resp.json(), "CardValidation")
    check({"template": "monthly_bill", "variables": {}}, "CardRenderRequest")
    assert "post" in document["paths"]["/v1/cards/render"]
