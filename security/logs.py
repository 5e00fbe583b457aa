"""Keeping PII and secrets out of logs.

`PiiLogFilter` masks phone numbers (E.164 and Chinese mobiles, bare or with 86, spaced, dashed,
dotted or percent-encoded, in any script's digits), short-link tokens (all but a prefix), API
keys, webhook secrets, bearer tokens and any value the app registers as sensitive — in the message,
its arguments, extra fields and exception text. Attach it to *handlers* (see `install`), so
records propagated from every logger, aiohttp's access log included, pass through it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

MASK = "****"
REDACTED = "[redacted]"
MIN_SENSITIVE_LENGTH = 2  # one character would blank out half of every line

# Only digits around a match count as "part of something else": a number glued to letters
# (an id, "%2B86…" in a URL) is still masked; leaking is worse than over-masking.
# Separators people and URLs put inside numbers: space, dash, dot, and their percent-encodings.
_SEP = r"(?:[ .\-]|%20|%2[dDeE])"
# A mainland mobile is grouped 3-4-4 (dots allowed only there, so an IPv4 address never matches).
_CN_MOBILE = rf"(?<!\d)(?:(?:\+|00|%2[bB])?86{_SEP}?)?\(?1[3-9]\d\)?(?:{_SEP}?\d{{4}}){{2}}(?!\d)"
# Anything after a '+' (or its %2B): separators, and brackets, between any two digits.
_E164 = r"(?<![\d+])(?:\+|%2[bB])\(?[1-9](?:(?:[ .\-()]|%20|%2[dDeE89]){0,2}\d){6,14}(?!\d)"
_API_KEY = r"\bhy_(?:(?:live|test)_)?(?:[0-9a-f]{16}_)?[A-Za-z0-9_\-]+"
_WEBHOOK_SECRET = r"\bwhsec_[A-Za-z0-9]+"
_BEARER = r"\b[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+[^\s,;\"']+"
_SECRETS = re.compile(
    "|".join(
        f"(?P<{n}>{p})"
        for n, p in [
            ("bearer", _BEARER),
            ("api_key", _API_KEY),
            ("webhook", _WEBHOOK_SECRET),
        ]
    )
)
_PHONES = re.compile(f"{_CN_MOBILE}|{_E164}")
# Cheap first pass: runs of digits (with separators) long enough to hold a number; the precise
# patterns then run on those runs only. Most log text has none, or only short ones.
_DIGIT_RUN = re.compile(r"(?:\+|%2[bB])?\(?\d(?:[\d .\-()]|%2[0bBdDeE89]){5,}\d")
# Digits of every script read as ASCII first (１３８…, ١٣٨…): a number in them is still a number.
_ASCII_DIGITS = {  # every decimal digit outside ASCII lies below U+20000
    cp: str(unicodedata.decimal(chr(cp)))
    for cp in range(0x80, 0x20000)
    if unicodedata.decimal(chr(cp), None) is not None
}
_PERCENT_SEPARATOR = re.compile(r"%2[0bBdDeE89]")
# A short link's token opens the recipient's personal page: only its first characters are logged.
SHORT_LINK_PREFIX = 4
_SHORT_LINK = re.compile(rf"((?:/|%2[fF])s(?:/|%2[fF])[A-Za-z0-9_\-]{{{SHORT_LINK_PREFIX}}})[A-Za-z0-9_\-]{{4,}}")
_SECRET_MARKERS = ("hy_", "whsec_", "earer", "EARER")
_KEY_PREFIX = re.compile(r"hy_(?:(?:live|test)_)?(?:[0-9a-f]{16}_)?")
_NON_DIGITS = re.compile(r"[^\d+]")
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

_scoped: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("hongyan_sensitive", default=())


def mask_phone(number: str) -> str:
    """Mask a phone number for display: ``+8613812341234`` → ``+86138****1234``.

    Keeps the country code, the first three and the last four national digits (fewer for
    short numbers); anything that is not a number becomes ``****``.
    """
    number = _PERCENT_SEPARATOR.sub(lambda m: "+" if m.group() in ("%2B", "%2b") else "", number)
    compact = _NON_DIGITS.sub("", number.translate(_ASCII_DIGITS))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    prefix, national = "", compact
    if compact.startswith("+"):
        digits = compact[1:]
        for size in (1, 2, 3):
            if int(digits[:size] or 0) in COUNTRY_CODE_TO_REGION_CODE:
                prefix, national = "+" + digits[:size], digits[size:]
                break
        else:
            return MASK
    elif len(compact) == 13 and compact.startswith("86"):
        prefix, national = "86", compact[2:]
    if not national.isdigit():
        return MASK
    if len(national) >= 9:
        return f"{prefix}{national[:3]}{MASK}{national[-4:]}"
    if len(national) >= 7:
        return f"{prefix}{national[:2]}{MASK}{national[-2:]}"
    return prefix + MASK


def _mask_phone_match(match: re.Match) -> str:
    return mask_phone(match.group())


def _mask_digit_run(match: re.Match) -> str:
    return _PHONES.sub(_mask_phone_match, match.group())


def _mask_secret(match: re.Match) -> str:
    kind = match.lastgroup
    text = match.group()
    if kind == "api_key":
        # The id part is not secret and helps find the key; the secret never shows.
        prefix = _KEY_PREFIX.match(text)
        return (prefix.group() if prefix else "") + MASK
    if kind == "webhook":
        return "whsec_" + MASK
    return text.split()[0] + " " + MASK


@contextlib.contextmanager
def sensitive_values(*values: str) -> Iterator[None]:
    """Mask ``values`` in every record logged inside this block (this task or thread only)."""
    token = _scoped.set(_scoped.get() + tuple(v for v in values if v and len(v) >= MIN_SENSITIVE_LENGTH))
    try:
        yield
    finally:
        _scoped.reset(token)


class PiiLogFilter(logging.Filter):
    """Masks PII and secrets in log records; never drops a record."""

    def __init__(self, name: str = "", *, max_registered: int = 4096) -> None:
        super().__init__(name)
        self._lock = threading.Lock()
        self._registered: OrderedDict[str, None] = OrderedDict()
        self._max = max_registered
        self._pattern: re.Pattern | None = None
        self._scoped_cache: dict[tuple[str, ...], re.Pattern] = {}

    def register(self, *values: str) -> None:
        """Mask these values everywhere from now on (the oldest are forgotten beyond the limit)."""
        with self._lock:
            for value in values:
                if value and len(value) >= MIN_SENSITIVE_LENGTH:
                    self._registered[value] = None
                    self._registered.move_to_end(value)
            while len(self._registered) > self._max:
                self._registered.popitem(last=False)
            self._pattern = None

    def forget(self, *values: str) -> None:
        """Stop masking these registered values."""
        with self._lock:
            for value in values:
                self._registered.pop(value, None)
            self._pattern = None

    def mask(self, text: str) -> str:
        """``text`` with registered values, secrets and phone numbers masked."""
        for pattern in (self._registered_pattern(), self._scoped_pattern()):
            if pattern is not None:
                text = pattern.sub(REDACTED, text)
        if any(marker in text for marker in _SECRET_MARKERS):
            text = _SECRETS.sub(_mask_secret, text)
        if "s/" in text or "s%2" in text:
            text = _SHORT_LINK.sub(rf"\1{MASK}", text)
        if not text.isascii():
            text = text.translate(_ASCII_DIGITS)
        return _DIGIT_RUN.sub(_mask_digit_run, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not leak its arguments either
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        attributes = vars(record)
        for name in attributes.keys() - _STANDARD_ATTRS:
            value = attributes[name]
            if isinstance(value, str):
                attributes[name] = self.mask(value)
        return True

    def _registered_pattern(self) -> re.Pattern | None:
        pattern = self._pattern
        if pattern is None and self._registered:
            with self._lock:
                pattern = self._pattern = _alternation(self._registered)
        return pattern

    def _scoped_pattern(self) -> re.Pattern | None:
        values = _scoped.get()
        if not values:
            return None
        pattern = self._scoped_cache.get(values)
        if pattern is None:
            if len(self._scoped_cache) > 1024:
                self._scoped_cache.clear()
            pattern = self._scoped_cache[values] = _alternation(values)
        return pattern


def _alternation(values: Iterable[str]) -> re.Pattern:
    # Longest first, so a value containing another is masked whole.
    return re.compile("|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True)))


def install(pii_filter: PiiLogFilter | None = None, handlers: Iterable[logging.Handler] | None = None) -> PiiLogFilter:
    """Attach the filter to ``handlers`` (default: every root handler); returns it."""
    pii_filter = pii_filter or PiiLogFilter()
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if pii_filter not in handler.filters:
            handler.addFilter(pii_filter)
    return pii_filter
