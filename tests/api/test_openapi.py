"""/openapi.json is a valid OpenAPI 3.1 document that describes what the server really serves."""

from __future__ import annotations

import re

import jsonschema
import pytest
from openapi_spec_validator import validate

from tests.conftest import card


@pytest.fixture
async def doc(api) -> dict:
    resp = await api.client.get("/openapi.json")
    assert resp.status == 200
    return await resp.json()


async def test_document_is_valid_openapi_31(doc):
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def _openapi_path(aiohttp_path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", aiohttp_path)


async def test_every_operation_has_a_unique_id_and_a_known_tag(doc):
    ops = [
        op for item in doc["paths"].values() for m, op in item.items() if m in ("get", "post", "put", "patch", "delete")
    ]
    ids = [op["operationId"] for op in ops]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all(i.isidentifier() for i in ids), [i for i in ids if not i.isidentifier()]
    tags = {t["name"] for t in doc["tags"]}
    assert all(len(op["tags"]) == 1 and op["tags"][0] in tags for op in ops)
    assert {"messages", "cards", "webhooks", "conversations", "operations"} <= tags


async def test_every_api_route_is_described(api, doc):
    served = set()
    for route in api.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD":
            continue
        served.add((route.method.lower(), _openapi_path(path)))
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    api_routes = {r for r in served if r[1].startswith("/v1/")}
    assert api_routes <= described, api_routes - described


def _schema(doc: dict, name: str) -> dict:
    # Resolve #/components/schemas/… references against the whole document.
    return {**doc["components"]["schemas"][name], "components": doc["components"]}


ACCEPTED_BODIES = [
    {"to": "+8613800138001", "card": card()},
    {"to": "13800138001", "card": card(), "traffic_type": "otp", "ttl": 60, "client_ref": "x"},
    {"recipients": [{"to": "+8613800138001", "variables": {"a": 1}}], "card": card(), "send_at": None},
]
REJECTED_BODIES = [
    {"to": "+8613800138001", "card": card(), "colour": "red"},
    {"to": "+8613800138001", "card": card(), "ttl": 0},
    {"to": "+8613800138001", "card": card(), "traffic_type": "spam"},
    {"recipients": [], "card": card()},
    {"recipients": [{"to": "+8613800138001", "extra": 1}], "card": card()},
]


@pytest.mark.parametrize("body", ACCEPTED_BODIES)
async def test_bodies_the_server_accepts_match_the_schema(api, doc, body):
    jsonschema.validate(body, _schema(doc, "SendRequest"))
    resp = await api.post("/v1/messages", body)
    assert resp.status == 202, await resp.text()
    jsonschema.validate(await resp.json(), _schema(doc, "Accepted"))


@pytest.mark.parametrize("body", REJECTED_BODIES)
async def test_bodies_the_server_rejects_break_the_schema(api, doc, body):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, _schema(doc, "SendRequest"))
    assert (await api.post("/v1/messages", body)).status == 422


async def test_message_view_matches_the_schema(api, doc):
    resp = await api.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    [msg] = (await resp.json())["messages"]
    view = await (await api.get(f"/v1/messages/{msg['id']}")).json()
    jsonschema.validate(view, _schema(doc, "Message"))


async def test_both_ways_in_are_described(api, doc):
    """The API key, and the editor's session cookie with its CSRF header, as the middleware takes them."""
    from api.middleware import CSRF_HEADER, SESSION_COOKIE

    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"]["scheme"] == "bearer"
    assert schemes["editorSession"] == {
        **schemes["editorSession"],
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
    }
    assert CSRF_HEADER in schemes["editorSession"]["description"]
    assert doc["security"] == [{"apiKey": []}, {"editorSession": []}]


async def test_the_documented_send_examples_are_accepted_as_documented(api, doc):
    """The examples in the document are real: each validates and the server takes it."""
    from messages.openapi import SEND_EXAMPLES

    await api.post("/v1/templates", {"name": "monthly_bill", "card": card(), "sample": {}})
    op = doc["paths"]["/v1/messages"]["post"]
    examples = op["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == set(SEND_EXAMPLES) >= {"card", "batch"}
    for name, example in examples.items():
        jsonschema.validate(example["value"], _schema(doc, "SendRequest"))
        if name == "template":
            continue  # needs an approved version 2: its shape is what is checked
        resp = await api.post("/v1/messages", example["value"])
        assert resp.status == 202, (name, await resp.text())
        jsonschema.validate(await resp.json(), _schema(doc, "Accepted"))
    jsonschema.validate(op["responses"]["202"]["content"]["application/json"]["example"], _schema(doc, "Accepted"))
