"""/v1/channels: a brand's own chatbot channels at the operators (scope `channels`).

Credentials go in and are never shown again; a tenant sees only its own channels (another
tenant's is a 404). Validation lives in `accounts.channels`; this is the HTTP edge.
"""

from __future__ import annotations

from aiohttp import web

from accounts.channels import (
    DEFAULT_PAGE,
    MAX_CHANNELS,
    MAX_PAGE,
    ChannelCreate,
    ChannelService,
    ChannelUpdate,
    ChannelView,
)
from api.bodies import read_json
from api.middleware import TENANT_ID
from api.openapi import problem_responses, register_fragment
from api.pagination import page_limit
from api.problems import Problem
from api.responses import json_response

CHANNELS = web.AppKey("channels", ChannelService)

routes = web.RouteTableDef()


@routes.post("/v1/channels")
async def create_channel(request: web.Request) -> web.Response:
    body = await read_json(request)
    view = await request.app[CHANNELS].create_channel(request[TENANT_ID], body)
    return json_response(view, status=201, headers={"Location": f"/v1/channels/{view['id']}"})


@routes.get("/v1/channels")
async def list_channels(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=DEFAULT_PAGE, maximum=MAX_PAGE)
    items, cursor = await request.app[CHANNELS].list_channels(
        request[TENANT_ID], cursor=request.query.get("cursor"), limit=limit
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.get("/v1/channels/{id}")
async def get_channel(request: web.Request) -> web.Response:
    view = await request.app[CHANNELS].get_channel(request[TENANT_ID], request.match_info["id"])
    if view is None:
        raise Problem(404, "no such channel")
    return json_response(view)


@routes.patch("/v1/channels/{id}")
async def update_channel(request: web.Request) -> web.Response:
    body = await read_json(request)
    view = await request.app[CHANNELS].update_channel(request[TENANT_ID], request.match_info["id"], body)
    if view is None:
        raise Problem(404, "no such channel")
    return json_response(view)


@routes.delete("/v1/channels/{id}")
async def delete_channel(request: web.Request) -> web.Response:
    if not await request.app[CHANNELS].delete_channel(request[TENANT_ID], request.match_info["id"]):
        raise Problem(404, "no such channel")
    return web.Response(status=204)


# -- the API description ----------------------------------------------------------------
def _schema(model, mode: str = "validation") -> dict:
    """The model's JSON Schema as OpenAPI 3.1 takes it: no generated titles, no null defaults
    (an absent PATCH field means unchanged; null is refused)."""

    def clean(node):
        if isinstance(node, dict):
            return {
                k: clean(v)
                for k, v in node.items()
                if not (k == "title" and isinstance(v, str)) and not (k == "default" and v is None)
            }
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    return clean(model.model_json_schema(mode=mode, ref_template="#/components/schemas/{model}"))


openapi_schema = _schema  # for the other accounts API modules


def _json(ref: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChannelCreate"}}},
}
_PATCH = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ChannelUpdate"}},
        "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/ChannelUpdate"}},
    },
}
_CONFLICT = {
    "409": {
        "description": "The chatbot is registered already, or another channel of the tenant is active",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}

FRAGMENT = {
    "schemas": {
        "ChannelCreate": _schema(ChannelCreate),
        "ChannelUpdate": _schema(ChannelUpdate),
        "Channel": _schema(ChannelView, "serialization"),
        "ChannelPage": {
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Channel"}},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
    },
    "paths": {
        "/v1/channels": {
            "post": {
                "summary": "Add the brand's own chatbot at an operator (needs the `channels` scope)",
                "description": "Messages of a tenant with an active channel go out on it instead of the "
                "platform's default channel. Register the answer's `notify_url` at the operator. "
                f"At most {MAX_CHANNELS} channels per tenant, one of them active. China Mobile (`cm`) "
                "channels speak its OMA NetAPI chatbot interface (XML).",
                "requestBody": _BODY,
                "responses": {
                    "201": _json("Channel", "The channel (credentials are never shown)"),
                    **problem_responses(400, 401, 403, 415, 422),
                    **_CONFLICT,
                },
            },
            "get": {
                "summary": "List the tenant's channels, oldest first",
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
                    },
                ],
                "responses": {"200": _json("ChannelPage", "A page"), **problem_responses(401, 403, 422)},
            },
        },
        "/v1/channels/{id}": {
            "get": {
                "summary": "One channel",
                "parameters": _ID,
                "responses": {"200": _json("Channel", "The channel"), **problem_responses(401, 403, 404)},
            },
            "patch": {
                "summary": "Change a channel: only the fields given; credentials may be replaced, never read",
                "parameters": _ID,
                "requestBody": _PATCH,
                "responses": {
                    "200": _json("Channel", "The channel as changed"),
                    **problem_responses(400, 401, 403, 404, 415, 422),
                    **_CONFLICT,
                },
            },
            "delete": {
                "summary": "Delete a channel (the tenant's messages use the default channel again)",
                "parameters": _ID,
                "responses": {"204": {"description": "Deleted"}, **problem_responses(401, 403, 404)},
            },
        },
    },
}
register_fragment(FRAGMENT)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "POST /v1/channels": {
                "operator": "cu",
                "server_root": "maap.example.cn/csp",
                "chatbot_id": "sip:12520001@botplatform.rcs.chinaunicom.cn",
                "app_id": "hongyan-coffee",
                "app_key": "ak-5f3c9e1d7b2a4c68",
                "callback_token": "cbt-0e8d7c6b5a493827",
            },
            "PATCH /v1/channels/{id} application/json application/merge-patch+json": {
                "server_root": "maap2.example.cn/csp"
            },
        }
    }
)
