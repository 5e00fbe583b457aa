"""/v1/users: the people of a tenant (scope `users`; roles owner and admin write, auditor
reads), /v1/users/me: one's own password and TOTP, and /v1/audit: the audit log's search."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from accounts.audit import AuditLog
from accounts.users import UserPrincipal, Users
from api.audit import audit
from api.bodies import read_json
from api.middleware import PRINCIPAL, TENANT_ID
from api.openapi import page_response, problem_responses, register_fragment
from api.pagination import decode_cursor, encode_cursor, page_limit
from api.problems import FieldError, Problem
from api.responses import json_response
from security.roles import ROLES

USERS = web.AppKey("users", Users)
AUDIT_LOG = web.AppKey("audit_log", AuditLog)
# Where an invitation's password-set link points: <public base URL>/editor/password#<token>
BASE_URL = web.AppKey("users_base_url", str)
routes = web.RouteTableDef()

_CREATE_FIELDS = {"login", "role", "display_name", "password"}


def _actor_role(request: web.Request) -> str | None:
    """The caller's role; None for an API key (the `users` scope stands for owner rights)."""
    return getattr(request.get(PRINCIPAL), "role", None)


def _unknown(body: dict, allowed: set[str]) -> list[FieldError]:
    return [FieldError(f"/{k}", "unknown field") for k in body if k not in allowed]


@routes.post("/v1/users")
async def create_user(request: web.Request) -> web.Response:
    body = await read_json(request)
    if errors := _unknown(body, _CREATE_FIELDS):
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    made, token = await request.app[USERS].create(
        request[TENANT_ID],
        body.get("login"),  # type: ignore[arg-type]
        body.get("role"),  # type: ignore[arg-type]
        display_name=body.get("display_name"),
        password=body.get("password"),
        actor_role=_actor_role(request),
    )
    audit(request, "users.create", target=("users", made["id"]), role=made["role"], invited=token is not None)
    if token is not None:
        made["password_set_url"] = f"{request.app[BASE_URL]}/editor/password#{token}"
    return json_response(made, status=201, headers={"Location": f"/v1/users/{made['id']}"})


@routes.get("/v1/users")
async def list_users(request: web.Request) -> web.Response:
    return json_response({"data": await request.app[USERS].list(request[TENANT_ID])})


def _me(request: web.Request) -> UserPrincipal:
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, UserPrincipal):
        raise Problem(403, "an API key is not a person: sign in to the web UI with a login to use /v1/users/me")
    return principal


@routes.get("/v1/users/me")
async def show_me(request: web.Request) -> web.Response:
    return json_response(await request.app[USERS].me(_me(request)))


@routes.post("/v1/users/me/password")
async def change_password(request: web.Request) -> web.Response:
    me = _me(request)
    body = await read_json(request)
    if errors := _unknown(body, {"current_password", "new_password"}):
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    audit(request, "users.password.change", target=("users", me.user_id))
    await request.app[USERS].change_password(me.user_id, body.get("current_password"), body.get("new_password"))
    return web.Response(status=204)


@routes.post("/v1/users/me/totp")
async def totp_enrol(request: web.Request) -> web.Response:
    me = _me(request)
    audit(request, "users.totp.enrol", target=("users", me.user_id))
    return json_response(await request.app[USERS].totp_enrol(me.user_id), status=201)


@routes.post("/v1/users/me/totp/confirm")
async def totp_confirm(request: web.Request) -> web.Response:
    me = _me(request)
    body = await read_json(request)
    audit(request, "users.totp.confirm", target=("users", me.user_id))
    codes = await request.app[USERS].totp_confirm(me.user_id, body.get("code"))
    return json_response({"recovery_codes": codes})


@routes.post("/v1/users/me/totp/recovery-codes")
async def recovery_codes_renew(request: web.Request) -> web.Response:
    me = _me(request)
    body = await read_json(request)
    audit(request, "users.totp.recovery_codes", target=("users", me.user_id))
    codes = await request.app[USERS].recovery_codes_renew(me.user_id, body.get("code"))
    return json_response({"recovery_codes": codes}, status=201)


@routes.post("/v1/users/me/totp/disable")
async def totp_disable(request: web.Request) -> web.Response:
    me = _me(request)
    body = await read_json(request)
    audit(request, "users.totp.disable", target=("users", me.user_id))
    await request.app[USERS].totp_disable(me.user_id, body.get("code"))
    return web.Response(status=204)


@routes.get("/v1/users/{id}")
async def show_user(request: web.Request) -> web.Response:
    return json_response(await request.app[USERS].get(request[TENANT_ID], request.match_info["id"]))


@routes.patch("/v1/users/{id}")
async def change_user(request: web.Request) -> web.Response:
    body = await read_json(request)
    errors = _unknown(body, {"role", "disabled"})
    if "disabled" in body and not isinstance(body["disabled"], bool):
        errors.append(FieldError("/disabled", "true or false"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    target = request.match_info["id"]
    changes = {k: body[k] for k in ("role", "disabled") if k in body}
    audit(request, "users.disable" if body.get("disabled") else "users.update", target=("users", target), **changes)
    changed = await request.app[USERS].change(
        request[TENANT_ID],
        target,
        role=body.get("role"),
        disabled=body.get("disabled"),
        actor_role=_actor_role(request),
        actor_id=getattr(request.get(PRINCIPAL), "user_id", None),
    )
    return json_response(changed)


def _time_ms(query, name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError
        return int(at.timestamp() * 1000)
    except (ValueError, OverflowError):
        raise Problem(
            422, f"{name} must be an RFC 3339 time", [FieldError(f"/{name}", "e.g. 2026-03-01T09:00:00Z")]
        ) from None


@routes.get("/v1/audit")
async def search_audit(request: web.Request) -> web.Response:
    q = request.query
    for name in ("actor", "action", "target"):
        value = q.get(name, "")
        if len(value) > 200 or any(ord(c) < 32 for c in value):
            raise Problem(
                422, f"{name} is not a search term", [FieldError(f"/{name}", "at most 200 characters, no controls")]
            )
    cursor = q.get("cursor")
    records, last = await request.app[AUDIT_LOG].search(
        request[TENANT_ID],
        actor=q.get("actor") or None,
        action=q.get("action") or None,
        target=q.get("target") or None,
        since_ms=_time_ms(q, "since"),
        until_ms=_time_ms(q, "until"),
        before_id=decode_cursor(cursor) if cursor else None,
        limit=page_limit(q),
    )
    return json_response({"data": records, "next_cursor": encode_cursor(last) if last else None})


_USER = {
    "type": "object",
    "required": ["id", "login", "role"],
    "properties": {
        "id": {"type": "string"},
        "login": {"type": "string"},
        "display_name": {"type": "string"},
        "role": {"enum": list(ROLES)},
        "totp_enabled": {"type": "boolean"},
        "recovery_codes_left": {"type": "integer", "description": "In /v1/users/me while TOTP is on"},
        "password_set": {"type": "boolean"},
        "disabled": {"type": "boolean"},
        "disabled_at": {"type": ["string", "null"], "format": "date-time"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "password_set_url": {"type": "string", "description": "Only in the answer to POST without a password"},
    },
}
_AUDIT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "object"},
        "action": {"type": "string"},
        "target": {"type": "object"},
        "detail": {"type": "object"},
        "client": {"type": "string"},
        "status": {"type": "integer"},
    },
}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_RECOVERY = {
    "type": "object",
    "required": ["recovery_codes"],
    "properties": {"recovery_codes": {"type": "array", "items": {"type": "string"}}},
    "example": {"recovery_codes": ["7kq2-m9xd", "p4vw-3hzt", "c8nr-6jya"]},
}
_ENROLLED = {
    "type": "object",
    "required": ["secret", "otpauth_uri"],
    "properties": {"secret": {"type": "string"}, "otpauth_uri": {"type": "string"}},
    "example": {
        "secret": "JBSWY3DPEHPK3PXP",
        "otpauth_uri": "otpauth://totp/Hongyan:zhang.wei?secret=JBSWY3DPEHPK3PXP&issuer=Hongyan",
    },
}


def _json(description: str, ref: str | dict | None = None) -> dict:
    out: dict = {"description": description}
    if ref:
        schema = {"$ref": f"#/components/schemas/{ref}"} if isinstance(ref, str) else ref
        out["content"] = {"application/json": {"schema": schema}}
    return out


_TERM = {"type": "string", "maxLength": 200}
_TIME = {"type": "string", "format": "date-time"}
_CODE = {"type": "object", "additionalProperties": False, "properties": {"code": {"type": "string"}}}
register_fragment(
    {
        "schemas": {"User": _USER, "AuditRecord": _AUDIT},
        "paths": {
            "/v1/users": {
                "post": {
                    "summary": "Add a person with a role (scope `users`; an admin cannot make owners)",
                    "description": "Without `password` the answer carries a one-time `password_set_url` "
                    "(three days). A login that exists already is added to this tenant without a password.",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["login", "role"],
                            "additionalProperties": False,
                            "properties": {
                                "login": {"type": "string"},
                                "role": {"enum": list(ROLES)},
                                "display_name": {"type": "string"},
                                "password": {"type": "string"},
                            },
                        }
                    ),
                    "responses": {
                        "201": _json("The person", "User"),
                        **problem_responses(400, 401, 403, 409, 415, 422),
                    },
                },
                "get": {
                    "summary": "The tenant's people and their roles",
                    "responses": {
                        "200": page_response(
                            "People",
                            {"$ref": "#/components/schemas/User"},
                            [
                                {
                                    "id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a7",
                                    "login": "zhang.wei",
                                    "display_name": "张伟",
                                    "role": "designer",
                                    "totp_enabled": False,
                                    "password_set": True,
                                    "disabled": False,
                                    "disabled_at": None,
                                    "created_at": "2026-12-04T08:30:00.000Z",
                                }
                            ],
                            cursor=False,
                        ),
                        **problem_responses(401, 403),
                    },
                },
            },
            "/v1/users/me": {
                "get": {
                    "summary": "The signed-in person, with their tenants and roles (not for API keys)",
                    "responses": {"200": _json("The person", "User"), **problem_responses(401, 403)},
                }
            },
            "/v1/users/me/password": {
                "post": {
                    "summary": "Change one's own password",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string"}},
                        }
                    ),
                    "responses": {"204": {"description": "Changed"}, **problem_responses(400, 401, 403, 415, 422)},
                }
            },
            "/v1/users/me/totp": {
                "post": {
                    "summary": "Enrol a TOTP authenticator: the secret and its otpauth URI (confirm next)",
                    "responses": {
                        "201": _json("The secret and its otpauth URI", _ENROLLED),
                        **problem_responses(401, 403, 409),
                    },
                }
            },
            "/v1/users/me/totp/confirm": {
                "post": {
                    "summary": "Turn TOTP on with a code from the authenticator; the answer holds ten one-time "
                    "recovery codes, shown this once (each signs in once in place of a TOTP code)",
                    "requestBody": _body(_CODE),
                    "responses": {
                        "200": _json("Ten recovery codes, shown this once", _RECOVERY),
                        **problem_responses(400, 401, 403, 409, 415),
                    },
                }
            },
            "/v1/users/me/totp/recovery-codes": {
                "post": {
                    "summary": "New recovery codes for a current TOTP code (the old ones stop working)",
                    "requestBody": _body(_CODE),
                    "responses": {
                        "201": _json("Ten recovery codes, shown this once", _RECOVERY),
                        **problem_responses(400, 401, 403, 409, 415),
                    },
                }
            },
            "/v1/users/me/totp/disable": {
                "post": {
                    "summary": "Turn TOTP off with a current code",
                    "requestBody": _body(_CODE),
                    "responses": {"204": {"description": "Off"}, **problem_responses(400, 401, 403, 409, 415)},
                }
            },
            "/v1/users/{id}": {
                "get": {
                    "summary": "One person of the tenant",
                    "parameters": _ID,
                    "responses": {"200": _json("The person", "User"), **problem_responses(401, 403, 404)},
                },
                "patch": {
                    "summary": "Change a person's role, or disable them in this tenant (their sessions end)",
                    "parameters": _ID,
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"role": {"enum": list(ROLES)}, "disabled": {"type": "boolean"}},
                        }
                    ),
                    "responses": {
                        "200": _json("The person", "User"),
                        **problem_responses(400, 401, 403, 404, 409, 415, 422),
                    },
                },
            },
            "/v1/audit": {
                "get": {
                    "summary": "Search the audit log, newest first (roles auditor, admin, owner; scope `users`)",
                    "parameters": [
                        {"name": n, "in": "query", "required": False, "schema": s, "description": d}
                        for n, s, d in (
                            ("actor", _TERM, "a user or key id, or a login"),
                            ("action", _TERM, "an action name, or a prefix ending in `.`"),
                            ("target", _TERM, "a target id, or type/id"),
                            ("since", _TIME, "RFC 3339, inclusive"),
                            ("until", _TIME, "RFC 3339, exclusive"),
                            ("cursor", {"type": "string"}, "next_cursor of the previous page"),
                        )
                    ]
                    + [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        }
                    ],
                    "responses": {
                        "200": page_response(
                            "A page of records",
                            {"$ref": "#/components/schemas/AuditRecord"},
                            [
                                {
                                    "id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a8",
                                    "at": "2026-12-04T08:30:00.000Z",
                                    "actor": {
                                        "type": "user",
                                        "id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a7",
                                        "display": "zhang.wei",
                                    },
                                    "action": "templates.create",
                                    "target": {"type": "templates", "id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a9"},
                                    "detail": {"method": "POST", "route": "/v1/templates"},
                                    "client": "203.0.113.7",
                                    "status": 201,
                                }
                            ],
                        ),
                        **problem_responses(401, 403, 422),
                    },
                }
            },
        },
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "POST /v1/users": {"login": "zhang.wei", "role": "designer", "display_name": "张伟"},
            "PATCH /v1/users/{id}": {"role": "sender"},
        }
    }
)
