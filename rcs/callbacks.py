"""Inbound MaaP callbacks: signature checks, replay protection and parsing.

Each callback carries `signature`, `timestamp` and `nonce` headers; the signature is the hex
SHA-256 of the sorted, concatenated (callback token, timestamp, nonce). It does not cover the
body, so stale timestamps and repeated nonces are rejected too.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import defusedxml.ElementTree as SafeET
import orjson
from aiohttp import web

from api.problems import FieldError, Problem, pointer
from rcs.maap import FILE_TRANSFER_TYPE, PUSH_LOCATION_TYPE, SUGGESTION_RESPONSE_TYPE
from rcs.results import DeliveryEvent, Location, MediaFile, UserEvent

MAX_CLOCK_SKEW_S = 300.0  # as for our own webhooks: 5 minutes


class Verdict(str, enum.Enum):
    OK = "ok"
    MISSING = "missing"  # a header is absent
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"  # timestamp outside the allowed skew
    REPLAYED = "replayed"  # nonce seen within its lifetime


class NonceCache:
    """Nonces seen recently; an entry lives as long as its timestamp could still pass."""

    def __init__(self, ttl_s: float = 2 * MAX_CLOCK_SKEW_S, max_entries: int = 1_000_000):
        self.ttl = ttl_s
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def add(self, nonce: str, now: float) -> bool:
        """Record `nonce`; False when it was already seen and not yet expired."""
        seen = self._seen
        # Entries are kept in insertion order with one TTL, so expired ones are at the front.
        while seen:
            first, expires = next(iter(seen.items()))
            if expires > now and len(seen) < self.max_entries:
                break
            del seen[first]
        if nonce in seen:
            return False
        seen[nonce] = now + self.ttl
        return True

    def __len__(self) -> int:
        return len(self._seen)


def callback_signature(token: str, timestamp: str, nonce: str) -> str:
    """Hex SHA-256 over the sorted, concatenated (token, timestamp, nonce)."""
    return hashlib.sha256("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()


def signed_headers(token: str, now: float, nonce: str | None = None) -> dict[str, str]:
    """Headers a MaaP (or the simulator) sends with a callback."""
    ts = str(int(now * 1000))
    nonce = nonce or secrets.token_hex(16)
    return {"timestamp": ts, "nonce": nonce, "signature": callback_signature(token, ts, nonce)}


def _timestamp_seconds(value: str) -> float | None:
    try:
        t = float(value)
    except ValueError:
        return None
    return t / 1000.0 if t > 1e11 else t  # operators send milliseconds; accept seconds too


def verify_callback(
    headers: Mapping[str, str],
    token: str,
    *,
    nonces: NonceCache,
    now: float,
    max_skew_s: float = MAX_CLOCK_SKEW_S,
) -> Verdict:
    """Check one callback's signature, freshness and nonce. Pure apart from recording the nonce
    (only once everything else passed, so a forged request cannot burn a real nonce)."""
    sig, ts, nonce = headers.get("signature"), headers.get("timestamp"), headers.get("nonce")
    if not sig or not ts or not nonce:
        return Verdict.MISSING
    if not hmac.compare_digest(sig.lower(), callback_signature(token, ts, nonce)):
        return Verdict.BAD_SIGNATURE
    seconds = _timestamp_seconds(ts)
    if seconds is None or abs(now - seconds) > max_skew_s:
        return Verdict.STALE
    if not nonces.add(nonce, now):
        return Verdict.REPLAYED
    return Verdict.OK


# -- parsing ------------------------------------------------------------------------------------


class CallbackFormatError(ValueError):
    """A callback body we cannot read; `path` is a JSON Pointer to the field at fault."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path or '/'}: {message}")
        self.path = path
        self.message = message


def _parse_time(value, default: datetime) -> datetime:
    if not isinstance(value, str) or not value:
        return default
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return default
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _int_or_none(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _number(address) -> str:
    if isinstance(address, list):
        address = address[0] if address else ""
    if not isinstance(address, str):
        return ""
    return address[4:] if address.startswith("tel:") else address


def parse_delivery_callback(body: dict, *, now: datetime) -> list[DeliveryEvent]:
    """`deliveryInfoList[{messageId, status, errorCode, …}]` → DeliveryEvents."""
    items = body.get("deliveryInfoList")
    if not isinstance(items, list):
        raise CallbackFormatError(pointer("deliveryInfoList"), "expected a list")
    events = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise CallbackFormatError(pointer("deliveryInfoList", i), "expected an object")
        mid, status = item.get("messageId"), item.get("status")
        if not isinstance(mid, str) or not mid:
            raise CallbackFormatError(pointer("deliveryInfoList", i, "messageId"), "required")
        if not isinstance(status, str) or not status:
            raise CallbackFormatError(pointer("deliveryInfoList", i, "status"), "required")
        events.append(
            DeliveryEvent(
                message_id=mid,
                status=status,
                error_code=_int_or_none(item.get("errorCode")),
                at=_parse_time(item.get("dateTime"), now),
                error_message=item.get("errorMessage") or None,
            )
        )
    return events


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_push_location(xml_text: str) -> Location:
    # GSMA RCC.07 push location: PIDF-LO with a gml:Point/gml:pos "lat lon" and a label.
    root = SafeET.fromstring(xml_text)
    pos = label = None
    for el in root.iter():
        name = _local(el.tag)
        if name == "pos" and el.text:
            pos = el.text.split()
        elif name == "rcspushlocation":
            label = el.get("label") or label
    if not pos or len(pos) < 2:
        raise ValueError("no position")
    return Location(float(pos[0]), float(pos[1]), label)


def _parse_geo_uri(text: str) -> Location:
    # RFC 5870: geo:lat,lon[;params]
    coords = text[4:].split(";", 1)[0].split(",")
    return Location(float(coords[0]), float(coords[1]))


def _parse_file_xml(xml_text: str) -> MediaFile:
    # GSMA RCC.07 file transfer over HTTP: <file><file-info type="file">…</file-info></file>
    root = SafeET.fromstring(xml_text)
    main = thumb = None
    for el in root.iter():
        if _local(el.tag) == "file-info":
            fields = {"type": el.get("type", "file")}
            for child in el.iter():
                name = _local(child.tag)
                if name == "data":
                    fields["url"], fields["until"] = child.get("url"), child.get("until")
                elif name in ("file-size", "content-type", "file-name") and child.text:
                    fields[name] = child.text.strip()
            if fields["type"] == "thumbnail":
                thumb = fields
            else:
                main = fields
    if not main or not main.get("url"):
        raise ValueError("no file url")
    return MediaFile(
        url=main["url"],
        content_type=main.get("content-type", "application/octet-stream"),
        file_size=int(main.get("file-size", 0)),
        until=main.get("until"),
        thumbnail_url=thumb.get("url") if thumb else None,
    )


def _parse_file_json(items: list) -> MediaFile:
    # The CN interface also sends file info as a JSON list of {type, url, contentType, fileSize}.
    main = next((i for i in items if isinstance(i, dict) and i.get("type", "file") == "file"), None)
    thumb = next((i for i in items if isinstance(i, dict) and i.get("type") == "thumbnail"), None)
    if not main or not main.get("url"):
        raise ValueError("no file url")
    return MediaFile(
        url=main["url"],
        content_type=main.get("contentType", "application/octet-stream"),
        file_size=int(main.get("fileSize", 0)),
        until=main.get("until"),
        thumbnail_url=thumb.get("url") if thumb else None,
    )


def parse_user_callback(body: dict, *, now: datetime) -> UserEvent:
    """A messageNotification body → one UserEvent (text, suggestion response, location, file)."""
    sender = _number(body.get("senderAddress"))
    if not sender:
        raise CallbackFormatError(pointer("senderAddress"), "required")
    if isinstance(body.get("messageList"), list) and body["messageList"]:
        item, base = body["messageList"][0], pointer("messageList", 0)
        if not isinstance(item, dict):
            raise CallbackFormatError(base, "expected an object")
    else:  # some profiles put contentType / contentText at the top level
        item, base = body, ""
    ctype = str(item.get("contentType") or "").split(";", 1)[0].strip().lower()
    text = item.get("contentText")
    where = base + "/contentText"
    common = dict(
        message_id=body.get("messageId") if isinstance(body.get("messageId"), str) else None,
        from_number=sender,
        at=_parse_time(body.get("dateTime"), now),
        conversation_id=body.get("conversationId"),
        contribution_id=body.get("contributionId"),
        in_reply_to=body.get("inReplyToContributionId"),
    )
    try:
        if ctype == SUGGESTION_RESPONSE_TYPE:
            data = orjson.loads(text) if isinstance(text, (str, bytes)) else text
            response = data["response"]
            chosen = response.get("reply") or response.get("action") or {}
            postback = (chosen.get("postback") or {}).get("data")
            return UserEvent(
                kind="suggestion_response",
                postback=postback,
                display_text=chosen.get("displayText"),
                extra={"suggestion": "action" if "action" in response else "reply"},
                **common,
            )
        if ctype == PUSH_LOCATION_TYPE:
            return UserEvent(kind="location", location=_parse_push_location(text), **common)
        if ctype == FILE_TRANSFER_TYPE:
            return UserEvent(kind="file", file=_parse_file_xml(text), **common)
        if isinstance(text, list):
            return UserEvent(kind="file", file=_parse_file_json(text), **common)
        if isinstance(text, str) and ctype in ("text/plain", ""):
            if text.startswith("geo:"):
                return UserEvent(kind="location", location=_parse_geo_uri(text), text=text, **common)
            return UserEvent(kind="text", text=text, **common)
    except (KeyError, TypeError, ValueError, AttributeError, SafeET.ParseError) as exc:
        raise CallbackFormatError(where, f"unreadable {ctype or 'content'}: {exc}") from None
    raise CallbackFormatError(base + "/contentType", f"unsupported {ctype!r}")


# -- the endpoints the server mounts --------------------------------------------------------------

DeliveryHandler = Callable[[str, list[DeliveryEvent]], Awaitable[None]]
UserHandler = Callable[[str, UserEvent], Awaitable[None]]


class CallbackEndpoints:
    """aiohttp handlers for one MaaP's callbacks (`routes(prefix)` to mount them).

    `on_delivery(chatbot_id, events)` and `on_user(chatbot_id, event)` are awaited before we
    answer, so the MaaP retries when recording fails.
    """

    def __init__(
        self,
        *,
        callback_token: str,
        app_id: str,
        on_delivery: DeliveryHandler,
        on_user: UserHandler,
        clock: Callable[[], float] = time.time,
        nonces: NonceCache | None = None,
        chatbot_ids: frozenset[str] | None = None,  # None: any
    ):
        self.token = callback_token
        self.app_id = app_id
        self.on_delivery = on_delivery
        self.on_user = on_user
        self.clock = clock
        self.nonces = nonces or NonceCache()
        self.chatbot_ids = chatbot_ids

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        return [
            web.post(f"{prefix}/messageNotification/{{chatbotId}}/messages", self.user_message),
            web.post(f"{prefix}/deliveryNotification/{{chatbotId}}/status", self.delivery_status),
            web.get(f"{prefix}/messageNotification/{{chatbotId}}/messages", self.url_verification),
            web.get(f"{prefix}/deliveryNotification/{{chatbotId}}/status", self.url_verification),
            web.get(f"{prefix}/notifyPath", self.url_verification),
        ]

    def _check(self, request: web.Request) -> str:
        chatbot_id = request.match_info.get("chatbotId", "")
        if self.chatbot_ids is not None and chatbot_id and chatbot_id not in self.chatbot_ids:
            raise Problem(404, "unknown chatbot")
        verdict = verify_callback(request.headers, self.token, nonces=self.nonces, now=self.clock())
        if verdict is not Verdict.OK:
            raise Problem(401, f"callback rejected: {verdict.value}")
        return chatbot_id

    async def _body(self, request: web.Request) -> dict:
        try:
            data = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            raise Problem(400, f"malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
        return data

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def url_verification(self, request: web.Request) -> web.Response:
        """Onboarding handshake: a signed GET answered with the echoStr and appId headers."""
        self._check(request)
        echo = request.headers.get("echoStr")
        if not echo:
            raise Problem(400, "echoStr header missing")
        return web.Response(status=200, headers={"echoStr": echo, "appId": self.app_id})

    async def delivery_status(self, request: web.Request) -> web.Response:
        chatbot_id = self._check(request)
        try:
            events = parse_delivery_callback(await self._body(request), now=self._now())
        except CallbackFormatError as exc:
            raise Problem(422, "unreadable delivery notification", [FieldError(exc.path, exc.message)]) from None
        await self.on_delivery(chatbot_id, events)
        return web.Response(status=204)

    async def user_message(self, request: web.Request) -> web.Response:
        chatbot_id = self._check(request)
        try:
            event = parse_user_callback(await self._body(request), now=self._now())
        except CallbackFormatError as exc:
            raise Problem(422, "unreadable message notification", [FieldError(exc.path, exc.message)]) from None
        await self.on_user(chatbot_id, event)
        return web.Response(status=204)
