"""Typed model of the GSMA UP chatbot card formats.

Covers the bot message (`application/vnd.gsma.botmessage.v1.0+json`: a standalone
generalPurposeCard or a generalPurposeCardCarousel), the suggested chip list
(`application/vnd.gsma.botsuggestion.v1.0+json`) and the persistent menu.

Parsing is lenient: a value of the wrong type is kept as it came (the validator reports it),
and every key the model does not know lands in the node's `extra`, so
`Document.parse(d).to_json() == d` for real-world JSON, unknown fields included.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

BOTMESSAGE_CONTENT_TYPE = "application/vnd.gsma.botmessage.v1.0+json"
BOTSUGGESTION_CONTENT_TYPE = "application/vnd.gsma.botsuggestion.v1.0+json"
BOTSUGGESTION_RESPONSE_CONTENT_TYPE = "application/vnd.gsma.botsuggestion.response.v1.0+json"


def _json(key: str, node: Any = None, many: bool = False):
    """Declare a dataclass field bound to JSON `key`; `node` is the Node class of its value."""
    return field(default=None, metadata={"json": key, "node": node, "many": many})


class Node:
    """Base of every model node: generic lenient parsing and lossless serialising."""

    extra: dict

    @classmethod
    def _fields(cls) -> tuple:
        """(attribute, JSON key, node class, is a list) for each declared field, cached."""
        spec = cls.__dict__.get("_spec_cache")
        if spec is None:
            spec = tuple(
                (f.name, f.metadata["json"], f.metadata["node"], f.metadata["many"])
                for f in fields(cls)  # type: ignore[arg-type]
                if "json" in f.metadata
            )
            cls._spec_cache = spec
            cls._key_cache = {key: (name, node, many) for name, key, node, many in spec}
        return spec

    @classmethod
    def _by_key(cls) -> dict:
        if "_key_cache" not in cls.__dict__:
            cls._fields()
        return cls._key_cache

    @classmethod
    def parse(cls, data: Any):
        """Build the node from JSON; a non-object is returned unchanged for the validator."""
        if not isinstance(data, dict):
            return data
        known = {}
        extra = {}
        spec = cls._by_key()
        for key, value in data.items():
            hit = spec.get(key)
            # An explicit null is kept verbatim in `extra` so it round-trips and is reported.
            if hit is None or value is None:
                extra[key] = value
                continue
            name, node, many = hit
            if node is None:
                known[name] = value
            elif many:
                known[name] = [node.parse(v) for v in value] if isinstance(value, list) else value
            else:
                known[name] = node.parse(value)
        return cls(**known, extra=extra)

    def to_json(self) -> dict:
        """Serialise back to JSON data (known fields, then unknown ones as they came)."""
        out = {}
        for name, key, _node, _many in self._fields():
            value = getattr(self, name)
            if value is None:
                continue
            out[key] = dump(value)
        out.update(self.extra)
        return out


def dump(value: Any) -> Any:
    """Serialise a node, a list of nodes or a plain JSON value."""
    if isinstance(value, Node):
        return value.to_json()
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value


# --- suggestions -------------------------------------------------------------------------


@dataclass
class Postback(Node):
    data: Any = _json("data")
    extra: dict = field(default_factory=dict)


@dataclass
class OpenUrl(Node):
    url: Any = _json("url")
    application: Any = _json("application")
    view_mode: Any = _json("viewMode")
    extra: dict = field(default_factory=dict)


@dataclass
class DialNumber(Node):
    """dialPhoneNumber, dialEnrichedCall (with `subject`) and dialVideoCall."""

    phone_number: Any = _json("phoneNumber")
    subject: Any = _json("subject")
    fallback_url: Any = _json("fallbackUrl")
    extra: dict = field(default_factory=dict)


@dataclass
class Location(Node):
    latitude: Any = _json("latitude")
    longitude: Any = _json("longitude")
    label: Any = _json("label")
    query: Any = _json("query")
    extra: dict = field(default_factory=dict)


@dataclass
class ShowLocation(Node):
    location: Any = _json("location", Location)
    fallback_url: Any = _json("fallbackUrl")
    extra: dict = field(default_factory=dict)


@dataclass
class CalendarEvent(Node):
    start_time: Any = _json("startTime")
    end_time: Any = _json("endTime")
    title: Any = _json("title")
    description: Any = _json("description")
    extra: dict = field(default_factory=dict)


@dataclass
class ComposeText(Node):
    phone_number: Any = _json("phoneNumber")
    text: Any = _json("text")
    extra: dict = field(default_factory=dict)


@dataclass
class ComposeRecording(Node):
    phone_number: Any = _json("phoneNumber")
    type: Any = _json("type")
    extra: dict = field(default_factory=dict)


@dataclass
class Empty(Node):
    """Operations without parameters (requestLocationPush, requestDeviceSpecifics, …)."""

    extra: dict = field(default_factory=dict)


# action group key → {operation key → parameter node}
ACTIONS: dict[str, dict[str, type[Node]]] = {
    "urlAction": {"openUrl": OpenUrl},
    "dialerAction": {
        "dialPhoneNumber": DialNumber,
        "dialEnrichedCall": DialNumber,
        "dialVideoCall": DialNumber,
    },
    "mapAction": {"showLocation": ShowLocation, "requestLocationPush": Empty},
    "calendarAction": {"createCalendarEvent": CalendarEvent},
    "composeAction": {"composeTextMessage": ComposeText, "composeRecordingMessage": ComposeRecording},
    "deviceAction": {"requestDeviceSpecifics": Empty},
    "settingsAction": {"disableAnonymization": Empty, "enableDisplayedNotifications": Empty},
}


@dataclass
class Suggestion(Node):
    """A reply or an action button: `{"reply": {…}}` or `{"action": {…}}`.

    `group`/`operation` name the action (e.g. "urlAction"/"openUrl") and `params` is its typed
    parameter node; `group_extra` keeps unknown keys next to the operation.
    """

    kind: str | None = None  # "reply" | "action" | None when neither key is present
    display_text: Any = None
    postback: Any = None
    group: str | None = None
    operation: str | None = None
    params: Any = None
    group_extra: dict = field(default_factory=dict)
    body_extra: dict = field(default_factory=dict)  # unknown keys inside reply/action
    extra: dict = field(default_factory=dict)  # unknown keys next to reply/action

    @classmethod
    def parse(cls, data: Any):
        if not isinstance(data, dict):
            return data
        extra = dict(data)
        kind = next((k for k in ("reply", "action") if isinstance(data.get(k), dict)), None)
        if kind is None:
            return cls(extra=extra)
        body = extra.pop(kind)
        s = cls(kind=kind, extra=extra)
        for key, value in body.items():
            if key == "displayText" and value is not None:
                s.display_text = value
            elif key == "postback" and value is not None:
                s.postback = Postback.parse(value)
            elif kind == "action" and s.group is None and key in ACTIONS and isinstance(value, dict):
                s.group = key
                ops = ACTIONS[key]
                for op_key, op_value in value.items():
                    if s.operation is None and op_key in ops:
                        s.operation = op_key
                        s.params = ops[op_key].parse(op_value)
                    else:
                        s.group_extra[op_key] = op_value
            else:
                s.body_extra[key] = value
        return s

    def to_json(self) -> dict:
        if self.kind is None:
            return dict(self.extra)
        body = {}
        if self.display_text is not None:
            body["displayText"] = self.display_text
        if self.postback is not None:
            body["postback"] = dump(self.postback)
        if self.group is not None:
            group = {}
            if self.operation is not None:
                group[self.operation] = dump(self.params)
            group.update(self.group_extra)
            body[self.group] = group
        body.update(self.body_extra)
        return {self.kind: body, **self.extra}

    @property
    def postback_data(self) -> str | None:
        pb = self.postback
        return pb.data if isinstance(pb, Postback) and isinstance(pb.data, str) else None


# --- cards -------------------------------------------------------------------------------


@dataclass
class Media(Node):
    media_url: Any = _json("mediaUrl")
    media_content_type: Any = _json("mediaContentType")
    media_file_size: Any = _json("mediaFileSize")
    thumbnail_url: Any = _json("thumbnailUrl")
    thumbnail_content_type: Any = _json("thumbnailContentType")
    thumbnail_file_size: Any = _json("thumbnailFileSize")
    height: Any = _json("height")
    content_description: Any = _json("contentDescription")
    extra: dict = field(default_factory=dict)


@dataclass
class CardContent(Node):
    media: Any = _json("media", Media)
    title: Any = _json("title")
    description: Any = _json("description")
    suggestions: Any = _json("suggestions", Suggestion, many=True)
    extra: dict = field(default_factory=dict)


@dataclass
class Layout(Node):
    """Layout of a standalone card or of a carousel (which uses `cardWidth`)."""

    card_orientation: Any = _json("cardOrientation")
    image_alignment: Any = _json("imageAlignment")
    card_width: Any = _json("cardWidth")
    title_font_style: Any = _json("titleFontStyle")
    description_font_style: Any = _json("descriptionFontStyle")
    style: Any = _json("style")
    extra: dict = field(default_factory=dict)


@dataclass
class GeneralPurposeCard(Node):
    layout: Any = _json("layout", Layout)
    content: Any = _json("content", CardContent)
    extra: dict = field(default_factory=dict)


@dataclass
class Carousel(Node):
    layout: Any = _json("layout", Layout)
    content: Any = _json("content", CardContent, many=True)
    extra: dict = field(default_factory=dict)


@dataclass
class FileMessage(Node):
    """A file sent as a message of its own (the CSP interface's file-transfer form once it is
    uploaded): the file and an optional thumbnail, named like a card's media."""

    media_url: Any = _json("mediaUrl")
    media_content_type: Any = _json("mediaContentType")
    media_file_size: Any = _json("mediaFileSize")
    file_name: Any = _json("fileName")
    thumbnail_url: Any = _json("thumbnailUrl")
    thumbnail_content_type: Any = _json("thumbnailContentType")
    thumbnail_file_size: Any = _json("thumbnailFileSize")
    extra: dict = field(default_factory=dict)


@dataclass
class LocationMessage(Node):
    """A place sent as a message of its own (the interface's geo text). `crs` is the datum of
    the coordinates: `gcj02` (China's maps, the interface's examples; the default) or `wgs84`."""

    latitude: Any = _json("latitude")
    longitude: Any = _json("longitude")
    label: Any = _json("label")
    crs: Any = _json("crs")
    extra: dict = field(default_factory=dict)


@dataclass
class Message(Node):
    """The bot message: one card, a carousel, or — sent in the interface's own part types —
    plain text, a file or a location."""

    card: Any = _json("generalPurposeCard", GeneralPurposeCard)
    carousel: Any = _json("generalPurposeCardCarousel", Carousel)
    text: Any = _json("text")
    file: Any = _json("file", FileMessage)
    location: Any = _json("location", LocationMessage)
    extra: dict = field(default_factory=dict)

    def kinds(self) -> list[str]:
        """The JSON keys of the message kinds present (exactly one in a valid message)."""
        present = (self.card, self.carousel, self.text, self.file, self.location)
        names = ("generalPurposeCard", "generalPurposeCardCarousel", "text", "file", "location")
        return [name for name, value in zip(names, present) if value is not None]


# --- persistent menu ---------------------------------------------------------------------


@dataclass
class MenuEntry(Node):
    """A menu entry: a suggestion, or a submenu `{"menu": {"displayText", "entries"}}`."""

    suggestion: Any = None
    submenu: Any = None  # Menu
    extra: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any):
        if not isinstance(data, dict):
            return data
        if isinstance(data.get("menu"), dict):
            rest = {k: v for k, v in data.items() if k != "menu"}
            return cls(submenu=Menu.parse(data["menu"]), extra=rest)
        return cls(suggestion=Suggestion.parse(data))

    def to_json(self) -> dict:
        if self.submenu is not None:
            return {"menu": dump(self.submenu), **self.extra}
        return dump(self.suggestion)


@dataclass
class Menu(Node):
    display_text: Any = _json("displayText")
    entries: Any = _json("entries", MenuEntry, many=True)
    extra: dict = field(default_factory=dict)


# --- the whole document ------------------------------------------------------------------


@dataclass
class Document(Node):
    """What the platform calls "a card": the bot message, optionally with a chip list and
    a persistent menu. `message` → botmessage JSON; `suggestions` → botsuggestion JSON."""

    message: Any = _json("message", Message)
    suggestions: Any = _json("suggestions", Suggestion, many=True)
    menu: Any = _json("menu", Menu)
    extra: dict = field(default_factory=dict)

    def cards(self) -> Iterator[tuple[tuple, CardContent]]:
        """Every card content with its JSON path parts, in display order."""
        msg = self.message
        if not isinstance(msg, Message):
            return
        if isinstance(msg.card, GeneralPurposeCard) and isinstance(msg.card.content, CardContent):
            yield ("message", "generalPurposeCard", "content"), msg.card.content
        if isinstance(msg.carousel, Carousel) and isinstance(msg.carousel.content, list):
            for i, content in enumerate(msg.carousel.content):
                if isinstance(content, CardContent):
                    yield ("message", "generalPurposeCardCarousel", "content", i), content

    def suggestions_in_order(self) -> list[tuple[tuple, Suggestion]]:
        """All tappable suggestions (cards first, then the chip list) with their paths.

        The position in this list is the suggestion's index: the landing page link
        `/s/<token>/a/<n>`, the HTML hook and the SMS reply numbering all use it.
        """
        out = []
        for path, content in self.cards():
            if isinstance(content.suggestions, list):
                for i, s in enumerate(content.suggestions):
                    if isinstance(s, Suggestion) and s.kind is not None:
                        out.append(((*path, "suggestions", i), s))
        if isinstance(self.suggestions, list):
            for i, s in enumerate(self.suggestions):
                if isinstance(s, Suggestion) and s.kind is not None:
                    out.append((("suggestions", i), s))
        return out


def _fix_suggestion(s) -> None:
    if isinstance(s, Suggestion) and isinstance(s.params, OpenUrl) and s.params.application is None:
        s.params.application = "browser"


def _fix_menu(menu) -> None:
    if not isinstance(menu, Menu) or not isinstance(menu.entries, list):
        return
    for entry in menu.entries:
        if isinstance(entry, MenuEntry):
            _fix_menu(entry.submenu)
            _fix_suggestion(entry.suggestion)


def fix_warnings(doc: Document) -> Document:
    """Resolve what §13 only warns about, in place: openUrl without `application` means
    `browser`; `image/jpg` is `image/jpeg`. Returns `doc`."""
    for _, s in doc.suggestions_in_order():
        _fix_suggestion(s)
    _fix_menu(doc.menu)
    files: list = [content.media for _, content in doc.cards()]
    if isinstance(doc.message, Message):
        files.append(doc.message.file)
    for m in files:
        if isinstance(m, Media | FileMessage):
            if m.media_content_type == "image/jpg":
                m.media_content_type = "image/jpeg"
            if m.thumbnail_content_type == "image/jpg":
                m.thumbnail_content_type = "image/jpeg"
    return doc


def parse_document(card: dict) -> Document:
    """Parse card JSON (bot message, chip list and/or menu) into the typed model."""
    doc = Document.parse(card)
    if not isinstance(doc, Document):
        raise TypeError("a card is a JSON object")
    return doc


def kind_of(content: Mapping | None) -> str:
    """The RCS kind of a content document — text, file, location, carousel or card — by what its bot
    message holds (billing prices by it; a document without a message counts as a card)."""
    message = content.get("message") if isinstance(content, Mapping) else None
    if not isinstance(message, Mapping):
        return "card"
    keys = set(message)
    if keys == {"text"}:
        return "text"
    if keys == {"file"}:
        return "file"
    if keys == {"location"}:
        return "location"
    if "generalPurposeCardCarousel" in keys:
        return "carousel"
    return "card"
