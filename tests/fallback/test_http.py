"""POST /v1/sms/segments over a real aiohttp server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from api.middleware import TENANT
from api.problems import Problem
from api.responses import problem_response
from fallback.http import routes

GOLDEN = Path(__file__).parent / "golden"


def make_app(tenant: dict) -> web.Application:
    # Stands in for server.py's middleware: authenticates the tenant and renders Problems.
    @web.middleware
    async def middleware(request, handler):
        request[TENANT] = tenant
        try:
            return await handler(request)
        except Problem as problem:
            return problem_response(problem)

    app = web.Application(middlewares=[middleware])
    app.add_routes(routes)
    return app


@pytest.fixture
async def client(aiohttp_client):
    return await aiohttp_client(make_app({"signature": "【鸿雁测试】", "sms_price": "0.045"}))


async def test_cn_mode_matches_golden(client):
    resp = await client.post("/v1/sms/segments", json={"text": "您的验证码是 123456。" * 5, "mode": "cn"})
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == json.loads((GOLDEN / "segments_cn.json").read_text("utf-8"))


async def test_gsm_mode_counts_text_exactly(client):
    resp = await client.post("/v1/sms/segments", json={"text": "a" * 161, "mode": "gsm"})
    body = await resp.json()
    assert resp.status == 200
    assert body["encoding"] == "GSM-7"
    assert [p["units"] for p in body["parts"]] == [153, 8]
    assert body["characters"] == 161
    assert body["cost"] == "0.09"


async def test_empty_text(client):
    resp = await client.post("/v1/sms/segments", json={"text": "", "mode": "gsm"})
    assert await resp.json() == {
        "encoding": "GSM-7",
        "segments": 1,
        "parts": [{"text": "", "units": 0}],
        "characters": 0,
        "cost": "0.045",
    }


async def test_no_price_gives_null_cost(aiohttp_client):
    client = await aiohttp_client(make_app({"signature": "【鸿雁测试】", "sms_price": None}))
    resp = await client.post("/v1/sms/segments", json={"text": "hi", "mode": "cn"})
    body = await resp.json()
    assert body["cost"] is None
    assert body["parts"] == [{"text": "【鸿雁测试】hi", "units": 8}]


@pytest.mark.parametrize(
    ("payload", "paths"),
    [
        ({"mode": "gsm"}, ["/text"]),
        ({"text": 5, "mode": "gsm"}, ["/text"]),
        ({"text": "hi", "mode": "latin"}, ["/mode"]),
        ({"text": None, "mode": 1}, ["/text", "/mode"]),
        ({"text": "字" * 495, "mode": "cn"}, ["/text"]),
    ],
)
async def test_bad_input_is_422(client, payload, paths):
    resp = await client.post("/v1/sms/segments", json=payload)
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["status"] == 422
    assert [e["path"] for e in body["errors"]] == paths


async def test_body_must_be_an_object(client):
    resp = await client.post("/v1/sms/segments", json=["text"])
    assert resp.status == 422


async def test_answers_match_the_openapi_schema(client):
    import jsonschema

    from fallback.openapi import SEGMENTATION, SEGMENTS_REQUEST

    for payload in ({"text": "你好" * 40, "mode": "cn"}, {"text": "", "mode": "gsm"}, {"text": "hi"}):
        jsonschema.validate(payload, SEGMENTS_REQUEST)
        resp = await client.post("/v1/sms/segments", json=payload)
        assert resp.status == 200
        jsonschema.validate(await resp.json(), SEGMENTATION)


def test_openapi_document_describes_the_endpoint():
    from openapi_spec_validator import validate

    from api.openapi import openapi_document

    document = openapi_document("http://127.0.0.1:8080")
    validate(document)
    assert "post" in document["paths"]["/v1/sms/segments"]
