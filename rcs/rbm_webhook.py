"""Google RBM's webhook: agent events and user messages, pushed by Cloud Pub/Sub, become the
same platform events as the CN MaaPs' callbacks (`DeliveryEvent`, `UserEvent`).

RBM POSTs to `<notify URL>/rbm/{agentId}`:

- once, when the webhook is configured: `{"clientToken", "secret"}`; answered 200 with the
  secret as the body when the client token is the agent's;
- then Pub/Sub push envelopes `{"message": {"data": base64(event JSON), "messageId",
  "publishTime"}, "subscription"}`, each signed in `X-Goog-Signature`: the base64 HMAC-SHA512 of
  the decoded `data`, keyed with the client token (RBM's webhook guide).

Events: `eventType` DELIVERED → `delivered`, READ → `displayed`, TTL_EXPIRATION_REVOKED →
`revokeOk` (IS_TYPING is dropped); user
messages (`text`, `suggestionResponse`, `location`, `userFile`) → `UserEvent`. Pub/Sub delivers
at least once: a Pub/Sub messageId seen recently is acknowledged without handling it again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
from aiohttp import web

from api.problems import FieldError, Problem
from rcs.callbacks import CallbackFormatError, DeliveryHandler, UserHandler, _parse_time
from rcs.results import DeliveryEvent, Location, MediaFile, UserEvent
from security.numbers import number_from_uri

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Goog-Signature"
# RBM eventType → the platform's delivery status.
# TTL_EXPIRATION_REVOKED: RBM revoked it itself once its ttl / expireTime passed (RBM's
# "Send messages" guide); other TTL outcomes are inconclusive and left to the platform's own expiry.
EVENT_STATUSES = {"DELIVERED": "delivered", "READ": "displayed", "TTL_EXPIRATION_REVOKED": "revokeOk"}
IGNORED_EVENTS = frozenset({"IS_TYPING"})


def signature(client_token: str, data: bytes) -> str:
    """X-Goog-Signature of an event: base64 HMAC-SHA512 of the decoded event, keyed by the client token."""
    return base64.b64encode(hmac.new(client_token.encode(), data, hashlib.sha512).digest()).decode()


def push_envelope(event: dict, message_id: str, publish_time: str, subscription: str) -> tuple[bytes, bytes]:
    """A Pub/Sub push body for one event, and the decoded event bytes (what is signed)."""
    data = orjson.dumps(event)
    body = {
        "message": {"data": base64.b64encode(data).decode(), "messageId": message_id, "publishTime": publish_time},
        "subscription": subscription,
    }
    return orjson.dumps(body), data


def decode_envelope(body: dict) -> tuple[str, bytes]:
    """The Pub/Sub message id and the decoded event bytes of a push body."""
    message = body.get("message")
    if not isinstance(message, dict):
        raise CallbackFormatError("/message", "expected the Pub/Sub message object")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise CallbackFormatError("/message/data", "expected base64 data")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise CallbackFormatError("/message/data", "not base64") from None
    message_id = message.get("messageId") or message.get("message_id") or ""
    return str(message_id), raw


def parse_event(event: dict, *, now: datetime) -> DeliveryEvent | UserEvent | None:
    """One RBM event as a platform event; None for events the platform has no use for."""
    at = _parse_time(event.get("sendTime"), now)
    number = number_from_uri(event.get("senderPhoneNumber"))
    message_id = event.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise CallbackFormatError("/messageId", "expected the message id")
    if "eventType" in event:
        kind = event["eventType"]
        if kind in IGNORED_EVENTS:
            return None
        if kind not in EVENT_STATUSES:
            log.info("rbm event %s ignored (not one the platform knows)", kind)
            return None
        return DeliveryEvent(message_id, EVENT_STATUSES[kind], None, at, recipient=number)
    if number is None:
        raise CallbackFormatError("/senderPhoneNumber", "expected the user's E.164 number")
    if "text" in event:
        return UserEvent("text", message_id, number, at, text=str(event["text"]))
    if "suggestionResponse" in event:
        s = event["suggestionResponse"]
        kind = str(s.get("type") or "").lower()
        return UserEvent(
            "suggestion_response",
            message_id,
            number,
            at,
            postback=s.get("postbackData"),
            display_text=s.get("text"),
            extra={"suggestion": kind if kind in ("reply", "action") else "reply"},
        )
    if "location" in event:
        loc = event["location"]
        try:
            location = Location(float(loc["latitude"]), float(loc["longitude"]), crs="wgs84")
        except (KeyError, TypeError, ValueError):
            raise CallbackFormatError("/location", "expected latitude and longitude") from None
        return UserEvent("location", message_id, number, at, location=location)
    if "userFile" in event:
        f = event["userFile"]
        payload, thumb = f.get("payload") or {}, f.get("thumbnail") or {}
        if not payload.get("fileUri"):
            raise CallbackFormatError("/userFile/payload/fileUri", "expected the file's URI")
        media = MediaFile(
            url=payload["fileUri"],
            content_type=payload.get("mimeType") or "application/octet-stream",
            file_size=int(payload.get("fileSizeBytes") or 0),
            thumbnail_url=thumb.get("fileUri"),
            file_name=payload.get("fileName"),
        )
        return UserEvent("file", message_id, number, at, file=media)
    log.info("rbm user event without a kind the platform knows: %s", sorted(event))
    return None


class HandledIds:
    """Pub/Sub message ids handled recently (bounded, oldest forgotten first)."""

    def __init__(self, ttl_s: float, max_entries: int = 200_000):
        self.ttl = ttl_s
        self.max_entries = max_entries
        self._ids: OrderedDict[str, float] = OrderedDict()

    def seen(self, message_id: str, now: float) -> bool:
        expires = self._ids.get(message_id)
        return expires is not None and expires > now

    def add(self, message_id: str, now: float) -> None:
        ids = self._ids
        while ids:
            first, expires = next(iter(ids.items()))
            if expires > now and len(ids) < self.max_entries:
                break
            del ids[first]
        ids[message_id] = now + self.ttl
        ids.move_to_end(message_id)


# agent id → (its client token, its chatbot id), or None for an agent we do not know
AgentLookup = Callable[[str], Awaitable[tuple[str, str] | None]]


class RbmWebhook:
    """aiohttp handler of RBM's webhook (`routes(prefix)` mounts `POST {prefix}/rbm/{agentId}`).
    Handlers are awaited before answering 200, so Pub/Sub redelivers when recording fails."""

    def __init__(
        self,
        *,
        agents: AgentLookup,
        on_delivery: DeliveryHandler,
        on_user: UserHandler,
        clock: Callable[[], float] = time.time,
        seen: HandledIds | None = None,
    ):
        self.agents = agents
        self.on_delivery = on_delivery
        self.on_user = on_user
        self.clock = clock
        # Pub/Sub redelivers for up to 7 days; a day of ids covers ordinary retries.
        self.seen = seen or HandledIds(ttl_s=86_400.0)

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        return [web.post(f"{prefix}/rbm/{{agentId}}", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        found = await self.agents(request.match_info["agentId"])
        if found is None:
            raise Problem(404, "unknown agent")
        token, chatbot_id = found
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            raise Problem(400, f"malformed JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
        if "clientToken" in body and "secret" in body:
            given = str(body["clientToken"])
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise Problem(403, "client token mismatch")
            return web.Response(status=200, text=str(body["secret"]))
        try:
            pubsub_id, raw = decode_envelope(body)
        except CallbackFormatError as exc:
            raise Problem(422, "unreadable Pub/Sub push", [FieldError(exc.path, exc.message)]) from None
        given_sig = request.headers.get(SIGNATURE_HEADER, "")
        if not given_sig or not hmac.compare_digest(given_sig.encode(), signature(token, raw).encode()):
            raise Problem(401, "webhook rejected: bad_signature")
        now = self.clock()
        if pubsub_id and self.seen.seen(pubsub_id, now):
            return web.Response(status=200)  # a redelivery of what was handled
        try:
            event = orjson.loads(raw)
            if not isinstance(event, dict):
                raise CallbackFormatError("", "expected an event object")
            parsed = parse_event(event, now=datetime.fromtimestamp(now, UTC))
        except orjson.JSONDecodeError:
            raise Problem(422, "unreadable event", [FieldError("/message/data", "not JSON")]) from None
        except CallbackFormatError as exc:
            raise Problem(422, "unreadable event", [FieldError(exc.path, exc.message)]) from None
        if isinstance(parsed, DeliveryEvent):
            await self.on_delivery(chatbot_id, [parsed])
        elif isinstance(parsed, UserEvent):
            await self.on_user(chatbot_id, parsed)
        if pubsub_id:  # recorded once handled: a push whose handling failed is handled again
            self.seen.add(pubsub_id, now)
        return web.Response(status=200)
