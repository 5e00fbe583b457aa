"""The editor's text, file and location messages on the server side: the live preview renders
each (phone, SMS, H5 page with the recipient's links shown inert), names every broken limit of a
location, and the test send takes the document the editor saves."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.editor.test_preview import preview

CHIPS = [{"reply": {"displayText": "营业时间", "postback": {"data": "hours"}}}]


async def uploaded(api) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (320, 200), (214, 150, 60)).save(buf, "PNG")
    resp = await api.client.post("/v1/media", data=buf.getvalue(), headers=api.auth)
    assert resp.status == 201, await resp.text()
    return await resp.json()


def file_message(media: dict, name: str = "中秋菜单.png") -> dict:
    """The document the editor builds when a file is picked from the media library."""
    return {
        "message": {
            "file": {
                "mediaUrl": media["url"],
                "mediaContentType": media["content_type"],
                "mediaFileSize": media["file_size"],
                "fileName": name,
                "thumbnailUrl": media["thumbnail_url"],
                "thumbnailContentType": media["thumbnail_content_type"],
                "thumbnailFileSize": media["thumbnail_file_size"],
            }
        },
        "suggestions": CHIPS,
    }


PLACE = {"latitude": 31.2304, "longitude": 121.4737, "label": "{{ shop }}人民广场店", "crs": "wgs84"}


async def test_a_location_gets_every_preview(api):
    doc = {"message": {"location": PLACE}, "suggestions": CHIPS}
    got = await preview(api, card=doc, variables={"shop": "月饼铺"}, locale="en")
    assert got["valid"] is True and got["errors"] == [] and got["variables_used"] == ["shop"]
    assert got["card"]["message"]["location"]["label"] == "月饼铺人民广场店"
    assert "月饼铺人民广场店" in got["phone_html"] and "31.230400, 121.473700" in got["phone_html"]
    assert "营业时间" in got["phone_html"]
    assert got["sms"]["text"].startswith("【鸿雁测试】") and "月饼铺人民广场店" in got["sms"]["text"]
    # The recipient's page has a map link; in the preview it goes nowhere.
    assert '<a class="sg sg-show_location" href="#">Open the map</a>' in got["h5_html"]


async def test_a_file_gets_every_preview(api):
    media = await uploaded(api)
    got = await preview(api, card=file_message(media))
    assert got["valid"] is True and got["errors"] == []
    # Our media is drawn from this origin (by path); the name and size are shown.
    assert f'src="/media/{media["id"]}/thumbnail"' in got["phone_html"]
    assert "中秋菜单.png" in got["phone_html"] and "营业时间" in got["phone_html"]
    assert "中秋菜单.png" in got["sms"]["text"]
    assert 'href="#" download' in got["h5_html"] and "下载" in got["h5_html"]


@pytest.mark.parametrize(
    "location,paths",
    [
        ({"latitude": 95, "longitude": 121.4}, ["/message/location/latitude"]),
        ({"latitude": 31.2, "longitude": -181}, ["/message/location/longitude"]),
        ({"longitude": 121.4}, ["/message/location/latitude"]),
        ({"latitude": 31.2, "longitude": 121.4, "label": "店" * 101}, ["/message/location/label"]),
        ({"latitude": 31.2, "longitude": 121.4, "crs": "bd09"}, ["/message/location/crs"]),
        (
            {"latitude": -91, "longitude": 181, "label": "x" * 101},
            ["/message/location/latitude", "/message/location/longitude", "/message/location/label"],
        ),
    ],
)
async def test_a_location_names_each_broken_limit(api, location, paths):
    got = await preview(api, card={"message": {"location": location}})
    assert got["valid"] is False
    assert [e["path"] for e in got["errors"]] == paths


async def test_a_file_not_chosen_yet_is_invalid_but_still_drawn(api):
    got = await preview(api, card={"message": {"file": {}}})
    assert got["valid"] is False
    assert {e["path"] for e in got["errors"]} == {
        "/message/file/mediaUrl",
        "/message/file/mediaContentType",
        "/message/file/mediaFileSize",
    }
    assert 'class="card file"' in got["phone_html"]


async def test_the_test_send_takes_what_the_editor_saves(api):
    """The editor sends a test as `card` (the saved document, variables filled at accept), and
    saves and versions it as a template like a card."""
    media = await uploaded(api)
    docs = [file_message(media), {"message": {"location": PLACE}, "suggestions": CHIPS}, {"message": {"text": "您好"}}]
    for i, doc in enumerate(docs):
        sent = await api.post("/v1/messages", {"to": "+8613800000001", "card": doc, "variables": {"shop": "月饼铺"}})
        assert sent.status == 202, await sent.text()
        created = await api.post("/v1/templates", {"name": f"kind {i}", "card": doc, "sample": {"shop": "月饼铺"}})
        assert created.status == 201, await created.text()
        assert (await created.json())["status"] == "approved"
