"""Which texts of a content document are screened, and where they are (JSON Pointers).

Every string of the document is a text to screen — titles, descriptions, suggestions'
displayText, postback data and URLs, chip lists, plain text, a file's name, a location's label,
a menu, media descriptions, unknown keys a lenient card keeps — except the values of the
schema's enumerations and numbers-as-strings below, which carry no words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from api.problems import pointer

# Keys whose values come from a fixed set (layout, content types, enums) or are machine values.
STRUCTURAL_KEYS = frozenset(
    {
        "cardOrientation",
        "imageAlignment",
        "cardWidth",
        "height",
        "mediaContentType",
        "thumbnailContentType",
        "mediaFileSize",
        "thumbnailFileSize",
        "application",
        "viewMode",
        "titleFontStyle",
        "descriptionFontStyle",
        "startTime",
        "endTime",
        "latitude",
        "longitude",
        "crs",
        "type",
    }
)

# jinja2's expression, statement and comment delimiters: a template's literal text lies between.
_TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def document_texts(doc, base: str = "") -> list[tuple[str, str]]:
    """(JSON Pointer, text) for every screened string of `doc`, in document order."""
    out: list[tuple[str, str]] = []
    _walk(doc, base, None, out)
    return out


def _part(key) -> str:
    key = str(key)
    return "/" + (key.replace("~", "~0").replace("/", "~1") if "~" in key or "/" in key else key)


def _walk(node, path: str, key: str | None, out: list[tuple[str, str]]) -> None:
    # A card is walked on every uncached screening: plain recursion, no generators.
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str):
                if v and k not in STRUCTURAL_KEYS:
                    out.append((path + _part(k), v))
            elif isinstance(v, dict | list):
                _walk(v, path + _part(k), k, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, str):
                if v and key not in STRUCTURAL_KEYS:
                    out.append((f"{path}/{i}", v))
            elif isinstance(v, dict | list):
                _walk(v, f"{path}/{i}", key, out)
    elif isinstance(node, str) and node and key not in STRUCTURAL_KEYS:
        out.append((path, node))


def literal_texts(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A template's own text: each field split at its `{{ … }}`, `{% … %}` and `{# … #}` (the
    pieces are screened apart, as a variable may stand between them)."""
    out = []
    for path, text in fields:
        if "{" not in text:
            out.append((path, text))
            continue
        out.extend((path, piece) for piece in _TEMPLATE_CODE.split(text) if piece.strip())
    return out


def variable_texts(variables: dict | None, base: str) -> list[tuple[str, str]]:
    """(JSON Pointer, text) for every value of a recipient's variables (numbers as text)."""
    return [(base + pointer(*parts), text) for parts, text in variable_values(variables)]


def variable_values(variables: dict | None) -> list[tuple[tuple[str | int, ...], str]]:
    """(path parts, text) for every value of a recipient's variables (numbers as text): the
    pointer is built only for what a screen finds."""
    if not variables:
        return []
    out: list[tuple[tuple[str | int, ...], str]] = []
    for k, v in variables.items():
        if type(v) is str:  # the usual flat variables, without the walk
            if v:
                out.append(((k,), v))
        else:
            out.extend(_values(v, (k,)))
    return out


def _values(node, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, str):
        if node:
            yield path, node
    elif isinstance(node, bool) or node is None:
        return
    elif isinstance(node, int | float):
        yield path, str(node)
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _values(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _values(v, (*path, i))
