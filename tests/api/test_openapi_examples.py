"""Every operation of /openapi.json has an id, a tag and examples that are true: each request
body and success response example validates against its own schema (jsonschema, Draft 2020-12,
the dialect of OpenAPI 3.1), and the request examples of writes are accepted by a sandbox server."""

from __future__ import annotations

import json
from dataclasses import replace

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
            if status.startswith("2") and status != "204" and not response.get("content"):
                missing.append(f"{where}: {status} says nothing of its body")
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


# -- the request examples, sent to a sandbox server -----------------------------------------
WRITES = ("post", "put", "patch")
_PERSON = "needs a person signed in to the web UI (an API key is refused: tests/accounts, tests/editor)"
_HELD = "needs an item held for review (tests/compliance/test_reviews.py)"
_INBOUND = "needs a conversation a handset's reply opened (tests/conversations)"
# Operations whose example is only validated against its schema, and why it cannot be sent here.
NOT_SENT: dict[str, str] = {
    "POST /s/{token}/r": "a recipient's answer on a message's short-link page: needs a sent message's token",
    "POST /v1/users/me/password": _PERSON,
    "POST /v1/users/me/totp/confirm": _PERSON,
    "POST /v1/users/me/totp/recovery-codes": _PERSON,
    "POST /v1/users/me/totp/disable": _PERSON,
    "POST /editor/password": _PERSON,
    "POST /editor/session": "signs in with a person's login and password, which the example cannot know",
    "POST /v1/media/{id}/crop": "crops an uploaded image (POST /v1/media takes a file: tests/cards/test_media_api.py)",
    "POST /v1/reviews/{id}/approve": _HELD,
    "POST /v1/reviews/{id}/reject": _HELD,
    "POST /v1/conversations/{id}/messages": _INBOUND,
    "POST /v1/conversations/{id}/assign": _INBOUND,
    "POST /v1/conversations/{id}/handoff": _INBOUND,
    "POST /v1/conversations/{id}/close": _INBOUND,
    "POST /v1/templates/{id}/versions/{version}/shares": "needs a template version (tests/editor/test_shares.py)",
    "PUT /v1/channels/{id}/menu": "publishes to the channel's operator: needs a MaaP (tests/accounts/test_chatbot.py)",
    "PUT /v1/channels/{id}/profile": "publishes to the channel's operator: needs a MaaP (tests/accounts/test_chatbot.py)",
}
# Path parameters other than a collection's {id}.
PATH_VALUES = {"{name}": "promotion"}
_CATEGORY = "PUT /v1/compliance/categories/{name}"
# What must exist before an example is sent: the operations whose own example is sent first.
BEFORE = {
    "POST /v1/opt-outs/remove": ["POST /v1/opt-outs"],
    "POST /v1/compliance/words": [_CATEGORY],
    "POST /v1/compliance/words/import": [_CATEGORY],
    "POST /v1/compliance/words/remove": [_CATEGORY, "POST /v1/compliance/words"],
}
# Query parameters an example is sent with.
QUERY = {"POST /v1/compliance/words/import": {"category": "promotion"}}
# Fields of an example that name another object: replaced by a new one made from its collection's example.
REFERENCES = {"segment_id": "/v1/segments", "message_id": "/v1/messages"}


def _write_cases() -> list:
    import server  # noqa: F401  (importing the app registers every fragment)
    from api.openapi import openapi_document

    cases = []
    for path, item in openapi_document("http://127.0.0.1")["paths"].items():
        for method, op in item.items():
            contents = op.get("requestBody", {}).get("content", {}) if method in WRITES else {}
            if all(is_binary(media_type) for media_type in contents):
                continue
            label = f"{method.upper()} {path}"
            marks = [pytest.mark.skip(reason=NOT_SENT[label])] if label in NOT_SENT else []
            cases.append(pytest.param(method, path, id=label, marks=marks))
    return cases


@pytest.fixture
async def sandbox(aiohttp_client, settings):
    """A sandbox server and a key of its tenant that may do everything (billing-admin too)."""
    from security.apikeys import OPERATOR_SCOPES, SCOPES
    from server import ACCOUNTS, create_app
    from tests.conftest import ApiClient

    client = await aiohttp_client(create_app(replace(settings, sandbox=True)))
    tenant, _ = await client.app[ACCOUNTS].create_tenant("示例品牌")
    made = await client.app[ACCOUNTS].create_api_key(tenant.id, sorted(SCOPES | OPERATOR_SCOPES))
    return await ApiClient(client, tenant.id, made["api_key"]).without_send_rules()


def _example(op: dict) -> tuple[str, object]:
    for media_type, content in op["requestBody"]["content"].items():
        values = examples_of(content)
        if values and not is_binary(media_type):
            return media_type, values[0]
    raise AssertionError("no example")


async def _send(api, method: str, url: str, media_type: str, value, params: dict | None = None):
    data = value.encode() if isinstance(value, str) else json.dumps(value, ensure_ascii=False).encode()
    headers = {**api.auth, "Content-Type": media_type}
    return await api.client.request(method.upper(), url, data=data, params=params or {}, headers=headers)


async def _made(api, doc: dict, collection: str) -> str:
    """The id of a new thing made by POSTing the collection's own example."""
    media_type, value = _example(doc["paths"][collection]["post"])
    resp = await _send(api, "post", collection, media_type, await _resolved(api, doc, value))
    assert resp.status < 300, (collection, await resp.text())
    made = await resp.json()
    return made["messages"][0]["id"] if collection == "/v1/messages" else made.get("id", "")


async def _resolved(api, doc: dict, value):
    if isinstance(value, dict):
        for field, collection in REFERENCES.items():
            if field in value:
                value = {**value, field: await _made(api, doc, collection)}
    return value


def _filled(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace(name, value)
    return path


@pytest.mark.parametrize(("method", "path"), _write_cases())
async def test_each_request_example_is_accepted_by_a_sandbox_server(sandbox, method, path):
    doc = await (await sandbox.client.get("/openapi.json")).json()
    media_type, value = _example(doc["paths"][path][method])
    label = f"{method.upper()} {path}"
    for before in BEFORE.get(label, []):
        first_method, first_path = before.split(" ")
        first_op = doc["paths"][first_path][first_method.lower()]
        first = await _send(sandbox, first_method, _filled(first_path), *_example(first_op))
        assert first.status < 300, (before, await first.text())
    url = _filled(path)
    if "{id}" in url:
        collection = path.split("/{id}")[0]
        url = url.replace("{id}", await _made(sandbox, doc, collection))
    assert "{" not in url, f"{url}: name its parameter in PATH_VALUES, or the operation in NOT_SENT"
    resp = await _send(sandbox, method, url, media_type, await _resolved(sandbox, doc, value), QUERY.get(label))
    assert 200 <= resp.status < 300, await resp.text()
