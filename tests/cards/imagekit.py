"""Test images made with pillow at run time (no binaries in the repository)."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image, ImageCms

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def photo(size=(300, 200), colour=(200, 30, 30)) -> Image.Image:
    """A picture whose left half is coloured and right half white: orientation is visible."""
    im = Image.new("RGB", size, "white")
    im.paste(Image.new("RGB", (size[0] // 2, size[1]), colour), (0, 0))
    return im


def jpeg_with_gps_and_rotation(size=(300, 200)) -> bytes:
    """A JPEG with EXIF: GPS position, camera make and orientation 6 (display rotated 90° cw)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "SecretCam"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)})
    return encode(photo(size), "JPEG", exif=exif, quality=90)


def noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Incompressible pixels: the worst case for the byte limits."""
    return Image.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode)))


def with_alpha(size=(120, 80)) -> Image.Image:
    im = Image.new("RGBA", size, (0, 128, 255, 255))
    im.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
    return im


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width × height pixels (a decompression bomb's opening)."""
    real = encode(Image.new("L", (1, 1)), "PNG")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    patched = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return real[:8] + patched + real[8 + 25 :]


def with_icc(im: Image.Image, fmt: str) -> bytes:
    """An image carrying an embedded ICC profile."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(im, fmt, icc_profile=profile)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), c) for c in ("red", "green", "blue")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
