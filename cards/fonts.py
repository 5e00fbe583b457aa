"""Finding a CJK font at run time and wrapping text by its real width.

A missing font never stops anything: without a CJK font pillow's own font is used (Chinese
then shows as boxes, but the preview still renders).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import unicodedata
from functools import lru_cache

from PIL import ImageFont

# Debian paths of fonts-wqy-zenhei / fonts-noto-cjk / fonts-wqy-microhei, tried after fc-match.
KNOWN_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
FONT_ENV = "HONGYAN_CJK_FONT"

# Held while drawing text: the cached FreeType faces are shared, and a FreeType face must not
# be used from two threads at once (handlers render in executor threads).
drawing_lock = threading.Lock()


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """Path of a font with Chinese glyphs: $HONGYAN_CJK_FONT, the known Debian paths (the
    first one is what golden previews are drawn with), then whatever fc-match offers."""
    explicit = os.environ.get(FONT_ENV)
    if explicit and os.path.exists(explicit):
        return explicit
    known = next((p for p in KNOWN_CJK_FONTS if os.path.exists(p)), None)
    if known:
        return known
    fc = shutil.which("fc-match")
    if fc:
        try:
            out = subprocess.run(
                [fc, "-f", "%{file}\n%{lang}", ":lang=zh-cn"], capture_output=True, text=True, timeout=5, check=False
            ).stdout
            path, _, langs = out.partition("\n")
            # fc-match always answers something; only take it if it really covers Chinese.
            if path and os.path.exists(path) and "zh-cn" in langs.split("|"):
                return path
        except (OSError, subprocess.SubprocessError):
            pass
    return None


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The CJK font at `size` pixels, or pillow's default font when none is installed."""
    path = cjk_font_path()
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size)
    except (TypeError, OSError):  # pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


_NO_LINE_START = set("，。、；：！？）》」』】〉,.;:!?)]}%…—")
_NO_LINE_END = set("（《「『【〈([{")


@lru_cache(maxsize=32)
def _width_cache(f) -> dict[str, float]:
    return {}


_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n", "\t": " "}
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


def drawable(text: str) -> str:
    """Text as it can be drawn: line breaks unified to \\n, tabs as spaces, and control,
    format, surrogate and unassigned characters dropped (FreeType/raqm refuse some of them)."""
    for old, new in _LINE_BREAKS.items():
        if old in text:
            text = text.replace(old, new)
    if text.isprintable():
        return text
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in _INVISIBLE)


def text_width(text: str, f) -> float:
    """Width of `text` in pixels (per-character widths cached; no kerning in CJK text)."""
    cache = _width_cache(f)
    total = 0.0
    for ch in text:
        w = cache.get(ch)
        if w is None:
            w = cache[ch] = f.getlength(ch)
        total += w
    return total


def _tokens(paragraph: str) -> list[str]:
    """Break points: every CJK character stands alone; Latin words and numbers stay whole."""
    tokens: list[str] = []
    word = ""
    for ch in paragraph:
        if ch.isascii() and not ch.isspace():
            word += ch
            continue
        if word:
            tokens.append(word)
            word = ""
        tokens.append(ch)
    if word:
        tokens.append(word)
    return tokens


def wrap(text: str, f, max_width: float, max_lines: int | None = None) -> list[str]:
    """Wrap text to `max_width` pixels by character width (CJK breaks anywhere, Latin at
    spaces; closing punctuation never starts a line). Cut with … after `max_lines`."""
    lines: list[str] = []
    for paragraph in drawable(text).split("\n"):
        line: list[str] = []  # tokens on the current line
        width = 0.0
        for tok in _tokens(paragraph):
            w = text_width(tok, f)
            if width + w <= max_width:
                line.append(tok)
                width += w
                continue
            if w > max_width:
                # A word wider than a whole line: on a line of its own, broken between characters.
                if line:
                    lines.append("".join(line).rstrip())
                    line, width = [], 0.0
                for ch in tok.lstrip():
                    cw = text_width(ch, f)
                    if width + cw > max_width and line:
                        carry = [line.pop()] if ch in _NO_LINE_START and len(line) > 1 else []
                        lines.append("".join(line).rstrip())
                        line, width = carry, text_width("".join(carry), f)
                    line.append(ch)
                    width += cw
                continue
            if line and ((tok[0] in _NO_LINE_START and len(line) > 1) or line[-1][-1:] in _NO_LINE_END):
                # Keep closing punctuation with the text before it, and opening punctuation
                # with the text after it: the last token moves down with it.
                carry = line.pop()
                lines.append("".join(line).rstrip())
                line = [carry, tok]
            else:
                if line:
                    lines.append("".join(line).rstrip())
                tok = tok.lstrip()
                line = [tok] if tok else []
            width = text_width("".join(line), f)
        lines.append("".join(line).rstrip())
    if max_lines is not None and len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and text_width(last + "…", f) > max_width:
            last = last[:-1]
        lines = lines[: max_lines - 1] + [last + "…"]
    return lines


def fit(text: str, f, width: float) -> str:
    """`text` cut with … so that it fits `width` pixels on one line."""
    text = drawable(text).replace("\n", " ")
    if text_width(text, f) <= width:
        return text
    while text and text_width(text + "…", f) > width:
        text = text[:-1]
    return text + "…"
