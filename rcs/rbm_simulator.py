"""A strict Google RBM API simulator over a real socket: the sandbox of the `rbm` channel kind.

It speaks what `rcs.operators.rbm` sends — the OAuth token endpoint (JWT bearer grant, the
JWT's RS256 signature checked against the agent's service-account public key), `agentMessages`
create and delete, `capabilities`, `users:batchGet` and `files.create` with the binary
(`POST /upload/v1/files?agentId=…` with the media as the body, or `uploadType=multipart`;
no `fileUrl`; a supported type, at most MAX_FILE_BYTES; answered `{"name": "files/…"}`; a
message naming a file this agent did not upload, or a thumbnail file that is not an image of at
most MAX_THUMBNAIL_BYTES, is refused) — refuses what RBM refuses (unknown
fields, two content kinds, limits: RBM's reference) with Google API errors, and pushes the
agent's events to its webhook as Pub/Sub push requests signed like RBM's (`X-Goog-Signature`).

Sandbox numbers behave by their last digits as the CN MaaP simulator's (`rcs.simulator`
`behaviour_of`, DESIGN §4/§13): …0, …9, …00 are not RCS-capable (capability 404, send 404
NOT_FOUND: the platform falls back to SMS); …1–…6 DELIVERED after 0.5 s then READ 1 s later; …7
never delivered (a DELETE revokes it; when its `ttl` / `expireTime` passes first, RBM revokes
it itself: TTL_EXPIRATION_REVOKED); …8 answers two sends 503 UNAVAILABLE, then accepts.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import jwt
import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rcs.operators.rbm import (
    CAROUSEL_MAX,
    CAROUSEL_MIN,
    JWT_BEARER,
    JWT_LIFETIME_S,
    MAX_CARD_SUGGESTIONS,
    MAX_CHIPS,
    MAX_DESCRIPTION,
    MAX_POSTBACK,
    MAX_SUGGESTION_TEXT,
    MAX_TEXT,
    MAX_TITLE,
    SCOPE,
)
from rcs.rbm_webhook import SIGNATURE_HEADER, push_envelope, signature
from rcs.simulator import Behaviour, SimulatorTiming, behaviour_of

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 250 * 1024  # [RBM] a whole agent message
MAX_FILE_BYTES = 100 * 1024 * 1024  # an uploaded image or video
MAX_THUMBNAIL_BYTES = 100 * 1024  # a file named as a thumbnail
FILE_LIFETIME_S = 30 * 86_400
IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/gif", "image/png"})
FILE_TYPES = IMAGE_TYPES | {
    "audio/aac",
    "audio/mp3",
    "audio/mpeg",
    "audio/mpg",
    "audio/mp4",
    "audio/mp4-latm",
    "audio/3gpp",
    "application/ogg",
    "audio/ogg",
    "video/h263",
    "video/m4v",
    "video/mp4",
    "video/mpeg",
    "video/mpeg4",
    "video/webm",
    "application/pdf",
}  # [RBM files.create] the supported content types
TOKEN_LIFETIME_S = 3600
TRAFFIC_TYPES = frozenset(
    {
        "MESSAGE_TRAFFIC_TYPE_UNSPECIFIED",
        "AUTHENTICATION",
        "TRANSACTION",
        "PROMOTION",
        "SERVICEREQUEST",
        "ACKNOWLEDGEMENT",
    }
)
FEATURES = [
    "RICHCARD_STANDALONE",
    "RICHCARD_CAROUSEL",
    "ACTION_CREATE_CALENDAR_EVENT",
    "ACTION_DIAL",
    "ACTION_OPEN_URL",
    "ACTION_SHARE_LOCATION",
    "ACTION_VIEW_LOCATION",
]
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_TTL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?s")
_URL = re.compile(r"https?://[^\s]+")
_AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_service_account(client_email: str, token_uri: str) -> tuple[dict, str]:
    """A fresh service-account key (the JSON Google hands out) and its public key PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    account = {
        "type": "service_account",
        "project_id": "hongyan-sandbox",
        "private_key_id": secrets.token_hex(20),
        "private_key": private,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**20)),
        "token_uri": token_uri,
    }
    return account, public


# -- what RBM accepts ---------------------------------------------------------------------------


class Invalid(Exception):
    """An AgentMessage RBM refuses (400 INVALID_ARGUMENT)."""


def _fields(obj, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(obj, dict):
        raise Invalid(f"Invalid value at '{where}': expected an object")
    for key in obj:
        if key not in allowed:
            raise Invalid(f"Unknown name \"{key}\" at '{where}': Cannot find field.")
    for key in required:
        if key not in obj:
            raise Invalid(f"'{where}.{key}' is required")
    return obj


def _one_of(obj: dict, where: str, names: set[str]) -> str:
    given = [k for k in obj if k in names]
    if len(given) != 1:
        raise Invalid(f"'{where}' must set exactly one of {sorted(names)}, not {sorted(given)}")
    return given[0]


def _text(value, where: str, most: int, least: int = 1) -> None:
    if not isinstance(value, str) or not least <= len(value) <= most:
        raise Invalid(f"'{where}' must be a string of {least} to {most} characters")


def _enum(value, where: str, allowed) -> None:
    if value not in allowed:
        raise Invalid(f"Invalid value at '{where}' ({value!r}): expected one of {sorted(allowed)}")


def _url(value, where: str) -> None:
    if not isinstance(value, str) or not _URL.fullmatch(value):
        raise Invalid(f"'{where}' must be an http(s) URL")


def check_suggestion(s, where: str) -> None:
    _fields(s, where, {"reply", "action"})
    kind = _one_of(s, where, {"reply", "action"})
    inner = s[kind]
    at = f"{where}.{kind}"
    actions = {"dialAction", "viewLocationAction", "createCalendarEventAction", "openUrlAction", "shareLocationAction"}
    allowed = {"text", "postbackData"} | ({"fallbackUrl"} | actions if kind == "action" else set())
    _fields(inner, at, allowed, ("text",))
    _text(inner["text"], f"{at}.text", MAX_SUGGESTION_TEXT)
    if "postbackData" in inner:
        _text(inner["postbackData"], f"{at}.postbackData", MAX_POSTBACK, 0)
    if kind == "reply":
        return
    if "fallbackUrl" in inner:
        _url(inner["fallbackUrl"], f"{at}.fallbackUrl")
    action = _one_of(inner, at, actions)
    body, a_at = inner[action], f"{at}.{action}"
    if action == "dialAction":
        _fields(body, a_at, {"phoneNumber"}, ("phoneNumber",))
        if not isinstance(body["phoneNumber"], str) or not _E164.fullmatch(body["phoneNumber"]):
            raise Invalid(f"'{a_at}.phoneNumber' must be an E.164 number")
    elif action == "openUrlAction":
        _fields(body, a_at, {"url", "application", "webviewViewMode", "description"}, ("url",))
        _url(body["url"], f"{a_at}.url")
        if "application" in body:
            _enum(
                body["application"], f"{a_at}.application", {"OPEN_URL_APPLICATION_UNSPECIFIED", "BROWSER", "WEBVIEW"}
            )
        if "webviewViewMode" in body:
            _enum(body["webviewViewMode"], f"{a_at}.webviewViewMode", {"FULL", "HALF", "TALL"})
            if body.get("application") != "WEBVIEW":
                raise Invalid(f"'{a_at}.webviewViewMode' needs application WEBVIEW")
    elif action == "viewLocationAction":
        _fields(body, a_at, {"latLong", "label", "query"})
        if "latLong" not in body and "query" not in body:
            raise Invalid(f"'{a_at}' needs latLong or query")
        if "latLong" in body:
            ll = _fields(body["latLong"], f"{a_at}.latLong", {"latitude", "longitude"}, ("latitude", "longitude"))
            if not (-90 <= float(ll["latitude"]) <= 90 and -180 <= float(ll["longitude"]) <= 180):
                raise Invalid(f"'{a_at}.latLong' is out of range")
    elif action == "createCalendarEventAction":
        _fields(body, a_at, {"startTime", "endTime", "title", "description"}, ("startTime", "endTime", "title"))
        _text(body["title"], f"{a_at}.title", 100)
        if "description" in body:
            _text(body["description"], f"{a_at}.description", 500)
    elif action == "shareLocationAction":
        _fields(body, a_at, set())


def _suggestions(items, where: str, most: int) -> None:
    if not isinstance(items, list) or not 1 <= len(items) <= most:
        raise Invalid(f"'{where}' holds 1 to {most} suggestions")
    for i, s in enumerate(items):
        check_suggestion(s, f"{where}[{i}]")


def _card_content(content, where: str, *, width: str | None, files: dict[str, SimFile]) -> None:
    _fields(content, where, {"title", "description", "media", "suggestions"})
    if not any(k in content for k in ("title", "description", "media")):
        raise Invalid(f"'{where}' needs a title, a description or media")
    if "title" in content:
        _text(content["title"], f"{where}.title", MAX_TITLE)
    if "description" in content:
        _text(content["description"], f"{where}.description", MAX_DESCRIPTION)
    if "media" in content:
        media = _fields(content["media"], f"{where}.media", {"height", "contentInfo", "fileName", "uploadedRbmFile"})
        kind = _one_of(media, f"{where}.media", {"contentInfo", "fileName", "uploadedRbmFile"})
        if kind == "contentInfo":
            _content_info(media["contentInfo"], f"{where}.media.contentInfo")
        elif kind == "uploadedRbmFile":
            _uploaded(media["uploadedRbmFile"], f"{where}.media.uploadedRbmFile", files)
        elif media["fileName"] not in files:
            raise Invalid(f"'{where}.media.fileName' names no file this agent uploaded")
        if "height" in media:
            _enum(media["height"], f"{where}.media.height", {"SHORT", "MEDIUM", "TALL"})
            if width == "SMALL" and media["height"] == "TALL":
                raise Invalid(f"'{where}.media.height' TALL cannot be used with SMALL cards")
    if "suggestions" in content:
        _suggestions(content["suggestions"], f"{where}.suggestions", MAX_CARD_SUGGESTIONS)


@dataclass
class SimFile:
    """A file an agent uploaded (files.create)."""

    name: str  # files/…
    agent_id: str
    data: bytes
    content_type: str
    until: float


def _uploaded(ref, where: str, files: dict[str, SimFile]) -> None:
    _fields(ref, where, {"fileName", "thumbnailName"}, ("fileName",))
    if ref["fileName"] not in files:
        raise Invalid(f"'{where}.fileName' names no file this agent uploaded")
    if "thumbnailName" in ref:
        thumb = files.get(ref["thumbnailName"])
        if thumb is None:
            raise Invalid(f"'{where}.thumbnailName' names no file this agent uploaded")
        if thumb.content_type not in IMAGE_TYPES or len(thumb.data) > MAX_THUMBNAIL_BYTES:
            raise Invalid(f"'{where}.thumbnailName': a thumbnail is an image of at most {MAX_THUMBNAIL_BYTES} bytes")


def _content_info(info, where: str) -> None:
    _fields(info, where, {"fileUrl", "thumbnailUrl", "forceRefresh"}, ("fileUrl",))
    _url(info["fileUrl"], f"{where}.fileUrl")
    if "thumbnailUrl" in info:
        _url(info["thumbnailUrl"], f"{where}.thumbnailUrl")
    if "forceRefresh" in info and not isinstance(info["forceRefresh"], bool):
        raise Invalid(f"'{where}.forceRefresh' must be a boolean")


def check_agent_message(body, raw_size: int = 0, files: dict[str, SimFile] | None = None) -> None:
    """Refuse what RBM refuses in an AgentMessage; Invalid says where. `files`: the live files
    the agent uploaded, by name (none when not given)."""
    files = files or {}
    if raw_size > MAX_MESSAGE_BYTES:
        raise Invalid(f"the agent message is {raw_size} bytes; RBM takes at most {MAX_MESSAGE_BYTES}")
    where = "agent_message"
    _fields(
        body,
        where,
        {"contentMessage", "messageTrafficType", "ttl", "expireTime", "name", "sendTime"},
        ("contentMessage",),
    )
    if "ttl" in body and "expireTime" in body:
        raise Invalid("'agent_message' sets both ttl and expireTime")
    if "ttl" in body and (not isinstance(body["ttl"], str) or not _TTL.fullmatch(body["ttl"])):
        raise Invalid("Invalid value at 'agent_message.ttl': a duration such as \"3.5s\"")
    if "expireTime" in body:
        try:
            datetime.fromisoformat(str(body["expireTime"]).replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("Invalid value at 'agent_message.expire_time': an RFC 3339 time") from None
    if "messageTrafficType" in body:
        _enum(body["messageTrafficType"], f"{where}.messageTrafficType", TRAFFIC_TYPES)
    cm_at = f"{where}.contentMessage"
    cm = _fields(
        body["contentMessage"], cm_at, {"text", "fileName", "uploadedRbmFile", "richCard", "contentInfo", "suggestions"}
    )
    kind = _one_of(cm, cm_at, {"text", "fileName", "uploadedRbmFile", "richCard", "contentInfo"})
    if kind == "text":
        _text(cm["text"], f"{cm_at}.text", MAX_TEXT)
    elif kind == "contentInfo":
        _content_info(cm["contentInfo"], f"{cm_at}.contentInfo")
    elif kind == "richCard":
        rc_at = f"{cm_at}.richCard"
        rc = _fields(cm["richCard"], rc_at, {"standaloneCard", "carouselCard"})
        card = _one_of(rc, rc_at, {"standaloneCard", "carouselCard"})
        if card == "standaloneCard":
            s_at = f"{rc_at}.standaloneCard"
            s = _fields(
                rc[card],
                s_at,
                {"cardOrientation", "thumbnailImageAlignment", "cardContent"},
                ("cardOrientation", "cardContent"),
            )
            _enum(s["cardOrientation"], f"{s_at}.cardOrientation", {"VERTICAL", "HORIZONTAL"})
            if s["cardOrientation"] == "HORIZONTAL":
                if "thumbnailImageAlignment" not in s:
                    raise Invalid(f"'{s_at}.thumbnailImageAlignment' is required for HORIZONTAL cards")
                _enum(s["thumbnailImageAlignment"], f"{s_at}.thumbnailImageAlignment", {"LEFT", "RIGHT"})
            _card_content(s["cardContent"], f"{s_at}.cardContent", width=None, files=files)
        else:
            c_at = f"{rc_at}.carouselCard"
            c = _fields(rc[card], c_at, {"cardWidth", "cardContents"}, ("cardWidth", "cardContents"))
            _enum(c["cardWidth"], f"{c_at}.cardWidth", {"SMALL", "MEDIUM"})
            contents = c["cardContents"]
            if not isinstance(contents, list) or not CAROUSEL_MIN <= len(contents) <= CAROUSEL_MAX:
                raise Invalid(f"'{c_at}.cardContents' holds {CAROUSEL_MIN} to {CAROUSEL_MAX} cards")
            for i, content in enumerate(contents):
                _card_content(content, f"{c_at}.cardContents[{i}]", width=c["cardWidth"], files=files)
    elif kind == "uploadedRbmFile":
        _uploaded(cm["uploadedRbmFile"], f"{cm_at}.uploadedRbmFile", files)
    elif cm["fileName"] not in files:
        raise Invalid(f"'{cm_at}.fileName' names no file this agent uploaded")
    if "suggestions" in cm:
        _suggestions(cm["suggestions"], f"{cm_at}.suggestions", MAX_CHIPS)


def google_error(status: int, name: str, message: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "status": name}}
    return web.json_response(body, status=status)


# -- state --------------------------------------------------------------------------------------


@dataclass
class SimAgent:
    agent_id: str
    client_email: str
    public_key: str  # PEM: what checks the JWT's signature
    client_token: str  # signs the events pushed to the webhook
    webhook_url: str | None = None


@dataclass
class SimAgentMessage:
    agent_id: str
    message_id: str
    number: str
    body: dict
    state: str = "accepted"  # accepted, delivered, read, revoked
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class RbmSimulator:
    """The RBM API and its OAuth token endpoint on one loopback port (0: any free one)."""

    def __init__(
        self,
        *,
        timing: SimulatorTiming | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        webhook_base: str | None = None,
    ):
        self.timing = timing or SimulatorTiming()
        self.host, self.port = host, port
        # The platform's RBM webhook prefix: an agent whose key is issued here with a client
        # token pushes its events to <webhook_base>/<agentId> (the sandbox's onboarding).
        self.webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self.clock = clock
        self.agents: dict[str, SimAgent] = {}
        self.messages: dict[tuple[str, str], SimAgentMessage] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # access token → (client email, expiry)
        self.refusals: dict[tuple[str, str], int] = {}  # (agent, message id) → 503s answered
        self.pushed: deque[dict] = deque(maxlen=10_000)  # the latest events pushed (observability)
        self.files: dict[str, SimFile] = {}  # uploaded files by name
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        """host:port, the channel's server_root."""
        return f"{self.host}:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"http://{self.root}/token"

    async def start(self) -> None:
        # Room for the largest upload; an agent message's own limit is checked on its bytes.
        app = web.Application(client_max_size=MAX_FILE_BYTES + 64 * 1024)
        app.router.add_post("/token", self.token)
        app.router.add_post("/v1/phones/{phone}/agentMessages", self.create)
        app.router.add_delete("/v1/phones/{phone}/agentMessages/{messageId}", self.delete)
        app.router.add_get("/v1/phones/{phone}/capabilities", self.capabilities)
        app.router.add_post("/v1/users:batchGet", self.batch_get)
        app.router.add_post("/upload/v1/files", self.create_file)
        app.router.add_post("/sandbox/serviceAccountKey", self.issue_key)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def stop(self) -> None:
        for message in self.messages.values():
            for timer in message.timers:
                timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> RbmSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def add_agent(self, agent_id: str, *, client_token: str, webhook_url: str | None = None) -> dict:
        """Register an agent; returns its new service-account key (JSON object)."""
        email = _service_account_email(agent_id)
        account, public = new_service_account(email, self.token_uri)
        self.agents[agent_id] = SimAgent(agent_id, email, public, client_token, webhook_url)
        return account

    def add_agent_key(self, agent_id: str, account: dict, *, client_token: str, webhook_url: str | None = None) -> None:
        """Register an agent whose service-account key exists already (a channel's, stored by the
        platform): its public key is the key's own, so no state is kept here across restarts."""
        key = serialization.load_pem_private_key(str(account["private_key"]).encode(), password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.agents[agent_id] = SimAgent(
            agent_id, str(account["client_email"]), public.decode(), client_token, webhook_url
        )

    async def issue_key(self, request: web.Request) -> web.Response:
        """POST /sandbox/serviceAccountKey?agentId=…[&clientToken=…]: a fresh service-account key
        for that agent, as the Google Cloud console hands one out. With a client token (and a
        webhook base) the agent is registered at once, pushing to the platform's webhook; an
        `rbm` channel made with the key on the all-in-one sandbox registers it in any case."""
        agent_id, client_token = request.query.get("agentId", ""), request.query.get("clientToken")
        if not _AGENT_ID.fullmatch(agent_id):
            return google_error(400, "INVALID_ARGUMENT", "agentId: letters, digits, '_' or '-' (1 to 64)")
        account, public = new_service_account(_service_account_email(agent_id), self.token_uri)
        if client_token:
            webhook = f"{self.webhook_base}/{agent_id}" if self.webhook_base else None
            self.agents[agent_id] = SimAgent(agent_id, account["client_email"], public, client_token, webhook)
        return web.json_response(account)

    # -- OAuth ----------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "expected the JWT bearer grant")
        assertion = str(form.get("assertion") or "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "the assertion is not a JWT")
        agent = next((a for a in self.agents.values() if a.client_email == unverified.get("iss")), None)
        if agent is None:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                agent.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                options={"require": ["iss", "aud", "iat", "exp", "scope"]},
                leeway=30,
            )
        except jwt.InvalidAudienceError:
            return _oauth_error("invalid_grant", "Invalid JWT: the audience is not the token URI.")
        except jwt.ExpiredSignatureError:
            return _oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
            )
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        if int(claims["exp"]) - int(claims["iat"]) > JWT_LIFETIME_S:
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes).")
        if SCOPE not in str(claims["scope"]).split():
            return _oauth_error("invalid_scope", "the rcsbusinessmessaging scope is required")
        token = "ya29.sim-" + secrets.token_urlsafe(24)
        self.tokens[token] = (agent.client_email, self.clock() + TOKEN_LIFETIME_S)
        return web.json_response({"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"})

    def _caller(self, request: web.Request, agent_id: str | None = None) -> SimAgent | web.Response:
        """The agent whose token authorises this request, and which the agentId names."""
        auth = request.headers.get("Authorization", "")
        found = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if found is None or found[1] <= self.clock():
            return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        agent = self.agents.get(agent_id or request.query.get("agentId") or "")
        if agent is None or agent.client_email != found[0]:
            return google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        return agent

    @staticmethod
    def _number(request: web.Request) -> str | None:
        number = request.match_info["phone"]
        return number if _E164.fullmatch(number) else None

    # -- the API -------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        agent = self._caller(request)
        if isinstance(agent, web.Response):
            return agent
        number = self._number(request)
        message_id = request.query.get("messageId", "")
        if number is None:
            return google_error(400, "INVALID_ARGUMENT", "The phone number must be in E.164 format.")
        if not message_id:
            return google_error(400, "INVALID_ARGUMENT", "messageId is required.")
        if (request.content_length or 0) > 2 * MAX_MESSAGE_BYTES:
            return google_error(400, "INVALID_ARGUMENT", "the agent message is too large")
        raw = await request.read()
        try:
            body = orjson.loads(raw)
            check_agent_message(body, len(raw), self._files_of(agent.agent_id))
        except orjson.JSONDecodeError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        except (Invalid, TypeError, ValueError) as exc:
            return google_error(400, "INVALID_ARGUMENT", str(exc))
        key = (agent.agent_id, message_id)
        if key in self.messages:
            return google_error(409, "ALREADY_EXISTS", "Requested entity already exists")
        behaviour = behaviour_of(number)
        if behaviour is Behaviour.NOT_CAPABLE:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if behaviour is Behaviour.FLAKY and self.refusals.get(key, 0) < self.timing.flaky_failures:
            if len(self.refusals) >= self.timing.max_messages:
                self.refusals.pop(next(iter(self.refusals)))
            self.refusals[key] = self.refusals.get(key, 0) + 1
            return google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
        self.refusals.pop(key, None)
        message = SimAgentMessage(agent.agent_id, message_id, number, body)
        self.messages[key] = message
        while len(self.messages) > self.timing.max_messages:  # the oldest are forgotten
            oldest = self.messages.pop(next(iter(self.messages)))
            for timer in oldest.timers:
                timer.cancel()
        if behaviour is not Behaviour.NEVER_DELIVERED:
            self._schedule(agent, message, behaviour)
        expiry = _expiry(body, self.clock())
        if expiry is not None:  # RBM revokes an undelivered message itself when its TTL passes
            message.timers.append(
                asyncio.get_running_loop().call_later(max(0.0, expiry - self.clock()), self._expire, agent, message)
            )
        name = f"phones/{number}/agentMessages/{message_id}"
        return web.json_response({**body, "name": name, "sendTime": _rfc3339(self.clock())})

    def _files_of(self, agent_id: str) -> dict[str, SimFile]:
        now = self.clock()
        return {n: f for n, f in self.files.items() if f.agent_id == agent_id and f.until > now}

    async def create_file(self, request: web.Request) -> web.Response:
        """files.create with the binary: the media as the body (`?agentId=…`, Content-Type the
        media's), or Google's `uploadType=multipart` (multipart/related: the JSON metadata, then
        the media) as API client libraries send it. `fileUrl` must be left out of either."""
        if request.content_type == "multipart/related":
            if request.query.get("uploadType") != "multipart":
                return google_error(400, "INVALID_ARGUMENT", "a multipart/related upload needs uploadType=multipart")
            parts: list[tuple[str, bytes]] = []
            async for part in await request.multipart():
                if not isinstance(part, aiohttp.BodyPartReader) or len(parts) == 2:
                    return google_error(400, "INVALID_ARGUMENT", "metadata and media: two parts")
                ctype = (part.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
                parts.append((ctype, bytes(await part.read(decode=False))))
            if len(parts) != 2 or parts[0][0] != "application/json":
                return google_error(400, "INVALID_ARGUMENT", "the JSON metadata, then the media")
            try:
                metadata = orjson.loads(parts[0][1])
            except orjson.JSONDecodeError:
                return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            ctype, data = parts[1]
        else:
            metadata = dict(request.query)
            if metadata.get("uploadType") == "media":  # the simple upload, said explicitly
                del metadata["uploadType"]
            ctype, data = request.content_type, await request.read()
        if isinstance(metadata, dict) and "fileUrl" in metadata:
            return google_error(400, "INVALID_ARGUMENT", "fileUrl must be omitted when the binary is uploaded")
        try:
            _fields(metadata, "create_file_request", {"agentId", "thumbnailUrl", "contentDescription"}, ("agentId",))
        except Invalid as exc:
            return google_error(400, "INVALID_ARGUMENT", str(exc))
        agent = self._caller(request, str(metadata["agentId"]))
        if isinstance(agent, web.Response):
            return agent
        if ctype not in FILE_TYPES:
            return google_error(400, "INVALID_ARGUMENT", f"{ctype or 'no content type'} is not a supported file type")
        if not data or len(data) > MAX_FILE_BYTES:
            return google_error(400, "INVALID_ARGUMENT", f"a file holds 1 to {MAX_FILE_BYTES} bytes")
        name = f"files/{uuid.uuid4().hex}"
        self.files[name] = SimFile(name, agent.agent_id, data, ctype, self.clock() + FILE_LIFETIME_S)
        return web.json_response({"name": name})

    def _expire(self, agent: SimAgent, message: SimAgentMessage) -> None:
        if message.state != "accepted":
            return
        for timer in message.timers:
            timer.cancel()
        message.state = "revoked"
        self._push(agent, message, "TTL_EXPIRATION_REVOKED")

    def _schedule(self, agent: SimAgent, message: SimAgentMessage, behaviour: Behaviour) -> None:
        loop = asyncio.get_running_loop()
        t = self.timing
        quiet = behaviour is Behaviour.CALLBACKS_LOST

        def delivered() -> None:
            message.state = "delivered"
            if not quiet:
                self._push(agent, message, "DELIVERED")

        def read() -> None:
            message.state = "read"
            if not quiet:
                self._push(agent, message, "READ")

        message.timers.append(loop.call_later(t.delivery_delay_s, delivered))
        if behaviour is not Behaviour.UNREAD:
            message.timers.append(loop.call_later(t.delivery_delay_s + t.display_delay_s, read))

    async def delete(self, request: web.Request) -> web.Response:
        agent = self._caller(request)
        if isinstance(agent, web.Response):
            return agent
        message = self.messages.get((agent.agent_id, request.match_info["messageId"]))
        if message is None or message.number != request.match_info["phone"] or message.state != "accepted":
            # Unknown, or delivered already: nothing left to revoke.
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        for timer in message.timers:
            timer.cancel()
        message.state = "revoked"
        return web.json_response({})

    async def capabilities(self, request: web.Request) -> web.Response:
        agent = self._caller(request)
        if isinstance(agent, web.Response):
            return agent
        number = self._number(request)
        if number is None or not request.query.get("requestId"):
            return google_error(400, "INVALID_ARGUMENT", "A requestId and an E.164 number are required.")
        if behaviour_of(number) is Behaviour.NOT_CAPABLE:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        return web.json_response({"features": FEATURES})

    async def batch_get(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            _fields(body, "batch_get_users_request", {"users", "agentId"}, ("users", "agentId"))
        except orjson.JSONDecodeError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        except Invalid as exc:
            return google_error(400, "INVALID_ARGUMENT", str(exc))
        agent = self._caller(request, str(body["agentId"]))
        if isinstance(agent, web.Response):
            return agent
        users = body["users"]
        if not isinstance(users, list) or not 1 <= len(users) <= 10_000:
            return google_error(400, "INVALID_ARGUMENT", "users holds 1 to 10,000 numbers.")
        reachable = [
            u
            for u in users
            if isinstance(u, str) and _E164.fullmatch(u) and behaviour_of(u) is not Behaviour.NOT_CAPABLE
        ]
        return web.json_response(
            {"reachableUsers": reachable, "totalRandomSampleUserCount": 0, "reachableRandomSampleUserCount": 0}
        )

    # -- events -------------------------------------------------------------------------------

    def _push(self, agent: SimAgent, message: SimAgentMessage, event_type: str) -> None:
        event = {
            "senderPhoneNumber": message.number,
            "eventType": event_type,
            "eventId": "sim-" + uuid.uuid4().hex,
            "messageId": message.message_id,
            "sendTime": _rfc3339(self.clock()),
            "agentId": agent.agent_id,
        }
        self.send_event(agent.agent_id, event)

    def user_says(self, agent_id: str, number: str, **content) -> str:
        """Push a user's message (`text=…`, `suggestionResponse={…}`, `location={…}`); its id."""
        message_id = "sim-" + uuid.uuid4().hex
        event = {"senderPhoneNumber": number, "messageId": message_id, "sendTime": _rfc3339(self.clock())}
        event.update(content, agentId=agent_id)
        self.send_event(agent_id, event)
        return message_id

    def send_event(self, agent_id: str, event: dict) -> None:
        agent = self.agents[agent_id]
        if not agent.webhook_url:
            return
        self.pushed.append(event)
        task = asyncio.get_running_loop().create_task(self._deliver(agent, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, agent: SimAgent, event: dict) -> None:
        """Push one event as Pub/Sub does: retried with backoff until acknowledged (2xx)."""
        body, data = push_envelope(
            event,
            str(secrets.randbelow(10**16)),
            _rfc3339(self.clock()),
            "projects/rbm-hongyan-sandbox/subscriptions/rbm-agent",
        )
        headers = {"content-type": "application/json", SIGNATURE_HEADER: signature(agent.client_token, data)}
        deadline = time.monotonic() + self.timing.callback_retry_s
        delay = 0.1
        assert self._session is not None
        while True:
            try:
                async with self._session.post(agent.webhook_url or "", data=body, headers=headers) as resp:
                    if 200 <= resp.status < 300:
                        return
                    log.warning("rbm webhook answered %s", resp.status)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("rbm webhook unreachable: %r", exc)
            if time.monotonic() + delay > deadline:
                log.warning("rbm event %s dropped after retries", event.get("eventType", "message"))
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def _expiry(body: dict, now: float) -> float | None:
    """When an accepted AgentMessage's ttl / expireTime ends (Unix seconds), or None."""
    if "ttl" in body:
        return now + float(body["ttl"][:-1])
    if "expireTime" in body:
        return datetime.fromisoformat(str(body["expireTime"]).replace("Z", "+00:00")).timestamp()
    return None


def _service_account_email(agent_id: str) -> str:
    return f"{agent_id.replace('_', '-')[:30]}@hongyan-sandbox.iam.gserviceaccount.com"


def _oauth_error(error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=400)


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
