"""Inbound MaaP callbacks: signature checks, replay protection and parsing.

The China Telecom / China Unicom CSP interface V1.0.4 calls us at (under our notify URL):

- `POST messageNotification/{chatbotId}/messages`: a user's message, tap, location, file or
  shared device specifics (→ `UserEvent`);
- `POST deliveryNotification/{chatbotId}/status`: statuses of what we sent (→ `DeliveryEvent`s);
- `POST notifyInfoNotification/{chatbotId}/notice/rcsspam`, `…/check` and
  `…/notice/informationChange`: spam reports, audit results, information changes (→ `Notice`);
- `GET` on any of these and on `notifyPath`: the URL-verification handshake, answered with the
  `echoStr` and `appId` headers.

Each callback carries `signature`, `timestamp` and `nonce` headers; the signature is the hex
SHA-256 of the sorted, concatenated (callback token, timestamp, nonce). It does not cover the
body, so stale timestamps and repeated nonces are rejected too.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import unquote

import defusedxml.ElementTree as SafeET
import orjson
from aiohttp import web

from api.problems import FieldError, Problem, pointer
from rcs.maap import FILE_TRANSFER_TYPE, PUSH_LOCATION_TYPE, SUGGESTION_RESPONSE_TYPE
from rcs.results import (
    AUDIT_RESULT,
    INFORMATION_CHANGE,
    SPAM_REPORT,
    DeliveryEvent,
    DeviceSpecifics,
    Location,
    MediaFile,
    Notice,
    UserEvent,
)
from security.numbers import number_from_uri

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_S = 300.0  # as for our own webhooks: 5 minutes

# Content types of mobile-originated messages besides those rcs.maap sends.
FILE_TRANSFER_JSON_TYPE = "application/vnd.gsma.rcs-ft-http"  # the interface's own file form (a JSON list)
SHARED_CLIENT_DATA_TYPE = "application/vnd.gsma.botsharedclientdata.v1.0+json"
_FILE_TYPES = frozenset({FILE_TRANSFER_JSON_TYPE, FILE_TRANSFER_TYPE})

# An audit time comes in the documented form YY-MM-DD HH:MM:SS, without an offset: China time.
CHINA_TZ = timezone(timedelta(hours=8))


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


def signed_headers(token: str, now: float, nonce: str | None = None, *, millis: bool = False) -> dict[str, str]:
    """Headers a MaaP (or the simulator) sends with a callback: `timestamp` in seconds since the
    epoch and a UUID `nonce`, as the interface specifies (`millis`: milliseconds instead, as
    some MaaPs send)."""
    ts = str(int(now * 1000)) if millis else str(int(now))
    nonce = nonce or str(uuid.uuid4())
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


def _parse_time(value, default: datetime, naive_tz: tzinfo = UTC) -> datetime:
    """An ISO 8601 time (`2020-01-17T14:42:20.840+08:00`, `…Z`, `2020-01-17 14:42:20`, or
    `20-01-17 14:42:20`); `default` when absent or unreadable; `naive_tz` when it has no offset."""
    if not isinstance(value, str) or not value.strip():
        return default
    value = value.strip()
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            at = datetime.strptime(value, "%y-%m-%d %H:%M:%S")
        except ValueError:
            return default
    return at if at.tzinfo else at.replace(tzinfo=naive_tz)


def _int_or_none(value) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str_or_none(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(address) -> str | None:
    """The user's number in its canonical E.164 form (what messages are blind-indexed by), from
    a tel: or sip: URI; None when there is none."""
    if isinstance(address, list):
        address = address[0] if address else ""
    return number_from_uri(address)


def _is_tel(address) -> bool:
    if isinstance(address, list):
        address = address[0] if address else ""
    return isinstance(address, str) and address.startswith("tel:")


def parse_delivery_callback(body: dict, *, now: datetime) -> list[DeliveryEvent]:
    """`deliveryInfoList[{messageId, status, errorCode, …}]` → DeliveryEvents (none when the
    list is absent: the interface makes it optional)."""
    items = body.get("deliveryInfoList")
    if items is None:
        return []
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
        # The user's number: `senderAddress` in the interface's example (`destinationAddress` is
        # the chatbot there); whichever of the two is a tel: URI.
        sender, destination = item.get("senderAddress"), item.get("destinationAddress")
        user = sender if _is_tel(sender) else destination if _is_tel(destination) else None
        events.append(
            DeliveryEvent(
                message_id=mid,
                status=status,
                error_code=_int_or_none(item.get("errorCode")),
                at=_parse_time(item.get("dateTime"), now),
                error_message=_str_or_none(item.get("errorMessage")),
                recipient=_number(user),
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
    return _checked(Location(float(pos[0]), float(pos[1]), label))


def _checked(location: Location) -> Location:
    if not (-90.0 <= location.latitude <= 90.0 and -180.0 <= location.longitude <= 180.0):
        raise ValueError("coordinates out of range")
    return location


def _parse_geo_uri(text: str) -> Location:
    """RFC 5870 `geo:lat,lon[;crs=…][;u=…][;rcs-l=<percent-encoded label>]` (the interface's
    location form, as GSMA RCC.07 shares a location as text)."""
    coords, _, params = text[4:].partition(";")
    lat, lon = coords.split(",")[:2]
    label = crs = None
    uncertainty = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        key = key.strip().lower()
        if key == "rcs-l":
            label = unquote(value.strip(), errors="replace") or None
        elif key == "crs":
            crs = value.strip() or None
        elif key == "u":
            try:
                uncertainty = float(value)
            except ValueError:
                pass  # an unreadable uncertainty does not make the location unreadable
    return _checked(Location(float(lat), float(lon), label, crs, uncertainty))


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
        file_name=main.get("file-name"),
    )


def _parse_file_json(items: list) -> MediaFile:
    # The interface's file form: a list of {type: file|thumbnail, url, contentType, fileSize,
    # fileName, until}. Its own example spells one key `contenType`, so that is read too.
    main = next((i for i in items if isinstance(i, dict) and i.get("type", "file") == "file"), None)
    thumb = next((i for i in items if isinstance(i, dict) and i.get("type") == "thumbnail"), None)
    if not main or not isinstance(main.get("url"), str) or not main["url"]:
        raise ValueError("no file url")
    return MediaFile(
        url=main["url"],
        content_type=main.get("contentType") or main.get("contenType") or "application/octet-stream",
        file_size=_int_or_none(main.get("fileSize")) or 0,
        until=_str_or_none(main.get("until")),
        thumbnail_url=_str_or_none(thumb.get("url")) if thumb else None,
        file_name=_str_or_none(main.get("fileName")),
    )


def _parse_file(content) -> MediaFile:
    """A file in any form a MaaP sends: the JSON list (also as text), or the GSMA XML."""
    if isinstance(content, str):
        if content.lstrip().startswith("<"):
            return _parse_file_xml(content)
        content = orjson.loads(content)
    if isinstance(content, dict):  # one file-info object, or {"fileInfo": [...]}
        content = content.get("fileInfo", [content])
    if not isinstance(content, list):
        raise ValueError("expected a list of file information")
    return _parse_file_json(content)


def _json(content):
    """A JSON content part: an object as the interface sends it, or the same as text."""
    return orjson.loads(content) if isinstance(content, (str, bytes)) else content


def _decoded(item: dict, where: str):
    """`contentText`, base64-decoded when `contentEncoding` says so (then read as UTF-8 text,
    which the content type's parser takes as it takes unencoded text)."""
    text = item.get("contentText")
    encoding = str(item.get("contentEncoding") or "").strip().lower()
    if encoding != "base64":
        return text  # "utf8" (the default) or absent
    if not isinstance(text, str):
        raise CallbackFormatError(where, "base64 content must be a string")
    packed = "".join(text.split())
    try:
        raw = base64.b64decode(packed + "=" * (-len(packed) % 4), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise CallbackFormatError(where, f"unreadable base64 content: {exc}") from None


def _device_specifics(shared: dict) -> DeviceSpecifics:
    spec = shared.get("deviceSpecifics") or {}
    if not isinstance(spec, dict):
        raise TypeError("deviceSpecifics must be an object")
    return DeviceSpecifics(
        device_model=_str_or_none(spec.get("deviceModel")),
        platform_version=_str_or_none(spec.get("platformVersion")),
        client_vendor=_str_or_none(spec.get("clientVendor")),
        client_version=_str_or_none(spec.get("clientVersion")),
        battery_remaining_minutes=_int_or_none(spec.get("batteryRemainingMinutes")),
    )


def parse_user_callback(body: dict, *, now: datetime) -> UserEvent:
    """A messageNotification body → one UserEvent (text, suggestion response, location, file,
    device specifics). Unknown fields are ignored."""
    sender = _number(body.get("senderAddress"))
    if sender is None:
        raise CallbackFormatError(pointer("senderAddress"), "required: a tel: URI with the user's phone number")
    if isinstance(body.get("messageList"), list) and body["messageList"]:
        item, base = body["messageList"][0], pointer("messageList", 0)
        if not isinstance(item, dict):
            raise CallbackFormatError(base, "expected an object")
    else:  # some profiles put contentType / contentText at the top level
        item, base = body, ""
    ctype = str(item.get("contentType") or "").split(";", 1)[0].strip().lower()
    where = base + "/contentText"
    content = _decoded(item, where)
    common: dict[str, Any] = dict(
        message_id=_str_or_none(body.get("messageId")),
        from_number=sender,
        # `dateTime` in the interface's examples, `dataTime` in its field table
        at=_parse_time(body.get("dateTime") or body.get("dataTime"), now),
        conversation_id=_str_or_none(body.get("conversationId")),
        contribution_id=_str_or_none(body.get("contributionId")),
        in_reply_to=_str_or_none(body.get("inReplyTo")) or _str_or_none(body.get("inReplyToContributionId")),
    )
    try:
        if ctype == SUGGESTION_RESPONSE_TYPE:
            response = _json(content)["response"]
            chosen = response.get("reply") or response.get("action") or {}
            postback = (chosen.get("postback") or {}).get("data")
            return UserEvent(
                kind="suggestion_response",
                postback=postback,
                display_text=chosen.get("displayText"),
                extra={"suggestion": "action" if "action" in response else "reply"},
                **common,
            )
        if ctype == SHARED_CLIENT_DATA_TYPE:
            shared = _json(content)["sharedData"]
            return UserEvent(
                kind="device_specifics",
                device=_device_specifics(shared),
                extra={"shared_data": shared},
                **common,
            )
        if ctype == PUSH_LOCATION_TYPE:
            return UserEvent(kind="location", location=_parse_push_location(content), **common)
        if ctype in _FILE_TYPES or isinstance(content, list):
            return UserEvent(kind="file", file=_parse_file(content), **common)
        if isinstance(content, str) and ctype in ("text/plain", ""):
            if content[:4].lower() == "geo:":
                try:
                    location = _parse_geo_uri(content)
                except ValueError:
                    pass  # text that merely starts with "geo:"
                else:
                    return UserEvent(kind="location", location=location, text=content, **common)
            return UserEvent(kind="text", text=content, **common)
    except (KeyError, TypeError, ValueError, AttributeError, SafeET.ParseError) as exc:
        raise CallbackFormatError(where, f"unreadable {ctype or 'content'}: {exc}") from None
    if ctype in ("text/plain", ""):
        raise CallbackFormatError(where, "expected a string")
    raise CallbackFormatError(base + "/contentType", f"unsupported {ctype!r}")


def parse_spam_report(body: dict, *, chatbot_id: str, now: datetime) -> Notice:
    """`notice/rcsspam`: `{messageId: [...], spamType, freeText}`, every field optional (no
    messageId: the user reported the chatbot itself)."""
    ids = body.get("messageId")
    if isinstance(ids, str):
        ids = [ids]
    if ids is None:
        ids = []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise CallbackFormatError(pointer("messageId"), "expected a list of message ids")
    return Notice(
        kind=SPAM_REPORT,
        chatbot_id=chatbot_id,
        at=now,
        message_ids=tuple(i for i in ids if i),
        spam_type=_str_or_none(body.get("spamType")),
        free_text=_str_or_none(body.get("freeText")),
        raw=body,
    )


def parse_audit_result(body: dict, *, chatbot_id: str, now: datetime) -> Notice:
    """`check`: `{type, result, time, description, remark}`; `remark` names what was audited
    (`messageId: …`, `url: …`, `chatbotId: …`)."""
    for name in ("type", "result"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise CallbackFormatError(pointer(name), "required")
    remark = _str_or_none(body.get("remark"))
    subject_kind = subject = None
    if remark:
        key, sep, value = remark.replace("：", ":").partition(":")
        if sep and key.strip() and " " not in key.strip():
            subject_kind, subject = key.strip(), value.strip() or None
        else:
            subject = remark.strip()
    return Notice(
        kind=AUDIT_RESULT,
        chatbot_id=chatbot_id,
        at=_parse_time(body.get("time"), now, naive_tz=CHINA_TZ),
        audit_type=body["type"].strip(),
        result=body["result"].strip(),
        description=_str_or_none(body.get("description")),
        remark=remark,
        subject_kind=subject_kind,
        subject=subject,
        raw=body,
    )


def parse_information_change(body: dict, *, chatbot_id: str, now: datetime) -> Notice:
    """`notice/informationChange`: the chatbot's information changed (its required information,
    or optional information that passed audit). The interface defines no body; whatever comes
    is kept in `raw`, and an empty body is fine."""
    return Notice(kind=INFORMATION_CHANGE, chatbot_id=chatbot_id, at=now, raw=body)


# -- the endpoints the server mounts --------------------------------------------------------------

DeliveryHandler = Callable[[str, list[DeliveryEvent]], Awaitable[None]]
UserHandler = Callable[[str, UserEvent], Awaitable[None]]
NoticeHandler = Callable[[str, Notice], Awaitable[None]]
NoticeParser = Callable[..., Notice]


async def log_notice(chatbot_id: str, notice: Notice) -> None:
    """The default notice handler: one info line (never the reporter's free text)."""
    if notice.kind == AUDIT_RESULT:
        log.info(
            "audit result for %s: %s %s %s (%s)",
            chatbot_id,
            notice.audit_type,
            notice.subject or "-",
            notice.result,
            notice.description or "",
        )
    elif notice.kind == SPAM_REPORT:
        log.info(
            "spam report against %s: %s, messages %s",
            chatbot_id,
            notice.spam_type or "-",
            ", ".join(notice.message_ids) or "(the chatbot)",
        )
    else:
        log.info("%s notice for %s", notice.kind, chatbot_id)


def _multipart_json(raw: bytes, content_type: str) -> dict | None:
    """The first part of a multipart body that is a JSON object (the interface names
    `multipart/form-data` as the callbacks' content type, though its bodies are JSON)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        return None
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return data
    return None


# chatbot id → (its callback token, its app id) for chatbots other than the default one
ChatbotLookup = Callable[[str], Awaitable[tuple[str, str] | None]]


class CallbackEndpoints:
    """aiohttp handlers for one MaaP's callbacks (`routes(prefix)` to mount them).

    `on_delivery(chatbot_id, events)`, `on_user(chatbot_id, event)` and
    `on_notice(chatbot_id, notice)` are awaited before we answer, so the MaaP retries when
    recording fails. Every POST is answered 204 once handled; the handshake GET 200.
    """

    def __init__(
        self,
        *,
        callback_token: str,
        app_id: str,
        on_delivery: DeliveryHandler,
        on_user: UserHandler,
        on_notice: NoticeHandler | None = None,  # None: log_notice
        clock: Callable[[], float] = time.time,
        nonces: NonceCache | None = None,
        chatbot_ids: frozenset[str] | None = None,  # None: any
        other_chatbots: ChatbotLookup | None = None,
    ):
        self.token = callback_token
        self.app_id = app_id
        self.on_delivery = on_delivery
        self.on_user = on_user
        self.on_notice: NoticeHandler = on_notice or log_notice
        self.clock = clock
        self.nonces = nonces or NonceCache()
        self.chatbot_ids = chatbot_ids
        # Brands' own chatbots: chatbot id → (their callback token, their app id), or None.
        self.other_chatbots = other_chatbots

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        notify = f"{prefix}/notifyInfoNotification/{{chatbotId}}"
        posts = {
            f"{prefix}/messageNotification/{{chatbotId}}/messages": self.user_message,
            f"{prefix}/deliveryNotification/{{chatbotId}}/status": self.delivery_status,
            f"{notify}/notice/rcsspam": self.spam_report,
            f"{notify}/check": self.audit_result,
            f"{notify}/notice/informationChange": self.information_change,
        }
        return [
            *(web.post(path, handler) for path, handler in posts.items()),
            # The handshake may come to any notify path, or to `notifyPath` with a chatbotId header.
            *(web.get(path, self.url_verification) for path in posts),
            web.get(f"{prefix}/notifyPath", self.url_verification),
        ]

    async def _check(self, request: web.Request) -> tuple[str, str]:
        """The chatbot a signed callback is for and its app id; refuses a bad signature."""
        chatbot_id = request.match_info.get("chatbotId") or request.headers.get("chatbotId") or ""
        token, app_id = self.token, self.app_id
        found = await self.other_chatbots(chatbot_id) if self.other_chatbots is not None and chatbot_id else None
        if found is not None:
            token, app_id = found
        elif self.chatbot_ids is not None and chatbot_id and chatbot_id not in self.chatbot_ids:
            raise Problem(404, "unknown chatbot")
        verdict = verify_callback(request.headers, token, nonces=self.nonces, now=self.clock())
        if verdict is not Verdict.OK:
            raise Problem(401, f"callback rejected: {verdict.value}")
        return chatbot_id, app_id

    async def _body(self, request: web.Request) -> dict:
        raw = await request.read()
        if not raw.strip():
            return {}  # e.g. an information change, which has no body
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            content_type = request.headers.get("Content-Type", "")
            multipart = _multipart_json(raw, content_type) if content_type.lower().startswith("multipart/") else None
            if multipart is None:
                raise Problem(400, f"malformed JSON: {exc}") from None
            data = multipart
        if not isinstance(data, dict):
            raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
        return data

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def url_verification(self, request: web.Request) -> web.Response:
        """Onboarding handshake: a signed GET answered with the `echoStr` it carried and our
        `appId`, both as headers."""
        _, app_id = await self._check(request)
        headers = {"appId": app_id}
        echo = request.headers.get("echoStr")
        if echo is not None:
            headers["echoStr"] = echo
        return web.Response(status=200, headers=headers)

    async def delivery_status(self, request: web.Request) -> web.Response:
        chatbot_id, _ = await self._check(request)
        try:
            events = parse_delivery_callback(await self._body(request), now=self._now())
        except CallbackFormatError as exc:
            raise Problem(422, "unreadable delivery notification", [FieldError(exc.path, exc.message)]) from None
        await self.on_delivery(chatbot_id, events)
        return web.Response(status=204)

    async def user_message(self, request: web.Request) -> web.Response:
        chatbot_id, _ = await self._check(request)
        try:
            event = parse_user_callback(await self._body(request), now=self._now())
        except CallbackFormatError as exc:
            raise Problem(422, "unreadable message notification", [FieldError(exc.path, exc.message)]) from None
        await self.on_user(chatbot_id, event)
        return web.Response(status=204)

    async def _notice(self, request: web.Request, parse: NoticeParser) -> web.Response:
        chatbot_id, _ = await self._check(request)
        try:
            notice = parse(await self._body(request), chatbot_id=chatbot_id, now=self._now())
        except CallbackFormatError as exc:
            raise Problem(422, "unreadable notice", [FieldError(exc.path, exc.message)]) from None
        await self.on_notice(chatbot_id, notice)
        return web.Response(status=204)

    async def spam_report(self, request: web.Request) -> web.Response:
        return await self._notice(request, parse_spam_report)

    async def audit_result(self, request: web.Request) -> web.Response:
        return await self._notice(request, parse_audit_result)

    async def information_change(self, request: web.Request) -> web.Response:
        return await self._notice(request, parse_information_change)
