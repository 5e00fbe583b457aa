"""Card validation against the published limits (each cited in cards.limits) and the API's contract.

Every finding names a JSON Pointer into the card and the limit it breaks. Warnings (only
these, per §13): openUrl without `application`, `image/jpg`, a URL extension that disagrees
with `mediaContentType`. Everything else is an error.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import orjson

from api.problems import FieldError, pointer
from cards import limits as L
from cards.model import (
    ACTIONS,
    CalendarEvent,
    CardContent,
    ComposeRecording,
    ComposeText,
    DialNumber,
    Document,
    FileMessage,
    Layout,
    Location,
    Media,
    Menu,
    MenuEntry,
    Node,
    OpenUrl,
    Postback,
    ShowLocation,
    Suggestion,
    parse_document,
)


@dataclass
class CardReport:
    """The outcome of validating one card."""

    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def validate_card(card: dict, profile: str = L.DEFAULT_PROFILE) -> CardReport:
    """Validate card JSON for an operator profile ("cn_csp", "gsma" or "rbm")."""
    if profile not in L.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; one of {', '.join(L.PROFILES)}")
    v = _Validator(L.PROFILES[profile])
    if not isinstance(card, dict):
        v.error((), "expected a JSON object", "not_object")
        return v.report
    v.document(parse_document(card), card)
    return v.report


def validate_document(doc: Document, profile: str = L.DEFAULT_PROFILE) -> CardReport:
    """Validate an already parsed card."""
    v = _Validator(L.PROFILES[profile])
    v.document(doc, None)
    return v.report


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


class _Validator:
    def __init__(self, profile: L.Profile):
        self.profile = profile
        self.report = CardReport()
        self._error_paths: set[str] = set()

    # -- reporting --------------------------------------------------------------------
    def error(self, path: tuple, message: str, code: str, **params) -> None:
        """Report `message` at `path`, with its stable `code` and the `params` a user interface
        needs to say it in another language (docs/cards.md lists the codes)."""
        where = pointer(*path)
        # One finding per field: an explicit null is not also reported as "required".
        if where not in self._error_paths:
            self._error_paths.add(where)
            self.report.errors.append(FieldError(where, message, code, params or None))

    def warning(self, path: tuple, message: str, code: str, **params) -> None:
        self.report.warnings.append(FieldError(pointer(*path), message, code, params or None))

    def is_object(self, value, path: tuple, *, required: bool = False) -> bool:
        if value is None:
            if required:
                self.error(path, "required", "required")
            return False
        if not isinstance(value, Node):
            self.error(path, "expected an object", "not_object")
            return False
        self.nulls(value, path)
        return True

    def nulls(self, node: Node, path: tuple) -> None:
        """Known keys sent as explicit null are kept in `extra` by the parser; report them."""
        known = {key for _, key, _, _ in node._fields()}
        for key, value in node.extra.items():
            if value is None and key in known:
                self.error((*path, key), "must not be null", "not_null")

    def text(self, value, path: tuple, limit: int, *, required: bool = False, unit: str = "characters") -> None:
        """A string of 1..limit characters (or UTF-8 bytes)."""
        if value is None:
            if required:
                self.error(path, "required", "required")
            return
        if not isinstance(value, str):
            self.error(path, "expected a string", "not_string")
            return
        n = len(value.encode()) if unit == "bytes" else len(value)
        if n == 0:
            self.error(
                path, f"empty; at least 1 character, the limit is {limit} {unit}", "empty", limit=limit, unit=unit
            )
        elif n > limit:
            self.error(path, f"{n} {unit}; the limit is {limit}", "too_long", n=n, limit=limit, unit=unit)

    def enum(self, value, path: tuple, allowed: frozenset, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.error(path, "required", "required")
            return
        if value not in allowed:
            self.error(
                path,
                f"{value!r} is not one of {', '.join(sorted(allowed))}",
                "not_one_of",
                value=value,
                allowed=sorted(allowed),
            )

    def count(self, items, path: tuple, lo: int, hi: int, what: str) -> bool:
        """A list of lo..hi items; False when it is not a list."""
        if not isinstance(items, list):
            self.error(path, "expected an array", "not_array")
            return False
        n = len(items)
        if n < lo:
            self.error(path, f"{_plural(n, what)}; at least {lo} required", "too_few", n=n, min=lo, what=what)
        elif n > hi:
            self.error(path, f"{_plural(n, what)}; the limit is {hi}", "too_many", n=n, limit=hi, what=what)
        return True

    # -- structure --------------------------------------------------------------------
    def document(self, doc: Document, raw: dict | None) -> None:
        self.nulls(doc, ())
        if doc.message is None and doc.suggestions is None and doc.menu is None:
            self.error((), "a card needs a message, a suggestion chip list or a menu", "no_content")
        if doc.message is not None:
            self.message(doc.message, ("message",))
        if doc.suggestions is not None:
            if self.count(doc.suggestions, ("suggestions",), 1, L.CHIP_LIST_MAX, "suggestion"):
                for i, s in enumerate(doc.suggestions):
                    self.suggestion(s, ("suggestions", i))
        if doc.menu is not None:
            self.menu(doc.menu, ("menu",), 1)
        if doc.message is not None:
            self.message_size((raw or doc.to_json()).get("message"))

    def message_size(self, message) -> None:
        try:
            size = len(orjson.dumps(message))
        except TypeError as exc:  # e.g. an integer beyond 64 bits: no operator accepts it
            self.error(("message",), f"holds a value JSON interchange cannot carry: {exc}", "not_json")
            return
        if self.profile.message_max_bytes and size > self.profile.message_max_bytes:
            self.error(
                ("message",),
                f"{size} bytes; the limit is {self.profile.message_max_bytes}",
                "too_long",
                n=size,
                limit=self.profile.message_max_bytes,
                unit="bytes",
            )

    def message(self, msg, path: tuple) -> None:
        if not self.is_object(msg, path):
            return
        kinds = msg.kinds()
        if not kinds:
            self.error(path, f"expected one of {_MESSAGE_KINDS}", "no_message_kind")
        elif len(kinds) > 1:
            self.error(path, f"holds more than one of {', '.join(kinds)}", "message_kinds", kinds=kinds)
        if msg.card is not None:
            self.standalone(msg.card, (*path, "generalPurposeCard"))
        if msg.carousel is not None:
            self.carousel(msg.carousel, (*path, "generalPurposeCardCarousel"))
        if msg.text is not None:
            self.text(msg.text, (*path, "text"), L.CN_TEXT_MAX, required=True)
        if msg.file is not None:
            self.file(msg.file, (*path, "file"))
        if msg.location is not None:
            self.location(msg.location, (*path, "location"))

    def file(self, f, path: tuple) -> None:
        """A file message: the file itself (type and size required, as the interface's
        file-transfer form has them) and an optional thumbnail, which must be an image."""
        if not self.is_object(f, path):
            return
        self.url(f.media_url, (*path, "mediaUrl"), required=True)
        self.content_type(f.media_content_type, (*path, "mediaContentType"), required=True)
        self.file_size(f.media_file_size, (*path, "mediaFileSize"), required=True)
        self.text(f.file_name, (*path, "fileName"), L.FILE_NAME_MAX)
        if isinstance(f.file_name, str) and any(ch in f.file_name for ch in "/\\\x00"):
            self.error((*path, "fileName"), "a file name, not a path", "file_name_path")
        self.url_matches_type(f.media_url, f.media_content_type, (*path, "mediaUrl"))
        if any(t is not None for t in (f.thumbnail_url, f.thumbnail_content_type, f.thumbnail_file_size)):
            self.url(f.thumbnail_url, (*path, "thumbnailUrl"), required=True)
            self.content_type(f.thumbnail_content_type, (*path, "thumbnailContentType"), required=True)
            self.file_size(f.thumbnail_file_size, (*path, "thumbnailFileSize"), required=True)
            tctype = f.thumbnail_content_type
            if isinstance(tctype, str) and not tctype.startswith("image/"):
                self.error((*path, "thumbnailContentType"), "a thumbnail is an image", "thumbnail_not_image")
        if self.profile.cn_media:
            self.cn_media(f, path)

    def location(self, loc, path: tuple) -> None:
        """A location message: coordinates in range, an optional label, the datum."""
        if not self.is_object(loc, path):
            return
        for value, key, bound in ((loc.latitude, "latitude", 90), (loc.longitude, "longitude", 180)):
            if value is None:
                self.error((*path, key), "required", "required")
            elif not _is_number(value):
                self.error((*path, key), "expected a number", "not_number")
            elif not -bound <= value <= bound:
                self.error(
                    (*path, key), f"{value} is outside -{bound}…{bound}", "out_of_range", value=value, bound=bound
                )
        self.text(loc.label, (*path, "label"), L.LOCATION_LABEL_MAX)
        self.enum(loc.crs, (*path, "crs"), L.LOCATION_DATUMS)

    def standalone(self, card, path: tuple) -> None:
        if not self.is_object(card, path):
            return
        if self.is_object(card.layout, (*path, "layout"), required=True):
            lay: Layout = card.layout
            self.enum(lay.card_orientation, (*path, "layout", "cardOrientation"), L.ORIENTATIONS, required=True)
            self.enum(
                lay.image_alignment,
                (*path, "layout", "imageAlignment"),
                L.ALIGNMENTS,
                required=lay.card_orientation == "HORIZONTAL",
            )
            self.font_styles(lay, (*path, "layout"))
            self.url(lay.style, (*path, "layout", "style"))
        if self.is_object(card.content, (*path, "content"), required=True):
            self.content(card.content, (*path, "content"), None)

    def carousel(self, car, path: tuple) -> None:
        if not self.is_object(car, path):
            return
        width = "SMALL_WIDTH"
        if self.is_object(car.layout, (*path, "layout")):
            self.enum(car.layout.card_width, (*path, "layout", "cardWidth"), L.CARD_WIDTHS)
            width = car.layout.card_width or width
            self.font_styles(car.layout, (*path, "layout"))
        if car.content is None:
            self.error((*path, "content"), "required", "required")
        elif self.count(car.content, (*path, "content"), L.CAROUSEL_MIN, self.profile.carousel_max, "card"):
            for i, content in enumerate(car.content):
                if self.is_object(content, (*path, "content", i)):
                    self.content(content, (*path, "content", i), width)

    def font_styles(self, lay: Layout, path: tuple) -> None:
        for attr, key in (("title_font_style", "titleFontStyle"), ("description_font_style", "descriptionFontStyle")):
            styles = getattr(lay, attr)
            if styles is None:
                continue
            if not self.count(styles, (*path, key), 1, L.FONT_STYLES_MAX, "font style"):
                continue
            for i, s in enumerate(styles):
                if s not in L.FONT_STYLES:
                    self.error(
                        (*path, key, i),
                        f"unknown font style {s!r}; one of {', '.join(sorted(L.FONT_STYLES))}",
                        "not_one_of",
                        value=s,
                        allowed=sorted(L.FONT_STYLES),
                    )

    def content(self, c: CardContent, path: tuple, carousel_width: str | None) -> None:
        if c.media is None and c.title is None and c.description is None:
            self.error(path, "a card needs at least one of media, title, description", "card_empty")
        self.text(c.title, (*path, "title"), L.TITLE_MAX)
        self.text(c.description, (*path, "description"), L.DESCRIPTION_MAX)
        if self.is_object(c.media, (*path, "media")):
            self.media(c.media, (*path, "media"), carousel_width)
        if c.suggestions is not None:
            if self.count(c.suggestions, (*path, "suggestions"), 1, L.CARD_SUGGESTIONS_MAX, "suggestion"):
                for i, s in enumerate(c.suggestions):
                    self.suggestion(s, (*path, "suggestions", i))

    def media(self, m: Media, path: tuple, carousel_width: str | None) -> None:
        self.url(m.media_url, (*path, "mediaUrl"), required=True)
        self.content_type(m.media_content_type, (*path, "mediaContentType"), required=True)
        self.file_size(m.media_file_size, (*path, "mediaFileSize"), required=True)
        self.enum(m.height, (*path, "height"), L.MEDIA_HEIGHTS, required=True)
        if carousel_width == "SMALL_WIDTH" and m.height in L.MEDIA_HEIGHTS and m.height not in L.SMALL_WIDTH_HEIGHTS:
            self.error(
                (*path, "height"),
                f"{m.height} does not fit SMALL_WIDTH carousel cards; use SHORT_HEIGHT or MEDIUM_HEIGHT",
                "height_small_width",
                height=m.height,
            )
        self.text(m.content_description, (*path, "contentDescription"), L.CONTENT_DESCRIPTION_MAX)
        self.url_matches_type(m.media_url, m.media_content_type, (*path, "mediaUrl"))
        thumb = (m.thumbnail_url, m.thumbnail_content_type, m.thumbnail_file_size)
        if any(t is not None for t in thumb):
            self.url(m.thumbnail_url, (*path, "thumbnailUrl"), required=True)
            self.content_type(m.thumbnail_content_type, (*path, "thumbnailContentType"), required=True)
            self.file_size(m.thumbnail_file_size, (*path, "thumbnailFileSize"), required=True)
            self.url_matches_type(m.thumbnail_url, m.thumbnail_content_type, (*path, "thumbnailUrl"))
        if self.profile.cn_media:
            self.cn_media(m, path)

    def cn_media(self, m: Media | FileMessage, path: tuple) -> None:
        ctype, size = m.media_content_type, m.media_file_size
        if isinstance(ctype, str) and _is_size(size):
            family = ctype.split("/", 1)[0]
            cap = L.CN_MEDIA_MAX_BYTES.get(family)
            if family == "image" and ctype not in L.CN_IMAGE_TYPES:
                self.error(
                    (*path, "mediaContentType"),
                    f"{ctype} is not accepted; images are jpg or png",
                    "image_type",
                    type=ctype,
                )
            if cap is not None and size > cap:
                self.error(
                    (*path, "mediaFileSize"),
                    f"{size} bytes; the limit for {family} is {cap}",
                    "file_too_big",
                    n=size,
                    limit=cap,
                )
        tsize = m.thumbnail_file_size
        if _is_size(tsize) and tsize > L.CN_THUMBNAIL_MAX_BYTES:
            self.error(
                (*path, "thumbnailFileSize"),
                f"{tsize} bytes; the limit is {L.CN_THUMBNAIL_MAX_BYTES}",
                "file_too_big",
                n=tsize,
                limit=L.CN_THUMBNAIL_MAX_BYTES,
            )

    def url(self, value, path: tuple, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.error(path, "required", "required")
            return
        if not isinstance(value, str) or not value:
            self.error(path, "expected a URL string", "not_url")
            return
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.error(path, "expected an absolute http(s) URL", "not_absolute_url")
        elif _UNSAFE_URL.search(value):
            # RFC 3986 has no raw spaces, quotes or control characters: percent-encode them.
            self.error(path, "contains a space or a character a URL must percent-encode", "url_unencoded")

    def content_type(self, value, path: tuple, *, required: bool) -> None:
        if value is None:
            if required:
                self.error(path, "required", "required")
            return
        if not isinstance(value, str) or value.count("/") != 1 or " " in value:
            self.error(path, "expected a MIME type such as image/png", "not_mime_type")
        elif value == "image/jpg":
            self.warning(path, "image/jpg is not a registered type; use image/jpeg", "image_jpg")

    def file_size(self, value, path: tuple, *, required: bool) -> None:
        if value is None:
            if required:
                self.error(path, "required", "required")
            return
        if not _is_size(value):
            self.error(path, "expected a size in bytes (a non-negative integer)", "not_size")

    def url_matches_type(self, url, ctype, path: tuple) -> None:
        if not isinstance(url, str) or not isinstance(ctype, str):
            return
        guessed, _ = mimetypes.guess_type(urlsplit(url).path, strict=False)
        if guessed is None:
            return
        norm = {"image/jpg": "image/jpeg"}
        if norm.get(ctype, ctype) != norm.get(guessed, guessed):
            self.warning(
                path,
                f"the URL's extension suggests {guessed}, but the content type is {ctype}",
                "type_mismatch",
                guessed=guessed,
                type=ctype,
            )

    # -- suggestions ------------------------------------------------------------------
    def display_text(self, value, path: tuple) -> None:
        self.text(value, path, L.DISPLAY_TEXT_MAX, required=True, unit=self.profile.display_text_unit)

    def phone_number(self, value, path: tuple) -> None:
        """Something a phone can dial: digits with an optional leading "+" or "tel:", the
        separators people write (spaces, "-", ".", brackets), and an extension after "," ";" or
        ";ext=" — not words ("call me" would read 电话：call me in the SMS)."""
        self.text(value, path, L.PHONE_NUMBER_MAX, required=True)
        if isinstance(value, str) and value and len(value) <= L.PHONE_NUMBER_MAX:
            match = _DIALABLE.fullmatch(value.strip())
            digits = sum(ch.isdigit() for ch in match.group("number")) if match else 0
            if match is None or not L.PHONE_DIGITS_MIN <= digits <= L.PHONE_DIGITS_MAX:
                self.error(
                    path,
                    f"expected a phone number such as +8610086 or 400-820-8820 "
                    f"({L.PHONE_DIGITS_MIN}–{L.PHONE_DIGITS_MAX} digits; an extension after ',')",
                    "not_phone",
                    min=L.PHONE_DIGITS_MIN,
                    max=L.PHONE_DIGITS_MAX,
                )

    def postback_data(self, data, path: tuple) -> None:
        if data is None:
            self.error(path, "required", "required")
        elif not isinstance(data, str):
            self.error(path, "expected a string", "not_string")
        elif len(data) > L.POSTBACK_DATA_MAX:
            self.error(
                path,
                f"{len(data)} characters; the limit is {L.POSTBACK_DATA_MAX}",
                "too_long",
                n=len(data),
                limit=L.POSTBACK_DATA_MAX,
                unit="characters",
            )

    def suggestion(self, s, path: tuple) -> None:
        if not isinstance(s, Suggestion):
            self.error(path, "expected an object", "not_object")
            return
        if s.kind is None:
            self.error(path, 'expected {"reply": {…}} or {"action": {…}}', "suggestion_kind")
            return
        other = "action" if s.kind == "reply" else "reply"
        if other in s.extra:
            self.error((*path, other), "a suggestion is a reply or an action, not both", "reply_and_action")
        body = (*path, s.kind)
        self.display_text(s.display_text, (*body, "displayText"))
        if s.postback is not None and self.is_object(s.postback, (*body, "postback")):
            pb: Postback = s.postback
            self.postback_data(pb.data, (*body, "postback", "data"))
        if s.kind == "reply":
            return
        others = [k for k in s.body_extra if k in ACTIONS]
        if s.group is None:
            self.error(body, "an action needs one of " + ", ".join(ACTIONS), "action_missing")
            return
        for k in others:
            self.error((*body, k), "only one action per suggestion", "one_action")
        group = (*body, s.group)
        if s.operation is None:
            self.error(group, "expected one of " + ", ".join(ACTIONS[s.group]), "operation_missing")
            return
        for k in s.group_extra:
            if k in ACTIONS[s.group]:
                self.error((*group, k), "only one operation per action", "one_operation")
        op = (*group, s.operation)
        if not self.is_object(s.params, op, required=True):
            return
        p = s.params
        if isinstance(p, OpenUrl):
            self.open_url(p, op)
        elif isinstance(p, DialNumber):
            self.phone_number(p.phone_number, (*op, "phoneNumber"))
            if s.operation == "dialEnrichedCall":
                self.text(p.subject, (*op, "subject"), L.ENRICHED_CALL_SUBJECT_MAX)
            self.url(p.fallback_url, (*op, "fallbackUrl"))
        elif isinstance(p, ShowLocation):
            self.show_location(p, op)
        elif isinstance(p, CalendarEvent):
            self.calendar(p, op)
        elif isinstance(p, ComposeText):
            self.phone_number(p.phone_number, (*op, "phoneNumber"))
            if p.text is None:
                self.error((*op, "text"), "required", "required")
            elif not isinstance(p.text, str):
                self.error((*op, "text"), "expected a string", "not_string")
            elif len(p.text) > L.COMPOSE_TEXT_MAX:
                self.error(
                    (*op, "text"),
                    f"{len(p.text)} characters; the limit is {L.COMPOSE_TEXT_MAX}",
                    "too_long",
                    n=len(p.text),
                    limit=L.COMPOSE_TEXT_MAX,
                    unit="characters",
                )
        elif isinstance(p, ComposeRecording):
            self.phone_number(p.phone_number, (*op, "phoneNumber"))
            self.enum(p.type, (*op, "type"), L.RECORDING_TYPES, required=True)

    def open_url(self, p: OpenUrl, path: tuple) -> None:
        self.url(p.url, (*path, "url"), required=True)
        if p.application is None:
            self.warning((*path, "application"), "openUrl without application; treated as browser", "no_application")
        else:
            self.enum(p.application, (*path, "application"), L.URL_APPLICATIONS)
        if p.application == "webview" or p.view_mode is not None:
            self.enum(p.view_mode, (*path, "viewMode"), self.profile.view_modes, required=p.application == "webview")

    def show_location(self, p: ShowLocation, path: tuple) -> None:
        self.url(p.fallback_url, (*path, "fallbackUrl"))
        if not self.is_object(p.location, (*path, "location"), required=True):
            return
        loc: Location = p.location
        lp = (*path, "location")
        has_coords = loc.latitude is not None or loc.longitude is not None
        if has_coords:
            for value, key, bound in ((loc.latitude, "latitude", 90), (loc.longitude, "longitude", 180)):
                if value is None:
                    self.error((*lp, key), "required with coordinates", "required")
                elif not _is_number(value):
                    self.error((*lp, key), "expected a number", "not_number")
                elif not -bound <= value <= bound:
                    self.error(
                        (*lp, key), f"{value} is outside -{bound}…{bound}", "out_of_range", value=value, bound=bound
                    )
            self.text(loc.label, (*lp, "label"), L.LOCATION_LABEL_MAX)
        elif loc.query is None:
            self.error(lp, "needs latitude and longitude, or a query", "no_place")
        self.text(loc.query, (*lp, "query"), L.LOCATION_QUERY_MAX)

    def calendar(self, p: CalendarEvent, path: tuple) -> None:
        start = self.rfc3339(p.start_time, (*path, "startTime"))
        end = self.rfc3339(p.end_time, (*path, "endTime"))
        if start and end and end <= start:
            self.error((*path, "endTime"), "must be after startTime", "end_before_start")
        self.text(p.title, (*path, "title"), L.CALENDAR_TITLE_MAX, required=True)
        self.text(p.description, (*path, "description"), L.CALENDAR_DESCRIPTION_MAX)

    def rfc3339(self, value, path: tuple) -> datetime | None:
        if value is None:
            self.error(path, "required", "required")
            return None
        parsed = parse_rfc3339(value)
        if parsed is None:
            self.error(
                path, "expected an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:00:00+08:00", "not_datetime"
            )
        return parsed

    # -- persistent menu --------------------------------------------------------------
    def menu(self, menu, path: tuple, level: int) -> None:
        if not self.is_object(menu, path):
            return
        m: Menu = menu
        if level > 1:
            self.display_text(m.display_text, (*path, "displayText"))
        hi = self.profile.menu_top_max if level == 1 else self.profile.menu_sub_max
        if m.entries is None:
            self.error((*path, "entries"), "required", "required")
            return
        if not self.count(m.entries, (*path, "entries"), 1, hi, "entry"):
            return
        for i, entry in enumerate(m.entries):
            ep = (*path, "entries", i)
            if not isinstance(entry, MenuEntry):
                self.error(ep, "expected an object", "not_object")
            elif entry.submenu is not None:
                if level >= self.profile.menu_levels:
                    self.error(
                        (*ep, "menu"),
                        f"{level + 1} menu levels; the limit is {self.profile.menu_levels}",
                        "menu_levels",
                        n=level + 1,
                        limit=self.profile.menu_levels,
                    )
                else:
                    self.menu(entry.submenu, (*ep, "menu"), level + 1)
            else:
                self.suggestion(entry.suggestion, ep)


class Revalidation:
    """Re-validates a composed card by checking only what its template fields can change.

    Built once per compiled template from the template card and the paths of its template
    fields. Each field belongs to a unit — a suggestion, a media object, or one text field —
    whose checks depend only on the unit itself; a composed card is then checked unit by
    unit, and the template's other findings are reused. A field anywhere else (layout,
    unknown keys, menu structure) falls back to validating the whole card.
    """

    def __init__(self, card: dict, slot_paths: list[tuple], profile: str = L.DEFAULT_PROFILE):
        self.profile = L.PROFILES[profile]
        self.full = False
        units: dict[tuple, str] = {}
        for parts in slot_paths:
            unit = _unit(parts)
            if unit is None:
                self.full = True
                break
            units[unit[1]] = unit[0]
        self.units = units
        self.carousel_width = _carousel_width(card)
        prefixes = [pointer(*u) for u in units]
        report = validate_card(card, profile)
        # Findings outside every unit stay true whatever the variables are.
        self.static_errors = [
            e for e in report.errors if not any(e.path == p or e.path.startswith(p + "/") for p in prefixes)
        ]

    def errors(self, card: dict) -> list[FieldError]:
        """All errors of `card`, a composition of the template this was built for."""
        if self.full:
            return validate_card(card, self.profile.name).errors
        v = _Validator(self.profile)
        for path, kind in self.units.items():
            value = card
            for part in path:
                value = value[part]
            if kind == "suggestion":
                v.suggestion(Suggestion.parse(value), path)
            elif kind == "displayText":
                v.display_text(value, path)
            elif kind == "postback":
                v.postback_data(value, path)
            elif kind == "url":
                v.url(value, path, required=True)
            elif kind == "phone":
                v.phone_number(value, path)
            elif kind == "createCalendarEvent":
                event = CalendarEvent.parse(value)
                if v.is_object(event, path):
                    v.calendar(event, path)
            elif kind == "showLocation":
                show = ShowLocation.parse(value)
                if v.is_object(show, path):
                    v.show_location(show, path)
            elif kind == "media":
                media = Media.parse(value)
                if v.is_object(media, path):
                    v.media(media, path, self.carousel_width)
            else:
                v.text(value, path, _TEXT_UNITS[kind])
        if self.profile.message_max_bytes and "message" in card:
            v.message_size(card["message"])
        return self.static_errors + v.report.errors


_TEXT_UNITS = {"title": L.TITLE_MAX, "description": L.DESCRIPTION_MAX, "text": L.CN_TEXT_MAX}


def _unit(parts: tuple) -> tuple[str, tuple] | None:
    """(kind, path) of the unit whose checks cover the field at `parts`, or None."""
    for k in range(len(parts) - 2, -1, -1):
        # a suggestion on a card or in the chip list
        on_card = k >= 1 and (
            parts[k - 1] == "content" or (k >= 2 and isinstance(parts[k - 1], int) and parts[k - 2] == "content")
        )
        if parts[k] == "suggestions" and isinstance(parts[k + 1], int) and (k == 0 or on_card):
            inner = parts[k + 2 :]
            # Fields whose checks involve nothing else in the suggestion are units of their own.
            if len(inner) == 2 and inner[1] == "displayText":
                return "displayText", parts
            if len(inner) == 3 and inner[1:] == ("postback", "data"):
                return "postback", parts
            if len(inner) == 4 and inner[0] == "action" and inner[1:] == ("urlAction", "openUrl", "url"):
                return "url", parts
            if (
                len(inner) == 4
                and inner[1] == "dialerAction"
                and inner[2] == "dialPhoneNumber"
                and inner[3] == "phoneNumber"
            ):
                return "phone", parts
            # An event's or a location's fields are checked together, apart from the rest.
            if (
                len(inner) >= 4
                and inner[0] == "action"
                and inner[1:3] in (("calendarAction", "createCalendarEvent"), ("mapAction", "showLocation"))
            ):
                return inner[2], parts[: k + 5]
            return "suggestion", parts[: k + 2]
    if len(parts) >= 2 and parts[:2] == ("message", "text") and len(parts) == 2:
        return "text", parts
    if len(parts) >= 4 and parts[0] == "message":
        card_kind = parts[1]
        at = 3 if card_kind == "generalPurposeCard" else 4
        if (
            card_kind in ("generalPurposeCard", "generalPurposeCardCarousel")
            and parts[2] == "content"
            and len(parts) > at
        ):
            if card_kind == "generalPurposeCardCarousel" and not isinstance(parts[3], int):
                return None
            field = parts[at]
            if field == "media" and len(parts) > at + 1:
                return "media", parts[: at + 1]
            if field in ("title", "description") and len(parts) == at + 1:
                return field, parts
    return None


def _carousel_width(card: dict) -> str | None:
    car = card.get("message", {}).get("generalPurposeCardCarousel") if isinstance(card.get("message"), dict) else None
    if not isinstance(car, dict):
        return None
    layout = car.get("layout")
    width = layout.get("cardWidth") if isinstance(layout, dict) else None
    return width or "SMALL_WIDTH"


def parse_rfc3339(value) -> datetime | None:
    """An RFC 3339 date-time (with a time and an offset) or None."""
    if not isinstance(value, str) or len(value) < 20 or value[10] not in "Tt ":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


_MESSAGE_KINDS = "generalPurposeCard, generalPurposeCardCarousel, text, file or location"
# A dialable number: "tel:" and "+" optional, digits with the separators people type, then an
# optional extension or pause sequence (RFC 3966 ";ext=", or the dialler's "," / ";" pauses).
_DIALABLE = re.compile(r"(?:tel:)?(?P<number>\+?\(?[0-9][0-9 \-.()]*)(?:(?:;ext=|[,;])[0-9*#,;]+)?")
_UNSAFE_URL = re.compile(r'[\x00-\x20\x7f"<>\\^`{|}]')


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_size(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
