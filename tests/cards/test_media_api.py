"""/v1/media uploads and the public /media/{id} URLs, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io

import pytest
from aiohttp import FormData
from imagekit import encode, jpeg_with_gps_and_rotation, photo, png_declaring, with_alpha
from PIL import Image

from cards.media.http import MEDIA
from cards.media.images import MAX_UPLOAD_BYTES

PROBLEM = "application/problem+json"


async def upload(
    api,
    data: bytes,
    *,
    multipart: bool = True,
    filename: str = "photo.jpg",
    content_type: str = "application/octet-stream",
):
    if multipart:
        form = FormData()
        form.add_field("file", data, filename=filename, content_type=content_type)
        return await api.client.post("/v1/media", data=form, headers=api.auth)
    return await api.client.post("/v1/media", data=data, headers={**api.auth, "Content-Type": content_type})


async def test_upload_then_fetch_publicly(api):
    resp = await upload(api, jpeg_with_gps_and_rotation())
    assert resp.status == 201, await resp.text()
    item = await resp.json()
    assert item["content_type"] == "image/jpeg" and (item["width"], item["height"]) == (200, 300)
    assert item["url"].endswith(f"/media/{item['id']}") and item["thumbnail_url"] == item["url"] + "/thumbnail"
    assert len(item["id"]) >= 22  # 128 random bits in URL-safe base64
    got = await api.client.get(f"/media/{item['id']}")  # no Authorization: public
    body = await got.read()
    assert got.status == 200 and got.content_type == "image/jpeg"
    assert len(body) == item["file_size"] and hashlib.sha256(body).hexdigest() == item["sha256"]
    assert b"Exif" not in body and not Image.open(io.BytesIO(body)).getexif()
    assert got.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    again = await api.client.get(f"/media/{item['id']}", headers={"If-None-Match": got.headers["ETag"]})
    assert again.status == 304 and not await again.read()
    thumb = await api.client.get(f"/media/{item['id']}/thumbnail")
    data = await thumb.read()
    assert thumb.status == 200 and thumb.content_type == item["thumbnail_content_type"]
    assert len(data) == item["thumbnail_file_size"] and thumb.headers["ETag"] != got.headers["ETag"]
    assert (await (await api.get(f"/v1/media/{item['id']}")).json()) == item


async def test_raw_body_upload_and_the_type_comes_from_the_content(api):
    # Declared as JPEG, really a PNG with transparency: the bytes decide.
    resp = await upload(api, encode(with_alpha(), "PNG"), multipart=False, content_type="image/jpeg")
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["content_type"] == "image/png"


async def test_the_same_image_twice_is_one_media_per_tenant(api):
    raw = encode(photo(), "PNG")
    first = await (await upload(api, raw)).json()
    second = await upload(api, raw, multipart=False)
    assert second.status == 201 and (await second.json())["id"] == first["id"]
    other = await api.new_tenant()
    theirs = await (await upload(other, raw)).json()
    assert theirs["id"] != first["id"]
    assert (await other.get(f"/v1/media/{first['id']}")).status == 404
    assert [m["id"] for m in (await (await other.get("/v1/media")).json())["data"]] == [theirs["id"]]


async def test_listing_pages_newest_first(api):
    ids = [(await (await upload(api, encode(photo(colour=(i * 40, 0, 0)), "PNG"))).json())["id"] for i in range(3)]
    first = await (await api.get("/v1/media?limit=2")).json()
    second = await (await api.get(f"/v1/media?limit=2&cursor={first['next_cursor']}")).json()
    assert [m["id"] for m in first["data"] + second["data"]] == ids[::-1]
    assert second["next_cursor"] is None


BAD_UPLOADS = [
    pytest.param(b"hello, not an image", True, 422, id="text"),
    pytest.param(encode(photo(), "BMP"), True, 422, id="bmp"),
    pytest.param(png_declaring(100_000, 100_000), True, 422, id="decompression-bomb"),
    pytest.param(b"", False, 422, id="empty-raw-body"),
    pytest.param(b"\0" * (MAX_UPLOAD_BYTES + 1), False, 413, id="raw-too-large"),
    pytest.param(b"\0" * (MAX_UPLOAD_BYTES + 1), True, 413, id="multipart-too-large"),
]


@pytest.mark.parametrize("raw,multipart,status", BAD_UPLOADS)
async def test_bad_uploads_are_problems_naming_the_file(api, raw, multipart, status):
    resp = await upload(api, raw, multipart=multipart)
    assert resp.status == status
    problem = await resp.json(content_type=PROBLEM)
    assert [e["path"] for e in problem["errors"]] == ["/file"]


async def test_a_form_without_a_file_field(api):
    form = FormData()
    form.add_field("picture", b"x", filename="x.png")
    resp = await api.client.post("/v1/media", data=form, headers=api.auth)
    assert resp.status == 422 and (await resp.json(content_type=PROBLEM))["errors"][0]["path"] == "/file"


async def test_authentication_and_unknown_media(api):
    assert (await api.client.post("/v1/media", data=b"x")).status == 401
    assert (await api.client.get("/v1/media")).status == 401
    for path in ("/media/nope", "/media/nope/thumbnail"):
        resp = await api.client.get(path)
        assert resp.status == 404 and resp.content_type == PROBLEM
    assert (await api.get("/v1/media/nope")).status == 404


async def test_uploaded_media_drops_into_a_card_and_previews_can_read_it(api):
    item = await (await upload(api, encode(photo(), "JPEG"))).json()
    card = {
        "message": {
            "generalPurposeCard": {
                "layout": {"cardOrientation": "VERTICAL"},
                "content": {
                    "title": "新品",
                    "media": {
                        "mediaUrl": item["url"],
                        "mediaContentType": item["content_type"],
                        "mediaFileSize": item["file_size"],
                        "thumbnailUrl": item["thumbnail_url"],
                        "thumbnailContentType": item["thumbnail_content_type"],
                        "thumbnailFileSize": item["thumbnail_file_size"],
                        "height": "MEDIUM_HEIGHT",
                    },
                },
            }
        }
    }
    resp = await api.post("/v1/cards/validate", {"card": card})
    assert resp.status == 200, await resp.text()
    store = api.client.app[MEDIA]
    image = await (await api.client.get(f"/media/{item['id']}")).read()
    thumb = await (await api.client.get(f"/media/{item['id']}/thumbnail")).read()
    assert await store.media_for_url(item["url"]) == image
    assert await store.media_for_url(item["thumbnail_url"]) == thumb
    assert await store.media_for_url(f"/media/{item['id']}") == image
    for foreign in (
        "https://cdn.example.cn/media/" + item["id"],
        item["url"] + "/other",
        item["url"] + "?x=1",
        store.url("unknown"),
        "",
        None,
    ):
        assert await store.media_for_url(foreign) is None


async def test_the_answer_matches_the_openapi_schema(api):
    import jsonschema

    doc = await (await api.client.get("/openapi.json")).json()
    item = await (await upload(api, encode(photo(), "JPEG"))).json()
    jsonschema.validate(item, {**doc["components"]["schemas"]["Media"], "components": doc["components"]})


async def test_concurrent_uploads_of_one_image_agree_on_its_id(api):
    import asyncio

    raw = encode(photo(colour=(1, 2, 3)), "JPEG")
    answers = await asyncio.gather(*(upload(api, raw) for _ in range(4)))
    assert {a.status for a in answers} == {201}
    assert len({(await a.json())["id"] for a in answers}) == 1
    assert len((await (await api.get("/v1/media")).json())["data"]) == 1


@pytest.mark.parametrize("hosted", [True, False])
async def test_the_png_preview_draws_our_hosted_image_and_never_fetches_others(api, hosted):
    """An uploaded image is drawn into /v1/cards/render?format=png; a remote URL stays a
    placeholder (nothing is fetched)."""
    item = await (await upload(api, encode(photo((600, 400), (200, 30, 30)), "PNG"), filename="red.png")).json()
    url = item["url"] if hosted else "https://cdn.example.com/red.png"
    card = {
        "message": {
            "generalPurposeCard": {
                "layout": {"cardOrientation": "VERTICAL"},
                "content": {
                    "title": "月饼",
                    "media": {
                        "mediaUrl": url,
                        "mediaContentType": "image/png",
                        "mediaFileSize": 1000,
                        "height": "MEDIUM_HEIGHT",
                    },
                },
            }
        }
    }
    resp = await api.post("/v1/cards/render?format=png", {"card": card})
    assert resp.status == 200 and resp.content_type == "image/png"
    png = Image.open(io.BytesIO(await resp.read())).convert("RGB")
    r, g, b = png.getpixel((png.width // 4, png.height // 4))  # inside the media box (the photo's red half)
    assert (r > 150 and g < 80 and b < 80) is hosted, (r, g, b)
