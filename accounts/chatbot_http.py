"""/v1/channels/{id}/menu, …/profile, …/chatbot and …/publishes: a brand's chatbot information
published through its own channel, and the operator's audit of each publish (scope `channels`).

The HTTP edge of `accounts.chatbot`. The operator client of a channel is a callable the
composition root puts on the app (`CHATBOT_CLIENT`): without it (no dispatcher in this process)
publishing answers 503.
"""

from __future__ import annotations

from aiohttp import web

from accounts.channels_http import openapi_schema
from accounts.chatbot import (
    DEFAULT_PAGE,
    KINDS,
    MAX_PAGE,
    ChatbotInfo,
    ClientFor,
    ProfileUpdate,
    PublishView,
)
from api.bodies import read_json
from api.middleware import API_KEY_ID, TENANT_ID
from api.openapi import problem_responses, register_fragment
from api.pagination import page_limit
from api.problems import Problem
from api.query import query_choice
from api.responses import json_response

CHATBOT = web.AppKey("chatbot_info", ChatbotInfo)
# A channel's config → its operator client (from the composition root)
CHATBOT_CLIENT: web.AppKey[ClientFor] = web.AppKey("chatbot_client")

routes = web.RouteTableDef()


def _ids(request: web.Request) -> tuple[str, str]:
    return request[TENANT_ID], request.match_info["id"]


@routes.get("/v1/channels/{id}/chatbot")
async def operator_info(request: web.Request) -> web.Response:
    info = await request.app[CHATBOT].operator_info(*_ids(request), request.app.get(CHATBOT_CLIENT))
    return json_response(info)


async def _publish(request: web.Request, kind: str) -> web.Response:
    body = await read_json(request)
    view = await request.app[CHATBOT].publish(
        kind, *_ids(request), body, request.get(API_KEY_ID), request.app.get(CHATBOT_CLIENT)
    )
    return json_response(view, status=202)


@routes.put("/v1/channels/{id}/menu")
async def publish_menu(request: web.Request) -> web.Response:
    return await _publish(request, "menu")


@routes.put("/v1/channels/{id}/profile")
async def publish_profile(request: web.Request) -> web.Response:
    return await _publish(request, "profile")


@routes.get("/v1/channels/{id}/menu")
async def show_menu(request: web.Request) -> web.Response:
    return json_response(await request.app[CHATBOT].current(*_ids(request), "menu"))


@routes.get("/v1/channels/{id}/profile")
async def show_profile(request: web.Request) -> web.Response:
    return json_response(await request.app[CHATBOT].current(*_ids(request), "profile"))


@routes.get("/v1/channels/{id}/publishes")
async def list_publishes(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=DEFAULT_PAGE, maximum=MAX_PAGE)
    kind = query_choice(request.query, "kind", KINDS)
    items, cursor = await request.app[CHATBOT].list_publishes(
        *_ids(request), kind=kind, cursor=request.query.get("cursor"), limit=limit
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.get("/v1/channels/{id}/publishes/{publish_id}")
async def get_publish(request: web.Request) -> web.Response:
    view = await request.app[CHATBOT].get_publish(*_ids(request), request.match_info["publish_id"])
    if view is None:
        raise Problem(404, "no such publish")
    return json_response(view)


# -- the API description ----------------------------------------------------------------
def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_AUDIT = (
    "Takes effect once the operator's audit passes: the publish is `submitted`, then `approved` or "
    "`rejected` (with the operator's reason) when its audit notice arrives — also as a `channel.audit` "
    "webhook. A request the operator turns down at once answers 422 (content) or 502, with the "
    "publish (`refused` / `failed`) in the problem's `publish`."
)
_CURRENT = {
    "type": "object",
    "required": ["latest", "approved"],
    "properties": {
        "latest": {"oneOf": [_ref("ChatbotPublish"), {"type": "null"}], "description": "The latest publish"},
        "approved": {"oneOf": [_ref("ChatbotPublish"), {"type": "null"}], "description": "The latest approved one"},
    },
}
_MENU_BODY = {
    "type": "object",
    "required": ["menu"],
    "additionalProperties": False,
    "properties": {
        "menu": {
            "type": "object",
            "required": ["entries"],
            "description": "The persistent menu: entries are suggestions (reply or any action) or submenus "
            "`{menu: {displayText, entries}}`; checked against the operator's limits (China Telecom / "
            "China Unicom: 2 levels, 3 top entries, 5 per submenu), errors as JSON Pointers into the body.",
            "properties": {"entries": {"type": "array", "minItems": 1, "items": {"type": "object"}}},
        }
    },
}
_WARNINGS = {
    "type": "array",
    "items": {"type": "object", "properties": {"path": {"type": "string"}, "message": {"type": "string"}}},
}

FRAGMENT = {
    "schemas": {
        "ChatbotProfile": openapi_schema(ProfileUpdate),
        "ChatbotMenu": _MENU_BODY,
        "ChatbotPublish": openapi_schema(PublishView, "serialization"),
        "ChatbotPublishCurrent": _CURRENT,
        "ChatbotPublishPage": {
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {
                "data": {"type": "array", "items": _ref("ChatbotPublish")},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
    },
    "paths": {
        "/v1/channels/{id}/chatbot": {
            "get": {
                "summary": "The chatbot's information as the operator holds it (find/chatBotInfo), menu included",
                "parameters": _ID,
                "responses": {
                    "200": _json({"type": "object"}, "The operator's answer, in its own field names"),
                    **problem_responses(401, 403, 404, 502, 503),
                },
            }
        },
        "/v1/channels/{id}/menu": {
            "put": {
                "summary": "Publish the chatbot's persistent menu through this channel",
                "description": _AUDIT,
                "parameters": _ID,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ChatbotMenu")}}},
                "responses": {
                    "202": _json(
                        {"allOf": [_ref("ChatbotPublish"), {"properties": {"warnings": _WARNINGS}}]},
                        "Submitted; the audit follows",
                    ),
                    **problem_responses(400, 401, 403, 404, 415, 422, 502, 503),
                },
            },
            "get": {
                "summary": "The latest menu publish and the latest approved one",
                "parameters": _ID,
                "responses": {
                    "200": _json(_ref("ChatbotPublishCurrent"), "The menu publishes"),
                    **problem_responses(401, 403, 404),
                },
            },
        },
        "/v1/channels/{id}/profile": {
            "put": {
                "summary": "Publish the chatbot's profile (the optional information the operator lets it update)",
                "description": "Only the fields given are submitted. " + _AUDIT,
                "parameters": _ID,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ChatbotProfile")}},
                },
                "responses": {
                    "202": _json(_ref("ChatbotPublish"), "Submitted; the audit follows"),
                    **problem_responses(400, 401, 403, 404, 415, 422, 502, 503),
                },
            },
            "get": {
                "summary": "The latest profile publish and the latest approved one",
                "parameters": _ID,
                "responses": {
                    "200": _json(_ref("ChatbotPublishCurrent"), "The profile publishes"),
                    **problem_responses(401, 403, 404),
                },
            },
        },
        "/v1/channels/{id}/publishes": {
            "get": {
                "summary": "Every publish of the channel's chatbot menu and profile, newest first",
                "parameters": [
                    *_ID,
                    {"name": "kind", "in": "query", "schema": {"enum": list(KINDS)}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
                    },
                ],
                "responses": {
                    "200": _json(_ref("ChatbotPublishPage"), "A page"),
                    **problem_responses(401, 403, 404, 422),
                },
            }
        },
        "/v1/channels/{id}/publishes/{publish_id}": {
            "get": {
                "summary": "One publish and its audit",
                "parameters": [
                    *_ID,
                    {"name": "publish_id", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {"200": _json(_ref("ChatbotPublish"), "The publish"), **problem_responses(401, 403, 404)},
            }
        },
    },
}
register_fragment(FRAGMENT)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "PUT /v1/channels/{id}/menu": {
                "menu": {
                    "entries": [
                        {"reply": {"displayText": "最新优惠", "postback": {"data": "offers"}}},
                        {
                            "menu": {
                                "displayText": "联系我们",
                                "entries": [
                                    {
                                        "action": {
                                            "displayText": "拨打客服",
                                            "postback": {"data": "call"},
                                            "dialerAction": {"dialPhoneNumber": {"phoneNumber": "+864008001234"}},
                                        }
                                    }
                                ],
                            }
                        },
                    ]
                }
            },
            "PUT /v1/channels/{id}/profile": {
                "service_description": "红雁咖啡官方消息：订单进度、会员权益与门店活动",
                "callback_number": "4008001234",
                "theme_colour": "#C8102E",
            },
        }
    }
)
