"""GSMA JSON and plain-text (SMS fallback) renderers."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from api.problems import FieldError
from cards.compose import CardInvalid
from cards.limits import DEFAULT_PROFILE
from cards.model import Document, fix_warnings, parse_document
from cards.validate import validate_document
from cards.view import DocumentView, SuggestionView, document_view, when_text


def normalized(card: dict | Document, profile: str = DEFAULT_PROFILE) -> Document:
    """The card parsed, validated (CardInvalid on errors) and with warnings fixed:
    openUrl gets `application: browser`, `image/jpg` becomes `image/jpeg`."""
    doc = card if isinstance(card, Document) else parse_document(card)
    report = validate_document(doc, profile)
    if report.errors:
        raise CardInvalid(report.errors)
    # work on a copy: the caller's card stays unchanged
    return fix_warnings(parse_document(doc.to_json()))


def render_gsma(card: dict | Document, profile: str = DEFAULT_PROFILE) -> bytes:
    """The bot message as `application/vnd.gsma.botmessage.v1.0+json` bytes (valid JSON only)."""
    doc = normalized(card, profile)
    if doc.message is None:
        raise CardInvalid([FieldError("/message", "required for a bot message")])
    return orjson.dumps({"message": doc.message.to_json()})


def render_gsma_suggestions(card: dict | Document, profile: str = DEFAULT_PROFILE) -> bytes | None:
    """The chip list as `application/vnd.gsma.botsuggestion.v1.0+json` bytes, or None."""
    doc = normalized(card, profile)
    if not doc.suggestions:
        return None
    return orjson.dumps({"suggestions": [s.to_json() for s in doc.suggestions]})


def render_gsma_menu(card: dict | Document, profile: str = DEFAULT_PROFILE) -> bytes | None:
    """The persistent menu (`{"menu": {...}}`) as JSON bytes, or None."""
    doc = normalized(card, profile)
    return orjson.dumps({"menu": doc.menu.to_json()}) if doc.menu is not None else None


def suggestion_response(card: dict | Document, index: int) -> dict:
    """The `application/vnd.gsma.botsuggestion.response.v1.0+json` body an RCS tap on
    suggestion `index` produces — so a landing-page form POST or an SMS reply "2" can be
    recorded as the same user event. IndexError for an unknown index."""
    doc = card if isinstance(card, Document) else parse_document(card)
    suggestions = doc.suggestions_in_order()
    if not 0 <= index < len(suggestions):
        raise IndexError(f"no suggestion {index}")
    s = suggestions[index][1]
    body: dict = {"displayText": s.display_text}
    if s.postback_data is not None:
        body["postback"] = {"data": s.postback_data}
    return {"response": {s.kind: body}}


# --- plain text for the SMS fallback -----------------------------------------------------


@dataclass(frozen=True)
class ReplyOption:
    """What a text reply ("1", "2", …) to the fallback SMS stands for."""

    number: str
    index: int  # the suggestion index (Document.suggestions_in_order)
    display_text: str
    postback: str | None


_WORDS = {
    "zh-CN": {
        "reply": "回复{n} {text}",
        "call": "电话：{v}",
        "place": "地点：{v}",
        "time": "时间：{v}",
        "file": "文件：{v}",
        "location": "位置",
    },
    "en": {
        "reply": "Reply {n}: {text}",
        "call": "Call: {v}",
        "place": "Place: {v}",
        "time": "When: {v}",
        "file": "File: {v}",
        "location": "a location",
    },
}


def reply_options(card: dict | Document | DocumentView) -> dict[str, ReplyOption]:
    """The reply-number → postback mapping that `render_text` prints ("1" → first reply…)."""
    view = _view(card)
    replies = [(s, c.title) for c in view.cards for s in c.suggestions if s.kind == "reply"]
    replies += [(s, None) for s in view.chips if s.kind == "reply"]
    seen: dict[str, int] = {}
    for s, _ in replies:
        seen[s.display_text] = seen.get(s.display_text, 0) + 1
    out = {}
    for s, card_title in replies:
        label = s.display_text
        if seen[label] > 1 and card_title:
            # The same button on several carousel cards: say which card it belongs to.
            label = f"{label}（{card_title}）"
        n = str(len(out) + 1)
        out[n] = ReplyOption(n, s.index, label, s.postback)
    return out


def _view(card) -> DocumentView:
    if isinstance(card, DocumentView):
        return card
    return document_view(card if isinstance(card, Document) else parse_document(card))


def render_text(card: dict | Document, locale: str = "zh-CN") -> str:
    """Plain text for the SMS fallback: title, key facts, numbered reply options.

    Links are left out on purpose: the fallback SMS carries one short link to the card page.
    """
    words = _WORDS.get(locale, _WORDS["zh-CN"])
    view = _view(card)
    lines: list[str] = []
    if view.text:
        lines.append(view.text)
    if view.file:
        name = view.file.file_name or view.file.media.kind
        size = f"（{view.file.size_text}）" if view.file.size_text and locale == "zh-CN" else ""
        size = size or (f" ({view.file.size_text})" if view.file.size_text else "")
        lines.append(words["file"].format(v=name + size))
    if view.location:
        lines.append(words["place"].format(v=view.location.label or words["location"]))
    for card_view in view.cards:
        block = [t for t in (card_view.title, card_view.description) if t]
        facts = _facts(card_view.suggestions, words)
        if lines and (block or facts):
            lines.append("")
        lines.extend(block)
        lines.extend(facts)
    facts = _facts(view.chips, words)
    lines.extend(facts)
    options = reply_options(view)
    if options:
        lines.append("")
        lines.extend(words["reply"].format(n=o.number, text=o.display_text) for o in options.values())
    return "\n".join(lines).strip("\n")


def _facts(suggestions: list[SuggestionView], words: dict) -> list[str]:
    out = []
    for s in suggestions:
        if s.kind == "dial" and s.phone_number:
            out.append(words["call"].format(v=s.phone_number))
        elif s.kind == "show_location" and s.label:
            out.append(words["place"].format(v=s.label))
        elif s.kind == "calendar":
            when = when_text(s.start_time, s.end_time)
            if when:
                out.append(words["time"].format(v=when))
    return list(dict.fromkeys(out))  # a number on two buttons is printed once
