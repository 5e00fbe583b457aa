"""What CnCspMaap puts on the wire, request by request, against the CSP interface V1.0.4's own
examples (tests/rcs/golden/requests): the client runs against a tiny aiohttp server on
loopback that records each request as it arrived (method, raw path, the headers that matter,
the body), and the recording must equal the golden byte for byte once both are serialised
canonically.

A golden file holds one request: `section` names the example in the interface, `source` says
whether it is the interface's example or built from its field tables, `changes` lists every
way the golden departs from the example and why; `request` is the request.

The client is driven with the examples' own values (serverRoot example.com/exampleAPI, chatbot
sip:106500@botplatform.rcs.domain.cn, appId/appKey, the token TXlw…, messageId cb1188a3…,
conversation and contribution ids), so the only normalising is of what the examples cannot pin:
the date header (checked to be an RFC 7231 GMT date, then replaced by the example's) and the
multipart boundary (replaced by the example's).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from aiohttp import BodyPartReader, web

from rcs.maap import OutboundMessage, card_parts, file_parts, location_parts, text_parts
from rcs.operators import CnCspMaap, CnCspSettings
from rcs.results import MediaFile

GOLDEN = Path(__file__).parent / "golden" / "requests"
SPEC_DATE = "Tue, 15 Nov 2019 08:12:31 GMT"
SPEC_TOKEN = "TXlwdndOZG0yWTpjUml0dHMzM1dKRnBXRUdD"
SPEC_BOUNDARY = "TGvFHJKLZeghjkk"
CHATBOT = "sip:106500@botplatform.rcs.domain.cn"
MESSAGE_ID = "cb1188a3-37ec-1037-9054-2dc66e44375b"
TO = "+8617928222350"
CONVERSATION, CONTRIBUTION = "XSFDSFDFSAFDSAS^%", "SFF$#REGFY7&^%THT"
HEADERS = ("accept", "authorization", "content-type", "date", "uploadmode", "url")
GMT_DATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT"
)
MEDIA_URL = "http://124.127.121.100/temp/src/2020062217asdfkjaoskd/836ee/view/37,3c3504f6e4cc6c5274f0.mp4"


def golden(name: str) -> dict:
    return orjson.loads((GOLDEN / f"{name}.json").read_bytes())


def canonical(request: dict) -> bytes:
    return orjson.dumps(request, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


async def recorded_request(request: web.Request) -> dict:
    """A request as it arrived, normalised where the examples cannot pin it."""
    headers = {name: request.headers[name] for name in HEADERS if name in request.headers}
    assert GMT_DATE.fullmatch(headers.get("date", "")), headers.get("date")
    headers["date"] = SPEC_DATE
    out: dict = {"method": request.method, "path": request.raw_path, "headers": headers}
    if request.content_type == "multipart/form-data":
        boundary = headers["content-type"].split("boundary=", 1)[1]
        headers["content-type"] = headers["content-type"].replace(boundary, SPEC_BOUNDARY)
        parts = []
        async for part in await request.multipart():
            assert isinstance(part, BodyPartReader)
            data = bytes(await part.read(decode=False))
            parts.append(
                {
                    "name": part.name,
                    "filename": part.filename,
                    "content-type": part.headers.get("Content-Type"),
                    "data": data.decode(),
                }
            )
        out["body"] = {"multipart": parts}
    else:
        raw = await request.read()
        if raw:
            assert request.content_type == "application/json"
            out["body"] = orjson.loads(raw)
    return out


@pytest.fixture
async def recorder(aiohttp_server):
    """A MaaP that records every request and answers each the interface's success example."""
    seen: list[dict] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(await recorded_request(request))
        path = request.path
        if path.endswith("/accessToken"):
            return web.json_response({"accessToken": SPEC_TOKEN, "expires": 7200, "errorCode": 0, "url": "x"})
        if path.endswith("/medias/upload"):
            names = [p["filename"] for p in seen[-1]["body"]["multipart"]]
            infos = [{"url": f"http://x/{n}", "fileName": n, "contentType": "image/jpeg", "fileSize": 1} for n in names]
            return web.json_response({"fileInfo": infos, "errorCode": 0})
        if path.endswith("/medias/download"):
            return web.Response(body=b"file", content_type="video/mp4")
        if path.endswith("/find/chatBotInfo"):
            return web.json_response({"accessNo": "106500", "domain": "botplatform.rcs.domain.cn", "menu": {}})
        return web.json_response({"errorCode": 0, "errorMessage": "success"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = await aiohttp_server(app)
    settings = CnCspSettings(f"127.0.0.1:{server.port}/exampleAPI", CHATBOT, "xxxxxxxx", "xxxxxxx", scheme="http")
    maap = CnCspMaap(settings)
    yield maap, seen
    await maap.close()


def message(parts, traffic_type=None) -> OutboundMessage:
    return OutboundMessage(MESSAGE_ID, TO, parts, CONVERSATION, CONTRIBUTION, traffic_type=traffic_type)


def _content(name: str, index: int):
    """A part's contentText of a golden: cards and chip lists are opaque to the client (it
    frames them, never changes them), so they are taken from the golden."""
    return golden(name)["request"]["body"]["messageList"][index]["contentText"]


async def send_card_chips(maap: CnCspMaap):
    card, chips = _content("send_card_chips", 0), _content("send_card_chips", 1)["suggestions"]
    return await maap.send(message(card_parts(card, chips), "advertisement"))


async def send_carousel_chips(maap: CnCspMaap):
    card, chips = _content("send_carousel_chips", 0), _content("send_carousel_chips", 1)["suggestions"]
    # the inner form of a bot message is accepted too
    return await maap.send(message(card_parts(card["message"], chips), "advertisement"))


async def send_text_chips(maap: CnCspMaap):
    return await maap.send(message(text_parts("hello world", _content("send_text_chips", 1)["suggestions"])))


async def send_file(maap: CnCspMaap):
    until = "2019-04-25T12:17:07Z"
    thumb = MediaFile("http://xxxxx74f0.jpg", "image/jpg", 7427, until)
    file = MediaFile("http://xxxxxx6c5274f0.jpg", "image/jpg", 183524, until, file_name="DSC_379395051.JPG")
    return await maap.send(message(file_parts(file, thumb)))


async def send_location(maap: CnCspMaap):
    label = "Qingfeng Steamed Dumpling Shop 🍚"
    return await maap.send(message(location_parts(50.7311865, 7.0914591, label)))


MENU = {
    "entries": [
        {"reply": {"displayText": "reply1", "postback": {"data": "set_by_chatbot_reply1"}}},
        {
            "menu": {
                "displayText": "SubmenuL1",
                "entries": [
                    {"reply": {"displayText": "reply2", "postback": {"data": "set_by_chatbot_reply2"}}},
                    {
                        "action": {
                            "dialerAction": {"dialPhoneNumber": {"phoneNumber": "+8617928222350"}},
                            "displayText": "Call a phone number",
                            "postback": {"data": "set_by_chatbot_dial_menu_phone_number"},
                        }
                    },
                ],
            }
        },
    ]
}
OPTIONALS = {
    "callBackNumber": "12345678912",
    "themeColour": "#000000",
    "serviceWebsite": "https://xxx.com",
    "emailAddress": "example@test.com",
    "backgroundImage": "https://xxxx/xx.png",
}

CASES: dict[str, Callable[[CnCspMaap], Awaitable]] = {
    "token": lambda m: m.tokens.get(),
    "send_card_chips": send_card_chips,
    "send_carousel_chips": send_carousel_chips,
    "send_text_chips": send_text_chips,
    "send_file": send_file,
    "send_location": send_location,
    "revoke": lambda m: m.revoke(MESSAGE_ID, TO),
    "upload_temp": lambda m: m.upload_media(b"<AA.jpg>", "image/jpeg", "AA.jpg"),
    "upload_perm": lambda m: m.upload_media(
        b"<clip.mp4>", "video/mp4", "clip.mp4", thumbnail=(b"<thumb.jpg>", "image/jpeg", "thumb.jpg"), temporary=False
    ),
    "download": lambda m: m.download_media(MEDIA_URL),
    "delete": lambda m: m.delete_media(MEDIA_URL),
    "chatbot_info": lambda m: m.chatbot_info(),
    "update_optionals": lambda m: m.update_chatbot_optionals(OPTIONALS),
    "update_menu": lambda m: m.update_menu(MENU),
}


def test_every_golden_has_a_case():
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_request_matches_the_interface_example(recorder, name):
    maap, seen = recorder
    answer = await CASES[name](maap)
    if hasattr(answer, "accepted"):
        assert answer.accepted, answer
    wanted = [r for r in seen if r["path"].endswith("/accessToken") == (name == "token")]
    assert len(wanted) == 1, [r["path"] for r in seen]
    expected = golden(name)["request"]
    assert canonical(wanted[0]) == canonical(expected), name
    if name != "token":  # every other request came after exactly one token request
        assert [r["path"].rsplit("/", 1)[-1] for r in seen][0] == "accessToken" and len(seen) == 2


async def test_the_chatbot_id_stays_percent_encoded_on_the_wire(recorder):
    maap, seen = recorder
    await maap.send(message(text_parts("hi")))
    assert {r["path"].split("/")[4] for r in seen} == {"sip%3A106500%40botplatform.rcs.domain.cn"}


async def test_download_answers_the_file(recorder):
    maap, _ = recorder
    media = await maap.download_media(MEDIA_URL)
    assert (media.data, media.content_type) == (b"file", "video/mp4")


async def test_upload_answers_match_the_files_by_name(recorder):
    maap, _ = recorder
    media = await maap.upload_media(
        b"<clip.mp4>", "video/mp4", "clip.mp4", thumbnail=(b"<thumb.jpg>", "image/jpeg", "thumb.jpg")
    )
    assert (media.url, media.thumbnail_url, media.file_name) == ("http://x/clip.mp4", "http://x/thumb.jpg", "clip.mp4")
