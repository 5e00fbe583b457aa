"""Every query parameter in /openapi.json, sent a bad value, answers 422 problem+json naming it.

The table is the document itself: for each operation's query parameters the test derives bad
values from the parameter's own schema (not a number, out of range, not one of the enum, longer
than maxLength, not a date-time) and a NUL byte for every one, sends each alone (the other
required parameters valid, a body from the operation's own example), and expects the 422 to be
documented and its `errors[]` to hold `/<name>` — the convention of api/pagination.py (`/limit`,
`/cursor`): a query parameter's pointer is its name. A bad parameter is refused before the
resource is looked up, so the ids in the path need not exist."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.conftest import ApiClient

METHODS = ("get", "post", "put", "patch", "delete")
# Valid values for the parameters some operations require (the one under test replaces its own).
REQUIRED = {"from": "1", "to": "1", "first": "0", "second": "0"}


def bad_values(schema: dict) -> list[tuple[str, str]]:
    """(why, value) pairs the parameter's schema forbids."""
    out = [("NUL byte", "a\x00b")]
    branches = schema.get("oneOf") or [schema]
    ints = [b for b in branches if b.get("type") == "integer"]
    if ints:
        out.append(("not a number", "ten"))
        if all("minimum" in b for b in ints):
            out.append(("below the minimum", str(min(b["minimum"] for b in ints) - 1)))
        if all("maximum" in b for b in ints):
            out.append(("above the maximum", str(max(b["maximum"] for b in ints) + 1)))
    if "enum" in schema:
        out.append(("not in the enum", f"no-such-{schema['enum'][0]}"))
    if "maxLength" in schema:
        out.append(("too long", "x" * (schema["maxLength"] + 1)))
    if schema.get("format") == "date-time":
        out.append(("not a date-time", "yesterday"))
    return out


def _cases() -> list:
    import server  # noqa: F401  (importing the app registers every fragment)
    from api.openapi import openapi_document

    cases = []
    for path, item in openapi_document("http://127.0.0.1")["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            for param in (p for p in op.get("parameters", []) if p["in"] == "query"):
                for why, value in bad_values(param.get("schema", {})):
                    label = f"{method.upper()} {path} {param['name']}: {why}"
                    cases.append(pytest.param(method, path, op, param["name"], value, id=label))
    return cases


def _body(op: dict) -> tuple[bytes | None, dict]:
    """The operation's own request example and its media type (none without a body)."""
    for media_type, content in op.get("requestBody", {}).get("content", {}).items():
        example = content.get("example", next(iter(content.get("examples", {}).values()), {}).get("value"))
        if example is not None:
            raw = example if isinstance(example, str) else json.dumps(example)
            return raw.encode(), {"Content-Type": media_type}
    return None, {}


@pytest.fixture
async def sandbox(aiohttp_client, settings) -> ApiClient:
    from server import ACCOUNTS, create_app

    client = await aiohttp_client(create_app(replace(settings, sandbox=True)))
    tenant, key = await client.app[ACCOUNTS].create_tenant("Query brand")
    return ApiClient(client, tenant.id, key)


async def test_every_bad_query_parameter_is_a_documented_422_naming_it(sandbox):
    """The whole table against one server per database (a refused parameter changes nothing, so
    the cases need no server of their own); every case that answers otherwise is listed."""
    wrong = []
    for case in _cases():
        method, path, op, name, value = case.values
        if "422" not in op["responses"]:
            wrong.append(f"{case.id}: the 422 is not documented")
            continue
        params = {
            p["name"]: REQUIRED[p["name"]] for p in op.get("parameters", []) if p["in"] == "query" and p.get("required")
        }
        params[name] = value
        url = path.replace("{id}", "0193a4f2c8b57d1e9a06b3c2d4e5f6a7").replace("{month}", "2026-11")
        body, headers = _body(op)
        resp = await sandbox.client.request(
            method.upper(), url, params=params, data=body, headers={**sandbox.auth, **headers}
        )
        if resp.status != 422 or resp.content_type != "application/problem+json":
            wrong.append(f"{case.id}: {resp.status} {resp.content_type}")
            continue
        paths = [e["path"] for e in (await resp.json()).get("errors", [])]
        if f"/{name}" not in paths:
            wrong.append(f"{case.id}: errors name {paths}")
    assert len(_cases()) > 150 and not wrong, "\n".join(wrong)
