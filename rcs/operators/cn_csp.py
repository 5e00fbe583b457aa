"""China Telecom / China Unicom CSP interface V1.0.4 (the 5G-message chatbot API, a GSMA MaaP
profile).

Requests go to `{scheme}://{serverRoot}/bot/{apiVersion}/{chatbotId}/…` (serverRoot is host,
optional port and optional base path) with `authorization: accessToken <token>`, `accept:
application/json` and an RFC 7231 `date` header. The chatbot id is percent-encoded in the path
and stays so on the wire (the URL is handed to aiohttp already encoded, so it is not
re-normalised).

What this module sends, request by request (`tests/rcs/golden/requests/` holds each, built from
the interface's own examples):

- `POST accessToken` `{appId, appKey}` (no authorization); a new token invalidates the old one;
- `POST messages`: one recipient per request; messageList is a content part (card object,
  text string, file-transfer list, geo text) and an optional chip-list part; `smsSupported` is
  always false (the platform runs its own SMS fallback);
- `POST revoke` `{messageId, status: "RevokeRequested", destinationAddress}`;
- `POST medias/upload` (multipart, `uploadMode: temp|perm`), `GET medias/download` and
  `DELETE medias/delete` (the file named by the `url` header);
- `GET find/chatBotInfo`, `POST update/chatBotInfo/optionals`, `POST update/chatBotInfo/menu`.

The interface has no capability query: `check_capability(ies)` never calls the network and
answers `unknown` for a valid number (`invalid` otherwise); the platform learns capability from
send outcomes (a `failed` status with code 1 or 2).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import phonenumbers
from yarl import URL

from rcs.maap import ChannelError, DownloadedMedia, OutboundMessage, wire_parts
from rcs.operators.http import PooledSession, settings_from
from rcs.results import (
    TOKEN_CODES,
    Capability,
    MediaFile,
    Outcome,
    SendResult,
    classify_http,
)
from security.addresses import host_refusal
from security.logs import mask_phone
from security.numbers import ascii_digits

log = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 7200  # CSP interface: an accessToken lasts 7,200 s
JSON = "application/json"

# The optional chatbot information the interface lets a chatbot update, with its length limits
# (update/chatBotInfo/optionals request body).
OPTIONAL_INFO_FIELDS: dict[str, int | None] = {
    "serviceDescription": 500,
    "category": None,  # a list of categories, each at most 50 bytes
    "callBackNumber": 21,
    "provider": 100,
    "longitude": None,
    "latitude": None,
    "themeColour": 20,
    "serviceWebsite": 150,
    "emailAddress": 50,
    "backgroundImage": 150,
    "address": 200,
    "cssStyle": 150,
    "autograph": 50,
}


@dataclass(frozen=True)
class CnCspSettings:
    """Where and who we are at one operator's MaaP (one chatbot)."""

    server_root: str  # host[:port][/base path]
    chatbot_id: str  # the chatbot's SIP URI, e.g. sip:12520001@botplatform.rcs.chinaunicom.cn
    app_id: str
    app_key: str = field(repr=False)
    api_version: str = "v1"
    scheme: str = "https"  # http only for the loopback simulator
    # Connect only to public addresses (a brand's own channel outside the sandbox: the brand chose
    # the host, which must not lead into our network even if its name is re-pointed later).
    public_only: bool = False
    refresh_margin_s: float = 300.0  # renew this long before the token expires
    timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    pool_size: int = 64

    @property
    def base_url(self) -> str:
        root = self.server_root.rstrip("/")
        return f"{self.scheme}://{root}/bot/{self.api_version}/{quote(self.chatbot_id, safe='')}"


class TokenError(ChannelError):
    """No access token could be had: the MaaP refused it, or could not be reached."""

    @property
    def outcome(self) -> Outcome:
        """RETRY/THROTTLE when the token endpoint was down or busy; TOKEN when it refused us."""
        if self.http_status is None and self.code is None:
            return Outcome.RETRY  # transport failure
        outcome = classify_http(self.http_status or 400, self.code).outcome
        return outcome if outcome in (Outcome.RETRY, Outcome.THROTTLE) else Outcome.TOKEN


class MediaUploadError(ChannelError):
    """The MaaP refused an upload (or could not be reached)."""


class TokenHolder:
    """The single holder of one chatbot's access token.

    Asking for a new token invalidates the old one, so concurrent refreshes must collapse into
    one: refreshing happens under a lock, and a rejected token only triggers a refresh when it
    is still the current one (another request may already have replaced it).
    """

    def __init__(self, fetch: Callable, *, clock: Callable[[], float], margin_s: float):
        self._fetch = fetch  # async () -> (token, lifetime_s)
        self._clock = clock
        self._margin = margin_s
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.issued = 0  # how many tokens we asked for (observability)

    async def get(self) -> str:
        """A token valid for at least the refresh margin, fetching one when needed."""
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                await self._refresh()
            return self._token  # type: ignore[return-value]

    async def rejected(self, token: str) -> str:
        """The MaaP rejected `token`: return a fresh one (fetched once however many callers)."""
        async with self._lock:
            if self._token == token or self._token is None:
                await self._refresh()
            return self._token  # type: ignore[return-value]

    async def _refresh(self) -> None:
        token, lifetime = await self._fetch()
        self._token = token
        # Renew `margin` ahead of expiry, or half-way through a lifetime shorter than 2 × margin.
        lead = self._margin if lifetime >= 2 * self._margin else lifetime / 2
        self._refresh_at = self._clock() + lifetime - lead
        self.issued += 1


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds to wait (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if ascii_digits(value):
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def tel_uri(number: str) -> str:
    return number if number.startswith("tel:") else f"tel:{number}"


# +86 and a mainland mobile number (13x–19x): always a possible number.
_CN_MOBILE = re.compile(r"\+861[3-9][0-9]{9}")


@functools.lru_cache(maxsize=65_536)
def is_e164(number: str) -> bool:
    """A plausible E.164 number (digits after '+', a possible number for its country).
    Cached: phonenumbers parsing costs tens of µs and hot paths see the same numbers."""
    if not number.startswith("+") or not ascii_digits(number[1:]) or not 8 <= len(number) <= 16:
        return False
    if _CN_MOBILE.fullmatch(number):  # the usual case, without phonenumbers' general parser
        return True
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    raw: bytes
    headers: Any  # the response's CIMultiDictProxy
    body: dict  # the JSON object answered, {} when the answer is not one


class CnCspMaap:
    """MaaP client for the CN CSP interface V1.0.4 (China Telecom / China Unicom)."""

    name = "cn_csp"

    @classmethod
    def from_config(cls, config: Mapping[str, object], **kwargs) -> CnCspMaap:
        """Build from a settings mapping with CnCspSettings field names."""
        return cls(settings_from(CnCspSettings, config, "cn_csp"), **kwargs)

    def __init__(
        self,
        settings: CnCspSettings,
        *,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
    ):
        self.settings = settings
        self._clock = clock
        self._base = settings.base_url
        # A redirect could name a private address: a public-only client follows none (the
        # answer is final).
        refused = host_refusal(URL(self._base).raw_host or "") if settings.public_only else None
        self._pool = PooledSession(settings, session, refused=refused, peer="the MaaP")
        self._follow = not settings.public_only
        self.tokens = TokenHolder(self._request_token, clock=clock, margin_s=settings.refresh_margin_s)
        self._date_at, self._date_text = -1, ""

    # -- plumbing ---------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        return self._pool.get()

    def _url(self, path: str) -> URL:
        # Already percent-encoded: aiohttp must not decode %3A / %40 of the chatbot id.
        return URL(f"{self._base}/{path}", encoded=True)

    def _date(self) -> str:
        # The header has one-second resolution: format it once a second, not once a request.
        now = int(self._clock())
        if now != self._date_at:
            self._date_at, self._date_text = now, formatdate(now, usegmt=True)
        return self._date_text

    async def close(self) -> None:
        await self._pool.close()

    async def _request_token(self) -> tuple[str, float]:
        body = {"appId": self.settings.app_id, "appKey": self.settings.app_key}
        headers = {"content-type": JSON, "accept": JSON, "date": self._date()}
        try:
            async with self._http().post(
                self._url("accessToken"), data=orjson.dumps(body), headers=headers, allow_redirects=self._follow
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TokenError(f"token request failed: {exc!r}") from exc
        data = _json_or_empty(raw)
        code = _int_or_none(data.get("errorCode"))
        token = data.get("accessToken")
        if status != 200 or code not in (None, 0) or not isinstance(token, str) or not token:
            raise TokenError(f"token refused: HTTP {status} {data.get('errorMessage', '')}", code, status)
        lifetime = float(data.get("expires") or TOKEN_LIFETIME_S)
        return token, lifetime

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: str = JSON,
    ) -> _Answer:
        """One authorised call; a token error refreshes the token and retries once.
        Raises TokenError, aiohttp errors and timeouts."""
        token = await self.tokens.get()
        payload: Any = None
        for attempt in (0, 1):
            hdrs = {"authorization": f"accessToken {token}", "accept": accept, "date": self._date()}
            if json_body is not None:
                hdrs["content-type"] = JSON
                payload = orjson.dumps(json_body)
            elif form is not None:
                payload = form()  # a FormData is consumed by sending: build it per attempt
            if headers:
                hdrs.update(headers)
            async with self._http().request(
                method, self._url(path), data=payload, headers=hdrs, allow_redirects=self._follow
            ) as resp:
                raw = await resp.read()
                status, rheaders = resp.status, resp.headers
                is_json = resp.content_type == JSON or raw[:1] == b"{"
            body = _json_or_empty(raw) if is_json else {}
            code = _int_or_none(body.get("errorCode"))
            if attempt == 0 and code in TOKEN_CODES:
                token = await self.tokens.rejected(token)
                continue
            return _Answer(status, raw, rheaders, body)
        raise AssertionError("unreachable")

    async def _outcome(self, method: str, path: str, body: Any) -> SendResult:
        try:
            answer = await self._call(method, path, json_body=body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(False, Outcome.RETRY, detail=f"transport: {type(exc).__name__}")
        except TokenError as exc:
            return SendResult(False, exc.outcome, exc.code, exc.http_status, detail=str(exc))
        return self._classify(answer)

    def _classify(self, answer: _Answer) -> SendResult:
        code = _int_or_none(answer.body.get("errorCode"))
        retry_after = parse_retry_after(answer.headers.get("Retry-After"), self._clock())
        result = classify_http(answer.status, code, retry_after)
        if not result.accepted:
            detail = str(answer.body.get("errorMessage") or "")
            result = SendResult(False, result.outcome, code, answer.status, retry_after, detail)
        return result

    async def _data(self, method: str, path: str, *, headers=None, accept: str = JSON) -> _Answer:
        """A call whose answer we need (not only its outcome): failures raise ChannelError."""
        try:
            answer = await self._call(method, path, headers=headers, accept=accept)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ChannelError(f"transport: {type(exc).__name__}") from exc
        except TokenError as exc:
            raise ChannelError(str(exc), exc.code, exc.http_status) from exc
        code = _int_or_none(answer.body.get("errorCode"))
        if not 200 <= answer.status < 300 or code not in (None, 0):
            detail = str(answer.body.get("errorMessage") or "")
            raise ChannelError(
                f"{path} refused: HTTP {answer.status} code {code} {detail}".rstrip(), code, answer.status
            )
        return answer

    # -- messages -----------------------------------------------------------------------------

    def message_body(self, message: OutboundMessage) -> dict:
        """The `messages` request body for one message (raises ValueError for unusable parts)."""
        body: dict[str, Any] = {
            "messageId": message.message_id,
            "messageList": wire_parts(message.parts),
            "destinationAddress": [tel_uri(message.to)],
            "senderAddress": self.settings.chatbot_id,
            "conversationId": message.conversation_id,
            "contributionId": message.contribution_id,
            "serviceCapability": [dict(c) for c in message.service_capability],
        }
        if message.traffic_type is not None:
            body["trafficType"] = message.traffic_type
        if message.in_reply_to:
            body["inReplyTo"] = message.in_reply_to
        body.update(message.extra)
        # We run our own SMS fallback; letting the MaaP do it too could send two SMS.
        body["smsSupported"] = False
        body.pop("smsContent", None)
        body["storeSupported"] = message.store_supported
        body["reportRequest"] = list(message.report_request)
        return body

    async def send(self, message: OutboundMessage) -> SendResult:
        """POST …/messages for one recipient."""
        try:
            body = self.message_body(message)
        except ValueError as exc:  # e.g. a JSON part that does not parse: no operator takes it
            return SendResult(False, Outcome.INVALID, detail=f"unusable message parts: {exc}")
        result = await self._outcome("POST", "messages", body)
        if not result.accepted:
            log.info(
                "send %s to %s: %s code=%s http=%s",
                message.message_id,
                mask_phone(message.to),
                result.outcome.value,
                result.code,
                result.http_status,
            )
        return result

    async def revoke(self, message_id: str, to: str) -> SendResult:
        """POST …/revoke; the outcome arrives later as revokeOk / revokeFail."""
        body = {"messageId": message_id, "status": "RevokeRequested", "destinationAddress": [tel_uri(to)]}
        return await self._outcome("POST", "revoke", body)

    # -- media --------------------------------------------------------------------------------

    async def upload_media(
        self,
        data: bytes,
        content_type: str,
        filename: str,
        *,
        thumbnail: tuple[bytes, str, str] | None = None,
        temporary: bool = True,
    ) -> MediaFile:
        """POST …/medias/upload as multipart (thumbnail first, as the file message orders them)."""

        def form() -> aiohttp.FormData:
            fd = aiohttp.FormData()
            if thumbnail is not None:
                t_data, t_type, t_name = thumbnail
                fd.add_field("thumbnail", t_data, content_type=t_type, filename=t_name)
            fd.add_field("file", data, content_type=content_type, filename=filename)
            return fd

        mode = {"uploadMode": "temp" if temporary else "perm"}
        try:
            answer = await self._call("POST", "medias/upload", form=form, headers=mode)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise MediaUploadError(f"transport: {type(exc).__name__}") from exc
        except TokenError as exc:
            raise MediaUploadError(str(exc), exc.code, exc.http_status) from exc
        code = _int_or_none(answer.body.get("errorCode"))
        if answer.status != 200 or code not in (None, 0):
            detail = str(answer.body.get("errorMessage") or "")
            raise MediaUploadError(
                f"upload refused: HTTP {answer.status} code {code} {detail}".rstrip(), code, answer.status
            )
        infos = [i for i in answer.body.get("fileInfo") or [] if isinstance(i, dict)]
        main, thumb = _match_file_infos(infos, filename, thumbnail[2] if thumbnail else None)
        if main is None or not main.get("url"):
            raise MediaUploadError("upload answer without a file url", code, answer.status)
        return MediaFile(
            url=main["url"],
            content_type=main.get("contentType") or content_type,
            file_size=int(main.get("fileSize") or len(data)),
            until=main.get("until"),
            thumbnail_url=thumb.get("url") if thumb else None,
            file_name=main.get("fileName") or filename,
        )

    async def download_media(self, url: str) -> DownloadedMedia:
        """GET …/medias/download for the file named by the `url` header."""
        answer = await self._data("GET", "medias/download", headers={"url": url}, accept="*/*")
        ctype = answer.headers.get("Content-Type", "application/octet-stream").split(";", 1)[0].strip()
        if ctype == JSON and "errorCode" in answer.body:
            raise ChannelError("download answered JSON instead of the file", None, answer.status)
        return DownloadedMedia(answer.raw, ctype, _disposition_filename(answer.headers.get("Content-Disposition")))

    async def delete_media(self, url: str) -> SendResult:
        """DELETE …/medias/delete for the file named by the `url` header."""
        try:
            answer = await self._call("DELETE", "medias/delete", headers={"url": url})
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(False, Outcome.RETRY, detail=f"transport: {type(exc).__name__}")
        except TokenError as exc:
            return SendResult(False, exc.outcome, exc.code, exc.http_status, detail=str(exc))
        return self._classify(answer)

    # -- chatbot information ------------------------------------------------------------------

    async def chatbot_info(self) -> dict:
        """GET …/find/chatBotInfo: the chatbot's information, persistent menu included."""
        return (await self._data("GET", "find/chatBotInfo")).body

    async def update_chatbot_optionals(self, optionals: Mapping[str, Any]) -> SendResult:
        """POST …/update/chatBotInfo/optionals (effective once the operator's audit passes; the
        result comes as an audit-result notice)."""
        body = dict(optionals)
        unknown = set(body) - OPTIONAL_INFO_FIELDS.keys()
        if unknown:
            raise ValueError(f"not optional chatbot information: {sorted(unknown)}")
        for key, limit in OPTIONAL_INFO_FIELDS.items():
            if limit is not None and isinstance(body.get(key), str) and len(body[key]) > limit:
                raise ValueError(f"{key} holds at most {limit} characters")
        return await self._outcome("POST", "update/chatBotInfo/optionals", body)

    async def update_menu(self, menu: Mapping[str, Any]) -> SendResult:
        """POST …/update/chatBotInfo/menu with `{"menu": {"entries": […]}}`."""
        body = dict(menu) if "menu" in menu else {"menu": dict(menu)}
        return await self._outcome("POST", "update/chatBotInfo/menu", body)

    # -- capability ---------------------------------------------------------------------------

    async def check_capability(self, number: str) -> Capability:
        """The interface has no capability query: `unknown` for a valid number (the platform
        learns from send outcomes), `invalid` otherwise. Never a network call."""
        return Capability.UNKNOWN if is_e164(number) else Capability.INVALID

    async def check_capabilities(self, numbers: Sequence[str]) -> dict[str, Capability]:
        """As `check_capability` for each number; never a network call."""
        return {n: (Capability.UNKNOWN if is_e164(n) else Capability.INVALID) for n in dict.fromkeys(numbers)}


def _match_file_infos(infos: list[dict], filename: str, thumbnail_name: str | None) -> tuple[dict | None, dict | None]:
    """The uploaded file's and thumbnail's entries of an upload answer's fileInfo: by `type`
    when the MaaP gives one, else by file name, else by position (thumbnail first, as sent)."""
    typed = [i for i in infos if i.get("type") in ("file", "thumbnail")]
    if typed:
        main = next((i for i in typed if i["type"] == "file"), None)
        return main, next((i for i in typed if i["type"] == "thumbnail"), None)
    if thumbnail_name is None:
        return (infos[0] if infos else None), None
    by_name = {i.get("fileName"): i for i in infos}
    if filename != thumbnail_name and filename in by_name:
        return by_name[filename], by_name.get(thumbnail_name)
    if len(infos) >= 2:
        return infos[1], infos[0]
    return (infos[0] if infos else None), None


def _disposition_filename(value: str | None) -> str | None:
    if not value:
        return None
    msg = Message()
    msg["content-disposition"] = value
    return msg.get_filename()


def _json_or_empty(raw: bytes) -> dict:
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _int_or_none(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
