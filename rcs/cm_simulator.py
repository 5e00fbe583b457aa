"""A sandbox China Mobile MaaP: the chatbot interface of OMA NetAPI Messaging (XML) on
loopback, as strict as the real one, with the sandbox's magic-number behaviour.

It takes `POST /messaging/{v}/outbound/{chatbotURI}/requests` (an `outboundMessageRequest`),
`PUT …/requests/{messageId}/status` (a `messageStatusReport`, RevokeRequested) and
`POST /Content` (a media upload: multipart/form-data `Thumbnail` + `File`, the chatbot named by
`X-3GPP-Intended-Identity`, a `tid`, `Terminal-type: Chatbot`; the CN media limits of DESIGN
§11; answered with the GSMA file document, the file then served at `GET /s/{id}`), and
refuses what the interface refuses, answering an OMA `common:requestError`: a missing or
wrong `Authorization` (Basic appId:sha256(token + Date)) or a stale `Date` (401), a body that
is not `application/xml` (415), XML with a DTD or entities, a root or namespace of another
message, more than one `destinationAddress` (POL0003), an `Address` header naming someone else,
a sender that is not the chatbot, content types and parts the interface does not carry,
cards and chip lists the chatbot message schema refuses (SVC0002, the CN simulator's checks),
and a card or file naming media this MaaP did not issue to the chatbot, or whose copy expired
(SVC0002 `mediaUrl`: a MaaP sends only files uploaded to it).

Notifications go to the platform's callback base URL as XML, signed like the CN interface's
callbacks with the chatbot's callback token (the public record is silent on how the MaaP
signs them; see rcs.cm_callbacks): `DeliveryInfoNotification/{chatbotURI}` (delivered,
displayed, DeliveryImpossible), `MessageStatusNotification/{chatbotURI}` (Revoked /
RevokeFailed) and `InboundMessageNotification/{chatbotURI}` (a tap or a reply, see `tap`).

The chatbot URI in the path may come percent-encoded (as this platform sends it) or as it is
(as some published clients send it: `:` and `@` are legal in a path); either names the chatbot.

Endings (DESIGN §4/§13, longest suffix first): 0, 9, 00 not capable (accepted, then
DeliveryImpossible); 1–6 delivered after 0.5 s, displayed 1 s later; 7 never delivered (a
revoke gets Revoked); 8 two 503 answers (SVC0001) to a message's first sends, then as 1–6;
44 delivered and read with the notifications lost; 55 delivered, never displayed.

Run standalone: python -m rcs.cm_simulator --port 8082 --callback-url http://127.0.0.1:8080/rcs
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape, quoteattr

import aiohttp
import orjson
from aiohttp import web
from yarl import URL

from rcs.callbacks import signed_headers
from rcs.cm_callbacks import XmlRefused, parse_xml
from rcs.maap import (
    BOT_MESSAGE_TYPE,
    FILE_TRANSFER_TYPE,
    SUGGESTION_LIST_TYPE,
    SUGGESTION_RESPONSE_TYPE,
    TEXT_TYPE,
)
from rcs.operators.cm_netapi import token_of
from rcs.simulator import (
    MAX_TEXT,
    THUMBNAIL_MAX,
    UPLOAD_KINDS,
    Behaviour,
    Refusal,
    RouteAccessLogger,
    SimulatorTiming,
    behaviour_of,
    check_card_object,
    check_chip_object,
    collect_suggestions,
    media_urls,
    utc_z,
)
from security.logs import mask_phone
from security.numbers import number_from_uri

log = logging.getLogger(__name__)

NETAPI_NS = "urn:oma:xml:rest:netapi:messaging:1"
COMMON_NS = "urn:oma:xml:rest:netapi:common:1"
MAX_SKEW_S = 900.0  # how far the Date header may be from our clock
CONTENT_TYPES = frozenset({TEXT_TYPE, BOT_MESSAGE_TYPE, FILE_TRANSFER_TYPE})
SANDBOX_CHATBOT_URI = "sip:12520000001@botplatform.rcs.chinamobile.com"
# The public sandbox chatbot's credentials (the standalone simulator's and `server.py simulators`').
SANDBOX_APP_ID, SANDBOX_TOKEN, SANDBOX_CALLBACK_TOKEN = "sandbox-app", "sandbox-key", "sandbox-callback-token"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
FTHTTP_NS = "urn:gsma:params:xml:ns:rcs:rcs:fthttp"
FILE_LIFETIME_S = 3 * 86_400  # how long an uploaded copy is served (the answer's `until`)
_THUMBNAIL_TYPES = UPLOAD_KINDS["image"][0]


class Refused(Exception):
    """A request the MaaP refuses: HTTP status, OMA exception kind and id, text, variables."""

    def __init__(self, status: int, exception_id: str, text: str, *variables: str):
        super().__init__(f"{exception_id} {text}")
        self.status, self.exception_id, self.text, self.variables = status, exception_id, text, variables

    def answer(self) -> web.Response:
        kind = "policyException" if self.exception_id.startswith("POL") else "serviceException"
        variables = "".join(f"<variables>{escape(v)}</variables>" for v in self.variables)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<common:requestError xmlns:common="{COMMON_NS}"><{kind}>'
            f"<messageId>{self.exception_id}</messageId><text>{escape(self.text)}</text>{variables}"
            f"</{kind}></common:requestError>"
        )
        return web.Response(status=self.status, text=body, content_type="application/xml")


@dataclass
class CmChatbot:
    chatbot_id: str
    app_id: str
    token: str
    callback_token: str


@dataclass
class CmFile:
    """A file uploaded to the MaaP: served at `url` until `until` (Unix seconds)."""

    url: str
    chatbot_id: str
    data: bytes
    content_type: str
    file_name: str
    until: float


@dataclass
class CmMessage:
    message_id: str
    chatbot_id: str
    number: str
    contribution_id: str
    parts: list[tuple[str, str]]  # (content type, content)
    state: str = "accepted"  # accepted, delivered, displayed, failed, revoked
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def split_multipart(body: str, boundary: str) -> list[tuple[str, str]]:
    """(content type, content) of each part of a multipart body (CRLF, or LF after an XML
    parser's line-end normalisation)."""
    text = body.replace("\r\n", "\n")
    delimiter = f"--{boundary}"
    if f"{delimiter}--" not in text:
        raise Refused(400, "SVC0002", "Invalid input value for message part %1", "bodyText: no closing boundary")
    inside = text.split(f"{delimiter}--", 1)[0]
    chunks = inside.split(delimiter)
    if chunks[0].strip():
        raise Refused(400, "SVC0002", "Invalid input value for message part %1", "bodyText: text before the first part")
    parts = []
    for chunk in chunks[1:]:
        head, sep, content = chunk.lstrip("\n").partition("\n\n")
        if not sep:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "bodyText: a part without headers")
        headers = {}
        for line in head.split("\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        content = content.removesuffix("\n")
        length = headers.get("content-length")
        # The declared length counts the part's bytes as sent: line ends inside it as CRLF or LF
        # (an XML parser turns CRLF into LF before we see it).
        sizes = {len(content.encode()), len(content.replace("\n", "\r\n").encode())}
        if length is not None and (not length.isdigit() or int(length) not in sizes):
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "Content-Length")
        parts.append((ctype, content))
    return parts


def check_parts(parts: list[tuple[str, str]]) -> None:
    """A content part (text, card, file), optionally followed by one chip list; each valid."""
    if not parts or parts[0][0] not in CONTENT_TYPES:
        raise Refused(400, "SVC0002", "Invalid input value for message part %1", "contentType")
    if len(parts) > 2 or (len(parts) == 2 and parts[1][0] != SUGGESTION_LIST_TYPE):
        raise Refused(400, "SVC0002", "Invalid input value for message part %1", "bodyText: parts")
    for ctype, content in parts:
        try:
            if ctype == TEXT_TYPE:
                if not content or len(content) > MAX_TEXT:
                    raise Refusal(400, f"a text holds 1–{MAX_TEXT} characters")
            elif ctype in (BOT_MESSAGE_TYPE, SUGGESTION_LIST_TYPE):
                doc = orjson.loads(content)
                if not isinstance(doc, dict):
                    raise Refusal(400, f"{ctype} must be a JSON object")
                (check_card_object if ctype == BOT_MESSAGE_TYPE else check_chip_object)(doc)
        except orjson.JSONDecodeError as exc:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", f"{ctype}: {exc}") from None
        except Refusal as r:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", r.message) from None


class CmNetApiSimulator:
    """China Mobile's MaaP on loopback (see the module docstring)."""

    def __init__(
        self,
        *,
        callback_base_url: str | None = None,
        timing: SimulatorTiming | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_version: str = "v1",
        clock: Callable[[], float] = time.time,
    ):
        self.callback_base_url = callback_base_url.rstrip("/") if callback_base_url else None
        self.timing = timing or SimulatorTiming()
        self.host, self.port, self.api_version = host, port, api_version
        self.clock = clock
        self.chatbots: dict[str, CmChatbot] = {}
        self.messages: dict[str, CmMessage] = {}
        self.attempts: Counter[str] = Counter()  # sends seen per messageId (…8 numbers)
        self.refusals: list[str] = []  # what was refused and why (for tests)
        self.files: dict[str, CmFile] = {}  # uploaded media by the URL answered
        self.uploads: list[str] = []  # the tid of each accepted upload
        self.callbacks_sent = self.callbacks_failed = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def server_root(self) -> str:
        return f"{self.host}:{self.port}"

    def add_chatbot(self, chatbot_id: str, app_id: str, token: str, callback_token: str) -> CmChatbot:
        """Provision a chatbot (as the operator's onboarding does); `token` as the channel's app
        key holds it: the token, or the password it is the SHA-256 of."""
        bot = CmChatbot(chatbot_id, app_id, token_of(token), callback_token)
        self.chatbots[chatbot_id] = bot
        return bot

    def make_app(self) -> web.Application:
        # Room for the largest upload (a 10 MB video and its thumbnail); each part's limit is checked.
        app = web.Application(client_max_size=11 * 1024 * 1024)
        base = f"/messaging/{self.api_version}/outbound/{{chatbotURI}}/requests"
        app.add_routes(
            [
                web.post(base, self._send),
                web.put(f"{base}/{{messageId}}/status", self._revoke),
                web.post("/Content", self._upload),
                web.get("/s/{fileId}", self._file),
            ]
        )
        return app

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._runner = web.AppRunner(self.make_app(), access_log_class=RouteAccessLogger)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("China Mobile MaaP simulator on %s", self.url)

    async def stop(self) -> None:
        for m in self.messages.values():
            for t in m.timers:
                t.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> CmNetApiSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- checks --------------------------------------------------------------------------------

    def _chatbot(self, request: web.Request) -> CmChatbot:
        bot = self.chatbots.get(request.match_info["chatbotURI"])
        if bot is None:
            raise Refused(404, "SVC0001", "A service error occurred. Error code is %1", "unknown chatbot")
        return bot

    def _authenticate(self, request: web.Request, bot: CmChatbot) -> None:
        date = request.headers.get("Date", "")
        try:
            at = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            raise Refused(401, "SVC0001", "A service error occurred. Error code is %1", "Date") from None
        if abs(at - self.clock()) > MAX_SKEW_S:
            raise Refused(401, "SVC0001", "A service error occurred. Error code is %1", "stale Date")
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        try:
            app_id, _, digest = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            app_id = digest = ""
        expected = hashlib.sha256((bot.token + date).encode()).hexdigest()
        if scheme != "Basic" or app_id != bot.app_id or not hmac.compare_digest(digest, expected):
            raise Refused(401, "SVC0001", "A service error occurred. Error code is %1", "Authorization")

    async def _document(self, request: web.Request, root_name: str):
        if request.content_type not in ("application/xml", "text/xml"):
            raise Refused(415, "SVC0002", "Invalid input value for message part %1", "Content-Type")
        try:
            root = parse_xml(await request.read())
        except XmlRefused as exc:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", str(exc)) from None
        if _local(root.tag) != root_name or _namespace(root.tag) != NETAPI_NS:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", f"expected {root_name}")
        return root

    def _recipient(self, request: web.Request, addresses: list[str]) -> str:
        if len(addresses) != 1:
            raise Refused(400, "POL0003", "Too many addresses specified in message part %1", "destinationAddress")
        number = number_from_uri(addresses[0]) if addresses[0].startswith("tel:") else None
        if number is None:
            raise Refused(400, "SVC0004", "No valid addresses provided in message part %1", "destinationAddress")
        if number_from_uri(request.headers.get("Address", "")) != number:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "Address")
        return number

    # -- the interface ------------------------------------------------------------------------

    async def _api(self, request: web.Request, handler) -> web.StreamResponse:
        if self.timing.latency_s:
            await asyncio.sleep(self.timing.latency_s)
        try:
            bot = self._chatbot(request)
            self._authenticate(request, bot)
            return await handler(request, bot)
        except Refused as r:
            self.refusals.append(f"{r.exception_id} {' '.join(r.variables)}")
            return r.answer()

    async def _send(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, self._accept_send)

    async def _revoke(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, self._accept_revoke)

    async def _accept_send(self, request: web.Request, bot: CmChatbot) -> web.Response:
        root = await self._document(request, "outboundMessageRequest")
        top = {_local(c.tag): c for c in root}
        addresses = [(c.text or "").strip() for c in root if _local(c.tag) == "destinationAddress"]
        number = self._recipient(request, addresses)
        sender = (top["senderAddress"].text or "").strip() if "senderAddress" in top else ""
        if sender != bot.chatbot_id:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "senderAddress")
        im = top.get("outboundIMMessage")
        if im is None:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "outboundIMMessage")
        fields = {_local(c.tag): c for c in im}
        for name in ("contentType", "bodyText", "contributionID", "conversationID", "serviceCapability"):
            if name not in fields:
                raise Refused(400, "SVC0002", "Invalid input value for message part %1", name)
        capability = {_local(c.tag): (c.text or "").strip() for c in fields["serviceCapability"]}
        if capability.get("capabilityId") != "ChatbotSA":
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "serviceCapability")
        content_type = (fields["contentType"].text or "").strip()
        body = fields["bodyText"].text or ""
        if content_type.lower().startswith("multipart/mixed"):
            found = _BOUNDARY.search(content_type)
            if found is None:
                raise Refused(400, "SVC0002", "Invalid input value for message part %1", "contentType: boundary")
            parts = split_multipart(body, found.group(1))
        else:
            parts = [(content_type.split(";", 1)[0].strip().lower(), body)]
        check_parts(parts)
        self._check_media(parts, bot)
        message_id = (fields["messageId"].text or "").strip() if "messageId" in fields else str(uuid.uuid4())
        behaviour = behaviour_of(number)
        self.attempts[message_id] += 1
        if behaviour is Behaviour.FLAKY and self.attempts[message_id] <= self.timing.flaky_failures:
            raise Refused(503, "SVC0001", "A service error occurred. Error code is %1", "busy")
        if message_id not in self.messages:
            contribution = (fields["contributionID"].text or "").strip()
            message = CmMessage(message_id, bot.chatbot_id, number, contribution, parts)
            self.messages[message_id] = message
            self._schedule(message, behaviour)
        location = f"{self.url}{request.raw_path}/{quote(message_id, safe='')}"
        answer = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<msg:resourceReference xmlns:msg="{NETAPI_NS}"><resourceURL>{escape(location)}</resourceURL>'
            "</msg:resourceReference>"
        )
        return web.Response(status=201, text=answer, content_type="application/xml", headers={"Location": location})

    async def _accept_revoke(self, request: web.Request, bot: CmChatbot) -> web.Response:
        root = await self._document(request, "messageStatusReport")
        fields = {_local(c.tag): (c.text or "").strip() for c in root}
        if fields.get("status") != "RevokeRequested":
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "status")
        number = self._recipient(request, [fields.get("address", "")])
        message = self.messages.get(unquote(request.match_info["messageId"]))
        if message is None or message.chatbot_id != bot.chatbot_id or message.number != number:
            raise Refused(404, "SVC0001", "A service error occurred. Error code is %1", "unknown message")
        self._later(message, self.timing.revoke_delay_s, lambda: self._settle_revoke(message))
        return web.Response(status=204)

    def _check_media(self, parts: list[tuple[str, str]], bot: CmChatbot) -> None:
        """Every media URL a card or file names must be a live file uploaded by this chatbot."""
        urls: list[str] = []
        for ctype, content in parts:
            if ctype == BOT_MESSAGE_TYPE:
                urls.extend(media_urls({"contentType": ctype, "contentText": orjson.loads(content)}))
            elif ctype == FILE_TRANSFER_TYPE:
                try:
                    root = parse_xml(content.encode())
                except XmlRefused as exc:
                    raise Refused(400, "SVC0002", "Invalid input value for message part %1", str(exc)) from None
                urls.extend(e.get("url", "") for e in root.iter() if _local(e.tag) == "data")
        for url in urls:
            held = self.files.get(url)
            if held is None or held.chatbot_id != bot.chatbot_id or held.until <= self.clock():
                raise Refused(400, "SVC0002", "Invalid input value for message part %1", "mediaUrl")

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        if self.timing.latency_s:
            await asyncio.sleep(self.timing.latency_s)
        try:
            identity = request.headers.get("X-3GPP-Intended-Identity", "")
            bot = self.chatbots.get(identity) or self.chatbots.get(f"sip:{identity}")
            if bot is None:
                raise Refused(403, "SVC0001", "A service error occurred. Error code is %1", "X-3GPP-Intended-Identity")
            self._authenticate(request, bot)
            return await self._accept_upload(request, bot)
        except Refused as r:
            self.refusals.append(f"{r.exception_id} {' '.join(r.variables)}")
            return r.answer()

    async def _accept_upload(self, request: web.Request, bot: CmChatbot) -> web.Response:
        if request.headers.get("Terminal-type") != "Chatbot":
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "Terminal-type")
        if request.content_type != "multipart/form-data":
            raise Refused(415, "SVC0002", "Invalid input value for message part %1", "Content-Type")
        tid = request.headers.get("tid", "")
        found: dict[str, tuple[bytes, str, str]] = {}
        async for part in await request.multipart():
            if not isinstance(part, aiohttp.BodyPartReader) or part.name not in ("File", "Thumbnail", "tid"):
                raise Refused(400, "SVC0002", "Invalid input value for message part %1", "form part")
            if part.name in found:
                raise Refused(400, "SVC0002", "Invalid input value for message part %1", f"two {part.name} parts")
            data = bytes(await part.read(decode=False))
            if part.name == "tid":  # some clients send it as a form field
                tid = tid or data.decode(errors="replace").strip()
                continue
            ctype = (part.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            found[part.name] = (data, ctype, part.filename or part.name.lower())
        if not tid:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "tid")
        if "File" not in found:
            raise Refused(400, "SVC0002", "Invalid input value for message part %1", "File")
        for name, (data, ctype, _) in found.items():
            if name == "Thumbnail":
                types, most = _THUMBNAIL_TYPES, THUMBNAIL_MAX
            else:
                types, most = next(((t, m) for t, m in UPLOAD_KINDS.values() if ctype in t), (frozenset(), 0))
            if not data:
                raise Refused(400, "SVC0002", "Invalid input value for message part %1", f"{name}: empty")
            if ctype not in types:
                raise Refused(415, "SVC0002", "Invalid input value for message part %1", f"{name}: {ctype}")
            if len(data) > most:
                raise Refused(413, "SVC0002", "Invalid input value for message part %1", f"{name}: over {most} bytes")
        until = self.clock() + FILE_LIFETIME_S
        infos = []
        for name in ("Thumbnail", "File"):
            if name not in found:
                continue
            data, ctype, file_name = found[name]
            url = f"{self.url}/s/{uuid.uuid4().hex}{'FD' if name == 'File' else 'TD'}"
            self.files[url] = CmFile(url, bot.chatbot_id, data, ctype, file_name, until)
            kind = "file" if name == "File" else "thumbnail"
            named = f"<file-name>{escape(file_name)}</file-name>" if kind == "file" else ""
            infos.append(
                f'<file-info type="{kind}"><file-size>{len(data)}</file-size>{named}'
                f"<content-type>{escape(ctype)}</content-type>"
                f"<data url={quoteattr(url)} until={quoteattr(utc_z(until))}/></file-info>"
            )
        self.uploads.append(tid)
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<file xmlns="{FTHTTP_NS}">{"".join(infos)}</file>'
        return web.Response(status=200, text=body, content_type="application/xml")

    async def _file(self, request: web.Request) -> web.Response:
        """An uploaded file, as the handset fetches it (until its copy expires)."""
        held = self.files.get(f"{self.url}/s/{request.match_info['fileId']}")
        if held is None or held.until <= self.clock():
            raise web.HTTPNotFound()
        return web.Response(body=held.data, content_type=held.content_type)

    # -- behaviour -----------------------------------------------------------------------------

    def _later(self, message: CmMessage, delay: float, fn: Callable[[], None]) -> None:
        message.timers.append(asyncio.get_running_loop().call_later(delay, fn))

    def _schedule(self, message: CmMessage, behaviour: Behaviour) -> None:
        if behaviour is Behaviour.NOT_CAPABLE:
            delay = self.timing.not_capable_delay_s
            self._later(message, self.timing.delivery_delay_s if delay is None else delay, lambda: self._fail(message))
        elif behaviour is not Behaviour.NEVER_DELIVERED:
            self._later(message, self.timing.delivery_delay_s, lambda: self._deliver(message))

    def _deliver(self, message: CmMessage) -> None:
        if message.state != "accepted":
            return
        message.state = "delivered"
        behaviour = behaviour_of(message.number)
        if behaviour is not Behaviour.CALLBACKS_LOST:
            self._delivery_info(message, "DeliveredToTerminal", "UP2")
        if behaviour is not Behaviour.UNREAD:
            self._later(message, self.timing.display_delay_s, lambda: self._display(message))

    def _display(self, message: CmMessage) -> None:
        if message.state == "delivered":
            message.state = "displayed"
            if behaviour_of(message.number) is not Behaviour.CALLBACKS_LOST:
                self._delivery_info(message, "MessageDisplayed")

    def _fail(self, message: CmMessage) -> None:
        if message.state == "accepted":
            message.state = "failed"
            self._delivery_info(message, "DeliveryImpossible", "SVC0004", "the terminal cannot take 5G messages")

    def _settle_revoke(self, message: CmMessage) -> None:
        revoked = message.state == "accepted"
        if revoked:
            message.state = "revoked"
            for t in message.timers:
                t.cancel()
        self._notify(message, "MessageStatusNotification", self._status_xml(message, revoked))

    # -- notifications -------------------------------------------------------------------------

    def _link(self, message: CmMessage) -> str:
        href = (
            f"{self.url}/messaging/{self.api_version}/outbound/{quote(message.chatbot_id, safe='')}"
            f"/requests/{quote(message.message_id, safe='')}"
        )
        return f'<link rel="OutboundMessageRequest" href={quoteattr(href)}/>'

    def _delivery_info(self, message: CmMessage, status: str, description: str = "", text: str = "") -> None:
        info = f"<address>tel:{message.number}</address><messageId>{escape(message.message_id)}</messageId>"
        info += f"<deliveryStatus>{status}</deliveryStatus>"
        if description:
            info += f"<description>{escape(description)}</description>"
        if text:
            info += f"<text>{escape(text)}</text>"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<msg:deliveryInfoNotification xmlns:msg="{NETAPI_NS}"><deliveryInfo>{info}</deliveryInfo>'
            f"{self._link(message)}</msg:deliveryInfoNotification>"
        )
        self._notify(message, "DeliveryInfoNotification", body)

    def _status_xml(self, message: CmMessage, revoked: bool) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<msg:messageStatusNotification xmlns:msg="{NETAPI_NS}"><address>tel:{message.number}</address>'
            f"<messageId>{escape(message.message_id)}</messageId>"
            f"<status>{'Revoked' if revoked else 'RevokeFailed'}</status>{self._link(message)}"
            "</msg:messageStatusNotification>"
        )

    def _notify(self, message: CmMessage, kind: str, body: str) -> None:
        task = asyncio.get_running_loop().create_task(self._post(message.chatbot_id, message.number, kind, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, chatbot_id: str, number: str, kind: str, body: str) -> bool:
        """POST one signed XML notification, retrying while the platform is down or answers 5xx."""
        if self.callback_base_url is None or self._session is None:
            return False
        bot = self.chatbots[chatbot_id]
        url = URL(f"{self.callback_base_url}/{kind}/{quote(chatbot_id, safe='')}", encoded=True)
        give_up, pause = time.monotonic() + self.timing.callback_retry_s, 0.05
        while True:
            headers = {
                "Content-Type": "application/xml",
                "Address": number,
                **signed_headers(bot.callback_token, self.clock()),
            }
            try:
                async with self._session.post(url, data=body.encode(), headers=headers) as resp:
                    await resp.read()
                    if resp.status < 300:
                        self.callbacks_sent += 1
                        return True
                    if resp.status < 500:
                        log.warning("%s notification refused: HTTP %s", kind, resp.status)
                        break
            except (TimeoutError, aiohttp.ClientError):
                pass
            if time.monotonic() + pause > give_up:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
        self.callbacks_failed += 1
        return False

    async def tap(self, message_id: str, index: int = 0) -> bool:
        """The recipient taps suggestion `index` of a message: an inboundMessageNotification with
        the suggestion response, answering the message's contribution."""
        message = self.messages[message_id]
        suggestions = []
        for ctype, content in message.parts:
            if ctype in (BOT_MESSAGE_TYPE, SUGGESTION_LIST_TYPE):
                suggestions.extend(collect_suggestions(orjson.loads(content)))
        chosen = suggestions[index]
        kind = "action" if "action" in chosen else "reply"
        response = orjson.dumps({"response": {kind: chosen[kind]}}).decode()
        return await self.user_message(message, SUGGESTION_RESPONSE_TYPE, response)

    async def reply(self, message_id: str, text: str) -> bool:
        """The recipient answers a message with text."""
        return await self.user_message(self.messages[message_id], TEXT_TYPE, text)

    async def user_message(self, answered: CmMessage, content_type: str, body_text: str) -> bool:
        """Send what the recipient of `answered` wrote or tapped to the platform."""
        contribution = str(uuid.uuid4())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<msg:inboundMessageNotification xmlns:msg="{NETAPI_NS}"><inboundMessage>'
            f"<destinationAddress>{escape(answered.chatbot_id)}</destinationAddress>"
            f"<senderAddress>tel:{answered.number}</senderAddress>"
            f"<messageId>{contribution}</messageId><contentType>{escape(content_type)}</contentType>"
            "<serviceCapability><capabilityId>ChatbotSA</capabilityId>"
            "<version>+g.gsma.rcs.botversion=&quot;#=1&quot;</version></serviceCapability>"
            f"<bodyText>{escape(body_text)}</bodyText><conversationID>{contribution}</conversationID>"
            f"<contributionID>{contribution}</contributionID>"
            f"<inReplyToContributionID>{escape(answered.contribution_id)}</inReplyToContributionID>"
            "</inboundMessage></msg:inboundMessageNotification>"
        )
        log.debug("user message from %s", mask_phone(answered.number))
        return await self._post(answered.chatbot_id, answered.number, "InboundMessageNotification", body)


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="China Mobile MaaP simulator (OMA NetAPI Messaging)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--callback-url", default="http://127.0.0.1:8080/rcs")
    parser.add_argument("--chatbot", default=SANDBOX_CHATBOT_URI)
    parser.add_argument("--app-id", default=SANDBOX_APP_ID)
    parser.add_argument("--token", default=SANDBOX_TOKEN)
    parser.add_argument("--callback-token", default=SANDBOX_CALLBACK_TOKEN)
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    sim = CmNetApiSimulator(callback_base_url=args.callback_url, host=args.host, port=args.port)
    sim.add_chatbot(args.chatbot, args.app_id, args.token, args.callback_token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(f"China Mobile MaaP simulator on {sim.url}, calling back {sim.callback_base_url}", flush=True)
        await stop.wait()


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
