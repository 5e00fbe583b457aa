"""China Mobile's chatbot notifications (OMA NetAPI Messaging, XML) → the platform's events.

The MaaP calls the chatbot's notify URL (ours: `<public base URL>/rcs`) at:

- `POST …/InboundMessageNotification/{chatbotURI}`: `msg:inboundMessageNotification` with one
  `inboundMessage` (a user's text, tapped suggestion, file or location) → a `UserEvent`, the
  same as a CN `messageNotification`;
- `POST …/DeliveryInfoNotification/{chatbotURI}`: `msg:deliveryInfoNotification`
  (`deliveryInfo{address, messageId, deliveryStatus, description, text}`) → `DeliveryEvent`s:
  MessageSent → sent, DeliveredToTerminal → delivered, MessageDisplayed → displayed,
  DeliveredToNetwork → deliveredToNetwork, DeliveryImpossible → failed;
- `POST …/MessageStatusNotification/{chatbotURI}`: `msg:messageStatusNotification` with
  `status` Revoked → revokeOk, RevokeFailed → revokeFail.

Authentication: the public record of the interface does not say how the MaaP authenticates
its notifications, so each must carry the CN interface's `signature` / `timestamp` / `nonce`
headers, made with the channel's callback token (what the operator is given at onboarding);
stale timestamps and repeated nonces are refused as on the CN path.

Bodies are parsed with defusedxml, DTDs forbidden: no entity expansion, no external entity, a
"billion laughs" body is refused with 400. A DeliveryImpossible carries no code the public
record explains (its `description` is an application error code), so it is read as code 2
("not a 5G-message terminal": fall back to SMS now) — a recipient still gets the message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import defusedxml.ElementTree as SafeET
from aiohttp import web
from defusedxml import DefusedXmlException

from api.problems import FieldError, Problem
from rcs.callbacks import (
    CallbackFormatError,
    DeliveryHandler,
    NonceCache,
    UserHandler,
    Verdict,
    parse_user_callback,
    verify_callback,
)
from rcs.results import DeliveryEvent, UserEvent
from security.numbers import number_from_uri

log = logging.getLogger(__name__)

NETAPI_NS = "urn:oma:xml:rest:netapi:messaging:1"
MAX_BODY = 1024 * 1024

# deliveryStatus → the platform's delivery status (CN names, which dispatch understands).
DELIVERY_STATUSES = {
    "MessageSent": "sent",
    "DeliveredToTerminal": "delivered",
    "MessageDisplayed": "displayed",
    "DeliveredToNetwork": "deliveredToNetwork",
    "DeliveryImpossible": "failed",
}
REVOKE_STATUSES = {"Revoked": "revokeOk", "RevokeFailed": "revokeFail"}
NOT_A_5G_TERMINAL = 2  # the CN `failed` code that sends the SMS now


class XmlRefused(ValueError):
    """A body that is not XML we read: malformed, or with a DTD / entities / external references."""


def parse_xml(raw: bytes):
    """The root element of an XML body, parsed safely (DTDs forbidden: no entity expansion, no
    external entities); XmlRefused otherwise."""
    try:
        return SafeET.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise XmlRefused(f"refused XML: {type(exc).__name__}") from None
    except SafeET.ParseError as exc:
        raise XmlRefused(f"malformed XML: {exc}") from None


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element) -> dict[str, str]:
    """Each child's local name → its stripped text (the first of repeated names)."""
    out: dict[str, str] = {}
    for child in element:
        name = _local(child.tag)
        if name and name not in out:
            out[name] = (child.text or "").strip()
    return out


def _root(raw: bytes, name: str):
    root = parse_xml(raw)
    if _local(root.tag) != name:
        raise CallbackFormatError("", f"expected {name}, not {_local(root.tag) or 'nothing'}")
    return root


def _message_id_of(fields: dict[str, str], root) -> str | None:
    """`messageId`, else the last path segment naming the request in the `link` href."""
    if fields.get("messageId"):
        return fields["messageId"]
    for link in root.iter():
        if _local(link.tag) == "link" and "/requests/" in (link.get("href") or ""):
            tail = link.get("href").split("/requests/", 1)[1].split("/")[0]
            return tail or None
    return None


def parse_delivery_notification(raw: bytes, *, now: datetime) -> list[DeliveryEvent]:
    """A `deliveryInfoNotification` → DeliveryEvents (one per `deliveryInfo`)."""
    root = _root(raw, "deliveryInfoNotification")
    infos = [el for el in root if _local(el.tag) == "deliveryInfo"]
    if not infos:
        raise CallbackFormatError("/deliveryInfo", "required")
    events = []
    for i, info in enumerate(infos):
        fields = _children(info)
        status = fields.get("deliveryStatus", "")
        if not status:
            raise CallbackFormatError(f"/deliveryInfo/{i}/deliveryStatus", "required")
        mid = _message_id_of(fields, root)
        if not mid:
            raise CallbackFormatError(f"/deliveryInfo/{i}/messageId", "required (or a link to the request)")
        mapped = DELIVERY_STATUSES.get(status, status)
        detail = " ".join(v for v in (fields.get("description"), fields.get("text")) if v) or None
        events.append(
            DeliveryEvent(
                message_id=mid,
                status=mapped,
                error_code=NOT_A_5G_TERMINAL if mapped == "failed" else None,
                at=now,
                error_message=detail,
                recipient=number_from_uri(fields.get("address")),
            )
        )
    return events


def parse_status_notification(raw: bytes, *, now: datetime) -> list[DeliveryEvent]:
    """A `messageStatusNotification` (a revoke's outcome) → one DeliveryEvent."""
    root = _root(raw, "messageStatusNotification")
    fields = _children(root)
    status = fields.get("status", "")
    if status not in REVOKE_STATUSES:
        raise CallbackFormatError("/status", f"expected one of {sorted(REVOKE_STATUSES)}, not {status!r}")
    mid = _message_id_of(fields, root)
    if not mid:
        raise CallbackFormatError("/messageId", "required (or a link to the request)")
    return [
        DeliveryEvent(
            message_id=mid,
            status=REVOKE_STATUSES[status],
            error_code=None,
            at=now,
            recipient=number_from_uri(fields.get("address")),
        )
    ]


def parse_inbound_notification(raw: bytes, *, now: datetime) -> UserEvent:
    """An `inboundMessageNotification` → one UserEvent, read as the CN interface's user message
    (same content types: text, suggestion response, geo text, GSMA file XML)."""
    root = _root(raw, "inboundMessageNotification")
    message = next((el for el in root if _local(el.tag) == "inboundMessage"), None)
    if message is None:
        raise CallbackFormatError("/inboundMessage", "required")
    fields = _children(message)
    body_text = next((el.text or "" for el in message if _local(el.tag) == "bodyText"), None)
    if body_text is None:
        raise CallbackFormatError("/inboundMessage/bodyText", "required")
    sender = fields.get("senderAddress") or fields.get("origUser")
    if number_from_uri(sender) is None:
        sender = fields.get("origUser")  # the user's own number when senderAddress is an IMPU
    content_type = fields.get("contentType", "text/plain")
    cn_form: dict = {
        "messageId": fields.get("messageId"),
        "senderAddress": sender,
        "conversationId": fields.get("conversationID"),
        "contributionId": fields.get("contributionID"),
        "inReplyTo": fields.get("inReplyToContributionID"),
        "dateTime": fields.get("dateTime"),
        "messageList": [{"contentType": content_type, "contentText": body_text}],
    }
    if fields.get("contentEncoding") or "base64" in content_type.lower():
        cn_form["messageList"][0]["contentEncoding"] = "base64"
    try:
        event = parse_user_callback(cn_form, now=now)
    except CallbackFormatError as exc:
        where = exc.path.replace("/messageList/0/contentText", "/inboundMessage/bodyText")
        raise CallbackFormatError(
            where.replace("/senderAddress", "/inboundMessage/senderAddress"), exc.message
        ) from None
    return event


# chatbot URI → its channel's callback token, or None (not a China Mobile chatbot of ours)
TokenLookup = Callable[[str], Awaitable[str | None]]


class CmCallbackEndpoints:
    """aiohttp handlers for China Mobile notifications (`routes(prefix)` to mount them). Handlers
    are awaited before we answer 204, so the MaaP retries when recording fails."""

    def __init__(
        self,
        *,
        token_of: TokenLookup,
        on_delivery: DeliveryHandler,
        on_user: UserHandler,
        clock: Callable[[], float] = time.time,
        nonces: NonceCache | None = None,
    ):
        self.token_of = token_of
        self.on_delivery = on_delivery
        self.on_user = on_user
        self.clock = clock
        self.nonces = nonces or NonceCache()

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        return [
            web.post(f"{prefix}/InboundMessageNotification/{{chatbotURI}}", self.inbound_message),
            web.post(f"{prefix}/DeliveryInfoNotification/{{chatbotURI}}", self.delivery_info),
            web.post(f"{prefix}/MessageStatusNotification/{{chatbotURI}}", self.message_status),
        ]

    async def _checked(self, request: web.Request) -> tuple[str, bytes]:
        chatbot = request.match_info["chatbotURI"]
        token = await self.token_of(chatbot)
        if token is None:
            raise Problem(404, "unknown chatbot")
        verdict = verify_callback(request.headers, token, nonces=self.nonces, now=self.clock())
        if verdict is not Verdict.OK:
            raise Problem(401, f"notification rejected: {verdict.value}")
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise Problem(413, "notification too large")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise Problem(413, "notification too large")
        return chatbot, raw

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def _parsed(self, request: web.Request, parse, what: str):
        chatbot, raw = await self._checked(request)
        try:
            return chatbot, parse(raw, now=self._now())
        except XmlRefused as exc:
            raise Problem(400, str(exc)) from None
        except CallbackFormatError as exc:
            raise Problem(422, f"unreadable {what}", [FieldError(exc.path, exc.message)]) from None

    async def delivery_info(self, request: web.Request) -> web.Response:
        chatbot, events = await self._parsed(request, parse_delivery_notification, "delivery notification")
        await self.on_delivery(chatbot, events)
        return web.Response(status=204)

    async def message_status(self, request: web.Request) -> web.Response:
        chatbot, events = await self._parsed(request, parse_status_notification, "message status notification")
        await self.on_delivery(chatbot, events)
        return web.Response(status=204)

    async def inbound_message(self, request: web.Request) -> web.Response:
        chatbot, event = await self._parsed(request, parse_inbound_notification, "inbound message notification")
        await self.on_user(chatbot, event)
        return web.Response(status=204)
