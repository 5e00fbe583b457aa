"""The sandbox MaaP is as strict as the CSP interface V1.0.4: it takes every golden request
(tests/rcs/golden/requests, built from the interface's own examples) and refuses, with the
interface's error codes, each wrong form our client and simulator once agreed on.

Requests are replayed over real sockets exactly as the goldens hold them (raw path, headers,
body); only what the simulator must have issued is swapped in: the access token it answered
and the media URLs of its own uploads.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from yarl import URL

from rcs.simulator import MaapSimulator, SimulatorTiming, media_urls

GOLDEN = Path(__file__).parent / "golden" / "requests"
CHATBOT = "sip:106500@botplatform.rcs.domain.cn"
ENCODED = "sip%3A106500%40botplatform.rcs.domain.cn"
FAST = SimulatorTiming(delivery_delay_s=0.01, display_delay_s=0.01, revoke_delay_s=0.01)
CARD_TYPE = "application/vnd.gsma.botmessage.v1.0+json"
SPEC_AUTHORIZATION = "accessToken TXlwdndOZG0yWTpjUml0dHMzM1dKRnBXRUdD"


def golden(name: str) -> dict:
    return orjson.loads((GOLDEN / f"{name}.json").read_bytes())["request"]


class Replayer:
    """Sends golden requests to the simulator as they are, token and media URLs swapped in."""

    def __init__(self, sim: MaapSimulator, session: aiohttp.ClientSession):
        self.sim, self.session = sim, session
        self.token: str | None = None

    async def call(self, request: dict, *, path: str | None = None) -> tuple[int, Any]:
        headers = dict(request["headers"])
        if headers.get("authorization") == SPEC_AUTHORIZATION:  # the example's token: ours instead
            headers["authorization"] = f"accessToken {self.token}"
        body = request.get("body")
        data: Any = None
        if isinstance(body, dict) and "multipart" in body:
            headers.pop("content-type")  # aiohttp writes its own boundary
            data = aiohttp.FormData()
            for part in body["multipart"]:
                data.add_field(
                    part["name"], part["data"].encode(), content_type=part["content-type"], filename=part["filename"]
                )
        elif body is not None:
            data = orjson.dumps(body)
        url = URL(self.sim.url + (path or request["path"]), encoded=True)
        async with self.session.request(request["method"], url, data=data, headers=headers) as resp:
            raw = await resp.read()
            if resp.content_type == "application/json":
                return resp.status, orjson.loads(raw)
            return resp.status, raw

    async def login(self) -> None:
        status, answer = await self.call(golden("token"))
        assert (status, answer["errorCode"], answer["expires"]) == (200, 0, 7200), answer
        self.token = answer["accessToken"]

    async def upload(self, content_type: str, name: str = "f", mode: str = "temp") -> str:
        request = copy.deepcopy(golden("upload_temp"))
        request["headers"]["uploadmode"] = mode
        request["body"]["multipart"] = [{"name": "file", "filename": name, "content-type": content_type, "data": "x"}]
        status, answer = await self.call(request)
        assert status == 200 and answer["errorCode"] == 0, answer
        return answer["fileInfo"][0]["url"]

    async def with_issued_media(self, request: dict) -> dict:
        """The request with each media URL it references replaced by one of our uploads."""
        text = orjson.dumps(request).decode()
        for part in request["body"]["messageList"]:
            decoded = {"contentType": part["contentType"], "contentText": part["contentText"]}
            for url in media_urls(decoded):
                text = text.replace(f'"{url}"', f'"{await self.upload(_type_of(url, part))}"')
        return orjson.loads(text)


def _type_of(url: str, part: dict) -> str:
    """The content type a request declares for one of its media URLs."""
    text = part["contentText"]
    if isinstance(text, list):
        return next(i.get("contentType", "image/jpeg") for i in text if i["url"] == url)
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("mediaUrl") == url:
                found.append(node["mediaContentType"])
            if node.get("thumbnailUrl") == url:
                found.append(node["thumbnailContentType"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(text)
    return found[0]


@pytest.fixture
async def replay():
    sim = MaapSimulator(chatbot_id=CHATBOT, app_id="xxxxxxxx", app_key="xxxxxxx", base_path="/exampleAPI", timing=FAST)
    await sim.start()
    async with aiohttp.ClientSession() as session:
        replayer = Replayer(sim, session)
        await replayer.login()
        yield replayer
    await sim.stop()


SENDS = ["send_card_chips", "send_carousel_chips", "send_text_chips", "send_file", "send_location"]


async def test_every_golden_request_is_accepted(replay):
    for name in ("upload_temp", "upload_perm"):
        status, answer = await replay.call(golden(name))
        assert (status, answer["errorCode"]) == (200, 0), (name, answer)
        assert len(answer["fileInfo"]) == len(golden(name)["body"]["multipart"])
        assert ("until" in answer["fileInfo"][0]) is (name == "upload_temp")
    for name in SENDS:
        status, answer = await replay.call(await replay.with_issued_media(golden(name)))
        assert (status, answer["errorCode"], answer["messageId"]) == (200, 0, golden(name)["body"]["messageId"]), (
            name,
            answer,
        )
    status, answer = await replay.call(golden("revoke"))
    assert (status, answer["errorCode"]) == (200, 0), answer
    for name in ("download", "delete"):
        request = copy.deepcopy(golden(name))
        request["headers"]["url"] = await replay.upload("video/mp4", "clip.mp4", mode="perm")
        status, answer = await replay.call(request)
        assert status == 200, (name, answer)
        if name == "download":
            assert answer == b"x"
        else:
            assert (answer["errorCode"], answer["deleteMode"]) == (0, "perm")
    status, info = await replay.call(golden("chatbot_info"))
    assert (status, info["accessNo"], info["domain"]) == (200, "106500", "botplatform.rcs.domain.cn")
    for name in ("update_optionals", "update_menu"):
        status, answer = await replay.call(golden(name))
        assert (status, answer["errorCode"]) == (200, 0), (name, answer)
    status, info = await replay.call(golden("chatbot_info"))
    assert info["menu"] == golden("update_menu")["body"]["menu"]


async def test_the_interface_example_with_its_own_sms_fallback_is_accepted(replay):
    """六.1 as printed: contentEncoding utf8, smsSupported true with its smsContent."""
    request = copy.deepcopy(golden("send_text_chips"))
    body = request["body"]
    body["messageList"] = [{"contentType": "text/plain", "contentEncoding": "utf8", "contentText": "hello world"}]
    body.update(smsSupported=True, storeSupported=False, smsContent="hello world!")
    del body["reportRequest"]
    status, answer = await replay.call(request)
    assert (status, answer["errorCode"]) == (200, 0), answer


def _card(body):
    return body["messageList"][0]["contentText"]


def _chips(body):
    return body["messageList"][1]["contentText"]


# (what was wrong, the golden it starts from, how it is broken, errorCode, HTTP status)
WRONG_SENDS = [
    (
        "a card's contentText as a JSON string",
        "send_card_chips",
        lambda b: b["messageList"][0].update(contentText=orjson.dumps(_card(b)).decode()),
        47001,
    ),
    (
        "chips inside the card's object, beside message",
        "send_card_chips",
        lambda b: b.update(
            messageList=[
                {"contentType": CARD_TYPE, "contentText": {**_card(b), "suggestions": _chips(b)["suggestions"]}}
            ]
        ),
        60001,
    ),
    (
        "chips as a card part of their own",
        "send_card_chips",
        lambda b: b["messageList"][1].update(contentType=CARD_TYPE),
        40008,
    ),
    (
        "the chip list as a bare list, not {suggestions: [...]}",
        "send_text_chips",
        lambda b: b["messageList"][1].update(contentText=_chips(b)["suggestions"]),
        47001,
    ),
    (
        "the chip list as a JSON string",
        "send_text_chips",
        lambda b: b["messageList"][1].update(contentText=orjson.dumps(_chips(b)).decode()),
        47001,
    ),
    (
        "the chip list ahead of its content",
        "send_text_chips",
        lambda b: b.update(messageList=b["messageList"][::-1]),
        40008,
    ),
    (
        "a chip list with no chips",
        "send_text_chips",
        lambda b: b["messageList"][1].update(contentText={"suggestions": []}),
        40016,
    ),
    (
        "plain text wrapped as a card (a string)",
        "send_text_chips",
        lambda b: b["messageList"][0].update(contentType=CARD_TYPE),
        47001,
    ),
    (
        "plain text wrapped as a card (an object)",
        "send_text_chips",
        lambda b: b["messageList"][0].update(contentType=CARD_TYPE, contentText={"message": {"text": "hello world"}}),
        60001,
    ),
    (
        "text/plain with an object",
        "send_text_chips",
        lambda b: b["messageList"][0].update(contentText={"text": "hello world"}),
        47001,
    ),
    (
        "a file as the GSMA XML type",
        "send_file",
        lambda b: b["messageList"][0].update(contentType="application/vnd.gsma.rcs-ft-http+xml"),
        40008,
    ),
    (
        "a file's infos as an object, not a list",
        "send_file",
        lambda b: b["messageList"][0].update(contentText=b["messageList"][0]["contentText"][1]),
        47001,
    ),
    ("trafficType notification", "send_text_chips", lambda b: b.update(trafficType="notification"), 20002),
    ("no smsSupported", "send_text_chips", lambda b: b.pop("smsSupported"), 20002),
    ("smsSupported true without smsContent", "send_text_chips", lambda b: b.update(smsSupported=True), 20002),
    (
        "two recipients",
        "send_text_chips",
        lambda b: b.update(destinationAddress=["tel:+8617928222350", "tel:+8615067451862"]),
        20002,
    ),
    ("a recipient without tel:", "send_text_chips", lambda b: b.update(destinationAddress=["+8617928222350"]), 20002),
    ("no serviceCapability", "send_text_chips", lambda b: b.pop("serviceCapability"), 20002),
    ("another chatbot as sender", "send_text_chips", lambda b: b.update(senderAddress="sip:1@x.cn"), 30008),
    ("a field the interface lacks", "send_text_chips", lambda b: b.update(inReplyToContributionId="x"), 20002),
    (
        "openUrl without application",
        "send_text_chips",
        lambda b: _chips(b)["suggestions"][2]["action"]["urlAction"]["openUrl"].pop("application"),
        60001,
    ),
    (
        "a font style the schema lacks",
        "send_card_chips",
        lambda b: _card(b)["message"]["generalPurposeCard"]["layout"].update(descriptionFontStyle=["calibri"]),
        60001,
    ),
    (
        "five suggestions on a card",
        "send_card_chips",
        lambda b: _card(b)["message"]["generalPurposeCard"]["content"]["suggestions"].extend(
            _chips(b)["suggestions"][:2]
        ),
        40016,
    ),
    (
        "a displayText over 25 characters",
        "send_text_chips",
        lambda b: _chips(b)["suggestions"][0]["reply"].update(displayText="x" * 26),
        40018,
    ),
    (
        "a text over 2,000 characters",
        "send_text_chips",
        lambda b: b["messageList"][0].update(contentText="字" * 2001),
        40021,
    ),
]


@pytest.mark.parametrize("wrong, name, breaks, code", WRONG_SENDS, ids=[w[0] for w in WRONG_SENDS])
async def test_wrong_sends_are_refused(replay, wrong, name, breaks, code):
    request = await replay.with_issued_media(golden(name))
    breaks(request["body"])
    status, answer = await replay.call(request)
    assert (status, answer["errorCode"]) == (400, code), answer
    assert replay.sim.messages == {}


async def test_media_it_never_issued_is_refused(replay):
    for name in ("send_card_chips", "send_file"):
        status, answer = await replay.call(golden(name))  # the examples' own URLs
        assert (status, answer["errorCode"]) == (400, 40007), answer
        request = copy.deepcopy(golden("download"))
        request["headers"]["url"] = "http://xxxxxx6c5274f0.jpg"
        status, answer = await replay.call(request)
        assert (status, answer["errorCode"]) == (400, 40007), answer
    assert replay.sim.messages == {}


async def test_expired_temporary_media_is_refused(replay):
    request = await replay.with_issued_media(golden("send_file"))
    now = replay.sim.clock()
    replay.sim.clock = lambda: now + replay.sim.timing.temp_media_s + 1
    replay.sim.primary.token_expires = float("inf")  # the token is not what this is about
    status, answer = await replay.call(request)
    assert (status, answer["errorCode"]) == (400, 40022), answer
    await replay.upload("image/png")  # expired files stop counting, and are still known as expired
    status, answer = await replay.call(request)
    assert (status, answer["errorCode"]) == (400, 40022), answer


@pytest.mark.parametrize(
    "part, code",
    [
        ({"contentType": "text/plain", "contentEncoding": "base64", "contentText": "5L2g5aW9"}, 0),  # 你好
        (
            {
                "contentType": CARD_TYPE,
                "contentEncoding": "base64",
                "contentText": "eyJtZXNzYWdlIjp7ImdlbmVyYWxQdXJwb3NlQ2FyZCI6eyJsYXlvdXQiOnsiY2FyZE9yaWVudGF0aW9uIjoiVkVSVElDQUwifSwiY29udGVudCI6eyJ0aXRsZSI6IkhpIn19fX0=",
            },
            0,
        ),
        ({"contentType": "text/plain", "contentEncoding": "base64", "contentText": "not base64!"}, 47001),
        ({"contentType": "text/plain", "contentEncoding": "gzip", "contentText": "x"}, 20002),
    ],
)
async def test_base64_content(replay, part, code):
    request = await replay.with_issued_media(golden("send_text_chips"))
    request["body"]["messageList"] = [part]
    status, answer = await replay.call(request)
    assert (status, answer["errorCode"]) == ((200, 0) if code == 0 else (400, code)), answer


async def test_a_chatbot_id_not_percent_encoded_is_refused(replay):
    request = await replay.with_issued_media(golden("send_text_chips"))
    status, answer = await replay.call(request, path=request["path"].replace(ENCODED, CHATBOT))
    assert (status, answer["errorCode"]) == (404, 20003), answer
    assert "percent-encoded" in answer["errorMessage"]
    status, answer = await replay.call(request, path=request["path"].replace(ENCODED, "sip%3Aother%40x.cn"))
    assert (status, answer["errorCode"]) == (404, 20003), answer


async def test_the_interface_has_no_capability_query(replay):
    request = copy.deepcopy(golden("revoke"))
    request["body"] = {"phoneNumber": "+8617928222350"}
    status, _ = await replay.call(request, path=f"/exampleAPI/bot/v1/{ENCODED}/capabilities")
    assert status == 404


# (what was wrong, how the revoke is broken, errorCode, HTTP status)
WRONG_REVOKES = [
    ("the senderAddress our old client added", lambda b: b.update(senderAddress=CHATBOT), 20002, 400),
    ("no status", lambda b: b.pop("status"), 20002, 400),
    ("another recipient", lambda b: b.update(destinationAddress=["tel:+8615067451862"]), 20002, 400),
    ("several recipients", lambda b: b["destinationAddress"].append("tel:+8615067451862"), 20002, 400),
    ("an unknown message", lambda b: b.update(messageId="nope"), 20002, 404),
]


@pytest.mark.parametrize("wrong, breaks, code, status", WRONG_REVOKES, ids=[w[0] for w in WRONG_REVOKES])
async def test_wrong_revokes_are_refused(replay, wrong, breaks, code, status):
    sent, _ = await replay.call(await replay.with_issued_media(golden("send_text_chips")))
    assert sent == 200
    request = copy.deepcopy(golden("revoke"))
    breaks(request["body"])
    answered, answer = await replay.call(request)
    assert (answered, answer["errorCode"]) == (status, code), answer


# (what was wrong, how the request is broken, errorCode, HTTP status)
WRONG_REQUESTS = [
    ("no token", "send_text_chips", lambda r: r["headers"].pop("authorization"), 41001, 401),
    (
        "a token never issued",
        "send_text_chips",
        lambda r: r["headers"].update(authorization="accessToken x"),
        40001,
        401,
    ),
    ("no date", "send_text_chips", lambda r: r["headers"].pop("date"), 20003, 400),
    ("a form body", "send_text_chips", lambda r: r["headers"].update({"content-type": "text/plain"}), 20003, 400),
    ("a wrong appKey", "token", lambda r: r["body"].update(appKey="nope"), 40001, 401),
    ("no appId", "token", lambda r: r["body"].pop("appId"), 41002, 400),
    ("no appKey", "token", lambda r: r["body"].pop("appKey"), 41004, 400),
    ("no uploadMode", "upload_temp", lambda r: r["headers"].pop("uploadmode"), 20002, 400),
    (
        "a file type the interface lacks",
        "upload_temp",
        lambda r: r["body"]["multipart"][0].update({"content-type": "image/gif"}),
        40005,
        400,
    ),
    (
        "a thumbnail that is no image",
        "upload_perm",
        lambda r: r["body"]["multipart"][0].update({"content-type": "video/mp4"}),
        40005,
        400,
    ),
    ("no url to download", "download", lambda r: r["headers"].pop("url"), 41006, 400),
    ("an optional the interface lacks", "update_optionals", lambda r: r["body"].update(serviceName="x"), 20002, 400),
    (
        "a themeColour over 20 characters",
        "update_optionals",
        lambda r: r["body"].update(themeColour="#" * 21),
        40021,
        400,
    ),
    (
        "four top menu entries",
        "update_menu",
        lambda r: r["body"]["menu"]["entries"].extend([r["body"]["menu"]["entries"][0]] * 3),
        40016,
        400,
    ),
    (
        "a third menu level",
        "update_menu",
        lambda r: r["body"]["menu"]["entries"][1]["menu"]["entries"].append(
            {"menu": {"displayText": "L3", "entries": []}}
        ),
        47002,
        400,
    ),
    ("a menu without entries", "update_menu", lambda r: r.update(body={"entries": []}), 47001, 400),
]


@pytest.mark.parametrize("wrong, name, breaks, code, status", WRONG_REQUESTS, ids=[w[0] for w in WRONG_REQUESTS])
async def test_wrong_requests_are_refused(replay, wrong, name, breaks, code, status):
    request = copy.deepcopy(golden(name))
    if name == "send_text_chips":
        request = await replay.with_issued_media(request)
    breaks(request)
    answered, answer = await replay.call(request)
    assert (answered, answer["errorCode"]) == (status, code), answer


async def test_a_new_token_invalidates_the_old_one(replay):
    old = replay.token
    await replay.login()
    request = await replay.with_issued_media(golden("send_text_chips"))
    assert (await replay.call(request))[0] == 200
    replay.token = old
    status, answer = await replay.call(request)
    assert (status, answer["errorCode"]) == (401, 40001)
