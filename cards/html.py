"""HTML rendering of a card: the recipient landing page and the editor preview share it.

The caller decides what a tap does: `suggestion_href(index, suggestion)` returns a URL (or
None), and `form_action` is where a suggestion without a URL is POSTed (field `suggestion`
holds its index). With neither, suggestions are inert — that is the editor preview.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import jinja2
import orjson

from cards.model import Document, parse_document
from cards.view import DocumentView, FileView, LocationView, MediaView, SuggestionView, document_view

SuggestionHref = Callable[[int, SuggestionView], "str | None"]
MediaSrc = Callable[[MediaView], "str | None"]
FileHref = Callable[[FileView], "str | None"]
PlaceHref = Callable[[LocationView], "str | None"]

_LABELS = {
    "zh-CN": {
        "image": "图片",
        "video": "视频",
        "audio": "音频",
        "file": "文件",
        "download": "下载",
        "location": "位置",
        "open_map": "查看地图",
    },
    "en": {
        "image": "Image",
        "video": "Video",
        "audio": "Audio",
        "file": "File",
        "download": "Download",
        "location": "Location",
        "open_map": "Open the map",
    },
}

# What each kind of suggestion does, as the phone preview and the virtual handset name it beside
# the suggestion's own text (its icon is drawn by the style sheet, per kind).
KIND_LABELS = {
    "zh-CN": {
        "reply": "回复",
        "open_url": "打开链接",
        "dial": "拨打电话",
        "show_location": "查看位置",
        "request_location": "发送我的位置",
        "calendar": "添加日程",
        "compose": "编写消息",
        "device": "共享设备信息",
        "settings": "设置",
    },
    "en": {
        "reply": "Reply",
        "open_url": "Open link",
        "dial": "Call",
        "show_location": "Show location",
        "request_location": "Share my location",
        "calendar": "Add to calendar",
        "compose": "Write a message",
        "device": "Share device info",
        "settings": "Settings",
    },
}


@dataclass(frozen=True)
class Footer:
    """Landing page footer: brand signature, opt-out and privacy links."""

    signature: str | None = None
    opt_out_url: str | None = None
    opt_out_label: str | None = None
    privacy_url: str | None = None
    privacy_label: str | None = None


@dataclass
class _Hooks:
    suggestion_href: SuggestionHref | None
    form_action: str | None
    form_fields: dict = field(default_factory=dict)
    media: MediaSrc | None = None
    file_href: FileHref | None = None
    place_href: PlaceHref | None = None
    paths: bool = False  # mark elements with their JSON Pointer (`data-path`): the editor's preview only
    kinds: dict[str, str] | None = None  # kind → label: suggestions show their kind

    def kind_label(self, s: SuggestionView) -> str | None:
        return self.kinds.get(s.kind) if self.kinds is not None else None

    def href(self, s: SuggestionView) -> str | None:
        return self.suggestion_href(s.index, s) if self.suggestion_href else None

    def media_src(self, m: MediaView) -> str | None:
        return self.media(m) if self.media else None

    def poster_src(self, m: MediaView) -> str | None:
        """A video's thumbnail (its poster frame), where the media hook allows that image."""
        if not self.media or not m.thumbnail_url:
            return None
        return self.media(MediaView(m.thumbnail_url, "image/jpeg", m.height, m.description, None))

    def file(self, f: FileView) -> str | None:
        return self.file_href(f) if self.file_href else None

    def place(self, loc: LocationView) -> str | None:
        return self.place_href(loc) if self.place_href else None


@lru_cache(maxsize=1024)
def _cached_view(card_json: bytes) -> DocumentView:
    # A recipient's page is rendered many times (reloads, link previews); parsing the card
    # costs as much as rendering it, so views are kept by the card's bytes.
    return document_view(parse_document(orjson.loads(card_json)))


@lru_cache(maxsize=1)
def html_environment() -> jinja2.Environment:
    """The HTML template set, loaded and compiled once; autoescape is always on."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cards", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # package data does not change at run time: no stat() per render
    )


def render_html(
    card: dict | Document | DocumentView,
    *,
    suggestion_href: SuggestionHref | None = None,
    form_action: str | None = None,
    form_fields: dict[str, str] | None = None,
    media_src: MediaSrc | None = None,
    file_href: FileHref | None = None,
    place_href: PlaceHref | None = None,
    page: bool = True,
    title: str | None = None,
    brand: str | None = None,
    footer: Footer | None = None,
    lang: str = "zh-CN",
    paths: bool = False,
    kinds: bool = False,
    styled: bool = True,
) -> str:
    """The card as HTML: a whole page (`page=True`, noindex, no scripts) or a fragment.

    `media_src(media)` returns the URL the browser may load for a media item; by default
    media is drawn as a placeholder (nothing remote is referenced). `file_href(file)` is where a
    file message downloads from and `place_href(location)` where a location message's map
    opens; without them those are shown without a link. `paths=True` marks each card, text,
    media and suggestion with `data-path` (its JSON Pointer in the card) so that the editor can
    select what is clicked in its preview; recipients' pages are rendered without.

    `kinds=True` marks each suggestion with its kind (an icon from the style sheet, a `title`
    and an accessible name in `lang`): the phone preview and the virtual handset. A fragment
    with `styled=False` leaves out its style block (`card_css()`), for a page that brings its own.
    """
    if isinstance(card, DocumentView):
        view = card
    elif isinstance(card, Document):
        view = document_view(card)
    else:
        view = _cached_view(orjson.dumps(card))
    hooks = _Hooks(suggestion_href, form_action, dict(form_fields or {}), media_src, file_href, place_href, paths)
    if kinds:
        hooks.kinds = KIND_LABELS.get(lang, KIND_LABELS["zh-CN"])
    env = html_environment()
    name = "page.html.j2" if page else "fragment.html.j2"
    first_title = next((c.title for c in view.cards if c.title), None)
    if first_title is None and view.location is not None:
        first_title = view.location.label
    if first_title is None and view.file is not None:
        first_title = view.file.file_name
    return env.get_template(name).render(
        view=view,
        hooks=hooks,
        labels=_LABELS.get(lang, _LABELS["zh-CN"]),
        lang=lang,
        title=title or first_title or brand or "",
        brand=brand,
        footer=footer,
        styled=styled,
    )


@lru_cache(maxsize=1)
def card_css() -> str:
    """The cards' style sheet (what a styled fragment or page carries in its style block)."""
    loader = html_environment().loader
    assert loader is not None
    return loader.get_source(html_environment(), "card.css")[0]
