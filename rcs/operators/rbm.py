"""Google RCS Business Messaging (RBM) API v1: an RCS channel for brands outside China.

The platform's messages are GSMA chatbot messages (`rcs.maap`: a card, text or file part and an
optional chip list); RBM takes one `AgentMessage` per request. This module translates both ways
(`agent_message` / `message_parts`) and speaks the API:

- `POST /v1/phones/{E.164}/agentMessages?messageId=…&agentId=…` with the AgentMessage;
- `DELETE /v1/phones/{E.164}/agentMessages/{messageId}?agentId=…`: revoke (200 revoked, 404 it was
  delivered already: revoke failed). RBM answers a revoke at once, so the outcome is handed to
  `on_delivery` as the `revokeOk` / `revokeFail` status the CN MaaPs send as a callback;
- `GET /v1/phones/{E.164}/capabilities?requestId=…&agentId=…` (404: not RCS-capable) and
  `POST /v1/users:batchGet` for many numbers;
- `POST /upload/v1/files?agentId=…` (files.create with the binary: "omit the fileUrl field …
  and specify the binary as the POST request body", its Content-Type the media's) answered
  `{"name": "files/…"}`. A thumbnail
  is uploaded the same way; the upload is handed back as the URL `{API}/v1/files/{id}` and a card
  naming such a URL is sent with `uploadedRbmFile {fileName, thumbnailName}`.

RBM puts the user's number in its own URL paths (its contract, not ours): those URLs are never
logged; numbers in logs are masked.

Authentication: the agent's service-account key (JSON) signs an RS256 JWT that is exchanged at
the key's `token_uri` (OAuth 2.0 JWT bearer grant, scope `rcsbusinessmessaging`) for a bearer
token, kept until shortly before it expires (`TokenHolder`, shared with the CN client).

Errors are Google API errors `{"error": {"code", "message", "status"}}`: 429 / RESOURCE_EXHAUSTED
throttles, 5xx retries, 404 NOT_FOUND (the user cannot take RCS) falls back to SMS, 400
INVALID_ARGUMENT is refused as sent, 401 refreshes the token once.

What the GSMA card model has and RBM lacks is dropped with a reason (font styles, a card's CSS
style, media content descriptions); what cannot be said in RBM at all is refused
(`TranslationError`, e.g. a compose or device action).
"""

from __future__ import annotations

import logging
import mimetypes
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import orjson
from yarl import URL

from rcs.maap import (
    BOT_MESSAGE_TYPE,
    FILE_TRANSFER_HTTP_TYPE,
    SUGGESTION_LIST_TYPE,
    TEXT_TYPE,
    ContentPart,
    OutboundMessage,
    card_parts,
    chip_list_part,
    wire_parts,
)
from rcs.operators.cn_csp import (
    MediaUploadError,
    TokenError,
    TokenHolder,
    is_e164,
    parse_retry_after,
)
from rcs.operators.http import PooledSession, settings_from
from rcs.rbm_keys import ServiceAccount
from rcs.results import Capability, DeliveryEvent, MediaFile, Outcome, SendResult
from security.addresses import host_refusal
from security.logs import mask_phone

log = logging.getLogger(__name__)

API_ROOT = "rcsbusinessmessaging.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_S = 3600  # Google accepts assertions valid for at most an hour
# RBM agents' SIP address: the platform stores an agent as the chatbot `sip:<agent id>@rbm.goog`.
AGENT_DOMAIN = "rbm.goog"

# [RBM] limits (AgentContentMessage, Suggestion, CardContent, CarouselCard references).
MAX_TEXT = 3072
MAX_CHIPS = 11
MAX_CARD_SUGGESTIONS = 4
MAX_SUGGESTION_TEXT = 25
MAX_POSTBACK = 2048
MAX_TITLE = 200
MAX_DESCRIPTION = 2000
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10
# RBM keeps an uploaded file 30 days (60 in later versions of the reference): the shorter.
FILE_LIFETIME_S = 30 * 86_400
DEFAULT_FILES_ROOT = f"https://{API_ROOT}/v1/files/"

# GSMA spelling → RBM spelling.
_HEIGHTS = {"SHORT_HEIGHT": "SHORT", "MEDIUM_HEIGHT": "MEDIUM", "TALL_HEIGHT": "TALL"}
_WIDTHS = {"SMALL_WIDTH": "SMALL", "MEDIUM_WIDTH": "MEDIUM"}
_APPLICATIONS = {"browser": "BROWSER", "webview": "WEBVIEW"}
_VIEW_MODES = {"full": "FULL", "half": "HALF", "tall": "TALL"}
# CSP trafficType → RBM messageTrafficType; premium and subscription have no RBM kind (unspecified).
TRAFFIC_TYPES = {"advertisement": "PROMOTION", "payment": "TRANSACTION", "token": "AUTHENTICATION"}


def _reverse(table: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


class TranslationError(ValueError):
    """A GSMA message (or an RBM one) that cannot be said in the other model; `path` is a JSON
    Pointer into the input."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path or '/'}: {message}")
        self.path = path
        self.message = message


# -- GSMA → RBM -----------------------------------------------------------------------------------


def _postback(s: Mapping) -> str:
    data = (s.get("postback") or {}).get("data")
    return data if isinstance(data, str) else ""


def _checked_text(text, path: str, most: int) -> str:
    if not isinstance(text, str) or not 1 <= len(text) <= most:
        raise TranslationError(path, f"must be 1 to {most} characters")
    return text


def suggestion_to_rbm(s: Mapping, path: str = "") -> dict:
    """One GSMA suggestion (`{"reply": …}` or `{"action": …}`) as an RBM Suggestion."""
    if "reply" in s:
        reply = s["reply"]
        return {
            "reply": {
                "text": _checked_text(reply.get("displayText"), f"{path}/reply/displayText", MAX_SUGGESTION_TEXT),
                "postbackData": _postback(reply),
            }
        }
    action = s.get("action")
    if not isinstance(action, Mapping):
        raise TranslationError(path, "a suggestion is a reply or an action")
    out: dict[str, Any] = {
        "text": _checked_text(action.get("displayText"), f"{path}/action/displayText", MAX_SUGGESTION_TEXT),
        "postbackData": _postback(action),
    }
    if "urlAction" in action:
        open_url = action["urlAction"].get("openUrl") or {}
        target: dict[str, Any] = {"url": open_url.get("url")}
        if open_url.get("application"):
            target["application"] = _APPLICATIONS.get(open_url["application"], open_url["application"])
        if open_url.get("viewMode"):
            target["webviewViewMode"] = _VIEW_MODES.get(open_url["viewMode"], open_url["viewMode"])
        out["openUrlAction"] = target
    elif "dialerAction" in action:
        dial = action["dialerAction"]
        if "dialPhoneNumber" not in dial:
            # RBM dials plain calls only: an enriched or video call would silently become one.
            raise TranslationError(f"{path}/action/dialerAction", "RBM has only dialAction (a plain call)")
        out["dialAction"] = {"phoneNumber": dial["dialPhoneNumber"]["phoneNumber"]}
    elif "mapAction" in action:
        map_action = action["mapAction"]
        if "requestLocationPush" in map_action:
            out["shareLocationAction"] = {}
        elif "showLocation" in map_action:
            shown = map_action["showLocation"]
            location = shown.get("location") or {}
            view: dict[str, Any] = {}
            if "latitude" in location and "longitude" in location:
                view["latLong"] = {"latitude": location["latitude"], "longitude": location["longitude"]}
            if location.get("label"):
                view["label"] = location["label"]
            if location.get("query"):
                view["query"] = location["query"]
            out["viewLocationAction"] = view
        else:
            raise TranslationError(f"{path}/action/mapAction", "RBM shows or asks for a location only")
    elif "calendarAction" in action:
        event = action["calendarAction"].get("createCalendarEvent") or {}
        keys = ("startTime", "endTime", "title", "description")
        out["createCalendarEventAction"] = {k: event[k] for k in keys if k in event}
    else:
        kinds = sorted(set(action) - {"displayText", "postback"})
        raise TranslationError(f"{path}/action", f"RBM has no such action: {', '.join(kinds) or 'none given'}")
    return {"action": out}


def _suggestions_to_rbm(items, path: str, most: int) -> list[dict]:
    if not isinstance(items, list) or not items:
        raise TranslationError(path, "must be a list of suggestions")
    if len(items) > most:
        raise TranslationError(path, f"RBM takes at most {most} suggestions here, not {len(items)}")
    return [suggestion_to_rbm(s, f"{path}/{i}") for i, s in enumerate(items)]


def uploaded_file(url: str | None, files_root: str) -> str | None:
    """The RBM file name (`files/…`) an uploaded file's URL stands for, or None."""
    if not url or not url.startswith(files_root) or len(url) == len(files_root):
        return None
    return "files/" + url[len(files_root) :]


def _uploaded_rbm_file(main: str, thumbnail: str | None) -> dict:
    out = {"fileName": main}
    if thumbnail:
        out["thumbnailName"] = thumbnail
    return out


def _content_to_rbm(content: Mapping, path: str, files_root: str = DEFAULT_FILES_ROOT) -> dict:
    out: dict[str, Any] = {}
    if "title" in content:
        out["title"] = _checked_text(content["title"], f"{path}/title", MAX_TITLE)
    if "description" in content:
        out["description"] = _checked_text(content["description"], f"{path}/description", MAX_DESCRIPTION)
    media = content.get("media")
    if media:
        height = _HEIGHTS.get(media.get("height", "MEDIUM_HEIGHT"), "MEDIUM")
        name = uploaded_file(media.get("mediaUrl"), files_root)
        if name is not None:
            thumbnail = uploaded_file(media.get("thumbnailUrl"), files_root)
            out["media"] = {"height": height, "uploadedRbmFile": _uploaded_rbm_file(name, thumbnail)}
        else:
            info: dict[str, Any] = {"fileUrl": media.get("mediaUrl")}
            if media.get("thumbnailUrl"):
                info["thumbnailUrl"] = media["thumbnailUrl"]
            info["forceRefresh"] = False  # RBM may serve its cached copy of the same URL
            out["media"] = {"height": height, "contentInfo": info}
    if not out:
        raise TranslationError(path, "a card needs a title, a description or media")
    if content.get("suggestions"):
        out["suggestions"] = _suggestions_to_rbm(content["suggestions"], f"{path}/suggestions", MAX_CARD_SUGGESTIONS)
    return out


def card_to_rbm(doc: Mapping, files_root: str = DEFAULT_FILES_ROOT) -> dict:
    """A GSMA bot message (`{"message": {"generalPurposeCard" | "generalPurposeCardCarousel"}}`)
    as an RBM RichCard. Font styles and the card's CSS style have no RBM equivalent: dropped."""
    message = doc.get("message", doc)
    if "generalPurposeCard" in message:
        card = message["generalPurposeCard"]
        layout = card.get("layout") or {}
        orientation = layout.get("cardOrientation", "VERTICAL")
        standalone: dict[str, Any] = {"cardOrientation": orientation}
        if orientation == "HORIZONTAL":
            # Required by RBM for horizontal cards; GSMA's default alignment is LEFT.
            standalone["thumbnailImageAlignment"] = layout.get("imageAlignment", "LEFT")
        standalone["cardContent"] = _content_to_rbm(
            card.get("content") or {}, "/message/generalPurposeCard/content", files_root
        )
        return {"standaloneCard": standalone}
    if "generalPurposeCardCarousel" in message:
        carousel = message["generalPurposeCardCarousel"]
        contents = carousel.get("content") or []
        where = "/message/generalPurposeCardCarousel/content"
        if not isinstance(contents, list) or not CAROUSEL_MIN <= len(contents) <= CAROUSEL_MAX:
            raise TranslationError(where, f"an RBM carousel holds {CAROUSEL_MIN} to {CAROUSEL_MAX} cards")
        width = (carousel.get("layout") or {}).get("cardWidth", "MEDIUM_WIDTH")
        return {
            "carouselCard": {
                "cardWidth": _WIDTHS.get(width, width),
                "cardContents": [_content_to_rbm(c, f"{where}/{i}", files_root) for i, c in enumerate(contents)],
            }
        }
    raise TranslationError("/message", "expected generalPurposeCard or generalPurposeCardCarousel")


def content_message(parts: Sequence[ContentPart], files_root: str = DEFAULT_FILES_ROOT) -> dict:
    """The AgentContentMessage for a message's parts (content part, then optional chip list)."""
    wired = wire_parts(parts)
    if not wired:
        raise TranslationError("", "a message needs a content part")
    first, rest = wired[0], wired[1:]
    out: dict[str, Any] = {}
    kind, text = first["contentType"], first["contentText"]
    if kind == TEXT_TYPE:
        out["text"] = _checked_text(text, "/0/contentText", MAX_TEXT)
    elif kind == BOT_MESSAGE_TYPE:
        out["richCard"] = card_to_rbm(text, files_root)
    elif kind == FILE_TRANSFER_HTTP_TYPE:
        infos = {i.get("type"): i for i in text if isinstance(i, dict)}
        if "file" not in infos:
            raise TranslationError("/0/contentText", "a file message names its file")
        name = uploaded_file(infos["file"].get("url"), files_root)
        if name is not None:
            thumbnail = uploaded_file((infos.get("thumbnail") or {}).get("url"), files_root)
            out["uploadedRbmFile"] = _uploaded_rbm_file(name, thumbnail)
        else:
            info = {"fileUrl": infos["file"]["url"]}
            if "thumbnail" in infos:
                info["thumbnailUrl"] = infos["thumbnail"]["url"]
            out["contentInfo"] = info
    else:
        raise TranslationError("/0/contentType", f"RBM takes no {kind} part")
    for i, part in enumerate(rest, 1):
        if part["contentType"] != SUGGESTION_LIST_TYPE:
            raise TranslationError(f"/{i}/contentType", "only a chip list may follow the content")
        out["suggestions"] = _suggestions_to_rbm(
            part["contentText"].get("suggestions"), f"/{i}/contentText/suggestions", MAX_CHIPS
        )
    return out


def _ttl(value) -> str:
    if isinstance(value, str) and value.endswith("s"):
        value = value[:-1]
    seconds = float(value)
    if not seconds > 0:
        raise TranslationError("/ttl", "must be a positive number of seconds")
    return f"{seconds:g}s"


def agent_message(message: OutboundMessage, files_root: str = DEFAULT_FILES_ROOT) -> dict:
    """The AgentMessage body for one outbound message. `message.extra` may carry `ttl` (seconds)
    or `expireTime` (RFC 3339), as RBM's own expiry (RBM then revokes it itself); else the
    message's own TTL end (`expires_ms`) becomes its `expireTime`."""
    body: dict[str, Any] = {"contentMessage": content_message(message.parts, files_root)}
    if message.traffic_type in TRAFFIC_TYPES:
        body["messageTrafficType"] = TRAFFIC_TYPES[message.traffic_type]
    if "ttl" in message.extra and "expireTime" in message.extra:
        raise TranslationError("/extra", "give ttl or expireTime, not both")
    if "ttl" in message.extra:
        body["ttl"] = _ttl(message.extra["ttl"])
    elif "expireTime" in message.extra:
        body["expireTime"] = str(message.extra["expireTime"])
    elif message.expires_ms is not None:
        at = datetime.fromtimestamp(message.expires_ms / 1000, UTC)
        body["expireTime"] = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    return body


# -- RBM → GSMA -----------------------------------------------------------------------------------


def suggestion_from_rbm(s: Mapping) -> dict:
    """One RBM Suggestion as a GSMA suggestion."""
    if "reply" in s:
        r = s["reply"]
        return {"reply": {"displayText": r["text"], "postback": {"data": r.get("postbackData", "")}}}
    a = s["action"]
    out: dict[str, Any] = {"displayText": a["text"], "postback": {"data": a.get("postbackData", "")}}
    if "openUrlAction" in a:
        o = a["openUrlAction"]
        open_url: dict[str, Any] = {"url": o["url"]}
        open_url["application"] = _reverse(_APPLICATIONS).get(o.get("application", "BROWSER"), "browser")
        if o.get("webviewViewMode"):
            open_url["viewMode"] = _reverse(_VIEW_MODES).get(o["webviewViewMode"], o["webviewViewMode"].lower())
        out["urlAction"] = {"openUrl": open_url}
    elif "dialAction" in a:
        out["dialerAction"] = {"dialPhoneNumber": {"phoneNumber": a["dialAction"]["phoneNumber"]}}
    elif "viewLocationAction" in a:
        v = a["viewLocationAction"]
        location: dict[str, Any] = {}
        if "latLong" in v:
            location.update(latitude=v["latLong"]["latitude"], longitude=v["latLong"]["longitude"])
        for key in ("label", "query"):
            if v.get(key):
                location[key] = v[key]
        out["mapAction"] = {"showLocation": {"location": location}}
    elif "shareLocationAction" in a:
        out["mapAction"] = {"requestLocationPush": {}}
    elif "createCalendarEventAction" in a:
        out["calendarAction"] = {"createCalendarEvent": dict(a["createCalendarEventAction"])}
    else:
        raise TranslationError("/action", f"no GSMA action for {sorted(set(a) - {'text', 'postbackData'})}")
    return {"action": out}


def _media_from_rbm(media: Mapping) -> dict:
    info = media.get("contentInfo") or {}
    url = info.get("fileUrl", "")
    out: dict[str, Any] = {
        "mediaUrl": url,
        # RBM names no type: the URL's extension says it (as RBM itself guesses before fetching).
        "mediaContentType": mimetypes.guess_type(url)[0] or "application/octet-stream",
    }
    if info.get("thumbnailUrl"):
        out["thumbnailUrl"] = info["thumbnailUrl"]
        out["thumbnailContentType"] = mimetypes.guess_type(info["thumbnailUrl"])[0] or "image/jpeg"
    out["height"] = _reverse(_HEIGHTS).get(media.get("height", "MEDIUM"), "MEDIUM_HEIGHT")
    return out


def _content_from_rbm(content: Mapping) -> dict:
    out: dict[str, Any] = {}
    if "media" in content:
        out["media"] = _media_from_rbm(content["media"])
    for key in ("title", "description"):
        if key in content:
            out[key] = content[key]
    if content.get("suggestions"):
        out["suggestions"] = [suggestion_from_rbm(s) for s in content["suggestions"]]
    return out


def card_from_rbm(rich_card: Mapping) -> dict:
    """An RBM RichCard as a GSMA bot message `{"message": {…}}`."""
    if "standaloneCard" in rich_card:
        s = rich_card["standaloneCard"]
        layout: dict[str, Any] = {"cardOrientation": s.get("cardOrientation", "VERTICAL")}
        if s.get("thumbnailImageAlignment"):
            layout["imageAlignment"] = s["thumbnailImageAlignment"]
        card = {"layout": layout, "content": _content_from_rbm(s.get("cardContent") or {})}
        return {"message": {"generalPurposeCard": card}}
    c = rich_card["carouselCard"]
    width = _reverse(_WIDTHS).get(c.get("cardWidth", "MEDIUM"), "MEDIUM_WIDTH")
    contents = [_content_from_rbm(x) for x in c.get("cardContents") or []]
    return {"message": {"generalPurposeCardCarousel": {"layout": {"cardWidth": width}, "content": contents}}}


def message_parts(agent: Mapping) -> tuple[ContentPart, ...]:
    """The platform's parts for an RBM AgentMessage (or its contentMessage)."""
    content = agent.get("contentMessage", agent)
    chips = [suggestion_from_rbm(s) for s in content.get("suggestions") or []]
    if "richCard" in content:
        return card_parts(card_from_rbm(content["richCard"]), chips)
    if "text" in content:
        return (ContentPart(TEXT_TYPE, content["text"]), *chip_list_part(chips))
    if "contentInfo" in content:
        info = content["contentInfo"]
        files: list[dict] = []
        if info.get("thumbnailUrl"):
            files.append({"type": "thumbnail", "url": info["thumbnailUrl"]})
        guessed = mimetypes.guess_type(info["fileUrl"])[0] or "application/octet-stream"
        files.append({"type": "file", "contentType": guessed, "url": info["fileUrl"]})
        return (ContentPart(FILE_TRANSFER_HTTP_TYPE, files, "utf8"), *chip_list_part(chips))
    raise TranslationError("/contentMessage", "expected text, richCard or contentInfo")


# -- the client -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RbmSettings:
    """One RBM agent: where the API is and who we are."""

    agent_id: str
    service_account_key: str = field(repr=False)  # the key file's JSON
    server_root: str = API_ROOT  # host[:port][/base]
    scheme: str = "https"  # http only for the loopback simulator
    public_only: bool = False
    refresh_margin_s: float = 300.0
    timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    pool_size: int = 64

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.server_root.rstrip('/')}/v1"


def agent_id_of(chatbot_id: str) -> str:
    """The agent id in an RBM chatbot id `sip:<agent id>@rbm.goog` (or the id itself)."""
    if chatbot_id.startswith("sip:") and chatbot_id.endswith("@" + AGENT_DOMAIN):
        return chatbot_id[4 : -len(AGENT_DOMAIN) - 1]
    return chatbot_id


def agent_chatbot_id(agent_id: str) -> str:
    return f"sip:{agent_id}@{AGENT_DOMAIN}"


DeliverySink = Callable[[str, list[DeliveryEvent]], Awaitable[None]]

# Google API error status → outcome (google.rpc.Code names).
_STATUS_OUTCOMES = {
    "RESOURCE_EXHAUSTED": Outcome.THROTTLE,
    "UNAVAILABLE": Outcome.RETRY,
    "INTERNAL": Outcome.RETRY,
    "DEADLINE_EXCEEDED": Outcome.RETRY,
    "ABORTED": Outcome.RETRY,
    "UNAUTHENTICATED": Outcome.TOKEN,
    "INVALID_ARGUMENT": Outcome.INVALID,
    "FAILED_PRECONDITION": Outcome.INVALID,
    "OUT_OF_RANGE": Outcome.INVALID,
    "ALREADY_EXISTS": Outcome.INVALID,  # a messageId used before
    "NOT_FOUND": Outcome.PERMANENT,  # the user cannot take RCS (or not from this agent): SMS
    "PERMISSION_DENIED": Outcome.PERMANENT,  # e.g. an agent not launched to this user's carrier
}


def classify_google(status: int, body: Mapping, retry_after: float | None = None) -> SendResult:
    """Classify one RBM answer (HTTP status and Google API error body)."""
    if 200 <= status < 300:
        return SendResult(True, Outcome.ACCEPTED, None, status)
    found = body.get("error")
    error: Mapping = found if isinstance(found, dict) else {}
    name = str(error.get("status") or "")
    detail = f"{name} {error.get('message') or ''}".strip()
    if status == 429:
        outcome = Outcome.THROTTLE
    elif status >= 500 or status == 408:
        outcome = Outcome.RETRY
    elif status == 401:
        outcome = Outcome.TOKEN
    elif name in _STATUS_OUTCOMES:
        outcome = _STATUS_OUTCOMES[name]
    elif status == 400:
        outcome = Outcome.INVALID
    else:
        outcome = Outcome.PERMANENT
    return SendResult(False, outcome, None, status, retry_after, detail)


class RbmChannel:
    """RcsChannel for Google RBM (one agent)."""

    name = "rbm"

    @classmethod
    def from_config(cls, config: Mapping[str, object], **kwargs) -> RbmChannel:
        """Build from a settings mapping. Channel-store names are accepted too: `chatbot_id`
        (`sip:<agent id>@rbm.goog`) for agent_id, `app_key` for the service-account key;
        `app_id` (the key's client_email) must match the key when given."""
        config = dict(config)
        if "chatbot_id" in config:
            config.setdefault("agent_id", agent_id_of(str(config.pop("chatbot_id"))))
        if "app_key" in config:
            config.setdefault("service_account_key", config.pop("app_key"))
        app_id = config.pop("app_id", None)
        settings = settings_from(RbmSettings, config, "rbm")
        account = ServiceAccount.from_json(settings.service_account_key)
        if app_id is not None and app_id != account.client_email:
            raise ValueError("app_id must be the service-account key's client_email")
        return cls(settings, **kwargs)

    def __init__(
        self,
        settings: RbmSettings,
        *,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
        on_delivery: DeliverySink | None = None,
        request_ids: Callable[[], str] = lambda: str(uuid.uuid4()),
    ):
        self.settings = settings
        self.account = ServiceAccount.from_json(settings.service_account_key)
        self._key = self.account.private_key
        self._clock = clock
        self._base = settings.base_url
        self._upload_base = f"{settings.scheme}://{settings.server_root.rstrip('/')}/upload/v1"
        refused = host_refusal(URL(self._base).raw_host or "") if settings.public_only else None
        self._pool = PooledSession(settings, session, refused=refused, peer="the RBM API")
        self._follow = not settings.public_only
        self.tokens = TokenHolder(self._request_token, clock=clock, margin_s=settings.refresh_margin_s)
        # Where a revoke's outcome goes (RBM answers it at once; the platform expects a status).
        self.on_delivery = on_delivery
        self._request_ids = request_ids

    @property
    def chatbot_id(self) -> str:
        return agent_chatbot_id(self.settings.agent_id)

    def _http(self) -> aiohttp.ClientSession:
        return self._pool.get()

    async def close(self) -> None:
        await self._pool.close()

    # -- auth ---------------------------------------------------------------------------------

    def assertion(self) -> str:
        """The signed JWT of the bearer grant (RFC 7523): RS256 by the service-account key."""
        now = int(self._clock())
        claims = {
            "iss": self.account.client_email,
            "scope": SCOPE,
            "aud": self.account.token_uri,
            "iat": now,
            "exp": now + JWT_LIFETIME_S,
        }
        headers = {"kid": self.account.private_key_id} if self.account.private_key_id else None
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    async def _request_token(self) -> tuple[str, float]:
        form = {"grant_type": JWT_BEARER, "assertion": self.assertion()}
        try:
            async with self._http().post(
                self.account.token_uri, data=form, headers={"accept": "application/json"}, allow_redirects=False
            ) as resp:
                raw, status = await resp.read(), resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TokenError(f"token request failed: {exc!r}") from exc
        data = _json_or_empty(raw)
        token = data.get("access_token")
        if status != 200 or not isinstance(token, str) or not token:
            # OAuth errors: {"error": "invalid_grant", "error_description": …}
            detail = data.get("error_description") or data.get("error") or ""
            raise TokenError(f"token refused: HTTP {status} {detail}".rstrip(), None, status)
        return token, float(data.get("expires_in") or JWT_LIFETIME_S)

    # -- requests -----------------------------------------------------------------------------

    def _url(self, path: str, query: Mapping[str, str]) -> URL:
        return URL(f"{self._base}/{path}", encoded=True).with_query(dict(query))

    async def _call(self, method: str, path: str, query: Mapping[str, str], body: Any = None) -> tuple[int, dict, Any]:
        """One authorised call; a 401 refreshes the token and retries once. Raises TokenError,
        aiohttp errors and timeouts. The URL holds a number: never log it."""
        token = await self.tokens.get()
        for attempt in (0, 1):
            headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
            data = None
            if body is not None:
                headers["content-type"] = "application/json"
                data = orjson.dumps(body)
            async with self._http().request(
                method, self._url(path, query), data=data, headers=headers, allow_redirects=self._follow
            ) as resp:
                raw, status, rheaders = await resp.read(), resp.status, resp.headers
            if status == 401 and attempt == 0:
                token = await self.tokens.rejected(token)
                continue
            return status, _json_or_empty(raw), rheaders
        raise AssertionError("unreachable")

    async def _outcome(self, method: str, path: str, query: Mapping[str, str], body: Any = None) -> SendResult:
        try:
            status, data, headers = await self._call(method, path, query, body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(False, Outcome.RETRY, detail=f"transport: {type(exc).__name__}")
        except TokenError as exc:
            return SendResult(False, exc.outcome, exc.code, exc.http_status, detail=str(exc))
        return classify_google(status, data, parse_retry_after(headers.get("Retry-After"), self._clock()))

    @staticmethod
    def _phone(number: str) -> str:
        return quote(number, safe="+")

    async def send(self, message: OutboundMessage) -> SendResult:
        """POST …/phones/{to}/agentMessages."""
        try:
            body = agent_message(message, f"{self._base}/files/")
        except (TranslationError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return SendResult(False, Outcome.INVALID, detail=f"not an RBM message: {exc}")
        query = {"messageId": message.message_id, "agentId": self.settings.agent_id}
        result = await self._outcome("POST", f"phones/{self._phone(message.to)}/agentMessages", query, body)
        if not result.accepted:
            log.info(
                "rbm send %s to %s: %s http=%s %s",
                message.message_id,
                mask_phone(message.to),
                result.outcome.value,
                result.http_status,
                result.detail,
            )
        return result

    async def revoke(self, message_id: str, to: str) -> SendResult:
        """DELETE …/agentMessages/{id}: 200 revoked, 404 delivered already (revoke failed). The
        outcome is also handed to `on_delivery` as a revokeOk / revokeFail status."""
        path = f"phones/{self._phone(to)}/agentMessages/{quote(message_id, safe='')}"
        result = await self._outcome("DELETE", path, {"agentId": self.settings.agent_id})
        status = "revokeOk" if result.accepted else "revokeFail" if result.http_status == 404 else None
        if status is not None:
            if self.on_delivery is not None:
                at = datetime.fromtimestamp(self._clock(), UTC)
                await self.on_delivery(self.chatbot_id, [DeliveryEvent(message_id, status, None, at, recipient=to)])
            # Answered: the revoke was understood (its outcome is the status above).
            return SendResult(True, Outcome.ACCEPTED, None, result.http_status, detail=status)
        return result

    async def upload_media(
        self,
        data: bytes,
        content_type: str,
        filename: str,
        *,
        thumbnail: tuple[bytes, str, str] | None = None,
        temporary: bool = True,
    ) -> MediaFile:
        """files.create with the binary (a thumbnail first, uploaded the same way): the files'
        names come back as `{API}/v1/files/{id}` URLs, which the translator sends as
        `uploadedRbmFile`. RBM keeps a file FILE_LIFETIME_S; `temporary` has no RBM meaning."""
        thumb_name = await self._create_file(thumbnail[0], thumbnail[1]) if thumbnail is not None else None
        name = await self._create_file(data, content_type)
        until = datetime.fromtimestamp(self._clock() + FILE_LIFETIME_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return MediaFile(
            url=f"{self._base}/{name}",
            content_type=content_type,
            file_size=len(data),
            until=until,
            thumbnail_url=f"{self._base}/{thumb_name}" if thumb_name else None,
            file_name=filename,
        )

    async def _create_file(self, data: bytes, content_type: str) -> str:
        """POST /upload/v1/files?agentId=… with the binary; the file's name (`files/…`)."""
        # The reference's binary upload: the media as the body, the request's other field
        # (agentId) as a query parameter (gRPC transcoding).
        url = URL(f"{self._upload_base}/files", encoded=True).with_query({"agentId": self.settings.agent_id})
        try:
            token = await self.tokens.get()
            for attempt in (0, 1):
                headers = {
                    "authorization": f"Bearer {token}",
                    "accept": "application/json",
                    "content-type": content_type,
                }
                async with self._http().post(url, data=data, headers=headers, allow_redirects=self._follow) as resp:
                    raw, status = await resp.read(), resp.status
                if status == 401 and attempt == 0:
                    token = await self.tokens.rejected(token)
                    continue
                break
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise MediaUploadError(f"transport: {type(exc).__name__}") from exc
        except TokenError as exc:
            raise MediaUploadError(str(exc), exc.code, exc.http_status) from exc
        answer = _json_or_empty(raw)
        name = answer.get("name")
        if status != 200 or not isinstance(name, str) or not name.startswith("files/"):
            detail = classify_google(status, answer).detail if status != 200 else "no file name"
            raise MediaUploadError(f"upload refused: HTTP {status} {detail}".rstrip(), None, status)
        return name

    # -- capability ---------------------------------------------------------------------------

    async def check_capability(self, number: str) -> Capability:
        """GET …/phones/{number}/capabilities: 200 supported, 404 not RCS-capable."""
        if not is_e164(number):
            return Capability.INVALID
        query = {"requestId": self._request_ids(), "agentId": self.settings.agent_id}
        try:
            status, data, _ = await self._call("GET", f"phones/{self._phone(number)}/capabilities", query)
        except (TimeoutError, aiohttp.ClientError, TokenError):
            return Capability.UNKNOWN
        if status == 200:
            return Capability.SUPPORTED
        if status == 404:
            return Capability.NOT_SUPPORTED
        if status == 400:
            return Capability.INVALID
        return Capability.UNKNOWN

    async def check_capabilities(self, numbers: Sequence[str]) -> dict[str, Capability]:
        """POST …/users:batchGet: the numbers answered in reachableUsers are capable, the rest not."""
        unique = list(dict.fromkeys(numbers))
        out = {n: Capability.INVALID for n in unique if not is_e164(n)}
        valid = [n for n in unique if n not in out]
        for start in range(0, len(valid), 10_000):  # batchGet takes at most 10,000 users
            chunk = valid[start : start + 10_000]
            body = {"users": chunk, "agentId": self.settings.agent_id}
            try:
                status, data, _ = await self._call("POST", "users:batchGet", {}, body)
            except (TimeoutError, aiohttp.ClientError, TokenError):
                status, data = 0, {}
            reachable = set(data.get("reachableUsers") or []) if status == 200 else None
            for n in chunk:
                if reachable is None:
                    out[n] = Capability.UNKNOWN
                else:
                    out[n] = Capability.SUPPORTED if n in reachable else Capability.NOT_SUPPORTED
        return out


def _json_or_empty(raw: bytes) -> dict:
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
