"""China Telecom / China Unicom CSP interface V1.0.4 (the 5G-message chatbot API, a GSMA MaaP
profile).

Requests go to `{scheme}://{serverRoot}/bot/{apiVersion}/{chatbotId}/…` with
`authorization: accessToken <token>` and an RFC 7231 `date` header. The capability check is the
RBM-style module the sandbox and capability-check providers offer; numbers travel in POST bodies,
never in URL paths.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote

import aiohttp
import orjson
import phonenumbers

from rcs.maap import OutboundMessage
from rcs.results import (
    TOKEN_CODES,
    Capability,
    MediaFile,
    Outcome,
    SendResult,
    classify_http,
)
from security.logs import mask_phone

log = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 7200  # CSP interface: an accessToken lasts 7,200 s
MAX_CAPABILITY_BATCH = 500


@dataclass(frozen=True)
class CnCspSettings:
    """Where and who we are at one operator's MaaP (one chatbot)."""

    server_root: str  # host[:port]
    chatbot_id: str  # the chatbot's SIP URI, e.g. sip:12520001@botplatform.rcs.chinaunicom.cn
    app_id: str
    app_key: str = field(repr=False)
    api_version: str = "v1"
    scheme: str = "https"  # http only for the loopback simulator
    refresh_margin_s: float = 300.0  # renew this long before the token expires
    timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    pool_size: int = 64

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.server_root}/bot/{self.api_version}/{quote(self.chatbot_id, safe='')}"


class TokenError(Exception):
    """No access token could be had: the MaaP refused it, or could not be reached."""

    def __init__(self, detail: str, code: int | None = None, http_status: int | None = None):
        super().__init__(detail)
        self.code = code
        self.http_status = http_status

    @property
    def outcome(self) -> Outcome:
        """RETRY/THROTTLE when the token endpoint was down or busy; TOKEN when it refused us."""
        if self.http_status is None and self.code is None:
            return Outcome.RETRY  # transport failure
        outcome = classify_http(self.http_status or 400, self.code).outcome
        return outcome if outcome in (Outcome.RETRY, Outcome.THROTTLE) else Outcome.TOKEN


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
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def tel_uri(number: str) -> str:
    return number if number.startswith("tel:") else f"tel:{number}"


# +86 and a mainland mobile number (13x–19x): always a possible number.
_CN_MOBILE = re.compile(r"\+861[3-9]\d{9}")


@functools.lru_cache(maxsize=65_536)
def is_e164(number: str) -> bool:
    """A plausible E.164 number (digits after '+', a possible number for its country).
    Cached: phonenumbers parsing costs tens of µs and hot paths see the same numbers."""
    if not number.startswith("+") or not number[1:].isdigit() or not 8 <= len(number) <= 16:
        return False
    if _CN_MOBILE.fullmatch(number):  # the usual case, without phonenumbers' general parser
        return True
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


class CnCspMaap:
    """MaaP client for the CN CSP interface V1.0.4 (China Telecom / China Unicom)."""

    name = "cn_csp"

    @classmethod
    def from_config(cls, config: Mapping[str, object], **kwargs) -> CnCspMaap:
        """Build from a settings mapping with CnCspSettings field names."""
        names = {f.name for f in fields(CnCspSettings)}
        unknown = set(config) - names
        if unknown:
            raise ValueError(f"unknown cn_csp settings: {sorted(unknown)}")
        return cls(CnCspSettings(**config), **kwargs)  # type: ignore[arg-type]

    def __init__(
        self,
        settings: CnCspSettings,
        *,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
    ):
        self.settings = settings
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        self._base = settings.base_url
        self.tokens = TokenHolder(self._request_token, clock=clock, margin_s=settings.refresh_margin_s)
        self._date_at, self._date_text = -1, ""

    # -- plumbing ---------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            s = self.settings
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=s.pool_size, limit_per_host=s.pool_size),
                timeout=aiohttp.ClientTimeout(total=s.timeout_s, sock_connect=s.connect_timeout_s),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
            self._owns_session = True
        return self._session

    def _date(self) -> str:
        # The header has one-second resolution: format it once a second, not once a request.
        now = int(self._clock())
        if now != self._date_at:
            self._date_at, self._date_text = now, formatdate(now, usegmt=True)
        return self._date_text

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def _request_token(self) -> tuple[str, float]:
        body = {"appId": self.settings.app_id, "appKey": self.settings.app_key}
        try:
            async with self._http().post(
                f"{self._base}/accessToken",
                data=orjson.dumps(body),
                headers={"content-type": "application/json", "date": self._date()},
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

    async def _call(self, path: str, *, json_body: dict | None = None, form=None, headers=None):
        """One authorised call; a token error refreshes the token and retries once.

        Returns (http_status, body dict, headers); raises TokenError or aiohttp/timeout errors.
        """
        token = await self.tokens.get()
        for attempt in (0, 1):
            hdrs = {"authorization": f"accessToken {token}", "date": self._date()}
            if headers:
                hdrs.update(headers)
            if json_body is not None:
                hdrs["content-type"] = "application/json"
                payload = orjson.dumps(json_body)
            else:
                payload = form() if callable(form) else form
            async with self._http().post(f"{self._base}/{path}", data=payload, headers=hdrs) as resp:
                raw = await resp.read()
                status, rheaders = resp.status, resp.headers
            body = _json_or_empty(raw)
            code = _int_or_none(body.get("errorCode"))
            if attempt == 0 and code in TOKEN_CODES:
                token = await self.tokens.rejected(token)
                continue
            return status, body, rheaders
        raise AssertionError("unreachable")

    async def _outcome(self, path: str, body: dict) -> SendResult:
        try:
            status, data, headers = await self._call(path, json_body=body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(False, Outcome.RETRY, detail=f"transport: {type(exc).__name__}")
        except TokenError as exc:
            return SendResult(False, exc.outcome, exc.code, exc.http_status, detail=str(exc))
        code = _int_or_none(data.get("errorCode"))
        retry_after = parse_retry_after(headers.get("Retry-After"), self._clock())
        result = classify_http(status, code, retry_after)
        if not result.accepted:
            detail = str(data.get("errorMessage") or "")
            result = SendResult(False, result.outcome, code, status, retry_after, detail)
        return result

    # -- the Maap interface -----------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        """POST …/messages for one recipient."""
        body = {
            "messageId": message.message_id,
            "messageList": [{"contentType": p.content_type, "contentText": p.content_text} for p in message.parts],
            "destinationAddress": [tel_uri(message.to)],
            "senderAddress": self.settings.chatbot_id,
            "conversationId": message.conversation_id,
            "contributionId": message.contribution_id,
            "serviceCapability": list(message.service_capability),
            "trafficType": message.traffic_type,
            # We run our own SMS fallback; letting the MaaP do it too could send two SMS.
            "smsSupported": False,
            "storeSupported": message.store_supported,
            "reportRequest": list(message.report_request),
            **message.extra,
        }
        result = await self._outcome("messages", body)
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
        body = {
            "messageId": message_id,
            "destinationAddress": [tel_uri(to)],
            "senderAddress": self.settings.chatbot_id,
            "status": "RevokeRequested",
        }
        return await self._outcome("revoke", body)

    async def upload_media(
        self,
        data: bytes,
        content_type: str,
        filename: str,
        *,
        thumbnail: tuple[bytes, str, str] | None = None,
        temporary: bool = True,
    ) -> MediaFile:
        """POST …/medias/upload as multipart (thumbnail first, as the interface orders them)."""

        def form() -> aiohttp.FormData:
            fd = aiohttp.FormData()
            if thumbnail is not None:
                t_data, t_type, t_name = thumbnail
                fd.add_field("thumbnail", t_data, content_type=t_type, filename=t_name)
            fd.add_field("file", data, content_type=content_type, filename=filename)
            return fd

        try:
            status, body, _ = await self._call(
                "medias/upload", form=form, headers={"UploadMode": "temp" if temporary else "perm"}
            )
        except TokenError as exc:
            raise MediaUploadError(str(exc), exc.code, exc.http_status) from exc
        code = _int_or_none(body.get("errorCode"))
        if status != 200 or code not in (None, 0):
            raise MediaUploadError(f"upload refused: HTTP {status} code {code}", code, status)
        infos = body.get("fileInfo") or []
        main = next((i for i in infos if i.get("type", "file") == "file"), None)
        thumb = next((i for i in infos if i.get("type") == "thumbnail"), None)
        if main is None or not main.get("url"):
            raise MediaUploadError("upload answer without a file url", code, status)
        return MediaFile(
            url=main["url"],
            content_type=main.get("contentType", content_type),
            file_size=int(main.get("fileSize", len(data))),
            until=main.get("until"),
            thumbnail_url=thumb.get("url") if thumb else None,
        )

    async def check_capability(self, number: str) -> Capability:
        """One number's capability (POST body, never a URL path)."""
        if not is_e164(number):
            return Capability.INVALID
        try:
            status, body, _ = await self._call("capabilities", json_body={"phoneNumber": number})
        except (TimeoutError, aiohttp.ClientError, TokenError) as exc:
            log.warning("capability check failed: %s", type(exc).__name__)
            return Capability.UNKNOWN
        return _capability(body.get("capability")) if status == 200 else Capability.UNKNOWN

    async def check_capabilities(self, numbers: Sequence[str]) -> dict[str, Capability]:
        """Capabilities for many numbers, in batches; failures answer `unknown`."""
        out: dict[str, Capability] = {}
        valid = []
        for n in dict.fromkeys(numbers):
            if is_e164(n):
                valid.append(n)
            else:
                out[n] = Capability.INVALID
        for i in range(0, len(valid), MAX_CAPABILITY_BATCH):
            chunk = valid[i : i + MAX_CAPABILITY_BATCH]
            try:
                status, body, _ = await self._call("capabilities/batch", json_body={"phoneNumbers": chunk})
            except (TimeoutError, aiohttp.ClientError, TokenError) as exc:
                log.warning("capability check failed: %s", type(exc).__name__)
                status, body = None, {}
            answers = {}
            if status == 200:
                for item in body.get("capabilities") or []:
                    answers[item.get("phoneNumber")] = _capability(item.get("capability"))
            for n in chunk:
                out[n] = answers.get(n, Capability.UNKNOWN)
        return out


class MediaUploadError(Exception):
    def __init__(self, detail: str, code: int | None, http_status: int | None):
        super().__init__(detail)
        self.code = code
        self.http_status = http_status


def _capability(value) -> Capability:
    try:
        return Capability(value)
    except ValueError:
        return Capability.UNKNOWN


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
