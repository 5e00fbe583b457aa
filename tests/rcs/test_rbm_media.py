"""Google RBM media (rcs.operators.rbm `upload_media`, the translator's `uploadedRbmFile`,
rcs.rbm_simulator files.create): the upload on the wire, the card that names it, and the
simulator's strictness.

Sources: Google's RBM REST reference — `files.create` ("To upload a file binary, make an HTTP POST
request to the Upload URI, omit the fileUrl field from the JSON request body…"; upload URI
`POST https://rcsbusinessmessaging.googleapis.com/upload/v1/files`; request body
`{fileUrl, thumbnailUrl, contentDescription, agentId}` with agentId required; answer
`{"name": "files/{uid}"}`; images jpeg/jpg/gif/png, video h263/m4v/mp4/mpeg/mpeg4/webm, audio,
pdf) and `UploadedRbmFile {fileName, thumbnailName}` in a rich card's media and a content
message. With the binary as the body, the request's agentId goes in the query (the URL's gRPC
transcoding; the RBM guides' cURL upload: `…/upload/v1/files?agentId=AGENT_ID`, `Content-Type`
the media's, `--upload-file`). The simulator also takes Google's `uploadType=multipart`
(`multipart/related`: JSON metadata, then the media), as API client libraries send it.
"""

from __future__ import annotations

import orjson
import pytest
from aiohttp import web

from rcs.maap import ChannelError, OutboundMessage, card_parts
from rcs.operators.rbm import DEFAULT_FILES_ROOT, RbmChannel, agent_message
from rcs.rbm_simulator import MAX_THUMBNAIL_BYTES, RbmSimulator, new_service_account
from rcs.results import Outcome
from rcs.simulator import SimulatorTiming
from tests.conftest import card

AGENT = "test_agent_01"
PNG, JPG = b"\x89PNG\r\n\x1a\n" + b"p" * 64, b"\xff\xd8\xff" + b"j" * 32


def _media_card(url: str, thumbnail: str | None = None) -> dict:
    doc = card()
    media = {"mediaUrl": url, "mediaContentType": "image/png", "mediaFileSize": len(PNG), "height": "TALL_HEIGHT"}
    if thumbnail:
        media |= {"thumbnailUrl": thumbnail, "thumbnailContentType": "image/jpeg", "thumbnailFileSize": len(JPG)}
    doc["message"]["generalPurposeCard"]["content"]["media"] = media
    return doc


def _message(mid: str, doc: dict, to: str = "+8613800138001") -> OutboundMessage:
    return OutboundMessage(mid, to, card_parts(doc), "conv", mid)


def test_an_uploaded_file_is_named_by_uploaded_rbm_file_and_a_url_by_content_info():
    sent = agent_message(_message("m", _media_card(DEFAULT_FILES_ROOT + "abc", DEFAULT_FILES_ROOT + "t1")))
    media = sent["contentMessage"]["richCard"]["standaloneCard"]["cardContent"]["media"]
    assert media == {"height": "TALL", "uploadedRbmFile": {"fileName": "files/abc", "thumbnailName": "files/t1"}}
    public = agent_message(_message("m", _media_card("https://cdn.example/a.png")))
    media = public["contentMessage"]["richCard"]["standaloneCard"]["cardContent"]["media"]
    assert media["contentInfo"]["fileUrl"] == "https://cdn.example/a.png"


@pytest.fixture
async def recorder(aiohttp_server):
    seen: list[dict] = []

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "ya29.recorded", "expires_in": 3600, "token_type": "Bearer"})

    async def upload(request: web.Request) -> web.Response:
        seen.append({"path": request.path_qs, "headers": dict(request.headers), "body": await request.read()})
        return web.json_response({"name": f"files/f{len(seen)}"})

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_post("/upload/v1/files", upload)
    server = await aiohttp_server(app)
    root = f"127.0.0.1:{server.port}"
    account, _ = new_service_account("agent@hongyan-sandbox.iam.gserviceaccount.com", f"http://{root}/token")
    config = {"server_root": root, "scheme": "http", "agent_id": AGENT, "app_key": orjson.dumps(account).decode()}
    channel = RbmChannel.from_config(config)
    yield channel, seen, root
    await channel.close()


async def test_upload_on_the_wire(recorder):
    channel, seen, root = recorder
    got = await channel.upload_media(PNG, "image/png", "a.png", thumbnail=(JPG, "image/jpeg", "t.jpg"))
    thumb, main = seen
    for sent, (ctype, data) in ((thumb, ("image/jpeg", JPG)), (main, ("image/png", PNG))):
        assert sent["path"] == f"/upload/v1/files?agentId={AGENT}"  # no fileUrl: the binary is the body
        assert sent["headers"]["Authorization"] == "Bearer ya29.recorded"
        assert (sent["headers"]["Content-Type"], sent["body"]) == (ctype, data)
    assert (got.url, got.thumbnail_url) == (f"http://{root}/v1/files/f2", f"http://{root}/v1/files/f1")
    assert got.until  # RBM keeps it for a while: the platform uploads again before it goes


@pytest.fixture
async def sim():
    simulator = RbmSimulator(timing=SimulatorTiming(delivery_delay_s=0.05, display_delay_s=0.05))
    await simulator.start()
    yield simulator
    await simulator.stop()


def _channel(sim, agent: str = AGENT) -> RbmChannel:
    account = sim.add_agent(agent, client_token="t")
    config = {"server_root": sim.root, "scheme": "http", "agent_id": agent, "app_key": orjson.dumps(account).decode()}
    return RbmChannel.from_config(config)


async def test_simulator_sends_a_card_naming_its_upload_and_refuses_unknown_files(sim):
    channel = _channel(sim)
    uploaded = await channel.upload_media(PNG, "image/png", "a.png", thumbnail=(JPG, "image/jpeg", "t.jpg"))
    assert len(sim.files) == 2
    assert (await channel.send(_message("m1", _media_card(uploaded.url, uploaded.thumbnail_url)))).accepted
    body = sim.messages[(AGENT, "m1")].body
    assert "uploadedRbmFile" in body["contentMessage"]["richCard"]["standaloneCard"]["cardContent"]["media"]
    base = uploaded.url.rsplit("/", 1)[0]
    unknown = await channel.send(_message("m2", _media_card(f"{base}/nope")))
    assert (unknown.outcome, unknown.http_status) == (Outcome.INVALID, 400) and "fileName" in unknown.detail
    other = _channel(sim, "other_agent")  # another agent's upload is not this one's
    refused = await other.send(_message("m3", _media_card(uploaded.url)))
    assert refused.outcome is Outcome.INVALID
    await channel.close()
    await other.close()


async def test_simulator_upload_is_strict(sim):
    channel = _channel(sim)
    with pytest.raises(ChannelError) as err:
        await channel.upload_media(b"zip", "application/zip", "a.zip")
    assert err.value.http_status == 400
    big_thumb = await channel.upload_media(
        PNG, "image/png", "a.png", thumbnail=(b"j" * (MAX_THUMBNAIL_BYTES + 1), "image/jpeg", "t.jpg")
    )
    refused = await channel.send(_message("m1", _media_card(big_thumb.url, big_thumb.thumbnail_url)))
    assert refused.outcome is Outcome.INVALID and "thumbnail" in refused.detail
    session = channel._http()
    token = await channel.tokens.get()
    url = f"http://{sim.root}/upload/v1/files?uploadType=multipart"
    for metadata, status in (
        ({"agentId": AGENT, "fileUrl": "https://x.example/a.png"}, 400),
        ({"agentId": "nobody"}, 403),
    ):
        boundary = "b1"
        body = (
            (
                f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{orjson.dumps(metadata).decode()}\r\n"
                f"--{boundary}\r\nContent-Type: image/png\r\n\r\n"
            ).encode()
            + PNG
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/related; boundary={boundary}"}
        async with session.post(url, data=body, headers=headers) as resp:
            assert resp.status == status, await resp.text()
    await channel.close()
