"""Every inbound example of the CSP interface V1.0.4 (tests/rcs/golden/inbound), sent signed to
a real aiohttp server running `CallbackEndpoints`: the answer must be the interface's and the
parsed event must match the example's expectation field by field.

A golden file holds one example: `section` names where it is in the interface, `source` says
whether it is the interface's own example ("example") or built from its field tables
("derived", with `derivation` saying how); `request` is what the MaaP sends, `answer` what we
must answer and `expect` what the platform must be handed. In `expect`, "<now>" is the time of
receipt and "<body>" the request body.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from aiohttp import web

from api.middleware import problem_middleware
from rcs.callbacks import CallbackEndpoints, signed_headers

GOLDEN = Path(__file__).parent / "golden" / "inbound"
TOKEN = "golden-callback-token"
APP_ID = "golden-app-id"
NOW = 1_780_000_000.0
NOW_ISO = datetime.fromtimestamp(NOW, UTC).isoformat()


def load(name: str) -> dict:
    return orjson.loads((GOLDEN / f"{name}.json").read_bytes())


ALL = sorted(p.stem for p in GOLDEN.glob("*.json"))
POSTS = [name for name in ALL if load(name)["request"]["method"] == "POST"]
HANDSHAKE = load("02-2-url-verification")


@dataclass
class Inbound:
    client: object
    endpoints: CallbackEndpoints
    users: list = field(default_factory=list)  # (chatbot_id, UserEvent)
    deliveries: list = field(default_factory=list)  # (chatbot_id, [DeliveryEvent])
    notices: list = field(default_factory=list)  # (chatbot_id, Notice)

    @property
    def handed(self) -> int:
        return len(self.users) + len(self.deliveries) + len(self.notices)


async def serve(aiohttp_client, **options) -> Inbound:
    inbound = Inbound(None, None)  # type: ignore[arg-type]

    async def on_delivery(chatbot_id, events):
        inbound.deliveries.append((chatbot_id, events))

    async def on_user(chatbot_id, event):
        inbound.users.append((chatbot_id, event))

    async def on_notice(chatbot_id, notice):
        inbound.notices.append((chatbot_id, notice))

    handlers = {"on_delivery": on_delivery, "on_user": on_user, "on_notice": on_notice, **options}
    inbound.endpoints = CallbackEndpoints(callback_token=TOKEN, app_id=APP_ID, clock=lambda: NOW, **handlers)
    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(inbound.endpoints.routes("/rcs"))
    inbound.client = await aiohttp_client(app)
    return inbound


@pytest.fixture
async def inbound(aiohttp_client) -> Inbound:
    return await serve(aiohttp_client)


def url(path: str, chatbot_id: str) -> str:
    return "/rcs/" + path.replace("{chatbotId}", quote(chatbot_id, safe=""))


async def post(inbound: Inbound, doc: dict, body=..., headers: dict | None = None):
    request = doc["request"]
    body = request["body"] if body is ... else body
    data = b"" if body is None else orjson.dumps(body)
    sent = {"content-type": "application/json", **signed_headers(TOKEN, NOW), **(headers or {})}
    return await inbound.client.post(url(request["path"], request["chatbotId"]), data=data, headers=sent)


def plain(value):
    """A parsed event as JSON-like data; times as UTC ISO strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def wanted(expect: dict, body) -> dict:
    out = {}
    for key, value in expect.items():
        if key == "at":
            value = NOW_ISO if value == "<now>" else datetime.fromisoformat(value).astimezone(UTC).isoformat()
        elif value == "<body>":
            value = body if body is not None else {}
        out[key] = value
    return out


def assert_fields(actual: dict, expect: dict) -> None:
    assert sorted(actual) == sorted(expect)
    for key in expect:
        assert actual[key] == expect[key], key


async def check_example(inbound: Inbound, doc: dict, body) -> None:
    """`body` was sent for `doc`'s example: the answer and what reached the platform."""
    chatbot_id = doc["request"]["chatbotId"]
    expect = doc["expect"]
    if "user" in expect:
        assert len(inbound.users) == 1 and inbound.handed == 1
        got_chatbot, event = inbound.users[0]
        assert_fields(plain(event), wanted(expect["user"], body))
    elif "deliveries" in expect:
        assert len(inbound.deliveries) == 1 and inbound.handed == 1
        got_chatbot, events = inbound.deliveries[0]
        assert len(events) == len(expect["deliveries"])
        for event, one in zip(events, expect["deliveries"]):
            assert_fields(plain(event), wanted(one, body))
    else:
        assert len(inbound.notices) == 1 and inbound.handed == 1
        got_chatbot, notice = inbound.notices[0]
        assert_fields({**plain(notice), "passed": notice.passed}, wanted(expect["notice"], body))
    assert got_chatbot == chatbot_id


@pytest.mark.parametrize("name", POSTS)
async def test_golden_example(inbound, name):
    doc = load(name)
    resp = await post(inbound, doc)
    assert resp.status == doc["answer"]["status"], await resp.text()
    assert await resp.read() == b""
    await check_example(inbound, doc, doc["request"]["body"])


def with_unknown_fields(body):
    """The body with extra fields wherever the interface has an object: top level, every list
    item and every object inside a JSON content part."""
    body = copy.deepcopy(body) if body is not None else {}

    def add(obj: dict) -> None:
        obj["xUnknownField"] = {"nested": [1, "两"]}
        obj["priority"] = "normal"

    def walk(value) -> None:
        if isinstance(value, dict):
            for child in value.values():
                walk(child)
            add(value)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(body)
    return body


@pytest.mark.parametrize("name", POSTS)
async def test_golden_example_with_unknown_fields(inbound, name):
    doc = load(name)
    body = with_unknown_fields(doc["request"]["body"])
    resp = await post(inbound, doc, body=body)
    assert resp.status == doc["answer"]["status"], await resp.text()
    expect = copy.deepcopy(doc)
    if "user" in expect["expect"] and expect["expect"]["user"]["kind"] == "device_specifics":
        # the shared data is handed on as sent, unknown fields and all
        shared = body["messageList"][0]["contentText"]
        if isinstance(shared, dict):
            expect["expect"]["user"]["extra"]["shared_data"] = shared["sharedData"]
    await check_example(inbound, expect, body)


@pytest.mark.parametrize("path", HANDSHAKE["request"]["paths"])
async def test_url_verification(inbound, path):
    request, answer = HANDSHAKE["request"], HANDSHAKE["answer"]
    headers = {**signed_headers(TOKEN, NOW), **request["headers"]}
    resp = await inbound.client.get(url(path, request["chatbotId"]), headers=headers)
    assert resp.status == answer["status"]
    expected = {k: APP_ID if v == "<appId>" else v for k, v in answer["headers"].items()}
    assert {k: resp.headers.get(k) for k in expected} == expected
    assert inbound.handed == 0


async def test_url_verification_without_echostr_still_answers(inbound):
    # echoStr is optional in the request: a signed GET without one is still answered.
    resp = await inbound.client.get("/rcs/notifyPath", headers=signed_headers(TOKEN, NOW))
    assert resp.status == 200 and resp.headers["appId"] == APP_ID and "echoStr" not in resp.headers


async def test_url_verification_checks_the_chatbot_header(inbound):
    inbound.endpoints.chatbot_ids = frozenset({HANDSHAKE["request"]["chatbotId"]})
    for chatbot, status in [("sip:other@bot", 404), (HANDSHAKE["request"]["chatbotId"], 200)]:
        headers = {**signed_headers(TOKEN, NOW), "echoStr": "e", "chatbotId": chatbot}
        resp = await inbound.client.get("/rcs/notifyPath", headers=headers)
        assert resp.status == status


# -- refused: signatures, freshness, replays -----------------------------------------------------

ROUTES = sorted({load(n)["request"]["path"] for n in POSTS})


def test_every_callback_route_has_a_golden_example():
    endpoints = CallbackEndpoints(callback_token=TOKEN, app_id=APP_ID, on_delivery=None, on_user=None)  # type: ignore[arg-type]
    posts = {r.path.removeprefix("/rcs/") for r in endpoints.routes("/rcs") if r.method == "POST"}
    gets = {r.path.removeprefix("/rcs/") for r in endpoints.routes("/rcs") if r.method == "GET"}
    assert posts == set(ROUTES)
    assert gets == set(HANDSHAKE["request"]["paths"])


def first_example(path: str) -> dict:
    return next(load(n) for n in POSTS if load(n)["request"]["path"] == path)


def forged(headers: dict) -> dict:
    return {**headers, "signature": signed_headers("someone-else", NOW, headers["nonce"])["signature"]}


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    "make_headers, reason",
    [
        (lambda: forged(signed_headers(TOKEN, NOW)), "bad_signature"),
        (lambda: {**signed_headers(TOKEN, NOW), "nonce": "not-the-signed-one"}, "bad_signature"),
        (lambda: signed_headers(TOKEN, NOW - 301), "stale"),
        (lambda: signed_headers(TOKEN, NOW + 301), "stale"),
        (lambda: {"timestamp": str(int(NOW)), "nonce": "n"}, "missing"),
    ],
)
async def test_refused(inbound, path, make_headers, reason):
    doc = first_example(path)
    sent = make_headers()
    resp = await inbound.client.post(
        url(path, doc["request"]["chatbotId"]),
        data=orjson.dumps(doc["request"]["body"] or {}),
        headers={"content-type": "application/json", **{k: v for k, v in sent.items()}},
    )
    assert resp.status == 401
    assert (await resp.json())["detail"] == f"callback rejected: {reason}"
    assert inbound.handed == 0


@pytest.mark.parametrize("path", ROUTES)
async def test_replayed_nonce_is_refused(inbound, path):
    doc = first_example(path)
    headers = signed_headers(TOKEN, NOW)
    first = await post(inbound, doc, headers=headers)
    again = await post(inbound, doc, headers=headers)
    assert (first.status, again.status) == (doc["answer"]["status"], 401)
    assert (await again.json())["detail"] == "callback rejected: replayed"
    assert inbound.handed == 1


async def test_replayed_handshake_is_refused(inbound):
    headers = {**signed_headers(TOKEN, NOW), "echoStr": "abc"}
    assert (await inbound.client.get("/rcs/notifyPath", headers=headers)).status == 200
    assert (await inbound.client.get("/rcs/notifyPath", headers=headers)).status == 401


async def test_millisecond_timestamps_are_accepted(inbound):
    doc = load("08-1-text")
    resp = await post(inbound, doc, headers=signed_headers(TOKEN, NOW, millis=True))
    assert resp.status == 204 and len(inbound.users) == 1


# -- bodies in other shapes ----------------------------------------------------------------------


async def test_multipart_form_data_body(inbound):
    # The interface names multipart/form-data as the callbacks' content type.
    doc = load("08-1-text")
    form = aiohttp.FormData()
    form.add_field("body", orjson.dumps(doc["request"]["body"]).decode(), content_type="application/json")
    resp = await inbound.client.post(
        url(doc["request"]["path"], doc["request"]["chatbotId"]), data=form, headers=signed_headers(TOKEN, NOW)
    )
    assert resp.status == 204, await resp.text()
    await check_example(inbound, doc, doc["request"]["body"])


async def test_empty_status_notification_is_accepted(inbound):
    doc = load("09-status-report")
    resp = await post(inbound, doc, body={})  # deliveryInfoList is optional
    assert resp.status == 204 and inbound.deliveries == [(doc["request"]["chatbotId"], [])]


@pytest.mark.parametrize(
    "name, body, status",
    [
        ("08-1-text", "not json", 400),
        ("08-1-text", [1], 422),
        ("08-1-text", {"messageList": []}, 422),
        ("09-status-report", {"deliveryInfoList": "x"}, 422),
        ("10-3-check-media", {"result": "fail"}, 422),
        ("10-2-rcsspam", {"messageId": 5}, 422),
    ],
)
async def test_unreadable_bodies_are_refused(inbound, name, body, status):
    doc = load(name)
    data = body.encode() if isinstance(body, str) else orjson.dumps(body)
    resp = await inbound.client.post(
        url(doc["request"]["path"], doc["request"]["chatbotId"]),
        data=data,
        headers={"content-type": "application/json", **signed_headers(TOKEN, NOW)},
    )
    assert resp.status == status
    assert inbound.handed == 0


async def test_notices_are_logged_by_default(aiohttp_client, caplog):
    caplog.set_level(logging.INFO, logger="rcs.callbacks")
    inbound = await serve(aiohttp_client, on_notice=None)
    for name in ("10-2-rcsspam", "10-3-check-message", "10-1-information-change"):
        resp = await post(inbound, load(name))
        assert resp.status == 204
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "rcs.callbacks")
    assert "spam report" in text and "cf9e4a75-663b-1032-ac45-159f940783c5" in text
    assert "audit result" in text and "cb1188xe44375b" in text and "fail" in text
    assert "information_change" in text
    assert "全是广告" not in text  # the reporter's own words stay out of the log


def test_golden_files_name_their_section():
    for name in ALL:
        doc = load(name)
        assert doc["section"].split("、", 1)[0] in ("二", "八", "九", "十"), name
        assert doc["source"] in ("example", "derived"), name
        assert doc["source"] == "example" or doc["derivation"], name
