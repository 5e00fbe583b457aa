"""Turning an uploaded image into what cards may carry.

The type is sniffed from the content, never from a name or header; the pixel count is checked
from the header before any pixel is decoded; the result is re-encoded from pixels only, so no
EXIF (GPS), XMP or other metadata survives.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # raw input we are willing to read
MAX_PIXELS = 40_000_000  # width * height of the input, checked before decoding
MAX_IMAGE_BYTES = 2 * 1024 * 1024  # CN CSP interface V1.0.4: image 2 MB (jpg/png)
MAX_THUMBNAIL_BYTES = 200 * 1024  # CN CSP interface V1.0.4: thumbnail ≤ 200 KB
MAX_SIDE = 2048
THUMBNAIL_SIDE = 400
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
_JPEG_QUALITIES = (85, 75, 65, 55, 45)
_SHRINK = 0.75  # when no quality fits, the next attempt's scale


class ImageRejected(ValueError):
    """The upload is not an image we accept; `status` is the HTTP status to answer."""

    def __init__(self, message: str, code: str, status: int = 422, **params):
        super().__init__(message)
        self.code, self.params, self.status = code, params, status


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Processed:
    image: Encoded
    thumbnail: Encoded


def process_image(raw: bytes) -> Processed:
    """Validate, normalise and re-encode an upload; CPU bound: run it in an executor."""
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ImageRejected(
            f"the upload is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
            "upload_too_big",
            status=413,
            limit_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        )
    im = _open_checked(raw)
    source_format = im.format
    try:
        im.seek(0)  # animated GIF/WebP: the first frame is the card image
        im.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"the image data is damaged: {exc}", "image_damaged") from None
    try:
        im = ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError):
        pass  # unreadable EXIF: the pixels as stored (all metadata is dropped below anyway)
    keep_alpha = _has_alpha(im)
    im = _to_srgb(im, "RGBA" if keep_alpha else "RGB")
    return _finish(im, png=keep_alpha or source_format == "PNG", alpha=keep_alpha)


def _finish(im: Image.Image, *, png: bool, alpha: bool) -> Processed:
    """Clean sRGB pixels → the card image and its thumbnail, each within its byte limit."""
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    image = _encode_within(im, MAX_IMAGE_BYTES, png=png, alpha=alpha)
    return Processed(image, poster(im))


def poster(im: Image.Image) -> Encoded:
    """A thumbnail (or a video's poster frame) within the CN thumbnail limit."""
    alpha = im.mode == "RGBA"
    thumb = im.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return _encode_within(thumb, MAX_THUMBNAIL_BYTES, png=alpha, alpha=alpha)


def crop_image(data: bytes, box: tuple[int, int, int, int]) -> Processed:
    """Cut `box` (left, top, right, bottom in the stored image's pixels) out of one of our
    stored images (already clean: re-encoded by process_image) and encode it as an upload."""
    im = Image.open(io.BytesIO(data))
    png = im.format == "PNG"
    im.load()
    alpha = im.mode == "RGBA"
    cut = im.convert("RGBA" if alpha else "RGB").crop(box)
    return _finish(cut, png=png, alpha=alpha)


def _open_checked(raw: bytes) -> Image.Image:
    """Open lazily, refuse non-images, other formats and too many pixels, verify the stream."""
    # Image.open reads only the header. Pillow's own bomb check (process-wide MAX_IMAGE_PIXELS,
    # not changed here: other code shares it) raises far above ours; ours decides below.
    try:
        probe = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError:
        raise ImageRejected(
            f"the image declares more than {MAX_PIXELS:,} pixels", "image_too_many_pixels", limit=MAX_PIXELS
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageRejected("not an image: upload a JPEG, PNG, WebP or GIF", "not_image") from None
    if probe.format not in ACCEPTED_FORMATS:
        raise ImageRejected(
            f"{probe.format} images are not accepted: upload a JPEG, PNG, WebP or GIF",
            "image_format",
            format=probe.format,
        )
    width, height = probe.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise ImageRejected(
            f"the image is {width}×{height}: at most {MAX_PIXELS:,} pixels are accepted",
            "image_too_many_pixels",
            limit=MAX_PIXELS,
        )
    try:
        probe.verify()  # checks the stream (PNG CRCs, …) without keeping pixels
    except Exception as exc:  # noqa: BLE001 - verify raises whatever the plugin's parser meets
        raise ImageRejected(f"the image data is damaged: {exc}", "image_damaged") from None
    return Image.open(io.BytesIO(raw))  # verify() leaves the image unusable: reopen for decoding


def _has_alpha(im: Image.Image) -> bool:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        alpha = im.convert("RGBA").getchannel("A")
        return alpha.getextrema()[0] < 255  # an alpha channel that is all opaque is not kept
    return False


def _to_srgb(im: Image.Image, mode: str) -> Image.Image:
    """Pixels in sRGB (an embedded ICC profile is applied, then dropped) and no metadata."""
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA", "CMYK"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            im = ImageCms.profileToProfile(
                im, src, ImageCms.createProfile("sRGB"), outputMode="RGBA" if im.mode == "RGBA" else "RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: keep the pixels as they are
    if im.mode != mode:
        im = im.convert(mode)
    clean = Image.new(mode, im.size)
    clean.paste(im)  # a fresh image: no info dict, so nothing from the input is written out
    return clean


def _encode_within(im: Image.Image, limit: int, *, png: bool, alpha: bool) -> Encoded:
    """The best encoding that fits `limit`: lower JPEG quality first, then fewer pixels."""
    while True:
        if png:
            data = _save(im, "PNG", optimize=True)
            if len(data) <= limit:
                return Encoded(data, "image/png", *im.size)
            if not alpha:
                png = False  # an opaque PNG too big: JPEG holds the same picture in less
                continue
        else:
            for quality in _JPEG_QUALITIES:
                data = _save(im, "JPEG", quality=quality, progressive=True, optimize=True)
                if len(data) <= limit:
                    return Encoded(data, "image/jpeg", *im.size)
        if min(im.size) <= 16:
            raise ImageRejected("the image cannot be made small enough", "image_incompressible")
        im = im.resize((max(1, int(im.width * _SHRINK)), max(1, int(im.height * _SHRINK))), Image.Resampling.LANCZOS)


def _save(im: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()
