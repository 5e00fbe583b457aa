"""Checks in the editor warn about images and videos without alternative text
(`media_no_alt`), while /v1/cards/validate keeps its §13 warnings; the text is the img alt."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.editor.test_preview import preview

MEDIA = {
    "mediaUrl": "https://cdn.example.cn/a.png",
    "mediaContentType": "image/png",
    "mediaFileSize": 1024,
    "height": "MEDIUM_HEIGHT",
}


def standalone(media: dict) -> dict:
    layout = {"cardOrientation": "VERTICAL"}
    return {"message": {"generalPurposeCard": {"layout": layout, "content": {"title": "Hi", "media": media}}}}


def carousel(*media: dict) -> dict:
    cards = [{"title": f"Card {i}", "media": m} for i, m in enumerate(media)]
    return {"message": {"generalPurposeCardCarousel": {"layout": {"cardWidth": "MEDIUM_WIDTH"}, "content": cards}}}


@pytest.mark.parametrize(
    ("card", "paths"),
    [
        (standalone(MEDIA), ["/message/generalPurposeCard/content/media/contentDescription"]),
        (
            standalone({**MEDIA, "contentDescription": "  "}),
            ["/message/generalPurposeCard/content/media/contentDescription"],
        ),
        (
            standalone({**MEDIA, "mediaUrl": "https://cdn.example.cn/v.mp4", "mediaContentType": "video/mp4"}),
            ["/message/generalPurposeCard/content/media/contentDescription"],
        ),
        (
            carousel({**MEDIA, "contentDescription": "A shop"}, MEDIA),
            ["/message/generalPurposeCardCarousel/content/1/media/contentDescription"],
        ),
        (standalone({**MEDIA, "contentDescription": "A shop front"}), []),
        (standalone({**MEDIA, "mediaUrl": "https://cdn.example.cn/a.mp3", "mediaContentType": "audio/mpeg"}), []),
    ],
    ids=["image", "blank", "video", "carousel-second", "described", "audio"],
)
async def test_checks_warn_about_media_without_alt_text(api, card, paths):
    got = await preview(api, card=card)
    assert got["valid"] is True, got["errors"]
    found = [w for w in got["warnings"] if w["code"] == "media_no_alt"]
    assert [w["path"] for w in found] == paths
    assert all("alternative text" in w["message"] for w in found)
    # The card API's warnings are the contract's (§13): no alt-text advice there.
    resp = await api.post("/v1/cards/validate", {"card": card})
    assert all(w.get("code") != "media_no_alt" for w in (await resp.json()).get("warnings", []))


async def test_the_alt_text_is_the_img_alt_in_the_previews(api):
    png = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 30, 30)).save(png, "PNG")
    resp = await api.client.post(
        "/v1/media", data=png.getvalue(), headers={**api.auth, "Content-Type": "application/octet-stream"}
    )
    item = await resp.json()
    media = {
        **MEDIA,
        "mediaUrl": item["url"],
        "mediaFileSize": item["file_size"],
        "contentDescription": "Moon cakes on a plate",
    }
    got = await preview(api, card=standalone(media))
    assert 'alt="Moon cakes on a plate"' in got["phone_html"] and 'alt="Moon cakes on a plate"' in got["h5_html"]
    assert "media_no_alt" not in {w["code"] for w in got["warnings"]}
