"""Turning an uploaded video or audio clip into what cards may carry, with a poster image.

PyAV (FFmpeg) reads the clip. The container is sniffed from the first bytes and only that
demuxer is opened (FFmpeg's own probing would try every format it knows); the streams are
remuxed without re-encoding into a fresh container, so no metadata (titles, GPS location
atoms) from the upload survives. A video's poster is a frame about a second in; audio gets
a drawn waveform.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
from av.stream import Disposition
from PIL import Image, ImageDraw

from cards import limits as L
from cards.media.images import MAX_PIXELS, Encoded, ImageRejected, poster

# CN CSP interface V1.0.4: audio 5 MB ≤ 90 s, video 10 MB ≤ 60 s
MAX_VIDEO_BYTES = L.CN_MEDIA_MAX_BYTES["video"]
MAX_AUDIO_BYTES = L.CN_MEDIA_MAX_BYTES["audio"]
MAX_VIDEO_SECONDS = 60
MAX_AUDIO_SECONDS = 90
POSTER_AT_SECONDS = 1.0  # the very first frame is often black or a fade-in
_MAX_POSTER_FRAMES = 120  # frames decoded looking for it, at most
POSTER_SIZE = (400, 225)
_WAVE_BARS = 48
_LENGTH_SLACK = 1.0  # s: container rounding between the header's length and the packets'
_PEAK_WINDOW = 256  # samples per loudness reading
_STILL_BRANDS = {b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}
_POSTER_BG, _POSTER_FG = (236, 239, 243), (96, 110, 130)


@dataclass(frozen=True)
class Clip:
    data: bytes
    content_type: str
    width: int
    height: int
    duration_ms: int
    poster: Encoded


def sniff(raw: bytes) -> str | None:
    """The demuxer for a clip we accept (`mp4`, `mp3`, `amr`), from its first bytes, or None."""
    if raw[4:8] == b"ftyp":
        if raw[8:12] in _STILL_BRANDS:
            return None  # HEIF/AVIF stills share the box format: the image path refuses them
        return "mp4"  # MP4 / M4A / 3GP / MOV family: one demuxer reads them all
    if raw.startswith(b"#!AMR\n"):
        return "amr"
    if raw.startswith(b"ID3") or (len(raw) > 1 and raw[0] == 0xFF and raw[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def process_clip(raw: bytes, demuxer: str) -> Clip:
    """Validate a clip (limits per kind), remux it clean and make its poster; CPU bound."""
    try:
        with av.open(io.BytesIO(raw), format=demuxer) as src:
            # cover art (an MP3's or M4A's picture) is a "video" stream holding one image
            moving = [s for s in src.streams.video if not s.disposition & Disposition.attached_pic]
            video = moving[0] if moving and demuxer == "mp4" else None
            audio = src.streams.audio[0] if src.streams.audio else None
            if video is None and audio is None:
                raise ImageRejected("the file has no video or audio stream", "clip_no_stream")
            kind = "video" if video is not None else "audio"
            seconds = _duration(src, video or audio)
            _check_limits(kind, len(raw), seconds)
            if video is not None:
                width, height = video.codec_context.width, video.codec_context.height
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise ImageRejected(
                        f"the video is {width}×{height}: at most {MAX_PIXELS:,} pixels are accepted",
                        "image_too_many_pixels",
                        limit=MAX_PIXELS,
                    )
                picture = _poster_frame(src, video)
            else:
                width = height = 0
                picture = _waveform(src, audio)
        data, played = _remux(raw, demuxer)
        # A header may understate the length: the packets decide.
        _check_limits(kind, len(raw), max(seconds, played - _LENGTH_SLACK))
    except av.FFmpegError as exc:
        raise ImageRejected(f"the {demuxer} file is damaged: {exc}", "clip_damaged") from None
    content_type = {"mp4": f"{kind}/mp4", "mp3": "audio/mpeg", "amr": "audio/amr"}[demuxer]
    return Clip(data, content_type, width, height, round(seconds * 1000), poster(picture))


def _duration(src, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if src.duration is not None:
        return src.duration / av.time_base
    raise ImageRejected("the clip does not say how long it is", "clip_damaged")


def _check_limits(kind: str, size: int, seconds: float) -> None:
    cap_bytes, cap_seconds = (
        (MAX_VIDEO_BYTES, MAX_VIDEO_SECONDS) if kind == "video" else (MAX_AUDIO_BYTES, MAX_AUDIO_SECONDS)
    )
    if size > cap_bytes:
        mb = cap_bytes // (1024 * 1024)
        raise ImageRejected(f"{kind} uploads are at most {mb} MB", "clip_too_big", status=413, kind=kind, limit_mb=mb)
    if seconds > cap_seconds:
        raise ImageRejected(
            f"the {kind} is {seconds:.0f} s long; at most {cap_seconds} s",
            "clip_too_long",
            kind=kind,
            seconds=round(seconds),
            limit=cap_seconds,
        )


def _poster_frame(src, video) -> Image.Image:
    """The first frame at or after POSTER_AT_SECONDS (or the last one decoded before it)."""
    picked = None
    for i, frame in enumerate(src.decode(video)):
        picked = frame
        at = frame.time if frame.time is not None else 0.0
        if at >= POSTER_AT_SECONDS or i >= _MAX_POSTER_FRAMES:
            break
    if picked is None:
        raise ImageRejected("the video has no frame to show", "clip_damaged")
    return picked.to_image().convert("RGB")


def _waveform(src, audio) -> Image.Image:
    """A neutral poster for audio: the clip's loudness over time as bars."""
    peaks: list[float] = []
    for frame in src.decode(audio):
        samples = np.abs(frame.to_ndarray().astype(np.float32)).max(axis=0)  # loudest channel
        scale = 32768.0 if frame.format.name.startswith("s16") else 1.0
        for start in range(0, samples.size, _PEAK_WINDOW):
            peaks.append(float(samples[start : start + _PEAK_WINDOW].max()) / scale)
    im = Image.new("RGB", POSTER_SIZE, _POSTER_BG)
    draw = ImageDraw.Draw(im)
    w, h = POSTER_SIZE
    n = len(peaks) or 1
    levels = [
        max(peaks[i * n // _WAVE_BARS : max(i * n // _WAVE_BARS + 1, (i + 1) * n // _WAVE_BARS)] or [0.0])
        for i in range(_WAVE_BARS)
    ]
    top = max(levels) or 1.0
    step = (w - 80) / _WAVE_BARS
    for i, level in enumerate(levels):
        half = max(2.0, level / top * (h * 0.3))
        x = 40 + i * step
        draw.rounded_rectangle((x, h / 2 - half, x + step * 0.6, h / 2 + half), radius=2, fill=_POSTER_FG)
    return im


def _remux(raw: bytes, demuxer: str) -> tuple[bytes, float]:
    """The same audio/video packets in a new container (upload metadata is left behind), and
    how long they play (the end of the last packet, in seconds)."""
    out = io.BytesIO()
    end = 0.0
    with av.open(io.BytesIO(raw), "r", format=demuxer) as src, av.open(out, "w", format=demuxer) as dst:
        streams = {}
        for stream in src.streams:
            if stream.type == "audio" or (stream.type == "video" and not stream.disposition & Disposition.attached_pic):
                streams[stream.index] = dst.add_stream_from_template(stream)
        for packet in src.demux():
            if packet.stream.index in streams and packet.dts is not None:
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    return out.getvalue(), end
