"""China Mobile media upload (rcs.operators.cm_netapi `upload_media`, rcs.cm_simulator `/Content`):
the request on the wire, the published answer read, and the simulator's strictness.

Sources (public China Mobile integrators' code on GitHub; the interface document is not public):
- the request: integrators' upload clients POST `multipart/form-data` to `{fileserverroot}/Content`
  (e.g. `…/mbmp/fileservice/accesslayer/Content`, a Fujian/Beijing Mobile test client) with form
  parts `Thumbnail` (optional, first) and `File` and headers `Authorization` (the interface's
  Basic digest), `Date`, `X-3GPP-Intended-Identity` (the chatbot URI), `User-Agent`,
  `Terminal-type: Chatbot` and `tid` (a UUID) — an okhttp upload client and the same test
  clients' delete (`DELETE …/Content` with `tid`);
- the answer: the GSMA file-transfer document a Fujian Mobile test client (TestFjydtH5.java)
  reads the card's media from (`file-info type="thumbnail"` / `type="file"` with file-size,
  file-name, content-type and `data url … until …`).
Where they are silent (`User-Agent` value: `SP/{chatbotURI}` as the delete and download clients
send it; no temporary/permanent choice) the client follows the CN CSP upload shape.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from rcs.maap import ChannelError, OutboundMessage, card_parts
from rcs.operators.cm_netapi import CmNetApiMaap, CmNetApiSettings, parse_file_document
from tests.conftest import card
from tests.rcs.conftest import cm_client

CHATBOT = "sip:12520020000120@botplatform.rcs.chinamobile.com"
NOW = datetime(2020, 7, 6, 11, 28, 53, tzinfo=UTC)
DATE = "Mon, 06 Jul 2020 11:28:53 GMT"
TID = "4c6f2d7e9a1b4f0c8d3e5a7b9c1d2e3f"
PNG, JPG = b"\x89PNG\r\n\x1a\n" + b"p" * 64, b"\xff\xd8\xff" + b"j" * 32

# The answer TestFjydtH5.java builds its cards from (one thumbnail, one file).
PUBLISHED_ANSWER = b"""<?xml version="1.0" encoding="UTF-8"?>
<file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp" xmlns:e="urn:gsma:params:xml:ns:rcs:rcs:up:fthttpext">
    <file-info type="thumbnail">
        <file-size>9216</file-size>
        <content-type>image/jpg</content-type>
        <data url="https://ft101.sh.5gm.wo.cn:10099/s/01181409311101410110100018TD" until="2021-01-21T14:09:31Z"/>
    </file-info>
    <file-info type="file">
        <file-size>171008</file-size>
        <file-name>car.png</file-name>
        <content-type>image/png</content-type>
        <data url="https://ft101.sh.5gm.wo.cn:10099/s/01181409311101410110100018FD.png" until="2021-01-21T14:09:31Z"/>
        <file-exist>1</file-exist>
        <e:branded-url>https://1/s/W4eRJfAABqQ.png</e:branded-url>
    </file-info>
</file>"""


@pytest.fixture
async def recorder(aiohttp_server):
    seen: list[dict] = []

    async def record(request: web.Request) -> web.Response:
        parts = []
        async for part in await request.multipart():
            parts.append((part.name, part.filename, part.headers.get("Content-Type"), bytes(await part.read())))
        seen.append(
            {"method": request.method, "path": request.raw_path, "headers": dict(request.headers), "parts": parts}
        )
        return web.Response(body=PUBLISHED_ANSWER, content_type="application/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server = await aiohttp_server(app)
    settings = CmNetApiSettings(
        f"127.0.0.1:{server.port}/developer/accesslayer",
        CHATBOT,
        "iap_12520020000120",
        "tok-1",
        scheme="http",
        file_server_root=f"127.0.0.1:{server.port}/fileservice/accesslayer",
    )
    client = CmNetApiMaap(settings, clock=lambda: NOW.timestamp(), new_tid=lambda: TID)
    yield client, seen
    await client.close()


async def test_upload_on_the_wire_and_the_published_answer(recorder):
    client, seen = recorder
    got = await client.upload_media(PNG, "image/png", "car.png", thumbnail=(JPG, "image/jpeg", "car-t.jpg"))
    (sent,) = seen
    token = hashlib.sha256(b"tok-1").hexdigest()
    digest = hashlib.sha256(f"{token}{DATE}".encode()).hexdigest()
    assert (sent["method"], sent["path"]) == ("POST", "/fileservice/accesslayer/Content")
    assert sent["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert {
        "Authorization": "Basic " + base64.b64encode(f"iap_12520020000120:{digest}".encode()).decode(),
        "Date": DATE,
        "X-3GPP-Intended-Identity": CHATBOT,
        "User-Agent": f"SP/{CHATBOT}",
        "Terminal-type": "Chatbot",
        "tid": TID,
    }.items() <= sent["headers"].items()
    assert sent["parts"] == [
        ("Thumbnail", "car-t.jpg", "image/jpeg", JPG),
        ("File", "car.png", "image/png", PNG),
    ]
    assert (got.url, got.thumbnail_url, got.until, got.file_size, got.file_name) == (
        "https://ft101.sh.5gm.wo.cn:10099/s/01181409311101410110100018FD.png",
        "https://ft101.sh.5gm.wo.cn:10099/s/01181409311101410110100018TD",
        "2021-01-21T14:09:31Z",
        171008,
        "car.png",
    )


def test_the_answer_is_read_safely():
    assert parse_file_document(PUBLISHED_ANSWER)["thumbnail"]["content-type"] == "image/jpg"
    for raw in (b"<x/>", b"not xml", b'<!DOCTYPE f [<!ENTITY a "a">]><file>&a;</file>'):
        with pytest.raises(ValueError):
            parse_file_document(raw)


def _media_card(url: str) -> dict:
    doc = card()
    doc["message"]["generalPurposeCard"]["content"]["media"] = {
        "mediaUrl": url,
        "mediaContentType": "image/png",
        "mediaFileSize": len(PNG),
        "height": "MEDIUM_HEIGHT",
    }
    return doc


async def test_simulator_serves_the_upload_and_sends_only_cards_naming_its_files(cm_sim):
    client = cm_client(cm_sim)
    uploaded = await client.upload_media(PNG, "image/png", "a.png", thumbnail=(JPG, "image/jpeg", "t.jpg"))
    session = client._http()
    async with session.get(uploaded.url) as resp:
        assert (resp.status, await resp.read(), resp.content_type) == (200, PNG, "image/png")
    assert uploaded.thumbnail_url in cm_sim.files and uploaded.until
    ok = OutboundMessage("m1", "+8613800138001", card_parts(_media_card(uploaded.url)), "c", "c")
    assert (await client.send(ok)).accepted
    unknown = OutboundMessage("m2", "+8613800138001", card_parts(_media_card("https://cdn.example/a.png")), "c", "c")
    refused = await client.send(unknown)
    assert (refused.accepted, refused.http_status) == (False, 400) and "mediaUrl" in refused.detail
    assert set(cm_sim.messages) == {"m1"}
    await client.close()


@pytest.mark.parametrize(
    ("case", "settings", "parts", "status"),
    [
        ("wrong-token", {"app_key": "nope"}, [("File", PNG, "image/png")], 401),
        ("no-file", {}, [("Thumbnail", JPG, "image/jpeg")], 400),
        ("type", {}, [("File", b"x", "application/zip")], 415),
        ("image-over-2MB", {}, [("File", b"p" * (2 * 1024 * 1024 + 1), "image/png")], 413),
        (
            "thumbnail-over-200KB",
            {},
            [("Thumbnail", b"j" * (200 * 1024 + 1), "image/jpeg"), ("File", PNG, "image/png")],
            413,
        ),
        ("thumbnail-not-image", {}, [("Thumbnail", b"v", "video/mp4"), ("File", PNG, "image/png")], 415),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_simulator_upload_is_strict(cm_sim, case, settings, parts, status):
    client = cm_client(cm_sim, **settings)
    thumb = next(((d, t, "t.jpg") for n, d, t in parts if n == "Thumbnail"), None)
    main = next(((d, t) for n, d, t in parts if n == "File"), None)
    if main is None:  # no File part: the form by hand
        form = aiohttp.FormData()
        form.add_field("Thumbnail", JPG, content_type="image/jpeg", filename="t.jpg")
        headers = {k: v for k, v in client.headers(CHATBOT).items() if k in ("Authorization", "Date")}
        headers |= {"X-3GPP-Intended-Identity": CHATBOT, "Terminal-type": "Chatbot", "tid": "t1"}
        async with client._http().post(client.settings.content_url, data=form, headers=headers) as resp:
            assert resp.status == status
    else:
        with pytest.raises(ChannelError) as err:
            await client.upload_media(main[0], main[1], "f", thumbnail=thumb)
        assert err.value.http_status == status
    await client.close()
    assert not cm_sim.files and cm_sim.refusals
