"""Reading a send request: every field checked, every error named by its JSON Pointer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from api.problems import FieldError, pointer
from cards.library import TRAFFIC_TYPES
from messages.rules import SEGMENT
from security.numbers import normalise_number  # every number the API takes is read there

MAX_RECIPIENTS = 10_000
DEFAULT_TTL_S = 86_400
# Any TTL from 1 s to 15 days is honoured.
MIN_TTL_S, MAX_TTL_S = 1, 1_296_000
MAX_CLIENT_REF = 200
KNOWN_FIELDS = {
    "to",
    "variables",
    "recipients",
    "card",
    "text",
    "file",
    "location",
    "suggestions",
    "template",
    "traffic_type",
    "ttl",
    "send_at",
    "client_ref",
    "fallback",
    "segment",
    "channel",
}
FALLBACKS = ("sms", "none")
# "rcs": RCS first, the SMS fallback as `fallback` says; "sms": straight to SMS (the text the
# fallback would send), for a brand's SMS-only resend.
CHANNELS = ("rcs", "sms")


@dataclass
class Recipient:
    to: str  # E.164
    variables: dict | None
    # What the sender says about the recipient ("new_member"): the segment's frequency caps
    # apply as well as the traffic type's. Not stored.
    segment: str | None = None


@dataclass
class SendRequest:
    recipients: list[Recipient]
    card: dict | None
    template: dict | None
    traffic_type: str
    ttl_s: int
    send_at: datetime | None
    client_ref: str | None
    errors: list[FieldError] = field(default_factory=list)
    fallback: str = "sms"
    batch: bool = False  # recipients were given as a list (errors point into it)
    # The card a template reference resolved to; stored sealed with the batch like a given card.
    resolved_card: dict | None = None
    # What the content came as: "card", "text", "file", "location" or "template". Given as
    # text, a file or a location, `card` is the content document built from it.
    kind: str = "card"
    chips_given: bool = False  # the chip list came as the request's `suggestions`
    # A file message's media, to be looked up in the tenant's media library before accept.
    file_media_id: str | None = None
    channel: str = "rcs"

    @property
    def text_given(self) -> bool:
        return self.kind == "text"

    def request_pointer(self, doc_path: str) -> str:
        """Where in the request body a JSON Pointer into the content document points."""
        if self.chips_given and (doc_path == "/suggestions" or doc_path.startswith("/suggestions/")):
            return doc_path
        if self.kind == "text":
            return "/text"
        if self.kind == "file":
            return "/file/file_name" if doc_path.endswith("/fileName") else "/file/media_id"
        if self.kind == "location":
            inner = doc_path.removeprefix("/message/location")
            return "/location" + (inner if inner != doc_path else "")
        return "/card" + doc_path

    def attach_file(self, media: dict) -> None:
        """Complete a file message with its media from the tenant's library (a MediaStore
        view: url, content type, size, thumbnail)."""
        assert self.card is not None and self.kind == "file"
        file = self.card["message"]["file"]
        file.update(
            {
                "mediaUrl": media["url"],
                "mediaContentType": media["content_type"],
                "mediaFileSize": media["file_size"],
            }
        )
        if media.get("thumbnail_url"):
            file.update(
                {
                    "thumbnailUrl": media["thumbnail_url"],
                    "thumbnailContentType": media["thumbnail_content_type"],
                    "thumbnailFileSize": media["thumbnail_file_size"],
                }
            )
        self.file_media_id = None


def parse_rfc3339(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return at.astimezone(UTC)


def _not_one_of(path: str, value: object, allowed: tuple[str, ...]) -> FieldError:
    return FieldError(
        path,
        f"must be one of {', '.join(allowed)}",
        code="not_one_of",
        params={"value": str(value), "allowed": list(allowed)},
    )


def parse_send_request(body: dict) -> SendRequest:
    """Check a POST /v1/messages body; `errors` lists every problem found."""
    errors: list[FieldError] = []
    for key in body:
        if key not in KNOWN_FIELDS:
            errors.append(FieldError(pointer(key), "unknown field", code="unknown_field"))

    recipients: list[Recipient] = []
    has_to, has_list = "to" in body, "recipients" in body
    if has_to == has_list:
        errors.append(
            FieldError(
                "/to",
                "give exactly one of `to` or `recipients`",
                code="exactly_one",
                params={"fields": "to, recipients"},
            )
        )
    elif has_to:
        e164 = normalise_number(body["to"])
        if e164 is None:
            errors.append(FieldError("/to", "not a valid phone number", code="not_phone_number"))
        else:
            variables = body.get("variables")
            segment = _segment(body.get("segment"), "/segment", errors)
            if variables is not None and not isinstance(variables, dict):
                errors.append(FieldError("/variables", "must be an object", code="not_object"))
            else:
                recipients.append(Recipient(e164, variables or None, segment))
    else:
        recipients = _parse_recipients(body["recipients"], errors)
        if "variables" in body:
            errors.append(
                FieldError(
                    "/variables",
                    "with `recipients`, give variables per recipient",
                    code="per_recipient",
                    params={"field": "variables"},
                )
            )
        if "segment" in body:
            errors.append(
                FieldError(
                    "/segment",
                    "with `recipients`, give the segment per recipient",
                    code="per_recipient",
                    params={"field": "segment"},
                )
            )

    card, template, text = body.get("card"), body.get("template"), body.get("text")
    given = [name for name in _CONTENT_KINDS if body.get(name) is not None]
    kind = given[0] if len(given) == 1 else "card"
    file_media_id = None
    if len(given) != 1:
        errors.append(
            FieldError(
                "/" + (given[0] if given else "card"),
                _ONE_CONTENT,
                code="exactly_one",
                params={"fields": ", ".join(_CONTENT_KINDS)},
            )
        )
    elif card is not None and not isinstance(card, dict):
        errors.append(FieldError("/card", "must be a GSMA bot-message JSON object", code="not_object"))
    elif card is not None and not isinstance(card.get("message"), dict):
        errors.append(FieldError("/card/message", "required: the bot message object", code="required"))
    elif text is not None and not isinstance(text, str):
        errors.append(FieldError("/text", "must be a string", code="not_string"))
    elif kind == "file":
        card, file_media_id = _file_message(body["file"], errors)
    elif kind == "location":
        card = _location_message(body["location"], errors)
    card = _with_chips(body, card, text, errors)
    if template is not None:
        if isinstance(template, str):
            template = {"name": template}
        if not isinstance(template, dict) or not isinstance(template.get("name"), str) or not template["name"]:
            errors.append(
                FieldError("/template", 'must be a template name or {"name": …, "version"?: n}', code="not_template")
            )
            template = None
        elif "version" in template and (
            not isinstance(template["version"], int) or isinstance(template["version"], bool) or template["version"] < 1
        ):
            errors.append(FieldError("/template/version", "must be a positive integer", code="not_positive_integer"))

    traffic_type = body.get("traffic_type", "notification")
    if traffic_type not in TRAFFIC_TYPES:
        errors.append(_not_one_of("/traffic_type", traffic_type, TRAFFIC_TYPES))

    ttl = body.get("ttl", DEFAULT_TTL_S)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not MIN_TTL_S <= ttl <= MAX_TTL_S:
        errors.append(
            FieldError(
                "/ttl",
                f"must be whole seconds from {MIN_TTL_S} to {MAX_TTL_S}",
                code="seconds_range",
                params={"min": MIN_TTL_S, "max": MAX_TTL_S},
            )
        )
        ttl = DEFAULT_TTL_S

    send_at = None
    if body.get("send_at") is not None:
        send_at = parse_rfc3339(body["send_at"])
        if send_at is None:
            errors.append(FieldError("/send_at", "must be an RFC 3339 time with a time zone", code="not_datetime"))

    client_ref = body.get("client_ref")
    if client_ref is not None and (not isinstance(client_ref, str) or len(client_ref) > MAX_CLIENT_REF):
        errors.append(
            FieldError(
                "/client_ref",
                f"must be a string of at most {MAX_CLIENT_REF} characters",
                code="text_too_long",
                params={"limit": MAX_CLIENT_REF},
            )
        )
        client_ref = None

    fallback = body.get("fallback", "sms")
    if fallback not in FALLBACKS:
        errors.append(_not_one_of("/fallback", fallback, FALLBACKS))
        fallback = "sms"

    channel = body.get("channel", "rcs")
    if channel not in CHANNELS:
        errors.append(_not_one_of("/channel", channel, CHANNELS))
        channel = "rcs"
    elif channel == "sms" and fallback == "none":
        errors.append(
            FieldError("/fallback", 'an SMS-only send ("channel": "sms") cannot refuse SMS', code="sms_only_needs_sms")
        )

    return SendRequest(
        recipients,
        card if isinstance(card, dict) else None,
        template,
        traffic_type,
        ttl,
        send_at,
        client_ref,
        errors,
        batch=has_list,
        fallback=fallback,
        kind=kind,
        chips_given=isinstance(body.get("suggestions"), list),
        file_media_id=file_media_id,
        channel=channel,
    )


_CONTENT_KINDS = ("card", "text", "file", "location", "template")
_ONE_CONTENT = "give exactly one of `card`, `text`, `file`, `location` or `template`"
MAX_MEDIA_ID = 64
_FILE_FIELDS = {"media_id", "file_name"}
_LOCATION_FIELDS = {"latitude", "longitude", "label", "crs"}


def _file_message(value, errors: list[FieldError]) -> tuple[dict | None, str | None]:
    """`{"media_id", "file_name"?}` → a file message document (its media filled in from the
    library before accept) and the media id to look up."""
    if not isinstance(value, dict):
        errors.append(FieldError("/file", 'must be an object: {"media_id": …, "file_name"?: …}', code="not_object"))
        return None, None
    for key in value:
        if key not in _FILE_FIELDS:
            errors.append(FieldError(pointer("file", key), "unknown field", code="unknown_field"))
    media_id = value.get("media_id")
    if not isinstance(media_id, str) or not 0 < len(media_id) <= MAX_MEDIA_ID:
        errors.append(
            FieldError("/file/media_id", "required: the id of one of your media (POST /v1/media)", code="required")
        )
        return None, None
    file: dict = {}
    if value.get("file_name") is not None:
        file["fileName"] = value["file_name"]
    return {"message": {"file": file}}, media_id


def _location_message(value, errors: list[FieldError]) -> dict | None:
    """`{"latitude", "longitude", "label"?, "crs"?}` → a location message document (checked
    with the card's limits; errors point back into `location`)."""
    if not isinstance(value, dict):
        errors.append(
            FieldError(
                "/location", 'must be an object: {"latitude": …, "longitude": …, "label"?: …}', code="not_object"
            )
        )
        return None
    for key in value:
        if key not in _LOCATION_FIELDS:
            errors.append(FieldError(pointer("location", key), "unknown field", code="unknown_field"))
    return {"message": {"location": {k: v for k, v in value.items() if k in _LOCATION_FIELDS}}}


def _with_chips(body: dict, card, text, errors: list[FieldError]) -> dict | None:
    """The content as one bot-message document: a card, or a text message (`{"message":
    {"text": …}}`), with the request's `suggestions` as its chip list. Its limits are checked
    with the card's (errors point back into the request)."""
    chips = body.get("suggestions")
    if chips is not None and not isinstance(chips, list):
        errors.append(FieldError("/suggestions", "must be a list of suggestions (a chip list)", code="not_array"))
        chips = None
    if isinstance(text, str) and card is None:
        doc: dict = {"message": {"text": text}}
    elif isinstance(card, dict):
        doc = card
    else:
        if chips is not None and body.get("template") is not None:
            errors.append(FieldError("/suggestions", "a template brings its own chip list", code="chips_given_twice"))
        return None
    if chips is not None:
        if "suggestions" in doc:
            errors.append(
                FieldError(
                    "/suggestions", "the card already has a chip list (card/suggestions)", code="chips_given_twice"
                )
            )
        else:
            doc = {**doc, "suggestions": chips}
    return doc


def _parse_recipients(value, errors: list[FieldError]) -> list[Recipient]:
    if not isinstance(value, list) or not value:
        errors.append(FieldError("/recipients", "must be a non-empty list", code="not_array"))
        return []
    if len(value) > MAX_RECIPIENTS:
        errors.append(
            FieldError(
                "/recipients",
                f"{len(value)} recipients; the limit is {MAX_RECIPIENTS}",
                code="too_many_recipients",
                params={"n": len(value), "limit": MAX_RECIPIENTS},
            )
        )
        return []
    out: list[Recipient] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            errors.append(FieldError(pointer("recipients", i), "must be an object with `to`", code="not_object"))
            continue
        e164 = normalise_number(item.get("to"))
        if e164 is None:
            errors.append(
                FieldError(pointer("recipients", i, "to"), "not a valid phone number", code="not_phone_number")
            )
            continue
        variables = item.get("variables")
        if variables is not None and not isinstance(variables, dict):
            errors.append(FieldError(pointer("recipients", i, "variables"), "must be an object", code="not_object"))
            continue
        for key in item:
            if key not in ("to", "variables", "segment"):
                errors.append(FieldError(pointer("recipients", i, key), "unknown field", code="unknown_field"))
        segment = item.get("segment")
        if segment is not None:  # the pointer only when there is a segment to check
            segment = _segment(segment, pointer("recipients", i, "segment"), errors)
        out.append(Recipient(e164, variables or None, segment))
    return out


def _segment(value, where: str, errors: list[FieldError]) -> str | None:
    if value is None or (isinstance(value, str) and SEGMENT.fullmatch(value)):
        return value
    errors.append(
        FieldError(
            where, "a segment is 1–32 of a–z, 0–9, _, - and ., starting with a letter or digit", code="not_segment_name"
        )
    )
    return None
