"""Storing tenants' uploaded images and serving them back by their unguessable id."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from cards.media.clips import Clip, process_clip, sniff
from cards.media.frames import parse_crop
from cards.media.images import Encoded, ImageRejected, Processed, crop_image, process_image
from cards.media.tables import media
from security.numbers import ascii_digits
from store import Clock, Database, SystemClock
from store.clock import rfc3339

_ID_BYTES = 16  # 128 bits: the id is the only thing guarding a public media URL
# The form of those ids: a lookup by anything else finds nothing (and a NUL in it is a query
# error on PostgreSQL), so it is a 404 at once.
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{22}")
# Decoding a 40 MP upload takes ~160 MB: a few at a time, the rest wait their turn.
_CONCURRENT_DECODES = 2
_META = (
    media.c.id,
    media.c.content_type,
    media.c.file_size,
    media.c.width,
    media.c.height,
    media.c.sha256,
    media.c.thumb_content_type,
    media.c.thumb_file_size,
    media.c.created_ms,
    media.c.source_id,
    media.c.focus_x,
    media.c.focus_y,
    media.c.duration_ms,
)


def _rejected(exc: ImageRejected) -> Problem:
    return Problem(exc.status, str(exc), [FieldError("/file", str(exc), exc.code, exc.params or None)])


@dataclass(frozen=True)
class Blob:
    """Bytes to serve: the image or its thumbnail."""

    data: bytes
    content_type: str
    etag: str


class MediaStore:
    """Tenant media in the database; `base_url` is the public origin the URLs are built on."""

    def __init__(self, db: Database, base_url: str, clock: Clock | None = None):
        self.db = db
        self.base_url = base_url.rstrip("/")
        self.clock = clock or SystemClock()
        self._decoding = asyncio.Semaphore(_CONCURRENT_DECODES)

    def url(self, media_id: str, thumbnail: bool = False) -> str:
        return f"{self.base_url}/media/{media_id}" + ("/thumbnail" if thumbnail else "")

    async def upload(self, tenant_id: str, raw: bytes) -> tuple[dict, bool]:
        """(the stored media, whether it is new); the same file twice gives the same id.
        Images are re-encoded; MP4 video and MP4/MP3/AMR audio are remuxed and get a poster."""
        demuxer = sniff(raw)
        try:
            async with self._decoding:
                loop = asyncio.get_running_loop()
                if demuxer is None:
                    done: Processed = await loop.run_in_executor(None, process_image, raw)
                    return await self._store(tenant_id, done.image, done.thumbnail)
                clip: Clip = await loop.run_in_executor(None, process_clip, raw, demuxer)
        except ImageRejected as exc:
            raise _rejected(exc) from None
        stored = Encoded(clip.data, clip.content_type, clip.width, clip.height)
        return await self._store(tenant_id, stored, clip.poster, duration_ms=clip.duration_ms)

    async def crop(self, tenant_id: str, media_id: str, body) -> dict:
        """Cut a box out of one of the tenant's images into a new media item (the source is
        kept); the focal point chosen is stored with it."""
        source = await self.get(tenant_id, media_id)
        if not source["content_type"].startswith("image/"):
            raise Problem(422, "only images can be cropped", [FieldError("/id", "not an image", "crop_not_image")])
        wanted = parse_crop(body, source["width"], source["height"])
        found = await self.blob(media_id)
        if found is None:  # removed between the two reads
            raise Problem(404, "no such media")
        try:
            async with self._decoding:
                done = await asyncio.get_running_loop().run_in_executor(None, crop_image, found.data, wanted.box)
        except ImageRejected as exc:
            raise _rejected(exc) from None
        item, _new = await self._store(
            tenant_id, done.image, done.thumbnail, source_id=media_id, focus_x=wanted.focus[0], focus_y=wanted.focus[1]
        )
        if (item.get("focus") or {}) != {"x": wanted.focus[0], "y": wanted.focus[1]}:
            # The same crop again with another focal point: the latest choice is kept.
            async with self.db.write.begin() as conn:
                await conn.execute(
                    media.update()
                    .where(and_(media.c.tenant_id == tenant_id, media.c.id == item["id"]))
                    .values(focus_x=wanted.focus[0], focus_y=wanted.focus[1], source_id=media_id)
                )
            item = await self.get(tenant_id, item["id"])
        return item

    async def _store(self, tenant_id: str, image: Encoded, thumb: Encoded, **extra) -> tuple[dict, bool]:
        existing = await self._by_hash(tenant_id, image.sha256)
        if existing is not None:
            return existing, False
        row = {
            "id": secrets.token_urlsafe(_ID_BYTES),
            "tenant_id": tenant_id,
            "content_type": image.content_type,
            "data": image.data,
            "file_size": len(image.data),
            "width": image.width,
            "height": image.height,
            "sha256": image.sha256,
            "thumb_content_type": thumb.content_type,
            "thumb_data": thumb.data,
            "thumb_file_size": len(thumb.data),
            "thumb_width": thumb.width,
            "thumb_height": thumb.height,
            "created_ms": int(self.clock.now().timestamp() * 1000),
            "source_id": None,
            "focus_x": None,
            "focus_y": None,
            "duration_ms": None,
            **extra,
        }
        try:
            async with self.db.write.begin() as conn:
                await conn.execute(media.insert().values(row))
        except IntegrityError:
            # The same file uploaded concurrently: the first insert wins.
            existing = await self._by_hash(tenant_id, image.sha256)
            if existing is None:
                raise
            return existing, False
        return self._view(row), True

    async def _by_hash(self, tenant_id: str, sha256: str) -> dict | None:
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(select(*_META).where(and_(media.c.tenant_id == tenant_id, media.c.sha256 == sha256)))
            ).first()
        return None if row is None else self._view(row._mapping)

    async def get(self, tenant_id: str, media_id: str) -> dict:
        """One of the tenant's media (404 for another tenant's)."""
        found = await self.find(tenant_id, media_id)
        if found is None:
            raise Problem(404, "no such media")
        return found

    async def find(self, tenant_id: str, media_id: str) -> dict | None:
        """One of the tenant's media, or None (also for another tenant's)."""
        if not _MEDIA_ID.fullmatch(media_id):
            return None
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(select(*_META).where(and_(media.c.tenant_id == tenant_id, media.c.id == media_id)))
            ).first()
        return None if row is None else self._view(row._mapping)

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        """The tenant's media, newest first."""
        query = select(*_META).where(media.c.tenant_id == tenant_id)
        if cursor:
            ms, _, mid = decode_cursor(cursor).partition(":")
            if not ascii_digits(ms) or len(ms) > 15 or not _MEDIA_ID.fullmatch(mid):
                raise Problem(422, "cursor is not one this API returned", [FieldError("/cursor", "invalid cursor")])
            query = query.where(
                or_(media.c.created_ms < int(ms), and_(media.c.created_ms == int(ms), media.c.id < mid))
            )
        async with self.db.read.connect() as conn:
            rows = (
                await conn.execute(query.order_by(media.c.created_ms.desc(), media.c.id.desc()).limit(limit + 1))
            ).all()
        more, rows = len(rows) > limit, rows[:limit]
        nxt = encode_cursor(f"{rows[-1].created_ms}:{rows[-1].id}") if more and rows else None
        return [self._view(r._mapping) for r in rows], nxt

    async def blob(self, media_id: str, thumbnail: bool = False) -> Blob | None:
        """The bytes behind a public media URL, or None."""
        if not _MEDIA_ID.fullmatch(media_id):
            return None
        data, ctype = (
            (media.c.thumb_data, media.c.thumb_content_type) if thumbnail else (media.c.data, media.c.content_type)
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(data, ctype, media.c.sha256).where(media.c.id == media_id))).first()
        if row is None:
            return None
        return Blob(bytes(row[0]), row[1], f'"{row[2][:32]}{"t" if thumbnail else ""}"')

    async def media_for_url(self, url: str) -> bytes | None:
        """The stored bytes for one of our own media URLs (`<base>/media/<id>[/thumbnail]`, or the
        bare path), else None: previews may draw these without fetching anything remote."""
        found = await self.blob_for_url(url)
        return None if found is None else found.data

    async def blob_for_url(self, url: str) -> Blob | None:
        """The stored media (bytes and type) behind one of our own media URLs, else None."""
        if not isinstance(url, str):
            return None
        if url.startswith(self.base_url + "/"):
            url = url[len(self.base_url) :]
        path = urlsplit(url)
        if path.scheme or path.netloc or path.query:
            return None
        segments = path.path.split("/")
        if len(segments) not in (3, 4) or segments[0] or segments[1] != "media" or not segments[2]:
            return None
        if len(segments) == 4 and segments[3] != "thumbnail":
            return None
        return await self.blob(segments[2], thumbnail=len(segments) == 4)

    def _view(self, row) -> dict:
        return {
            "id": row["id"],
            "url": self.url(row["id"]),
            "content_type": row["content_type"],
            "file_size": row["file_size"],
            "width": row["width"],
            "height": row["height"],
            "thumbnail_url": self.url(row["id"], thumbnail=True),
            "thumbnail_content_type": row["thumb_content_type"],
            "thumbnail_file_size": row["thumb_file_size"],
            "sha256": row["sha256"],
            "created_at": rfc3339(datetime.fromtimestamp(row["created_ms"] / 1000, UTC)),
            "kind": row["content_type"].split("/", 1)[0],
            "source_id": row["source_id"],
            "focus": None if row["focus_x"] is None else {"x": row["focus_x"], "y": row["focus_y"]},
            "duration_ms": row["duration_ms"],
        }
