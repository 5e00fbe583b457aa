"""Composing the fallback SMS text and recognising opt-out replies."""

from __future__ import annotations

import re
import unicodedata

DEFAULT_OPT_OUT_TEXT = "拒收请回复R"
# Huawei Cloud allows 2–16 characters between the brackets (some aggregators only 2–8).
SIGNATURE_MIN, SIGNATURE_MAX = 2, 16
MARKETING_TRAFFIC = frozenset({"marketing", "advertisement", "promotion"})
TRAFFIC_TYPES = MARKETING_TRAFFIC | frozenset(
    {"notification", "service", "otp", "transaction", "payment", "subscription", "premium"}
)
OPT_OUT_WORDS = frozenset({"r", "t", "td", "退订", "stop"})

_SIGNATURE_IN_TEXT = re.compile(r"【[^【】]*】")


class ComposeError(ValueError):
    """The SMS cannot be composed from these parts; `field` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def compose_sms(
    *,
    signature: str,
    body_text: str,
    short_link: str | None = None,
    traffic_type: str,
    opt_out_text: str = DEFAULT_OPT_OUT_TEXT,
) -> str:
    """Build the SMS: signature first, then the body, the short link and, for marketing, the
    opt-out instruction. Raises `ComposeError` for a malformed signature, a body carrying its own
    `【…】` signature, an empty body or an unknown traffic type."""
    check_signature(signature)
    if traffic_type not in TRAFFIC_TYPES:
        raise ComposeError("traffic_type", f"unknown traffic type {traffic_type!r}")
    body = body_text.strip()
    if not body:
        raise ComposeError("body_text", "the SMS body is empty")
    if _SIGNATURE_IN_TEXT.search(body):
        raise ComposeError("body_text", "the body contains a 【…】 signature; the platform adds the brand's own")
    pieces = [signature + body]
    if short_link is not None:
        link = short_link.strip()
        if not re.fullmatch(r"https?://\S+", link):
            raise ComposeError("short_link", "the short link must be an absolute http(s) URL")
        # Spaces around the link keep handset linkifiers from swallowing the next words.
        pieces.append(link)
    if traffic_type in MARKETING_TRAFFIC:
        opt_out = opt_out_text.strip()
        if not opt_out:
            raise ComposeError("opt_out_text", "marketing SMS must carry an opt-out instruction")
        ends_with_opt_out = body.endswith(opt_out) and short_link is None
        if not ends_with_opt_out:
            pieces.append(opt_out)
    return " ".join(pieces)


def with_unsubscribe(text: str, opt_out_text: str = DEFAULT_OPT_OUT_TEXT) -> str:
    """A marketing text as `compose_sms` ends it: the unsubscribe text after a space, unless the
    text ends with it already."""
    body, opt_out = text.strip(), opt_out_text.strip()
    return body if body.endswith(opt_out) else f"{body} {opt_out}"


def check_signature(signature: str) -> None:
    """Raise `ComposeError` unless `signature` is one `【…】` of 2–16 characters."""
    inner = signature[1:-1] if len(signature) >= 2 else ""
    if not (signature.startswith("【") and signature.endswith("】")):
        raise ComposeError("signature", "the signature must be written as 【品牌】")
    if "【" in inner or "】" in inner or not inner.strip():
        raise ComposeError("signature", "the signature must be one 【品牌】")
    if not SIGNATURE_MIN <= len(inner) <= SIGNATURE_MAX:
        raise ComposeError(
            "signature",
            f"the signature must have {SIGNATURE_MIN}–{SIGNATURE_MAX} characters inside 【】",
        )


def is_opt_out_reply(text: str) -> bool:
    """True for an opt-out reply: R, T, TD, 退订 or STOP, ignoring case, width, spaces and
    surrounding punctuation (e.g. "ｔｄ", " Stop. ", "退订！")."""
    norm = unicodedata.normalize("NFKC", text).casefold()
    return _strip_punctuation(norm) in OPT_OUT_WORDS


def _strip_punctuation(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_filler(text[start]):
        start += 1
    while end > start and _is_filler(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_filler(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")
