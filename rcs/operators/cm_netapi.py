"""China Mobile's 5G-message chatbot interface: OMA RESTful NetAPI Messaging with XML bodies.

Requests (what this module sends; `tests/rcs/test_cm_netapi.py` checks each against the
published examples of the interface it names):

- `POST {scheme}://{serverRoot}/messaging/{apiVersion}/outbound/{chatbotURI}/requests` with an
  `msg:outboundMessageRequest` (namespace `urn:oma:xml:rest:netapi:messaging:1`): `address` and
  one `destinationAddress` (`tel:+86…`), `senderAddress` (the chatbot URI) and an
  `outboundIMMessage` holding `contentType`, `conversationID`, `contributionID`,
  `inReplyToContributionID` (a reply), `serviceCapability`, our `messageId` (echoed in every
  notification), `reportRequest` Delivered / Displayed, `shortMessageSupported` false (the
  platform runs its own SMS fallback) and `bodyText`. One part (text, or a card alone) goes as
  it is under its own content type; a content part with a chip list goes as a
  `multipart/mixed; boundary="next"` body (each part with its Content-Type and Content-Length);
- revoke: `PUT …/requests/{messageId}/status` with `msg:messageStatusReport`
  `{status RevokeRequested, address}`; the outcome comes as a `messageStatusNotification`.

Every request carries `Address` (the recipient, `+86…`), `Date` (RFC 7231) and
`Authorization: Basic base64(appId ":" hex(SHA-256(token + Date)))`, where the token is the
one the operator issued the chatbot: the channel's app key when it is 64 hex digits, else the
hex SHA-256 of the developer password given as the app key (published clients do both).

The chatbot URI in the path is percent-encoded (`sip%3A…%40…`) and stays so on the wire. The
interface has no capability query: `check_capability(ies)` answer `unknown` for a valid number
without a network call.

Media upload: `POST {scheme}://{fileServerRoot}/Content` (the file server's root; the chatbot
interface's own root when none is set) as `multipart/form-data` with an optional `Thumbnail`
part first and the `File` part, and headers `Authorization` / `Date` (as above),
`X-3GPP-Intended-Identity` (the chatbot URI), `User-Agent: SP/{chatbotURI}`,
`Terminal-type: Chatbot` and a fresh `tid` (the transaction id) — the form the integrators'
upload clients send. The MaaP answers 200 with the GSMA file-transfer document
(`urn:gsma:params:xml:ns:rcs:rcs:fthttp` `file` with a `file-info` per file: size, name,
content type, `data url until`), whose URLs a card then names.

Where the public examples are silent this module follows OMA NetAPI Messaging: a send is
accepted with any 2xx; a refusal is a `common:requestError` holding a `serviceException` or
`policyException` (`messageId` — `exceptionId` in some deployments — `text`, `variables`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import quote
from xml.sax.saxutils import escape

import aiohttp
import defusedxml.ElementTree as SafeET
import orjson
from yarl import URL

from rcs.maap import OutboundMessage, wire_parts
from rcs.operators.cn_csp import MediaUploadError, is_e164, parse_retry_after, tel_uri
from rcs.operators.http import PooledSession, settings_from
from rcs.results import Capability, MediaFile, Outcome, SendResult
from security.addresses import host_refusal
from security.logs import mask_phone

log = logging.getLogger(__name__)

NETAPI_NS = "urn:oma:xml:rest:netapi:messaging:1"
COMMON_NS = "urn:oma:xml:rest:netapi:common:1"
XML = "application/xml"
BOUNDARY = "next"  # as in the interface's examples
MULTIPART = f'multipart/mixed; boundary="{BOUNDARY}"'
REPORTS = ("Delivered", "Displayed")
MAX_ANSWER = 64 * 1024  # an answer is a few hundred bytes: read no more of it
FTHTTP_NS = "urn:gsma:params:xml:ns:rcs:rcs:fthttp"  # the upload answer's file document

# OMA exception ids that say the request itself is wrong: sending it again cannot help.
INVALID_EXCEPTIONS = frozenset({"SVC0002", "SVC0003", "SVC0007", "POL0003", "POL0008"})
# …and those that say the operator is busy: slow down and try again.
THROTTLE_EXCEPTIONS = frozenset({"POL0005", "POL0006", "POL0007", "POL1009"})


@dataclass(frozen=True)
class CmNetApiSettings:
    """Where and who we are at China Mobile's MaaP (one chatbot)."""

    server_root: str  # host[:port][/base path]
    chatbot_id: str  # the chatbot URI, e.g. sip:12520020000120@botplatform.rcs.chinamobile.com
    app_id: str  # the developer account (cspId / appId)
    app_key: str = field(repr=False)  # the issued token (64 hex digits) or the developer password
    api_version: str = "v1"
    scheme: str = "https"  # http only for the loopback simulator
    public_only: bool = False
    timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    pool_size: int = 64
    file_server_root: str = ""  # host[:port][/base path] of the file server; server_root if empty

    @property
    def content_url(self) -> str:
        """Where media is uploaded: `{fileServerRoot}/Content`."""
        root = (self.file_server_root or self.server_root).rstrip("/")
        return f"{self.scheme}://{root}/Content"

    @property
    def requests_url(self) -> str:
        root = self.server_root.rstrip("/")
        return (
            f"{self.scheme}://{root}/messaging/{self.api_version}/outbound/{quote(self.chatbot_id, safe='')}/requests"
        )


_TOKEN = re.compile(r"[0-9a-f]{64}")


def token_of(app_key: str) -> str:
    """The chatbot's token: the app key itself when it is one (64 hex digits, as the operator
    issues it), else the hex SHA-256 of the developer password it was given as."""
    return app_key if _TOKEN.fullmatch(app_key) else hashlib.sha256(app_key.encode()).hexdigest()


def authorization(app_id: str, token: str, date: str) -> str:
    """`Basic base64(appId:hex(sha256(token + date)))`, the interface's request authentication."""
    digest = hashlib.sha256((token + date).encode()).hexdigest()
    return "Basic " + base64.b64encode(f"{app_id}:{digest}".encode()).decode("ascii")


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside one CDATA section: close and reopen around it.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _part_text(part: dict) -> str:
    text = part["contentText"]
    return text if isinstance(text, str) else orjson.dumps(text).decode()


def message_body(parts: Sequence[dict]) -> tuple[str, str]:
    """(contentType, bodyText) for messageList-style parts: one part as it is, several as a
    multipart/mixed body."""
    if len(parts) == 1:
        return parts[0]["contentType"], _part_text(parts[0])
    chunks = []
    for part in parts:
        text = _part_text(part)
        chunks.append(
            f"--{BOUNDARY}\r\nContent-Type: {part['contentType']}\r\n"
            f"Content-Length: {len(text.encode())}\r\n\r\n{text}\r\n"
        )
    return MULTIPART, "".join(chunks) + f"--{BOUNDARY}--\r\n"


def _el(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


def outbound_request_xml(message: OutboundMessage, chatbot_id: str) -> str:
    """The `outboundMessageRequest` document for one message (raises ValueError for unusable parts)."""
    parts = wire_parts(message.parts)
    if any(p.get("contentEncoding") == "base64" for p in parts):
        raise ValueError("base64 parts are not carried on this interface")
    content_type, body_text = message_body(parts)
    to = tel_uri(message.to)
    im = [_el("contentType", content_type), _el("conversationID", message.conversation_id)]
    im.append(_el("contributionID", message.contribution_id))
    if message.in_reply_to:
        im.append(_el("inReplyToContributionID", message.in_reply_to))
    im.extend(
        "<serviceCapability>"
        + _el("capabilityId", c["capabilityId"])
        + _el("version", c["version"])
        + "</serviceCapability>"
        for c in message.service_capability
    )
    im.append(_el("messageId", message.message_id))
    im.extend(_el("reportRequest", r) for r in REPORTS)
    # We run our own SMS fallback; the network's too could send two SMS.
    im.append(_el("shortMessageSupported", "false"))
    im.append(f"<bodyText>{_cdata(body_text)}</bodyText>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<msg:outboundMessageRequest xmlns:msg="{NETAPI_NS}">'
        f"{_el('address', to)}{_el('destinationAddress', to)}{_el('senderAddress', chatbot_id)}"
        f"<outboundIMMessage>{''.join(im)}</outboundIMMessage>"
        f"{_el('clientCorrelator', message.message_id)}"
        "</msg:outboundMessageRequest>"
    )


def revoke_xml(to: str) -> str:
    """The `messageStatusReport` asking to revoke a message to `to`."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<msg:messageStatusReport xmlns:msg="{NETAPI_NS}">'
        f"{_el('status', 'RevokeRequested')}{_el('address', tel_uri(to))}"
        "</msg:messageStatusReport>"
    )


@dataclass(frozen=True, slots=True)
class RequestError:
    """An OMA `requestError`: which exception, its id, text and variables."""

    kind: str  # "serviceException" | "policyException"
    exception_id: str
    text: str = ""
    variables: tuple[str, ...] = ()

    def describe(self) -> str:
        text = self.text
        for i, value in enumerate(self.variables, 1):
            text = text.replace(f"%{i}", value)
        return f"{self.exception_id} {text}".strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_request_error(raw: bytes) -> RequestError | None:
    """The `requestError` in an answer body, or None (not XML, or not one). Parsed safely: a DTD,
    entity or external reference is refused."""
    if not raw.lstrip().startswith(b"<"):
        return None
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True)
    except (SafeET.ParseError, ValueError):
        return None
    for exc in root.iter():
        kind = _local(exc.tag) if isinstance(exc.tag, str) else ""
        if kind not in ("serviceException", "policyException"):
            continue
        values = {_local(c.tag): (c.text or "").strip() for c in exc if isinstance(c.tag, str)}
        variables = tuple(
            (c.text or "").strip() for c in exc if isinstance(c.tag, str) and _local(c.tag) == "variables"
        )
        ident = values.get("messageId") or values.get("exceptionId") or ""
        return RequestError(kind, ident, values.get("text", ""), variables)
    return None


def classify_answer(status: int, raw: bytes, retry_after: float | None = None) -> SendResult:
    """Classify one answer of the MaaP: HTTP status first (2xx accepted, 429 throttle, 5xx/408
    retry, 401/403 credentials), then the OMA exception id of a 4xx."""
    error = parse_request_error(raw) if not 200 <= status < 300 else None
    detail = error.describe() if error else ""
    if 200 <= status < 300:
        return SendResult(True, Outcome.ACCEPTED, None, status)
    if status == 429 or (error is not None and error.exception_id in THROTTLE_EXCEPTIONS):
        return SendResult(False, Outcome.THROTTLE, None, status, retry_after, detail)
    if status >= 500 or status == 408:
        return SendResult(False, Outcome.RETRY, None, status, retry_after, detail)
    if status in (401, 403):
        return SendResult(False, Outcome.TOKEN, None, status, None, detail)
    if (error is not None and error.exception_id in INVALID_EXCEPTIONS) or status in (400, 413, 415):
        return SendResult(False, Outcome.INVALID, None, status, None, detail)
    return SendResult(False, Outcome.PERMANENT, None, status, None, detail)


def parse_file_document(raw: bytes) -> dict[str, dict[str, str]]:
    """The upload answer's `file-info` entries by type (`file`, `thumbnail`): size, name,
    content type, url, until. Parsed safely (no DTD or entities); ValueError if not one."""
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True)
    except (SafeET.ParseError, ValueError) as exc:
        raise ValueError(f"not a file document: {exc}") from None
    if _local(root.tag) != "file":
        raise ValueError("not a file document")
    out: dict[str, dict[str, str]] = {}
    for info in root:
        if not isinstance(info.tag, str) or _local(info.tag) != "file-info":
            continue
        values = {_local(c.tag): (c.text or "").strip() for c in info if isinstance(c.tag, str)}
        data = next((c for c in info if isinstance(c.tag, str) and _local(c.tag) == "data"), None)
        if data is not None:
            values["url"] = data.get("url", "")
            values["until"] = data.get("until", "")
        out[info.get("type", "file")] = values
    return out


class CmNetApiMaap:
    """MaaP client for China Mobile's chatbot interface (OMA NetAPI Messaging, XML)."""

    name = "cm_netapi"

    @classmethod
    def from_config(cls, config: Mapping[str, object], **kwargs) -> CmNetApiMaap:
        """Build from a settings mapping with CmNetApiSettings field names."""
        return cls(settings_from(CmNetApiSettings, config, "cm_netapi"), **kwargs)

    def __init__(
        self,
        settings: CmNetApiSettings,
        *,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
        new_tid: Callable[[], str] = lambda: uuid.uuid4().hex,
    ):
        self.settings = settings
        self._clock = clock
        self._new_tid = new_tid
        self._url = settings.requests_url
        refused = (
            host_refusal(URL(self._url).raw_host or "") or host_refusal(URL(settings.content_url).raw_host or "")
            if settings.public_only
            else None
        )
        self._pool = PooledSession(settings, session, refused=refused, peer="the MaaP")
        self._follow = not settings.public_only
        self._token = token_of(settings.app_key)

    def _http(self) -> aiohttp.ClientSession:
        return self._pool.get()

    def headers(self, to: str) -> dict[str, str]:
        """The headers of one request about recipient `to`."""
        date = formatdate(int(self._clock()), usegmt=True)
        return {
            "Address": to.removeprefix("tel:"),
            "Authorization": authorization(self.settings.app_id, self._token, date),
            "Date": date,
            "Content-Type": XML,
            "Accept": XML,
        }

    async def _request(self, method: str, url: str, body: str, to: str) -> SendResult:
        try:
            async with self._http().request(
                method,
                URL(url, encoded=True),  # already percent-encoded: keep %3A / %40 of the chatbot URI
                data=body.encode(),
                headers=self.headers(to),
                allow_redirects=self._follow,
            ) as resp:
                raw = await resp.content.read(MAX_ANSWER)
                status, retry = resp.status, resp.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(False, Outcome.RETRY, detail=f"transport: {type(exc).__name__}")
        return classify_answer(status, raw, parse_retry_after(retry, self._clock()))

    async def send(self, message: OutboundMessage) -> SendResult:
        """POST …/requests for one recipient."""
        try:
            body = outbound_request_xml(message, self.settings.chatbot_id)
        except (ValueError, KeyError, TypeError) as exc:
            return SendResult(False, Outcome.INVALID, detail=f"unusable message parts: {exc}")
        result = await self._request("POST", self._url, body, message.to)
        if not result.accepted:
            log.info(
                "send %s to %s: %s http=%s %s",
                message.message_id,
                mask_phone(message.to),
                result.outcome.value,
                result.http_status,
                result.detail,
            )
        return result

    async def revoke(self, message_id: str, to: str) -> SendResult:
        """PUT …/requests/{messageId}/status RevokeRequested; Revoked / RevokeFailed come back as
        a messageStatusNotification."""
        url = f"{self._url}/{quote(message_id, safe='')}/status"
        return await self._request("PUT", url, revoke_xml(to), to)

    async def upload_media(
        self,
        data: bytes,
        content_type: str,
        filename: str,
        *,
        thumbnail: tuple[bytes, str, str] | None = None,
        temporary: bool = True,
    ) -> MediaFile:
        """POST {fileServerRoot}/Content as multipart/form-data (Thumbnail first, then File); the
        answer's file document gives the URLs a card names. The interface has no temporary /
        permanent choice: `temporary` is ignored, the copy lasts until the answer's `until`."""
        s = self.settings
        date = formatdate(int(self._clock()), usegmt=True)
        headers = {
            "Authorization": authorization(s.app_id, self._token, date),
            "Date": date,
            "X-3GPP-Intended-Identity": s.chatbot_id,
            "User-Agent": f"SP/{s.chatbot_id}",
            "Terminal-type": "Chatbot",
            "tid": self._new_tid(),
        }
        form = aiohttp.FormData()
        if thumbnail is not None:
            t_data, t_type, t_name = thumbnail
            form.add_field("Thumbnail", t_data, content_type=t_type, filename=t_name)
        form.add_field("File", data, content_type=content_type, filename=filename)
        try:
            async with self._http().post(
                s.content_url, data=form, headers=headers, allow_redirects=self._follow
            ) as resp:
                raw, status = await resp.content.read(MAX_ANSWER), resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise MediaUploadError(f"transport: {type(exc).__name__}") from exc
        if not 200 <= status < 300:
            error = parse_request_error(raw)
            raise MediaUploadError(
                f"upload refused: HTTP {status} {error.describe() if error else ''}".rstrip(), None, status
            )
        try:
            infos = parse_file_document(raw)
        except ValueError as exc:
            raise MediaUploadError(f"upload answer: {exc}", None, status) from None
        main, thumb = infos.get("file"), infos.get("thumbnail")
        if main is None or not main.get("url"):
            raise MediaUploadError("upload answer without a file url", None, status)
        size = main.get("file-size", "")
        return MediaFile(
            url=main["url"],
            content_type=main.get("content-type") or content_type,
            file_size=int(size) if size.isdigit() else len(data),
            until=main.get("until") or None,
            thumbnail_url=(thumb or {}).get("url") or None,
            file_name=main.get("file-name") or filename,
        )

    async def check_capability(self, number: str) -> Capability:
        """No capability query in the interface: `unknown` for a valid number, never a network call."""
        return Capability.UNKNOWN if is_e164(number) else Capability.INVALID

    async def check_capabilities(self, numbers: Sequence[str]) -> dict[str, Capability]:
        """As `check_capability` for each number; never a network call."""
        return {n: (Capability.UNKNOWN if is_e164(n) else Capability.INVALID) for n in dict.fromkeys(numbers)}

    async def close(self) -> None:
        await self._pool.close()


__all__ = [
    "CmNetApiMaap",
    "CmNetApiSettings",
    "RequestError",
    "authorization",
    "classify_answer",
    "message_body",
    "outbound_request_xml",
    "parse_file_document",
    "parse_request_error",
    "revoke_xml",
    "token_of",
]
