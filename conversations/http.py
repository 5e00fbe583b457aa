"""HTTP edge of conversations (/v1/conversations; scope `conversations`): the inbox's list and
threads, replies, assignment and hand-off, live events (Server-Sent Events), stats, bot rules."""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiohttp import web

from api.bodies import read_json
from api.middleware import PRINCIPAL, TENANT_ID
from api.pagination import decode_cursor, encode_cursor, page_limit
from api.problems import FieldError, Problem
from api.responses import json_response
from conversations import openapi as _openapi  # noqa: F401  (registers the API description)
from conversations.service import MAX_PAGE, MAX_STATS_HOURS, STATES, Actor, Conversations

log = logging.getLogger(__name__)
CONVERSATIONS = web.AppKey("conversations", Conversations)
KEEP_ALIVE_S = 15.0
# How long a stream stays open before the client reconnects (EventSource does so by itself):
# a stream never outlives a deployment by much, and a proxy's idle limits are not reached.
STREAM_LIFETIME_S = 3600.0
EVENT_SETTINGS: web.AppKey[tuple[float, float]] = web.AppKey("conversation_event_timing")

routes = web.RouteTableDef()


def _not_found() -> Problem:
    return Problem(404, "no such conversation")


def _id(request: web.Request) -> str:
    return request.match_info["id"]


def _actor(request: web.Request) -> Actor:
    return Actor(getattr(request[PRINCIPAL], "user_id", None) or None)


@routes.get("/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    query = request.query
    errors = [
        FieldError(f"/{k}", "unknown query parameter")
        for k in query
        if k not in ("state", "assignee", "cursor", "limit")
    ]
    state = query.get("state")
    if state is not None and state not in STATES:
        errors.append(FieldError("/state", f"one of {', '.join(STATES)}"))
    assignee = query.get("assignee")
    if assignee == "me":
        assignee = _actor(request).user_id
        if assignee is None:
            errors.append(FieldError("/assignee", '"me" needs a signed-in person'))
    elif assignee is not None and (not assignee or len(assignee) > 32):
        errors.append(FieldError("/assignee", 'a user id or "me"'))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    limit = page_limit(query, default=50, maximum=MAX_PAGE)
    cursor = query.get("cursor")
    items, last = await request.app[CONVERSATIONS].page(
        request[TENANT_ID],
        state=state,
        assignee=assignee,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    return json_response({"conversations": items, "next_cursor": encode_cursor(last) if last else None})


@routes.get("/v1/conversations/stats")
async def conversation_stats(request: web.Request) -> web.Response:
    raw = request.query.get("hours", "24")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_STATS_HOURS:
        raise Problem(422, f"hours must be 1 to {MAX_STATS_HOURS}", [FieldError("/hours", "out of range")])
    return json_response(await request.app[CONVERSATIONS].stats(request[TENANT_ID], int(raw)))


@routes.get("/v1/conversations/rules")
async def get_rules(request: web.Request) -> web.Response:
    rules = await request.app[CONVERSATIONS].rule_set(request[TENANT_ID])
    return json_response(rules.view())


@routes.put("/v1/conversations/rules")
async def put_rules(request: web.Request) -> web.Response:
    view = await request.app[CONVERSATIONS].put_rules(request[TENANT_ID], await read_json(request))
    return json_response(view)


@routes.post("/v1/conversations/rules/test")
async def test_rules(request: web.Request) -> web.Response:
    result = await request.app[CONVERSATIONS].test_rules(request[TENANT_ID], await read_json(request))
    return json_response(result)


@routes.get("/v1/conversations/events")
async def conversation_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: `conversation` (a conversation as it now is) and `message` (a
    message in a thread), a keep-alive comment every 15 s, `resync` after a slow reader lost
    events."""
    service = request.app[CONVERSATIONS]
    keep_alive_s, lifetime_s = request.app.get(EVENT_SETTINGS, (KEEP_ALIVE_S, STREAM_LIFETIME_S))
    sub = service.hub.subscribe(request[TENANT_ID])
    if sub is None:
        raise Problem(503, "too many open event streams; try again later", headers={"Retry-After": "30"})
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass events on as they come
        }
    )
    loop = asyncio.get_running_loop()
    ends = loop.time() + lifetime_s
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n: connected\n\n")
        while loop.time() < ends:
            got = await sub.next(min(keep_alive_s, max(0.0, ends - loop.time())))
            if got is None:
                await response.write(b": keep-alive\n\n")
                continue
            event, data = got
            await response.write(b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went away, or the server stops
    finally:
        service.hub.unsubscribe(sub)
    return response


@routes.get("/v1/conversations/{id}")
async def get_conversation(request: web.Request) -> web.Response:
    view = await request.app[CONVERSATIONS].get(request[TENANT_ID], _id(request))
    if view is None:
        raise _not_found()
    return json_response(view)


@routes.post("/v1/conversations/{id}/messages")
async def reply(request: web.Request) -> web.Response:
    body = await read_json(request)
    message = await request.app[CONVERSATIONS].reply(request[TENANT_ID], _id(request), body, _actor(request))
    if message is None:
        raise _not_found()
    return json_response({"message": message}, status=202)


@routes.post("/v1/conversations/{id}/assign")
async def assign(request: web.Request) -> web.Response:
    body = await read_json(request)
    view = await request.app[CONVERSATIONS].assign(request[TENANT_ID], _id(request), body, _actor(request))
    if view is None:
        raise _not_found()
    return json_response(view)


async def _empty_body(request: web.Request) -> None:
    """…/handoff and …/close take no body (an empty JSON object is fine)."""
    if request.can_read_body:
        body = await read_json(request)
        if body:
            raise Problem(422, "1 field(s) are invalid", [FieldError(f"/{next(iter(body))}", "unknown field")])


@routes.post("/v1/conversations/{id}/handoff")
async def handoff(request: web.Request) -> web.Response:
    await _empty_body(request)
    view = await request.app[CONVERSATIONS].handoff(request[TENANT_ID], _id(request))
    if view is None:
        raise _not_found()
    return json_response(view)


@routes.post("/v1/conversations/{id}/close")
async def close(request: web.Request) -> web.Response:
    await _empty_body(request)
    view = await request.app[CONVERSATIONS].close(request[TENANT_ID], _id(request))
    if view is None:
        raise _not_found()
    return json_response(view)
