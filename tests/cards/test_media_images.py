"""cards.media.images: what an upload becomes, and what is refused."""

from __future__ import annotations

import io

import pytest
from imagekit import (
    GPS_IFD,
    animated_gif,
    encode,
    jpeg_with_gps_and_rotation,
    noise,
    photo,
    png_declaring,
    with_alpha,
    with_icc,
)
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from cards.media.images import (
    MAX_IMAGE_BYTES,
    MAX_SIDE,
    MAX_THUMBNAIL_BYTES,
    MAX_UPLOAD_BYTES,
    THUMBNAIL_SIDE,
    ImageRejected,
    process_image,
)


def opened(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# (input bytes, stored content type, stored size)
ACCEPTED = [
    pytest.param(encode(photo(), "JPEG"), "image/jpeg", (300, 200), id="jpeg"),
    pytest.param(encode(photo(), "PNG"), "image/png", (300, 200), id="opaque-png-stays-png"),
    pytest.param(encode(with_alpha(), "PNG"), "image/png", (120, 80), id="png-with-alpha"),
    pytest.param(encode(photo(), "WEBP"), "image/jpeg", (300, 200), id="webp-to-jpeg"),
    pytest.param(encode(with_alpha(), "WEBP", lossless=True), "image/png", (120, 80), id="webp-alpha-to-png"),
    pytest.param(animated_gif(), "image/jpeg", (64, 48), id="animated-gif-first-frame"),
    pytest.param(
        encode(with_alpha().convert("P"), "GIF", transparency=0), "image/png", (120, 80), id="gif-transparency-to-png"
    ),
    pytest.param(encode(photo().convert("CMYK"), "JPEG"), "image/jpeg", (300, 200), id="cmyk-jpeg"),
    pytest.param(encode(photo().convert("L"), "PNG"), "image/png", (300, 200), id="greyscale-png"),
    pytest.param(encode(photo((4000, 1000)), "JPEG"), "image/jpeg", (MAX_SIDE, 512), id="downscaled"),
]


@pytest.mark.parametrize("raw,content_type,size", ACCEPTED)
def test_accepted_images_are_reencoded(raw, content_type, size):
    done = process_image(raw)
    image, thumb = done.image, done.thumbnail
    assert image.content_type == content_type and (image.width, image.height) == size
    stored = opened(image.data)
    assert stored.format == content_type.split("/")[1].upper() and stored.size == size
    assert len(image.data) <= MAX_IMAGE_BYTES
    assert thumb.content_type in ("image/jpeg", "image/png") and len(thumb.data) <= MAX_THUMBNAIL_BYTES
    assert max(thumb.width, thumb.height) == min(THUMBNAIL_SIDE, max(size))
    assert opened(thumb.data).size == (thumb.width, thumb.height)


def test_alpha_is_kept_only_when_something_is_transparent():
    assert opened(process_image(encode(with_alpha(), "PNG")).image.data).mode == "RGBA"
    opaque_rgba = Image.new("RGBA", (50, 50), (10, 20, 30, 255))
    assert opened(process_image(encode(opaque_rgba, "PNG")).image.data).mode == "RGB"


def test_exif_orientation_is_applied_then_every_tag_is_gone():
    raw = jpeg_with_gps_and_rotation((300, 200))
    source = Image.open(io.BytesIO(raw))
    assert source.getexif().get_ifd(GPS_IFD) and b"SecretCam" in raw  # the input really carries them
    done = process_image(raw)
    for data in (done.image.data, done.thumbnail.data):
        stored = opened(data)
        assert not stored.getexif() and not stored.getexif().get_ifd(GPS_IFD)
        assert b"Exif" not in data and b"SecretCam" not in data
        assert "exif" not in stored.info and "icc_profile" not in stored.info
    stored = opened(done.image.data)
    assert stored.size == (200, 300)  # rotated upright
    # Orientation 6 means "rotate 90° clockwise to show": the coloured left half ends up on top.
    assert stored.getpixel((100, 20))[1] < 100 and stored.getpixel((100, 280))[1] > 200


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_icc_profiles_and_text_chunks_are_dropped(fmt):
    done = process_image(with_icc(photo(), fmt))
    assert "icc_profile" not in opened(done.image.data).info
    meta = PngInfo()
    meta.add_text("Comment", "owner: 13800138000")
    data = process_image(encode(photo(), "PNG", pnginfo=meta)).image.data
    assert b"13800138000" not in data


def test_noise_is_squeezed_under_two_megabytes():
    # 2048² random pixels are ~4 MB at quality 85: quality steps down, then the size does.
    done = process_image(encode(noise((2048, 2048)), "JPEG", quality=95))
    assert len(done.image.data) <= MAX_IMAGE_BYTES and done.image.content_type == "image/jpeg"
    assert len(done.thumbnail.data) <= MAX_THUMBNAIL_BYTES


def test_noisy_alpha_png_shrinks_until_it_fits():
    im = noise((1400, 1400), "RGBA")
    done = process_image(encode(im, "PNG"))
    assert done.image.content_type == "image/png" and len(done.image.data) <= MAX_IMAGE_BYTES
    assert done.image.width < 1400


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


REFUSED = [
    pytest.param(b"", 422, "not an image", id="empty"),
    pytest.param(b"GIF89a but not really", 422, "not an image", id="fake-magic"),
    pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", 422, "not an image", id="svg"),
    pytest.param(encode(photo(), "BMP"), 422, "BMP images are not accepted", id="bmp"),
    pytest.param(encode(photo(), "TIFF"), 422, "TIFF images are not accepted", id="tiff"),
    pytest.param(_half(encode(noise((200, 200)), "JPEG")), 422, "damaged", id="truncated-jpeg"),
    pytest.param(png_declaring(100_000, 100_000), 422, "pixels", id="bomb-past-pillow-limit"),
    # 48 MP declared in 67 bytes: refused from the header, before any pixel is decoded.
    pytest.param(png_declaring(8000, 6000), 422, "pixels", id="bomb-past-our-limit"),
    pytest.param(b"\xff" * (MAX_UPLOAD_BYTES + 1), 413, "10 MB", id="too-many-bytes"),
]


@pytest.mark.parametrize("raw,status,message", REFUSED)
def test_refused_uploads(raw, status, message):
    with pytest.raises(ImageRejected) as caught:
        process_image(raw)
    assert caught.value.status == status and message in str(caught.value)
