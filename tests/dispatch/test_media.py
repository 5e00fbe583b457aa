"""A card's media at the operator: uploaded once per channel, referenced by the operator's URL,
uploaded again when the operator's copy runs out or is lost."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from dispatch.media import OperatorMedia
from rcs.results import MediaFile
from tests.conftest import card
from tests.dispatch.conftest import has_event, wait_for

OURS = "https://hongyan.example/media/m1"


@dataclass
class Stored:
    data: bytes
    content_type: str


class Channel:
    def __init__(self, until: str | None = "2099-01-01T00:00:00Z"):
        self.uploads: list[tuple[str, bool]] = []
        self.until = until

    async def upload_media(self, data, content_type, filename, *, thumbnail=None, temporary=True):
        self.uploads.append((filename, thumbnail is not None))
        n = len(self.uploads)
        return MediaFile(
            f"https://maap.example/f{n}", content_type, len(data), self.until, f"https://maap.example/t{n}"
        )


async def fetch(url: str):
    if url == OURS:
        return Stored(b"image", "image/png")
    if url == OURS + "/thumbnail":
        return Stored(b"thumb", "image/jpeg")
    return None


def with_media(url: str, thumbnail: str | None = None) -> dict:
    doc = card()
    media = {"mediaUrl": url, "mediaContentType": "image/png", "mediaFileSize": 5, "height": "MEDIUM_HEIGHT"}
    if thumbnail:
        media |= {"thumbnailUrl": thumbnail, "thumbnailContentType": "image/jpeg", "thumbnailFileSize": 5}
    doc["message"]["generalPurposeCard"]["content"]["media"] = media
    return doc


async def test_uploaded_once_per_channel_and_referenced_by_the_operators_url():
    media, a, b = OperatorMedia(fetch, clock=lambda: 0.0), Channel(), Channel()
    original = with_media(OURS, OURS + "/thumbnail")
    sent = await media.localise(original, a)
    out = sent["message"]["generalPurposeCard"]["content"]["media"]
    assert (out["mediaUrl"], out["thumbnailUrl"]) == ("https://maap.example/f1", "https://maap.example/t1")
    assert original["message"]["generalPurposeCard"]["content"]["media"]["mediaUrl"] == OURS  # not changed
    await media.localise(original, a)
    assert a.uploads == [("media.png", True)]  # once per channel…
    await media.localise(original, b)
    assert len(b.uploads) == 1  # …and once on each channel
    media.forget(a)  # the operator lost it (40022)
    await media.localise(original, a)
    assert len(a.uploads) == 2


async def test_an_expiring_copy_is_uploaded_again_and_other_media_left_alone():
    now = [0.0]
    media, channel = OperatorMedia(fetch, clock=lambda: now[0]), Channel(until="1970-01-01T02:00:00Z")
    await media.localise(with_media(OURS), channel)
    await media.localise(with_media(OURS), channel)
    assert len(channel.uploads) == 1
    now[0] = 3600.0  # within the margin of its expiry
    await media.localise(with_media(OURS), channel)
    assert len(channel.uploads) == 2
    elsewhere = with_media("https://cdn.example/a.png")
    assert await media.localise(elsewhere, channel) is elsewhere


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def test_a_card_with_our_image_reaches_the_handset_through_the_operators_copy(sandbox_api):
    from server import SANDBOX

    uploaded = await sandbox_api.client.post(
        "/v1/media", data=_png(), headers={**sandbox_api.auth, "Content-Type": "image/png"}
    )
    assert uploaded.status in (200, 201), await uploaded.text()
    item = await uploaded.json()
    doc = with_media(item["url"])
    media = doc["message"]["generalPurposeCard"]["content"]["media"]
    media["mediaFileSize"] = item["file_size"]
    sent = await sandbox_api.post("/v1/messages", {"to": "+8613800138001", "card": doc})
    assert sent.status == 202, await sent.text()
    mid = (await sent.json())["messages"][0]["id"]
    await wait_for(sandbox_api, mid, has_event("rcs_delivered"))
    maap = sandbox_api.client.app[SANDBOX].maap
    assert len(maap.media) >= 1  # the operator got the file before the card that shows it
