"""Tiny video and audio clips encoded with PyAV at run time (no binaries in the repository)."""

from __future__ import annotations

import io
import struct

import av
import numpy as np


def video(seconds: float = 2.0, size=(64, 48), rate: int = 10, metadata: dict | None = None) -> bytes:
    """An H.264 MP4 whose frames are red before 1 s and blue from 1 s on."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as c:
        c.metadata.update(metadata or {})
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(round(seconds * rate)):
            px = np.zeros((size[1], size[0], 3), np.uint8)
            px[:, :] = (220, 20, 20) if i < rate else (20, 20, 220)
            for packet in s.encode(av.VideoFrame.from_ndarray(px, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return out.getvalue()


def audio(seconds: float = 1.0, rate: int = 8000, fmt: str = "mp3") -> bytes:
    """A tone getting louder, as MP3 (or AAC in MP4 with fmt="mp4")."""
    out = io.BytesIO()
    codec = {"mp3": "libmp3lame", "mp4": "aac"}[fmt]
    with av.open(out, "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate, layout="mono")
        size = s.codec_context.frame_size or 1152
        total = round(seconds * rate)
        for start in range(0, total, size):
            n = np.arange(start, start + size)
            wave = np.sin(n * 0.2) * (n / total) * 0.8
            frame = av.AudioFrame.from_ndarray(wave.astype(np.float32).reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = rate
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return out.getvalue()


def understated(mp4: bytes) -> bytes:
    """The MP4 with its movie, track and media headers claiming a length of one tick (as a
    crafted upload would, to pass a length check that trusts them)."""
    raw = bytearray(mp4)
    # duration's offset after the box type: version/flags, created, modified, then the
    # timescale (mvhd, mdhd) or track id and a reserved word (tkhd); version 0 boxes
    for box, offset in ((b"mvhd", 16), (b"mdhd", 16), (b"tkhd", 20)):
        at = raw.find(box)
        assert at > 0 and raw[at + 4] == 0, box
        raw[at + 4 + offset : at + 8 + offset] = struct.pack(">I", 1)
    return bytes(raw)
