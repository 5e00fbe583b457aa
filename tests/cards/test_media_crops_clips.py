"""Cropping library images for a card's media frame, and video/audio uploads with posters."""

from __future__ import annotations

import io

import pytest
from clipkit import audio, understated, video
from imagekit import encode, photo, with_alpha
from PIL import Image
from test_media_api import PROBLEM, upload

from cards.media.frames import Frame


async def _image(api, size=(1200, 800), fmt="JPEG") -> dict:
    resp = await upload(api, encode(photo(size), fmt))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _crop(api, media_id: str, body):
    return await api.client.post(f"/v1/media/{media_id}/crop", json=body, headers=api.auth)


async def _pixels(api, url: str) -> Image.Image:
    got = await api.client.get(url.split("://", 1)[-1].partition("/")[2].join(["/", ""]))
    assert got.status == 200
    return Image.open(io.BytesIO(await got.read()))


@pytest.mark.parametrize(
    ("frame", "box", "size"),
    [
        # 320×264 dp: a tall standalone card; the box is 660×545 of the 1200×800 image
        ({"height": "TALL_HEIGHT"}, (100, 50, 660, 545), (660, 545)),
        ({"height": "SHORT_HEIGHT"}, (0, 0, 1200, 420), (1200, 420)),  # 320:112
        ({"height": "MEDIUM_HEIGHT", "cardWidth": "SMALL_WIDTH"}, (0, 0, 300, 280), (300, 280)),  # 180:168
        ({"height": "TALL_HEIGHT", "cardOrientation": "HORIZONTAL"}, (0, 0, 388, 800), (388, 800)),  # 128:264
    ],
)
async def test_a_crop_is_a_new_image_of_the_box_and_the_source_is_kept(api, frame, box, size):
    source = await _image(api)
    body = {
        "x": box[0],
        "y": box[1],
        "width": box[2],
        "height": box[3],
        "focus": {"x": 0.25, "y": 0.75},
        "frame": frame,
    }
    resp = await _crop(api, source["id"], body)
    assert resp.status == 201, await resp.text()
    cropped = await resp.json()
    assert cropped["id"] != source["id"] and cropped["source_id"] == source["id"]
    assert (cropped["width"], cropped["height"]) == size
    assert cropped["focus"] == {"x": 0.25, "y": 0.75} and cropped["kind"] == "image"
    assert resp.headers["Location"] == cropped["url"]
    im = await _pixels(api, cropped["url"])
    assert im.size == size
    # photo(): the left half of the source is red, the right half white; the crop shows which.
    left_red = box[0] < 600
    assert (im.convert("RGB").getpixel((2, 2))[1] < 100) == left_red
    thumb = await _pixels(api, cropped["thumbnail_url"])
    assert max(thumb.size) == 400 or thumb.size == size
    assert (await (await api.get(f"/v1/media/{source['id']}")).json()) == source  # unchanged, still there


async def test_the_same_crop_again_is_the_same_item_with_the_latest_focal_point(api):
    source = await _image(api)
    body = {"x": 0, "y": 0, "width": 640, "height": 528, "frame": {"height": "TALL_HEIGHT"}}
    first = await (await _crop(api, source["id"], body)).json()
    assert first["focus"] == {"x": 0.5, "y": 0.5}  # the middle when none is chosen
    again = await (await _crop(api, source["id"], {**body, "focus": {"x": 0.1, "y": 0.9}})).json()
    assert again["id"] == first["id"] and again["focus"] == {"x": 0.1, "y": 0.9}


async def test_a_transparent_png_stays_a_png_when_cropped(api):
    source = await (await upload(api, encode(with_alpha(), "PNG"))).json()
    resp = await _crop(api, source["id"], {"x": 0, "y": 0, "width": 32, "height": 32})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["content_type"] == "image/png"


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"x": -1, "y": 0, "width": 100, "height": 100}, "/x", "crop_outside"),
        ({"x": 0, "y": 0, "width": 1300, "height": 100}, "/width", "crop_outside"),
        ({"x": 0, "y": 700, "width": 100, "height": 101}, "/height", "crop_outside"),
        ({"x": 0, "y": 0, "width": 8, "height": 100}, "/width", "crop_too_small"),
        ({"x": "0", "y": 0, "width": 100, "height": 100}, "/x", "not_integer"),
        ({"x": 0, "y": 0, "width": 100.5, "height": 100}, "/width", "not_integer"),
        ({"x": 0, "y": 0, "width": 800, "height": 800, "frame": {"height": "TALL_HEIGHT"}}, "/height", "crop_aspect"),
        ({"x": 0, "y": 0, "width": 100, "height": 100, "frame": {"height": "HUGE"}}, "/frame/height", "not_one_of"),
        (
            {
                "x": 0,
                "y": 0,
                "width": 100,
                "height": 100,
                "frame": {"height": "TALL_HEIGHT", "cardWidth": "SMALL_WIDTH"},
            },
            "/frame/height",
            "height_small_width",
        ),
        ({"x": 0, "y": 0, "width": 100, "height": 100, "focus": {"x": 1.5, "y": 0}}, "/focus/x", "crop_focus_range"),
    ],
)
async def test_a_bad_box_is_a_problem_naming_the_field(api, body, path, code):
    source = await _image(api)
    resp = await _crop(api, source["id"], body)
    assert resp.status == 422 and resp.content_type == PROBLEM
    errors = (await resp.json(content_type=PROBLEM))["errors"]
    assert [(e["path"], e["code"]) for e in errors] == [(path, code)]
    assert len((await (await api.get("/v1/media")).json())["data"]) == 1  # nothing stored


async def test_crop_aspect_names_the_ratio_wanted(api):
    source = await _image(api)
    resp = await _crop(
        api, source["id"], {"x": 0, "y": 0, "width": 800, "height": 800, "frame": {"height": "SHORT_HEIGHT"}}
    )
    (error,) = (await resp.json(content_type=PROBLEM))["errors"]
    assert error["params"] == {"expected": round(Frame("SHORT_HEIGHT").aspect, 3), "actual": 1.0}


async def test_only_the_tenants_own_images_can_be_cropped(api):
    source = await _image(api)
    other = await api.new_tenant()
    resp = await other.client.post(
        f"/v1/media/{source['id']}/crop", json={"x": 0, "y": 0, "width": 100, "height": 100}, headers=other.auth
    )
    assert resp.status == 404
    clip = await (await upload(api, video())).json()
    resp = await _crop(api, clip["id"], {"x": 0, "y": 0, "width": 32, "height": 32})
    errors = (await resp.json(content_type=PROBLEM))["errors"]
    assert resp.status == 422 and [e["code"] for e in errors] == ["crop_not_image"]


async def test_a_video_upload_gets_a_poster_frame_about_a_second_in(api):
    raw = video(seconds=2.0, metadata={"title": "secret-title", "location": "+39.9+116.3/"})
    resp = await upload(api, raw, filename="clip.mp4")
    assert resp.status == 201, await resp.text()
    item = await resp.json()
    assert (item["kind"], item["content_type"], item["width"], item["height"]) == ("video", "video/mp4", 64, 48)
    assert item["duration_ms"] == 2000
    body = await (await api.client.get(f"/media/{item['id']}")).read()
    assert len(body) == item["file_size"] and b"secret-title" not in body and b"+39.9" not in body
    poster = (await _pixels(api, item["thumbnail_url"])).convert("RGB")
    assert item["thumbnail_content_type"] == "image/jpeg" and poster.size == (64, 48)
    r, _g, b = poster.getpixel((32, 24))
    assert b > 150 and r < 80  # the blue frames start at 1 s; the red first frame is not the poster


@pytest.mark.parametrize(("fmt", "ctype"), [("mp3", "audio/mpeg"), ("mp4", "audio/mp4")])
async def test_an_audio_upload_gets_a_drawn_waveform_poster(api, fmt, ctype):
    resp = await upload(api, audio(fmt=fmt), filename=f"voice.{fmt}")
    assert resp.status == 201, await resp.text()
    item = await resp.json()
    assert (item["kind"], item["content_type"], item["width"], item["height"]) == ("audio", ctype, 0, 0)
    assert 900 <= item["duration_ms"] <= 1200
    poster = (await _pixels(api, item["thumbnail_url"])).convert("RGB")
    assert poster.size == (400, 225)
    # the tone grows louder: bars on the right are taller than on the left
    dark = [any(poster.getpixel((x, 112 - 50))[0] < 150 for x in range(a, a + 20)) for a in (45, 330)]
    assert dark == [False, True]


async def test_clips_over_the_cn_limits_are_refused_with_codes(api):
    resp = await upload(api, video(seconds=61, size=(16, 16), rate=1))
    errors = (await resp.json(content_type=PROBLEM))["errors"]
    assert resp.status == 422
    assert [(e["path"], e["code"], e["params"]["limit"]) for e in errors] == [("/file", "clip_too_long", 60)]
    resp = await upload(api, b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200)
    assert resp.status == 422
    assert [e["code"] for e in (await resp.json(content_type=PROBLEM))["errors"]] == ["clip_damaged"]


async def test_clip_answers_match_the_openapi_schema(api):
    import jsonschema

    doc = await (await api.client.get("/openapi.json")).json()
    schema = {**doc["components"]["schemas"]["Media"], "components": doc["components"]}
    jsonschema.validate(await (await upload(api, video())).json(), schema)
    source = await _image(api)
    jsonschema.validate(
        await (await _crop(api, source["id"], {"x": 0, "y": 0, "width": 64, "height": 64})).json(), schema
    )


async def test_a_clip_whose_header_understates_its_length_is_still_too_long(api):
    resp = await upload(api, understated(video(seconds=62, size=(16, 16), rate=1)))
    errors = (await resp.json(content_type=PROBLEM))["errors"]
    assert resp.status == 422 and [(e["code"], e["params"]["limit"]) for e in errors] == [("clip_too_long", 60)]


async def test_the_png_preview_draws_the_cropped_image(api):
    # photo(): red left half, white right half; the crop keeps only the white.
    source = await _image(api)
    body = {"x": 640, "y": 0, "width": 560, "height": 462, "frame": {"height": "TALL_HEIGHT"}}
    cropped = await (await _crop(api, source["id"], body)).json()
    media = {
        "mediaUrl": cropped["url"],
        "mediaContentType": cropped["content_type"],
        "mediaFileSize": cropped["file_size"],
        "height": "TALL_HEIGHT",
    }
    card = {
        "message": {
            "generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": {"title": "T", "media": media}}
        }
    }
    shots = []
    for url in (source["url"], cropped["url"]):
        media["mediaUrl"] = url
        resp = await api.post("/v1/cards/render?format=png", {"card": card})
        assert resp.status == 200
        shots.append(Image.open(io.BytesIO(await resp.read())).convert("RGB"))
    original, after = (s.getpixel((s.width // 6, s.height // 5)) for s in shots)
    assert original[0] > 150 and original[1] < 80  # the source's red half
    assert min(after) > 200  # the crop is all white


def test_the_editor_draws_the_frames_the_server_checks():
    """js/crop.js keeps its own copy of the media-area sizes: it must be this one."""
    import re
    from pathlib import Path

    from cards.media import frames

    js = (Path(__file__).parents[2] / "editor" / "static" / "js" / "crop.js").read_text()

    def table(name: str) -> dict:
        body = re.search(rf"const {name} = \{{([^}}]*)\}}", js)
        assert body, name
        return {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", body.group(1))}

    assert table("HEIGHTS_DP") == frames.HEIGHTS_DP
    assert table("WIDTHS_DP") == {
        "VERTICAL": frames.STANDALONE_DP,
        "HORIZONTAL": round(frames.STANDALONE_DP * frames.HORIZONTAL_SHARE),
        **frames.CARD_WIDTHS_DP,
    }
    assert "SAFE_WIDTH = 272 / 320" in js and frames.SAFE_WIDTH == 272 / 320
