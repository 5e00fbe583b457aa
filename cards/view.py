"""A flat, render-ready view of a card shared by the HTML, PNG and text renderers."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.problems import pointer
from cards.model import (
    CalendarEvent,
    Carousel,
    ComposeRecording,
    ComposeText,
    DialNumber,
    Document,
    FileMessage,
    GeneralPurposeCard,
    Layout,
    Location,
    LocationMessage,
    Media,
    Menu,
    MenuEntry,
    Message,
    OpenUrl,
    ShowLocation,
    Suggestion,
    parse_document,
)
from cards.validate import parse_rfc3339


@dataclass(frozen=True)
class SuggestionView:
    """One tappable suggestion. `index` is its place in `Document.suggestions_in_order()`."""

    index: int
    display_text: str
    kind: str  # reply | open_url | dial | show_location | request_location | calendar | compose | device | settings
    postback: str | None = None
    url: str | None = None
    phone_number: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    label: str | None = None  # location label or query, calendar title, compose text
    start_time: str | None = None
    end_time: str | None = None
    description: str | None = None
    suggestion: Suggestion | None = field(default=None, repr=False, compare=False)
    path: str | None = field(default=None, compare=False)  # its JSON Pointer in the card (the editor's preview)


@dataclass(frozen=True)
class MediaView:
    url: str | None
    content_type: str
    height: str
    description: str | None
    thumbnail_url: str | None

    @property
    def kind(self) -> str:
        """image, video, audio or file: what the placeholder shows."""
        family = self.content_type.split("/", 1)[0]
        return family if family in ("image", "video", "audio") else "file"


@dataclass(frozen=True)
class FileView:
    """A file message: the file (a MediaView of it) and its name and size."""

    media: MediaView
    file_name: str | None
    file_size: int | None

    @property
    def size_text(self) -> str | None:
        """The size as people read it: "860 KB", "1.2 MB"."""
        if self.file_size is None:
            return None
        if self.file_size < 1024 * 1024:
            return f"{max(1, round(self.file_size / 1024))} KB"
        return f"{self.file_size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class LocationView:
    """A location message; `crs` is the coordinates' datum (gcj02 or wgs84)."""

    latitude: float
    longitude: float
    label: str | None
    crs: str

    @property
    def coordinates(self) -> str:
        return f"{self.latitude:.6f}, {self.longitude:.6f}"


@dataclass(frozen=True)
class CardView:
    title: str | None
    description: str | None
    media: MediaView | None
    suggestions: list[SuggestionView]
    title_styles: tuple[str, ...] = ()
    description_styles: tuple[str, ...] = ()
    path: str | None = None  # the card content's JSON Pointer (the editor's preview marks elements with it)


@dataclass(frozen=True)
class MenuItemView:
    display_text: str
    suggestion: SuggestionView | None = None
    children: list[MenuItemView] = field(default_factory=list)
    path: str | None = None  # the entry's JSON Pointer; a submenu's points at its `menu`


@dataclass(frozen=True)
class DocumentView:
    cards: list[CardView]
    chips: list[SuggestionView]
    menu: list[MenuItemView]
    layout: str  # "vertical" | "horizontal" | "carousel"
    image_alignment: str = "LEFT"
    card_width: str = "MEDIUM_WIDTH"
    text: str | None = None  # a plain-text bot message
    file: FileView | None = None  # a file message
    location: LocationView | None = None  # a location message

    @property
    def suggestions(self) -> list[SuggestionView]:
        """Every suggestion in index order (cards, then chips)."""
        return [s for c in self.cards for s in c.suggestions] + self.chips


def _str(v) -> str | None:
    return v if isinstance(v, str) and v else None


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def suggestion_view(index: int, s: Suggestion, path: str | None = None) -> SuggestionView:
    """Flatten one suggestion for renderers; `path` is its JSON Pointer in the card."""
    common = dict(
        index=index, display_text=_str(s.display_text) or "", postback=s.postback_data, suggestion=s, path=path
    )
    p = s.params
    if s.kind == "reply" or p is None:
        return SuggestionView(kind="reply", **common)
    if isinstance(p, OpenUrl):
        return SuggestionView(kind="open_url", url=_str(p.url), **common)
    if isinstance(p, DialNumber):
        return SuggestionView(kind="dial", phone_number=_str(p.phone_number), url=_str(p.fallback_url), **common)
    if isinstance(p, ShowLocation):
        loc = p.location if isinstance(p.location, Location) else Location()
        return SuggestionView(
            kind="show_location",
            latitude=_num(loc.latitude),
            longitude=_num(loc.longitude),
            label=_str(loc.label) or _str(loc.query),
            url=_str(p.fallback_url),
            **common,
        )
    if isinstance(p, CalendarEvent):
        return SuggestionView(
            kind="calendar",
            start_time=_str(p.start_time),
            end_time=_str(p.end_time),
            label=_str(p.title),
            description=_str(p.description),
            **common,
        )
    if isinstance(p, (ComposeText, ComposeRecording)):
        text = _str(p.text) if isinstance(p, ComposeText) else None
        return SuggestionView(kind="compose", phone_number=_str(p.phone_number), label=text, **common)
    kind = {"mapAction": "request_location", "deviceAction": "device", "settingsAction": "settings"}.get(
        s.group or "", "reply"
    )
    return SuggestionView(kind=kind, **common)


def _media(m) -> MediaView | None:
    if not isinstance(m, Media):
        return None
    return MediaView(
        url=_str(m.media_url),
        content_type=_str(m.media_content_type) or "image/*",
        height=_str(m.height) or "MEDIUM_HEIGHT",
        description=_str(m.content_description),
        thumbnail_url=_str(m.thumbnail_url),
    )


def _styles(v) -> tuple[str, ...]:
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()


def document_view(doc: Document) -> DocumentView:
    """Build the render view; suggestion indexes follow Document.suggestions_in_order()."""
    ordered = doc.suggestions_in_order()
    index = {id(s): i for i, (_, s) in enumerate(ordered)}
    paths = {id(s): pointer(*parts) for parts, s in ordered}

    def views(suggestions) -> list[SuggestionView]:
        if not isinstance(suggestions, list):
            return []
        return [suggestion_view(index[id(s)], s, paths[id(s)]) for s in suggestions if id(s) in index]

    msg = doc.message if isinstance(doc.message, Message) else Message()
    lay, layout = Layout(), "vertical"
    if isinstance(msg.card, GeneralPurposeCard):
        if isinstance(msg.card.layout, Layout):
            lay = msg.card.layout
        layout = "horizontal" if lay.card_orientation == "HORIZONTAL" else "vertical"
    elif isinstance(msg.carousel, Carousel):
        layout = "carousel"
        if isinstance(msg.carousel.layout, Layout):
            lay = msg.carousel.layout
    cards = [
        CardView(
            title=_str(c.title),
            description=_str(c.description),
            media=_media(c.media),
            suggestions=views(c.suggestions),
            title_styles=_styles(lay.title_font_style),
            description_styles=_styles(lay.description_font_style),
            path=pointer(*parts),
        )
        for parts, c in doc.cards()
    ]
    return DocumentView(
        cards=cards,
        chips=views(doc.suggestions),
        menu=_menu(doc.menu, "/menu"),
        layout=layout,
        image_alignment=lay.image_alignment if lay.image_alignment in ("LEFT", "RIGHT") else "LEFT",
        card_width=lay.card_width if lay.card_width in ("SMALL_WIDTH", "MEDIUM_WIDTH") else "SMALL_WIDTH",
        text=_str(msg.text),
        file=_file(msg.file),
        location=_location(msg.location),
    )


def _file(f) -> FileView | None:
    if not isinstance(f, FileMessage):
        return None
    media = MediaView(
        url=_str(f.media_url),
        content_type=_str(f.media_content_type) or "application/octet-stream",
        height="MEDIUM_HEIGHT",
        description=_str(f.file_name),
        thumbnail_url=_str(f.thumbnail_url),
    )
    size = f.media_file_size if isinstance(f.media_file_size, int) and not isinstance(f.media_file_size, bool) else None
    return FileView(media, _str(f.file_name), size)


def _location(loc) -> LocationView | None:
    if not isinstance(loc, LocationMessage):
        return None
    lat, lon = _num(loc.latitude), _num(loc.longitude)
    if lat is None or lon is None:
        return None
    return LocationView(lat, lon, _str(loc.label), loc.crs if loc.crs in ("gcj02", "wgs84") else "gcj02")


def _menu(menu, at: str) -> list[MenuItemView]:
    """The entries of the menu at JSON Pointer `at`."""
    if not isinstance(menu, Menu) or not isinstance(menu.entries, list):
        return []
    out = []
    for i, entry in enumerate(menu.entries):
        if not isinstance(entry, MenuEntry):
            continue
        path = f"{at}/entries/{i}"
        if isinstance(entry.submenu, Menu):
            sub = f"{path}/menu"
            out.append(
                MenuItemView(_str(entry.submenu.display_text) or "", children=_menu(entry.submenu, sub), path=sub)
            )
        elif isinstance(entry.suggestion, Suggestion) and entry.suggestion.kind:
            # Menu entries are not part of the numbered suggestion list (they live in the
            # chatbot's profile, not in the message), so their index is -1.
            sv = suggestion_view(-1, entry.suggestion, path)
            out.append(MenuItemView(sv.display_text, suggestion=sv, path=path))
    return out


def when_text(start: str | None, end: str | None) -> str | None:
    """A compact "2026-01-31 09:00–10:00" for a calendar event (in the event's own offset)."""
    a, b = parse_rfc3339(start), parse_rfc3339(end)
    if a is None:
        return None
    text = a.strftime("%Y-%m-%d %H:%M")
    if b is not None:
        text += "–" + (b.strftime("%H:%M") if b.date() == a.date() else b.strftime("%Y-%m-%d %H:%M"))
    return text


def suggestion_at(card: dict | Document, index: int) -> SuggestionView:
    """The suggestion with landing-page / reply index `index` (IndexError when none):
    e.g. the URL behind `/s/<token>/a/<n>` is `suggestion_at(card, n).url`."""
    doc = card if isinstance(card, Document) else parse_document(card)
    ordered = doc.suggestions_in_order()
    if not 0 <= index < len(ordered):
        raise IndexError(f"no suggestion {index}")
    return suggestion_view(index, ordered[index][1])
