"""PNG preview of a card as a phone shows it (pillow). Nothing is fetched: media the caller
hands over (our own hosted images) is drawn, any other media is a placeholder."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Mapping

import orjson
from PIL import Image, ImageDraw, ImageOps

from cards.fonts import drawing_lock, fit, font, text_width, wrap
from cards.model import Document, parse_document
from cards.view import CardView, DocumentView, MediaView, SuggestionView, document_view

S = 1.5  # pixels per dp: 1.5x keeps previews sharp and uncached renders well above 40/s


def dp(x: float) -> int:
    """Density-independent pixels to image pixels."""
    return round(x * S)


PAD = dp(12)
GAP = dp(8)
RADIUS = dp(12)
STANDALONE_WIDTH = dp(320)
CARD_WIDTHS = {"SMALL_WIDTH": dp(180), "MEDIUM_WIDTH": dp(232)}
# RBM / GSMA media heights in dp: SHORT 112, MEDIUM 168, TALL 264
MEDIA_HEIGHTS = {"SHORT_HEIGHT": dp(112), "MEDIUM_HEIGHT": dp(168), "TALL_HEIGHT": dp(264)}
TITLE_SIZE, BODY_SIZE, BUTTON_SIZE = dp(16), dp(14), dp(14)
TITLE_LINES, BODY_LINES = 4, 14
BUTTON_H = dp(40)

BACKGROUND = (242, 243, 245)
CARD = (255, 255, 255)
BORDER = (222, 224, 228)
TITLE = (32, 33, 36)
BODY = (80, 84, 90)
ACCENT = (26, 115, 232)
PLACEHOLDER = (226, 232, 240)
PLACEHOLDER_INK = (120, 134, 155)

MAX_PREVIEW_PIXELS = 4096 * 4096

_KIND_LABEL = {"image": "图片", "video": "视频", "audio": "音频", "file": "文件"}


def render_png(card: dict | Document | DocumentView, images: Mapping[str, bytes] | None = None) -> bytes:
    """A PNG of the card, its chip list and its menu bar, as a phone would show them.

    `images` maps media URLs to image bytes the caller already holds (our own hosted media);
    any other media is drawn as a placeholder — nothing is ever fetched."""
    view = (
        card
        if isinstance(card, DocumentView)
        else document_view(card if isinstance(card, Document) else parse_document(card))
    )
    # PNG encoding, the other half of the work, runs outside the lock.
    with drawing_lock:
        img = draw_document(view, images)
    return _encode(img)


_CACHE_SIZE = 256
_cache: OrderedDict[bytes, bytes] = OrderedDict()
_cache_lock = threading.Lock()


def render_png_cached(card: dict, images: Mapping[str, bytes] | None = None) -> bytes:
    """render_png with a bounded cache keyed by the card's content (one entry per template
    version and variables) and the images drawn; safe to call from executor threads."""
    digest = hashlib.sha256(orjson.dumps(card, option=orjson.OPT_SORT_KEYS))
    for url in sorted(images or ()):
        digest.update(url.encode() + b"\x00" + hashlib.sha256(images[url]).digest())
    key = digest.digest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    png = render_png(card, images)
    with _cache_lock:
        _cache[key] = png
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return png


def _encode(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # compress_level 3: previews are regenerated often; size matters less than speed here.
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def draw_document(view: DocumentView, images: Mapping[str, bytes] | None = None) -> Image.Image:
    """Draw the whole conversation view: cards (side by side for a carousel), chips, menu."""
    if view.layout == "carousel":
        width = CARD_WIDTHS.get(view.card_width, CARD_WIDTHS["SMALL_WIDTH"])
    else:
        width = STANDALONE_WIDTH
    horizontal = view.layout == "horizontal"
    cards = [_CardLayout(c, width, horizontal, view.image_alignment) for c in view.cards]
    if view.text:
        cards.insert(0, _CardLayout(CardView(None, view.text, None, []), width, False, "LEFT"))
    if view.file:
        f = view.file
        shown = f.media if f.media.kind in ("image", "video", "audio") else None
        card = CardView(f.file_name or f.media.kind, f.size_text, shown, [])
        cards.insert(0, _CardLayout(card, width, False, "LEFT"))
    if view.location:
        loc = view.location
        cards.insert(
            0, _CardLayout(CardView("📍 " + (loc.label or ""), loc.coordinates, None, []), width, False, "LEFT")
        )
    cards_w = sum(c.width for c in cards) + GAP * max(len(cards) - 1, 0)
    canvas_w = max(cards_w + 2 * PAD, STANDALONE_WIDTH + 2 * PAD)
    chips = _ChipLayout(view.chips, canvas_w - 2 * PAD)
    menu_h = (BUTTON_H + GAP) if view.menu else 0
    cards_h = max((c.height for c in cards), default=0)
    if view.layout == "carousel":
        for c in cards:  # carousel cards share one height, buttons at the bottom
            c.stretch_to(cards_h)
    height = PAD + cards_h + (GAP + chips.height if chips.height else 0) + PAD + menu_h
    img = Image.new("RGB", (canvas_w, height), BACKGROUND)
    draw = ImageDraw.Draw(img)

    def picture(media: MediaView, box, corners) -> bool:
        return _paste_image(img, (images or {}).get(media.url or ""), box, corners)

    x = PAD
    for c in cards:
        c.draw(draw, x, PAD, picture)
        x += c.width + GAP
    y = PAD + cards_h + GAP
    if chips.height:
        chips.draw(draw, PAD, y)
    if view.menu:
        _draw_menu(draw, view, canvas_w, height - menu_h)
    return img


class _CardLayout:
    """Measures one card first (so a carousel can share one height), then draws it."""

    def __init__(self, card: CardView, width: int, horizontal: bool, alignment: str):
        self.card, self.width = card, width
        self.horizontal = horizontal and card.media is not None
        self.alignment = alignment
        self.media_w = width * 2 // 5 if self.horizontal else width
        text_w = (width - self.media_w if self.horizontal else width) - 2 * PAD
        self.title_font, self.body_font = font(TITLE_SIZE), font(BODY_SIZE)
        self.title = wrap(card.title, self.title_font, text_w, TITLE_LINES) if card.title else []
        self.body = wrap(card.description, self.body_font, text_w, BODY_LINES) if card.description else []
        self.media_h = MEDIA_HEIGHTS.get(card.media.height, MEDIA_HEIGHTS["MEDIUM_HEIGHT"]) if card.media else 0
        self.title_lh, self.body_lh = int(TITLE_SIZE * 1.35), int(BODY_SIZE * 1.45)
        text_h = len(self.title) * self.title_lh + len(self.body) * self.body_lh
        if self.title or self.body:
            text_h += 2 * PAD + (GAP // 2 if self.title and self.body else 0)
        if self.horizontal:
            self.top_h = max(self.media_h, text_h)
        else:
            self.top_h = self.media_h + text_h
        self.height = self.top_h + len(card.suggestions) * BUTTON_H

    def stretch_to(self, height: int) -> None:
        self.top_h += height - self.height
        self.height = height

    def draw(self, draw: ImageDraw.ImageDraw, x: int, y: int, picture=None) -> None:
        c = self.card

        def media(box, corners) -> None:
            if not (picture is not None and c.media.kind == "image" and picture(c.media, box, corners)):
                _placeholder(draw, c.media, box, RADIUS, corners)

        draw.rounded_rectangle(
            (x, y, x + self.width - 1, y + self.height - 1), RADIUS, fill=CARD, outline=BORDER, width=dp(1)
        )
        tx, ty = x + PAD, y + PAD
        if c.media is not None:
            if self.horizontal:
                mx = x if self.alignment == "LEFT" else x + self.width - self.media_w
                if self.alignment == "LEFT":
                    tx = x + self.media_w + PAD
                last = not c.suggestions  # only the card's outer corners are round
                corners = (True, False, False, last) if self.alignment == "LEFT" else (False, True, last, False)
                media((mx, y, mx + self.media_w, y + self.top_h), corners)
            else:
                media((x, y, x + self.width, y + self.media_h), (True, True, False, False))
                ty = y + self.media_h + PAD
        bold = "bold" in c.title_styles or not c.title_styles
        for line in self.title:
            # The CJK fonts ship one weight; a 1px stroke stands in for bold.
            draw.text(
                (tx, ty), line, font=self.title_font, fill=TITLE, stroke_width=1 if bold else 0, stroke_fill=TITLE
            )
            ty += self.title_lh
        if self.title and self.body:
            ty += GAP // 2
        for line in self.body:
            draw.text((tx, ty), line, font=self.body_font, fill=BODY)
            ty += self.body_lh
        by = y + self.top_h
        bf = font(BUTTON_SIZE)
        for s in c.suggestions:
            draw.line((x + dp(1), by, x + self.width - dp(1), by), fill=BORDER, width=dp(1))
            label = fit(_label(s), bf, self.width - 2 * PAD)
            lx = x + (self.width - text_width(label, bf)) / 2
            draw.text((lx, by + (BUTTON_H - BUTTON_SIZE) / 2 - dp(1)), label, font=bf, fill=ACCENT)
            by += BUTTON_H


def _label(s: SuggestionView) -> str:
    return s.display_text or "…"


def _paste_image(img: Image.Image, data: bytes | None, box, corners) -> bool:
    """Draw image bytes cropped to fill `box` with the card's rounded corners; False when there
    are none or they do not decode (the caller draws the placeholder)."""
    if not data:
        return False
    x0, y0, x1, y1 = (int(v) for v in box)
    size = (max(1, x1 - x0), max(1, y1 - y0))
    try:
        with Image.open(io.BytesIO(data)) as source:
            if source.width * source.height > MAX_PREVIEW_PIXELS:
                return False  # only our own re-encoded media (≤ 2048 px) is expected here
            picture = ImageOps.fit(source.convert("RGB"), size, Image.Resampling.LANCZOS)
    except (OSError, ValueError, Image.DecompressionBombError):
        return False
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), RADIUS, fill=255, corners=corners)
    img.paste(picture, (x0, y0), mask)
    return True


def _placeholder(draw: ImageDraw.ImageDraw, media: MediaView, box, radius: int, corners) -> None:
    """A neutral box with a glyph for the media kind and its description (never fetched)."""
    x0, y0, x1, y1 = box
    draw.rounded_rectangle(box, radius, fill=PLACEHOLDER, corners=corners)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2 - dp(10)
    r = min(x1 - x0, y1 - y0) // 7
    if media.kind == "video":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=PLACEHOLDER_INK, width=dp(2))
        draw.polygon([(cx - r // 3, cy - r // 2), (cx - r // 3, cy + r // 2), (cx + r // 2, cy)], fill=PLACEHOLDER_INK)
    elif media.kind == "audio":
        for i, h in enumerate((0.4, 0.8, 1.0, 0.6, 0.3)):
            bx = cx - r + i * r // 2
            draw.rectangle((bx, cy - int(r * h), bx + r // 4, cy + int(r * h)), fill=PLACEHOLDER_INK)
    else:
        # mountains and a sun: the usual "picture" glyph
        draw.rectangle((cx - r, cy - r * 3 // 4, cx + r, cy + r * 3 // 4), outline=PLACEHOLDER_INK, width=dp(2))
        draw.polygon(
            [
                (cx - r + dp(2), cy + r * 3 // 4 - dp(2)),
                (cx - r // 4, cy - r // 6),
                (cx + r // 4, cy + r // 3),
                (cx + r // 2, cy + r // 8),
                (cx + r - dp(2), cy + r * 3 // 4 - dp(2)),
            ],
            fill=PLACEHOLDER_INK,
        )
        draw.ellipse((cx + r // 3, cy - r // 2, cx + r * 2 // 3, cy - r // 6), fill=PLACEHOLDER_INK)
    f = font(dp(12))
    label = _KIND_LABEL[media.kind] + (f" · {media.description}" if media.description else "")
    label = fit(label, f, x1 - x0 - 2 * PAD)
    draw.text(((x0 + x1 - text_width(label, f)) / 2, cy + r + dp(4)), label, font=f, fill=PLACEHOLDER_INK)


class _ChipLayout:
    """Suggested chips as pills, wrapped onto rows."""

    def __init__(self, chips: list[SuggestionView], width: int):
        self.font = font(BUTTON_SIZE)
        self.rows: list[list[tuple[str, int]]] = []
        row, used = [], 0
        for s in chips:
            label = fit(_label(s), self.font, width - 2 * PAD)
            w = int(text_width(label, self.font)) + 2 * PAD
            if row and used + w > width:
                self.rows.append(row)
                row, used = [], 0
            row.append((label, w))
            used += w + GAP
        if row:
            self.rows.append(row)
        self.chip_h = dp(34)
        self.height = len(self.rows) * (self.chip_h + GAP) - (GAP if self.rows else 0)

    def draw(self, draw: ImageDraw.ImageDraw, x0: int, y: int) -> None:
        for row in self.rows:
            x = x0
            for label, w in row:
                draw.rounded_rectangle(
                    (x, y, x + w, y + self.chip_h), self.chip_h // 2, fill=CARD, outline=ACCENT, width=dp(1)
                )
                draw.text((x + PAD, y + (self.chip_h - BUTTON_SIZE) / 2 - dp(1)), label, font=self.font, fill=ACCENT)
                x += w + GAP
            y += self.chip_h + GAP


def _draw_menu(draw: ImageDraw.ImageDraw, view: DocumentView, width: int, y: int) -> None:
    """The persistent menu bar at the bottom: top-level entries side by side."""
    draw.rectangle((0, y, width, y + BUTTON_H + GAP), fill=CARD)
    draw.line((0, y, width, y), fill=BORDER, width=dp(1))
    f = font(BUTTON_SIZE)
    n = len(view.menu)
    cell = width / n
    for i, item in enumerate(view.menu):
        label = ("≡ " if item.children else "") + item.display_text
        label = fit(label, f, cell - 2 * GAP)
        cx = cell * i + (cell - text_width(label, f)) / 2
        draw.text((cx, y + (BUTTON_H + GAP - BUTTON_SIZE) / 2 - dp(1)), label, font=f, fill=TITLE)
        if i:
            draw.line((cell * i, y + GAP, cell * i, y + BUTTON_H), fill=BORDER, width=dp(1))
