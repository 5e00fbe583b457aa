"""A card's media at the operator: an operator sends only media uploaded to it first, so each
of our hosted images is uploaded once per channel (known by its content hash), referenced by
the operator's URL in what goes out, and uploaded again when the operator's copy expires or
the operator says it has (the H5 page keeps serving our own copy)."""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rcs.maap import RcsChannel
from rcs.results import MediaFile

log = logging.getLogger("hongyan.dispatch.media")

# An operator copy this close to its expiry is uploaded again rather than sent.
EXPIRY_MARGIN_S = 3600.0
MAX_CACHED = 10_000


class StoredMedia(Protocol):
    data: bytes
    content_type: str


# Our media URL → its bytes and type, or None when the URL is not one of ours.
MediaFetch = Callable[[str], Awaitable[StoredMedia | None]]


@dataclass(frozen=True)
class _Uploaded:
    url: str
    thumbnail_url: str | None
    until: float  # Unix seconds; inf for a permanent copy


class OperatorMedia:
    """Our media in a card replaced by the channel's uploaded copies."""

    def __init__(self, fetch: MediaFetch, *, clock: Callable[[], float] = time.time):
        self.fetch, self.clock = fetch, clock
        self._uploaded: dict[tuple[int, str], _Uploaded] = {}
        self.uploads = 0

    async def localise(self, card: dict, channel: RcsChannel) -> dict:
        """`card` with each of our media (and thumbnail) URLs replaced by the operator's; a copy,
        the card itself is left as it is. Media not ours is left alone."""
        out: dict | None = None
        for path in list(_media_paths(card)):
            media = _at(card, path)
            found = await self._uploaded_copy(media, channel)
            if found is None:
                continue
            out = out if out is not None else copy.deepcopy(card)
            target = _at(out, path)
            target["mediaUrl"] = found.url
            if found.thumbnail_url and media.get("thumbnailUrl"):
                target["thumbnailUrl"] = found.thumbnail_url
        return out if out is not None else card

    def forget(self, channel: RcsChannel) -> None:
        """The operator lost our copies (error 40022): upload again on the next send."""
        for key in [k for k in self._uploaded if k[0] == id(channel)]:
            del self._uploaded[key]

    async def _uploaded_copy(self, media: dict, channel: RcsChannel) -> _Uploaded | None:
        main = await self.fetch(media.get("mediaUrl", ""))
        if main is None:
            return None
        thumb = await self.fetch(media["thumbnailUrl"]) if media.get("thumbnailUrl") else None
        key = (id(channel), hashlib.sha256(main.data + (thumb.data if thumb else b"")).hexdigest())
        known = self._uploaded.get(key)
        if known is not None and known.until - EXPIRY_MARGIN_S > self.clock():
            return known
        thumbnail = (thumb.data, thumb.content_type, _name("thumbnail", thumb.content_type)) if thumb else None
        uploaded: MediaFile = await channel.upload_media(
            main.data,
            main.content_type,
            media.get("fileName") or _name("media", main.content_type),
            thumbnail=thumbnail,
            temporary=True,
        )
        self.uploads += 1
        found = _Uploaded(uploaded.url, uploaded.thumbnail_url, _until(uploaded.until))
        if len(self._uploaded) >= MAX_CACHED:
            self._uploaded.clear()
        self._uploaded[key] = found
        return found


def _media_paths(card: dict) -> Iterator[tuple]:
    message = card.get("message") if isinstance(card, dict) else None
    if not isinstance(message, dict):
        return
    if isinstance(message.get("file"), dict):
        yield ("message", "file")
    single = message.get("generalPurposeCard")
    if isinstance(single, dict) and isinstance(single.get("content", {}).get("media"), dict):
        yield ("message", "generalPurposeCard", "content", "media")
    carousel = message.get("generalPurposeCardCarousel")
    if isinstance(carousel, dict) and isinstance(carousel.get("content"), list):
        for i, content in enumerate(carousel["content"]):
            if isinstance(content, dict) and isinstance(content.get("media"), dict):
                yield ("message", "generalPurposeCardCarousel", "content", i, "media")


def _at(doc, path: tuple):
    for part in path:
        doc = doc[part]
    return doc


def _name(stem: str, content_type: str) -> str:
    return f"{stem}.{content_type.rsplit('/', 1)[-1].replace('jpeg', 'jpg')}"


def _until(value: str | None) -> float:
    if not value:
        return float("inf")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        log.warning("unreadable media expiry from the operator; treating the copy as short-lived")
        return 0.0
