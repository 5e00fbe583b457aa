"""The RCS channel: the interface every operator module implements (one module per operator
interface, registered in `rcs.operators.OPERATORS`), what it is given to send, and the
builders of each message kind's parts. The dispatcher talks to operators only through this.

Message parts follow the China Telecom / China Unicom CSP interface V1.0.4 (messageList): a
content part (a card, plain text, a file or a location), optionally followed by a suggested
chip list part. `contentText` is a string for `text/plain` and JSON (an object; a list for the
file-transfer form) for every other type — never JSON serialised into a string.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

import orjson

from rcs.results import Capability, MediaFile, Outcome, SendResult, classify_http

BOT_MESSAGE_TYPE = "application/vnd.gsma.botmessage.v1.0+json"
SUGGESTION_LIST_TYPE = "application/vnd.gsma.botsuggestion.v1.0+json"
SUGGESTION_RESPONSE_TYPE = "application/vnd.gsma.botsuggestion.response.v1.0+json"
SHARED_CLIENT_DATA_TYPE = "application/vnd.gsma.botsharedclientdata.v1.0+json"
# The CSP interface's file message: contentText is a JSON list of file infos (thumbnail, file).
FILE_TRANSFER_HTTP_TYPE = "application/vnd.gsma.rcs-ft-http"
# GSMA RCC.07 XML forms, which some MaaPs use for mobile-originated files and locations.
PUSH_LOCATION_TYPE = "application/vnd.gsma.rcspushlocation+xml"
FILE_TRANSFER_TYPE = "application/vnd.gsma.rcs-ft-http+xml"
TEXT_TYPE = "text/plain"

# The content types of a messageList's first part, and of the optional chip list after it.
CONTENT_TYPES = frozenset({TEXT_TYPE, FILE_TRANSFER_HTTP_TYPE, BOT_MESSAGE_TYPE})

# reportRequest values of the CSP interface; we ask for all of them.
ALL_REPORTS = ("sent", "failed", "delivered", "displayed", "deliveredToNetwork")

# trafficType: these values, or absent (CSP interface V1.0.4, send message request body).
TRAFFIC_TYPES = frozenset({"advertisement", "payment", "premium", "subscription", "token"})
# What earlier versions of the dispatcher passed for non-marketing sends: not a value of the
# interface; read as "absent" so it never reaches an operator.
_LEGACY_ABSENT_TRAFFIC = frozenset({"notification"})

CHATBOT_SERVICE_CAPABILITY = ({"capabilityId": "ChatbotSA", "version": '+g.gsma.rcs.botversion="#=1"'},)

MAX_TEXT = 2000  # CSP interface: a plain text message holds at most 2,000 characters
MAX_CHIPS = 11  # CSP interface: a suggested chip list holds 1–11 suggestions


@dataclass(frozen=True, slots=True)
class ContentPart:
    """One entry of messageList. `content_text` is a `str` for text/plain (and base64 text),
    a JSON object (`dict`) for cards and chip lists, a JSON list for the file-transfer form."""

    content_type: str
    content_text: str | dict | list
    content_encoding: str | None = None  # "utf8" | "base64"; absent means utf8

    def wire(self) -> dict:
        """The messageList entry as sent."""
        entry: dict[str, Any] = {"contentType": self.content_type}
        if self.content_encoding is not None:
            entry["contentEncoding"] = self.content_encoding
        entry["contentText"] = self.content_text
        return entry


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One RCS message to one recipient (the CSP interface takes one recipient per request)."""

    message_id: str  # ours; the MaaP echoes it in every status
    to: str  # E.164, e.g. +8613800001231
    parts: tuple[ContentPart, ...]
    conversation_id: str
    contribution_id: str
    traffic_type: str | None = None  # one of TRAFFIC_TYPES, or None: absent
    service_capability: tuple[dict, ...] = CHATBOT_SERVICE_CAPABILITY
    store_supported: bool = True  # let the MaaP store for offline terminals (failed code 4)
    report_request: tuple[str, ...] = ALL_REPORTS
    in_reply_to: str | None = None  # the contributionId of the user's message this answers
    extra: dict = field(default_factory=dict)
    # When the message's TTL ends (Unix ms). An interface that can expire a message itself is
    # told (RBM's expireTime); the CN interfaces have no such field and ignore it.
    expires_ms: int | None = None

    def __post_init__(self) -> None:
        traffic = self.traffic_type
        if traffic in _LEGACY_ABSENT_TRAFFIC:
            object.__setattr__(self, "traffic_type", None)
        elif traffic is not None and traffic not in TRAFFIC_TYPES:
            raise ValueError(f"trafficType must be one of {sorted(TRAFFIC_TYPES)} or absent, not {traffic!r}")
        unknown = set(self.report_request) - set(ALL_REPORTS)
        if unknown:
            raise ValueError(f"reportRequest values must be among {ALL_REPORTS}, not {sorted(unknown)}")


# -- the parts of each message kind --------------------------------------------------------------


def chip_list_part(suggestions: Sequence[Mapping] | None) -> tuple[ContentPart, ...]:
    """The suggested chip list part (`{"suggestions": [...]}`), or nothing for no chips."""
    if not suggestions:
        return ()
    if len(suggestions) > MAX_CHIPS:
        raise ValueError(f"a chip list holds at most {MAX_CHIPS} suggestions, not {len(suggestions)}")
    return (ContentPart(SUGGESTION_LIST_TYPE, {"suggestions": [dict(s) for s in suggestions]}),)


def card_parts(message: Mapping, suggestions: Sequence[Mapping] | None = None) -> tuple[ContentPart, ...]:
    """A card (or carousel) and its chip list. `message` is the bot-message object
    `{"message": {"generalPurposeCard" | "generalPurposeCardCarousel": …}}` or its inner
    `{"generalPurposeCard": …}`; a chip list given beside "message" in the same document is
    moved into its own part."""
    doc = dict(message)
    chips = list(suggestions or [])
    if "message" in doc:
        beside = doc.pop("suggestions", None)
        if beside and chips and list(beside) != chips:
            raise ValueError("two chip lists: one given, another beside the card's message")
        chips = chips or list(beside or [])
        unexpected = set(doc) - {"message"}
        if unexpected:
            raise ValueError(f"a bot message holds only 'message', not {sorted(unexpected)}")
    else:
        doc = {"message": doc}
    return (ContentPart(BOT_MESSAGE_TYPE, doc), *chip_list_part(chips))


def text_parts(text: str, suggestions: Sequence[Mapping] | None = None) -> tuple[ContentPart, ...]:
    """Plain text (a string contentText, 1–2,000 characters) and its chip list."""
    if not text or len(text) > MAX_TEXT:
        raise ValueError(f"a text message holds 1–{MAX_TEXT} characters, not {len(text)}")
    return (ContentPart(TEXT_TYPE, text), *chip_list_part(suggestions))


def _file_info(media: MediaFile, kind: str) -> dict:
    info: dict[str, Any] = {"type": kind, "fileSize": media.file_size}
    if kind == "file":
        name = media.file_name or urlsplit(media.url).path.rsplit("/", 1)[-1]
        if name:
            info["fileName"] = name
    info["contentType"] = media.content_type
    info["url"] = media.url
    if media.until:
        info["until"] = media.until
    return info


def file_parts(
    file: MediaFile, thumbnail: MediaFile | None = None, suggestions: Sequence[Mapping] | None = None
) -> tuple[ContentPart, ...]:
    """A file message in the interface's file-transfer form: a list of the uploaded file's info,
    its thumbnail's first when there is one (`type` "thumbnail" / "file"). Without `thumbnail`,
    the thumbnail uploaded with the file (`file.thumbnail_url`) is named by its URL alone (its
    size, type and validity are optional in the form)."""
    infos = []
    if thumbnail is not None:
        infos.append(_file_info(thumbnail, "thumbnail"))
    elif file.thumbnail_url:
        infos.append({"type": "thumbnail", "url": file.thumbnail_url})
    infos.append(_file_info(file, "file"))
    return (ContentPart(FILE_TRANSFER_HTTP_TYPE, infos, "utf8"), *chip_list_part(suggestions))


def geo_text(
    latitude: float, longitude: float, label: str | None = None, *, crs: str = "gcj02", uncertainty_m: float | None = 10
) -> str:
    """The interface's location text: an RFC 5870 geo URI with the coordinate system (GCJ-02, as
    China's maps use), the uncertainty in metres and the percent-encoded label (`rcs-l`)."""
    lat, lon = float(latitude), float(longitude)
    if not (math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180):
        raise ValueError(f"not a location: {latitude}, {longitude}")
    text = f"geo:{lat!r},{lon!r};crs={crs}"
    if uncertainty_m is not None:
        text += f";u={uncertainty_m}"
    if label:
        if len(label) > 100:
            raise ValueError("a location label holds at most 100 characters")
        text += f";rcs-l={quote(label, safe='')}"
    return text


def location_parts(
    latitude: float,
    longitude: float,
    label: str | None = None,
    suggestions: Sequence[Mapping] | None = None,
    *,
    crs: str = "gcj02",
) -> tuple[ContentPart, ...]:
    """A location message: text/plain with the geo text, and its chip list."""
    return (ContentPart(TEXT_TYPE, geo_text(latitude, longitude, label, crs=crs)), *chip_list_part(suggestions))


def wire_parts(parts: Sequence[ContentPart]) -> list[dict]:
    """messageList as sent. Parts built before the `*_parts` helpers are accepted: JSON text
    given for a JSON type is parsed into its object, and a chip list carried beside the card's
    "message" becomes its own part."""
    out: list[dict] = []
    for part in parts:
        text = part.content_text
        if part.content_type != TEXT_TYPE and part.content_encoding != "base64" and isinstance(text, str | bytes):
            text = orjson.loads(text)  # a JSON-serialised card: send the object itself
        if (
            part.content_type == BOT_MESSAGE_TYPE
            and isinstance(text, dict)
            and {"message", "suggestions"} <= text.keys()
        ):
            out.extend(p.wire() for p in card_parts(text))
            continue
        out.append(ContentPart(part.content_type, text, part.content_encoding).wire())
    return out


# -- the channel -----------------------------------------------------------------------------------


class ChannelError(Exception):
    """An operator refused or could not answer a media or chatbot-information request."""

    def __init__(self, detail: str, code: int | None = None, http_status: int | None = None):
        super().__init__(detail)
        self.code = code
        self.http_status = http_status

    @property
    def outcome(self) -> Outcome:
        if self.http_status is None and self.code is None:
            return Outcome.RETRY  # transport failure
        return classify_http(self.http_status or 400, self.code).outcome


@dataclass(frozen=True, slots=True)
class DownloadedMedia:
    """A file fetched back from the operator's media store (for a video: the bytes of what the
    operator answers, which may be a play address rather than the video)."""

    data: bytes
    content_type: str
    filename: str | None = None


@runtime_checkable
class RcsChannel(Protocol):
    """A chatbot's channel to an operator's MaaP (or to the simulator speaking its interface):
    what the dispatcher sends through."""

    name: str

    async def send(self, message: OutboundMessage) -> SendResult:
        """Submit one message; the answer is synchronous, statuses arrive as callbacks."""
        ...

    async def revoke(self, message_id: str, to: str) -> SendResult:
        """Ask to withdraw an undelivered message; revokeOk / revokeFail arrives as a callback."""
        ...

    async def upload_media(
        self,
        data: bytes,
        content_type: str,
        filename: str,
        *,
        thumbnail: tuple[bytes, str, str] | None = None,
        temporary: bool = True,
    ) -> MediaFile:
        """Upload a file (and its thumbnail: data, content type, file name) before sending it."""
        ...

    async def check_capability(self, number: str) -> Capability:
        """Whether one E.164 number can receive RCS business messages now (`unknown` from an
        operator without a capability query: the platform learns from send outcomes)."""
        ...

    async def check_capabilities(self, numbers: Sequence[str]) -> dict[str, Capability]:
        """Batch capability check; every number given gets an answer."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class ManagedRcsChannel(RcsChannel, Protocol):
    """A channel that also manages the chatbot's media store and information (the CSP
    interface's media download/delete, chatbot information, optionals and persistent menu).

    Kept beside `RcsChannel` rather than in it: `RcsChannel` is runtime-checkable, and a
    channel offering only what dispatch needs must stay one."""

    async def download_media(self, url: str) -> DownloadedMedia:
        """Fetch an uploaded (or user-sent) file by its URL; raises ChannelError."""
        ...

    async def delete_media(self, url: str) -> SendResult:
        """Delete an uploaded file by its URL."""
        ...

    async def chatbot_info(self) -> dict:
        """The chatbot's information as the operator holds it (menu included); raises ChannelError."""
        ...

    async def update_chatbot_optionals(self, optionals: Mapping[str, Any]) -> SendResult:
        """Submit optional information (takes effect once the operator's audit passes)."""
        ...

    async def update_menu(self, menu: Mapping[str, Any]) -> SendResult:
        """Set the persistent menu (`{"menu": {"entries": […]}}` or its inner `{"entries": […]}`)."""
        ...


Maap = RcsChannel  # the name operator modules and tests have used
