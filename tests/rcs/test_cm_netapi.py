"""China Mobile's chatbot interface (rcs.operators.cm_netapi, rcs.cm_callbacks, rcs.cm_simulator):
what the client puts on the wire against published examples, the notifications it reads,
hostile XML refused, and the simulator's strictness.

Sources of the examples (public China Mobile integrators' code on GitHub; the interface
document itself is not public):
- the Authorization example (appId test12345, token ff5563…, date Mon, 06 Jul 2020 11:28:53
  GMT → Basic dGVzdDEy…) is the commented check in a Beijing Mobile test client (TestBjyd.java);
- the outboundMessageRequest forms (text; card + chips as multipart/mixed with boundary "next";
  headers Address, Authorization, Date, Content-Type application/xml) are those a Fujian Mobile
  test client (TestFjydtH5.java) sends to https://…/messaging/v1/outbound/{chatbotURI}/requests;
- the revoke (PUT …/requests/{messageId}/status, messageStatusReport RevokeRequested) and its
  notification (messageStatusNotification Revoked) come from the same clients and a CM demo
  service's XmlToBean test; the deliveryInfoNotification (DeliveryImpossible, SVC0002) and the
  inboundMessageNotification (text 我想聊天 from sip:+8613800138002@bj.ims…) from CM demo services.
Where they are silent (shortMessageSupported, reportRequest values, clientCorrelator) the client
follows OMA NetAPI Messaging; the goldens below say so field by field.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from datetime import UTC, datetime
from xml.etree.ElementTree import canonicalize

import pytest
from aiohttp import web

from api.middleware import problem_middleware
from rcs.callbacks import signed_headers
from rcs.cm_callbacks import (
    CmCallbackEndpoints,
    XmlRefused,
    parse_delivery_notification,
    parse_inbound_notification,
    parse_status_notification,
    parse_xml,
)
from rcs.cm_simulator import CmNetApiSimulator
from rcs.maap import OutboundMessage, card_parts, text_parts
from rcs.operators import OPERATORS
from rcs.operators.cm_netapi import (
    CmNetApiMaap,
    CmNetApiSettings,
    authorization,
    classify_answer,
    outbound_request_xml,
    token_of,
)
from rcs.results import Outcome
from rcs.simulator import SimulatorTiming
from tests.conftest import card
from tests.rcs.conftest import cm_client

CHATBOT = "sip:12520020000120@botplatform.rcs.chinamobile.com"
ENCODED = "sip%3A12520020000120%40botplatform.rcs.chinamobile.com"
TO = "+8615811491455"
MID = "c20e8bea-bca2-4f4d-96ac-46bb0799c620"
CONVERSATION, CONTRIBUTION = "d8ddcb51-7816-4607-ad1c-3296b6c5362d", "c20e8bea-bca2-4f4d-96ac-46bb0799c620"
CAPABILITY = (
    "<serviceCapability><capabilityId>ChatbotSA</capabilityId>"
    "<version>+g.gsma.rcs.botversion=&quot;#=1&quot;</version></serviceCapability>"
)
NOW = datetime(2020, 7, 6, 11, 28, 53, tzinfo=UTC)
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<msg:deliveryInfoNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1"><deliveryInfo>
<address>tel:+8613800138001</address><messageId>&lol3;</messageId><deliveryStatus>DeliveredToTerminal</deliveryStatus>
</deliveryInfo></msg:deliveryInfoNotification>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<msg:inboundMessageNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1"><inboundMessage>
<senderAddress>tel:+8613800138001</senderAddress><contentType>text/plain</contentType><bodyText>&xxe;</bodyText>
</inboundMessage></msg:inboundMessageNotification>"""


def c14n(xml: str | bytes) -> str:
    text = xml.decode() if isinstance(xml, bytes) else xml
    return canonicalize(text.split("?>", 1)[1] if text.startswith("<?xml") else text, strip_text=True)


def message(parts, **kw) -> OutboundMessage:
    return OutboundMessage(MID, TO, parts, CONVERSATION, CONTRIBUTION, **kw)


def test_authorization_is_the_published_example():
    """TestBjyd.java's commented check: these inputs give exactly this header."""
    got = authorization(
        "test12345", "ff556388699c84a4ae73bc719eda6480c0d8290c575f297d7f65dad8f9c6804f", "Mon, 06 Jul 2020 11:28:53 GMT"
    )
    assert got == (
        "Basic dGVzdDEyMzQ1OmI3MzEzNzgwYTU5ZDg2OTRlMzU0NGFlZGM2ZmNhNjA0MjIwM2ZlMDBmNWVmNmYyOTI5YjYwOWJjZThkYjIzYzU="
    )


def test_a_password_is_hashed_to_the_token():
    """TestFjyd.java hashes the developer password (SHA-256, hex) into the token; TestBjyd.java is
    given the token itself (64 hex digits) and uses it as it is."""
    issued = "ff556388699c84a4ae73bc719eda6480c0d8290c575f297d7f65dad8f9c6804f"
    assert token_of(issued) == issued
    assert token_of("52CzPp$X\\^k>YEcF>") == hashlib.sha256(b"52CzPp$X\\^k>YEcF>").hexdigest()


def im(content_type: str, body: str) -> str:
    """The outboundMessageRequest of the examples, with our additions: messageId (ours, echoed in
    notifications), reportRequest Delivered/Displayed (as the fuller example), shortMessageSupported
    false (OMA; our own SMS fallback) and clientCorrelator = messageId (OMA; the examples use 567895)."""
    return (
        '<msg:outboundMessageRequest xmlns:msg="urn:oma:xml:rest:netapi:messaging:1">'
        f"<address>tel:{TO}</address><destinationAddress>tel:{TO}</destinationAddress>"
        f"<senderAddress>{CHATBOT}</senderAddress><outboundIMMessage>"
        f"<contentType>{content_type}</contentType><conversationID>{CONVERSATION}</conversationID>"
        f"<contributionID>{CONTRIBUTION}</contributionID>{CAPABILITY}<messageId>{MID}</messageId>"
        "<reportRequest>Delivered</reportRequest><reportRequest>Displayed</reportRequest>"
        f"<shortMessageSupported>false</shortMessageSupported><bodyText><![CDATA[{body}]]></bodyText>"
        f"</outboundIMMessage><clientCorrelator>{MID}</clientCorrelator></msg:outboundMessageRequest>"
    )


def test_text_is_the_published_form():
    """TestBjyd.getText / TestFjydtH5.getXml("text/plain", …)."""
    got = outbound_request_xml(message(text_parts("Hello，中国移动！")), CHATBOT)
    assert c14n(got) == c14n(im("text/plain", "Hello，中国移动！"))


def test_card_and_chips_are_the_published_multipart_form():
    """TestFjydtH5.requestSugDkpXml: multipart/mixed; boundary="next", each part with its
    Content-Type and Content-Length (bytes), CRLF line ends, closing --next--."""
    doc = {
        "message": {
            "generalPurposeCard": {"layout": {"cardOrientation": "HORIZONTAL"}, "content": {"title": "集微IOT"}}
        }
    }
    chips = [{"reply": {"displayText": "同意", "postback": {"data": "set_by_chatbot_reply_agree"}}}]
    got = outbound_request_xml(message(card_parts(doc, chips)), CHATBOT)
    card_json = (
        '{"message":{"generalPurposeCard":{"layout":{"cardOrientation":"HORIZONTAL"},"content":{"title":"集微IOT"}}}}'
    )
    chip_json = '{"suggestions":[{"reply":{"displayText":"同意","postback":{"data":"set_by_chatbot_reply_agree"}}}]}'
    body = (
        f"--next\r\nContent-Type: application/vnd.gsma.botmessage.v1.0+json\r\nContent-Length: {len(card_json.encode())}"
        f"\r\n\r\n{card_json}\r\n--next\r\nContent-Type: application/vnd.gsma.botsuggestion.v1.0+json\r\n"
        f"Content-Length: {len(chip_json.encode())}\r\n\r\n{chip_json}\r\n--next--\r\n"
    )
    assert c14n(got) == c14n(im('multipart/mixed; boundary="next"', body))
    assert "\r\n--next--\r\n]]></bodyText>" in got  # CRLF kept inside the CDATA section, as sent


def test_cdata_end_in_text_stays_text():
    got = outbound_request_xml(message(text_parts("a ]]> b")), CHATBOT)
    assert parse_xml(got.encode()).find(".//bodyText").text == "a ]]> b"


@pytest.fixture
async def recorder(aiohttp_server):
    seen: list[dict] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": {k: request.headers.get(k) for k in ("Address", "Authorization", "Date", "Content-Type")},
                "body": await request.text(),
            }
        )
        return web.Response(status=201 if request.method == "POST" else 204)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server = await aiohttp_server(app)
    client = CmNetApiMaap(
        CmNetApiSettings(f"127.0.0.1:{server.port}/maap", CHATBOT, "iap_12520020000120", "tok-1", scheme="http"),
        clock=lambda: NOW.timestamp(),
    )
    yield client, seen
    await client.close()


async def test_send_and_revoke_on_the_wire(recorder):
    client, seen = recorder
    assert (await client.send(message(text_parts("hello word")))).accepted
    assert (await client.revoke(MID, TO)).accepted
    send, revoke = seen
    date = "Mon, 06 Jul 2020 11:28:53 GMT"
    token = hashlib.sha256(b"tok-1").hexdigest()  # tok-1 is a password: the token is its SHA-256
    digest = hashlib.sha256(f"{token}{date}".encode()).hexdigest()
    headers = {
        "Address": TO,
        "Authorization": "Basic " + base64.b64encode(f"iap_12520020000120:{digest}".encode()).decode(),
        "Date": date,
        "Content-Type": "application/xml",
    }
    assert (send["method"], send["path"], send["headers"]) == (
        "POST",
        f"/maap/messaging/v1/outbound/{ENCODED}/requests",
        headers,
    )
    assert c14n(send["body"]) == c14n(im("text/plain", "hello word"))
    assert (revoke["method"], revoke["path"]) == ("PUT", f"/maap/messaging/v1/outbound/{ENCODED}/requests/{MID}/status")
    assert c14n(revoke["body"]) == c14n(
        '<msg:messageStatusReport xmlns:msg="urn:oma:xml:rest:netapi:messaging:1">'
        f"<status>RevokeRequested</status><address>tel:{TO}</address></msg:messageStatusReport>"
    )
    assert OPERATORS["cm_netapi"] is CmNetApiMaap


ERROR = (
    '<common:requestError xmlns:common="urn:oma:xml:rest:netapi:common:1"><{kind}><{idname}>{ident}</{idname}>'
    "<text>Too many addresses specified in message part %1</text><variables>destinationAddress</variables>"
    "</{kind}></common:requestError>"
)


@pytest.mark.parametrize(
    ("status", "ident", "outcome"),
    [
        (201, None, Outcome.ACCEPTED),
        (400, "POL0003", Outcome.INVALID),
        (400, "SVC0002", Outcome.INVALID),
        (403, "POL0001", Outcome.TOKEN),
        (404, "SVC0004", Outcome.PERMANENT),
        (429, None, Outcome.THROTTLE),
        (400, "POL0006", Outcome.THROTTLE),
        (503, "SVC0001", Outcome.RETRY),
        (500, None, Outcome.RETRY),
        (401, "SVC0001", Outcome.TOKEN),
    ],
)
@pytest.mark.parametrize("idname", ["messageId", "exceptionId"])
def test_answers_are_classified(status, ident, outcome, idname):
    kind = "policyException" if ident and ident.startswith("POL") else "serviceException"
    raw = ERROR.format(kind=kind, idname=idname, ident=ident).encode() if ident else b""
    result = classify_answer(status, raw)
    assert result.outcome is outcome and result.http_status == status
    if ident:
        assert result.detail.startswith(ident) and "destinationAddress" in result.detail


def test_published_delivery_notification():
    """DeliveryImpossible SVC0002 (a CM demo service's example): failed, SMS now."""
    raw = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<msg:deliveryInfoNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1">'
        b"<deliveryInfo><address>tel:+8619585550103</address><messageId>5eae954c-42ca-4181-9ab4-9c0ef2e2ac55</messageId>"
        b"<deliveryStatus>DeliveryImpossible</deliveryStatus><description>SVC0002</description>"
        b"<text>AO msg service capability invalid</text></deliveryInfo>"
        b'<link rel="OutboundMessageRequest" href="https://example.com/exampleAPI/messaging/v1/outbound/'
        b'sip%3A10086%40botplatform.rcs.chinamobile.com/requests/5eae954c-42ca-4181-9ab4-9c0ef2e2ac55"/>'
        b"</msg:deliveryInfoNotification>"
    )
    (event,) = parse_delivery_notification(raw, now=NOW)
    assert (event.message_id, event.status, event.error_code, event.recipient) == (
        "5eae954c-42ca-4181-9ab4-9c0ef2e2ac55",
        "failed",
        2,
        "+8619585550103",
    )
    assert event.error_message == "SVC0002 AO msg service capability invalid"


@pytest.mark.parametrize(
    ("status", "mapped"),
    [("DeliveredToTerminal", "delivered"), ("MessageDisplayed", "displayed"), ("MessageSent", "sent")],
)
def test_delivery_statuses_and_a_message_id_from_the_link(status, mapped):
    """A sip: IMPU address (a demo MaaP's form) and no messageId: the link names the request."""
    raw = (
        '<msg:deliveryInfoNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1"><deliveryInfo>'
        "<address>sip:+8613800138001@zj.5GMC.ims.mnc000.mcc460.3gppnetwork.org</address>"
        f"<deliveryStatus>{status}</deliveryStatus></deliveryInfo>"
        '<link rel="OutboundMessageRequest" href="https://x/messaging/v1/outbound/c/requests/m-1"/>'
        "</msg:deliveryInfoNotification>"
    ).encode()
    (event,) = parse_delivery_notification(raw, now=NOW)
    assert (event.message_id, event.status, event.recipient) == ("m-1", mapped, "+8613800138001")


@pytest.mark.parametrize(("status", "mapped"), [("Revoked", "revokeOk"), ("RevokeFailed", "revokeFail")])
def test_published_revoke_notification(status, mapped):
    """XmlToBean's messageStatusNotification example (Revoked), and its RevokeFailed."""
    raw = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<msg:messageStatusNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1">'
        "<address>tel:+8619585550104</address><messageId>5eae954c-42ca-4181-9ab4-9c0ef2e2ac55</messageId>"
        f"<status>{status}</status>"
        '<link rel="OutboundMessageRequest" href="https://example.com/exampleAPI/messaging/v1/outbound/'
        'sip%3A12599%40botplatform.rcs.chinamobile.com/requests/5eae954c-42ca-4181-9ab4-9c0ef2e2ac55"/>'
        "</msg:messageStatusNotification>"
    ).encode()
    (event,) = parse_status_notification(raw, now=NOW)
    assert (event.message_id, event.status) == ("5eae954c-42ca-4181-9ab4-9c0ef2e2ac55", mapped)


def test_published_inbound_text():
    """A CM demo service's inboundMessageNotification: text from an IMS sip: address."""
    raw = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<msg:inboundMessageNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1">'
        "<inboundMessage><destinationAddress>sip:12599@botplatform.rcs.chinamobile.com</destinationAddress>"
        "<senderAddress> sip:+8613800138002@bj.ims.mnc000.mcc460.3gppnetwork.org </senderAddress>"
        "<origUser> sip:13800138002@bj.ims.mnc000.mcc460.3gppnetwork.org </origUser>"
        "<messageId>5eae954c-42ca-4181-9ab4-9c0ef2e2ac66</messageId><contentType>text/plain</contentType>"
        f"{CAPABILITY}<bodyText>我想聊天</bodyText>"
        "<conversationID>fceb900a-5018-4d11-9450-5bfbdc951ba0</conversationID>"
        "<contributionID>fceb900a-5018-4d11-9450-5bfbdc951ba0</contributionID>"
        "</inboundMessage></msg:inboundMessageNotification>"
    ).encode()
    event = parse_inbound_notification(raw, now=NOW)
    assert (event.kind, event.text, event.from_number, event.message_id) == (
        "text",
        "我想聊天",
        "+8613800138002",
        "5eae954c-42ca-4181-9ab4-9c0ef2e2ac66",
    )
    assert event.conversation_id == event.contribution_id == "fceb900a-5018-4d11-9450-5bfbdc951ba0"


@pytest.mark.parametrize("raw", [BILLION_LAUGHS, EXTERNAL_ENTITY, b"<not xml"], ids=["laughs", "xxe", "malformed"])
def test_hostile_xml_is_refused(raw):
    with pytest.raises(XmlRefused):
        parse_xml(raw)


@pytest.fixture
async def endpoints(aiohttp_client):
    got: list = []

    async def token_of(chatbot: str):
        return "cb-token" if chatbot == CHATBOT else None

    async def on_delivery(chatbot, events):
        got.append((chatbot, events))

    async def on_user(chatbot, event):
        got.append((chatbot, event))

    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(CmCallbackEndpoints(token_of=token_of, on_delivery=on_delivery, on_user=on_user).routes("/rcs"))
    return await aiohttp_client(app), got


@pytest.mark.parametrize(
    ("body", "token", "chatbot", "status"),
    [
        (BILLION_LAUGHS, "cb-token", ENCODED, 400),
        (EXTERNAL_ENTITY, "cb-token", ENCODED, 400),
        (b"<msg:other xmlns:msg='urn:oma:xml:rest:netapi:messaging:1'/>", "cb-token", ENCODED, 422),
        (b"<x/>", "wrong-token", ENCODED, 401),
        (b"<x/>", "cb-token", "sip%3A1%40other.example", 404),
    ],
    ids=["laughs", "xxe", "wrong-root", "bad-signature", "unknown-chatbot"],
)
async def test_notification_endpoint_refusals(endpoints, body, token, chatbot, status):
    client, got = endpoints
    resp = await client.post(
        f"/rcs/DeliveryInfoNotification/{chatbot}", data=body, headers=signed_headers(token, time.time())
    )
    assert resp.status == status, await resp.text()
    assert got == []


# -- the simulator ---------------------------------------------------------------------------


async def test_simulator_accepts_the_client_and_flakes_on_8(cm_sim):
    client = cm_client(cm_sim)
    assert (await client.send(message(card_parts(card())))).accepted
    flaky = OutboundMessage("m-8", "+8613800138008", text_parts("hi"), "c", "c")
    assert [(await client.send(flaky)).outcome for _ in range(3)] == [Outcome.RETRY, Outcome.RETRY, Outcome.ACCEPTED]
    assert (await client.revoke("m-8", "+8613800138008")).accepted
    await client.close()


def _strict_cases():
    good = outbound_request_xml(message(text_parts("hi")), CHATBOT)
    two = good.replace(
        "</destinationAddress>", f"</destinationAddress><destinationAddress>tel:{TO}</destinationAddress>", 1
    )
    bad_card = outbound_request_xml(
        message(card_parts({"message": {"generalPurposeCard": {"content": {"title": "x" * 300}}}})), CHATBOT
    )
    return [
        ("wrong-token", {"app_key": "nope"}, good, {}, 401, "SVC0001"),
        ("content-type", {}, good, {"Content-Type": "text/plain"}, 415, "SVC0002"),
        ("two-recipients", {}, two, {}, 400, "POL0003"),
        ("address-header", {}, good, {"Address": "+8613800138001"}, 400, "SVC0002"),
        ("sender", {}, good.replace(CHATBOT, "sip:1@other.example"), {}, 400, "SVC0002"),
        ("card-schema", {}, bad_card, {}, 400, "SVC0002"),
        ("dtd", {}, BILLION_LAUGHS.decode(), {}, 400, "SVC0002"),
        ("stale-date", {}, good, {"Date": "Mon, 06 Jul 2020 11:28:53 GMT"}, 401, "SVC0001"),
    ]


@pytest.mark.parametrize(
    ("case", "settings", "body", "headers", "status", "ident"),
    _strict_cases(),
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "",
)
async def test_simulator_is_strict(cm_sim, case, settings, body, headers, status, ident):
    client = cm_client(cm_sim, **settings)
    sent = client.headers(TO)
    if "Date" in headers:  # re-sign with the stale date: only the freshness is wrong
        sent["Authorization"] = authorization("app", token_of("tok"), headers["Date"])
    sent.update(headers)
    session = client._http()
    url = f"http://{cm_sim.server_root}/messaging/v1/outbound/{ENCODED}/requests"
    async with session.post(url, data=body.encode(), headers=sent) as resp:
        raw = await resp.read()
    await client.close()
    assert resp.status == status, raw
    assert ident.encode() in raw and b"requestError" in raw
    assert not cm_sim.messages


async def test_simulator_refuses_a_wrong_part_length(cm_sim):
    client = cm_client(cm_sim)
    good = outbound_request_xml(
        message(card_parts(card(), [{"reply": {"displayText": "好", "postback": {"data": "ok"}}}])), CHATBOT
    )
    wrong = good.replace("Content-Length: ", "Content-Length: 1", 1)
    session = client._http()
    url = f"http://{cm_sim.server_root}/messaging/v1/outbound/{ENCODED}/requests"
    async with session.post(url, data=wrong.encode(), headers=client.headers(TO)) as resp:
        assert resp.status == 400 and b"Content-Length" in await resp.read()
    async with session.post(url, data=good.encode(), headers=client.headers(TO)) as resp:
        assert resp.status == 201, await resp.read()
    await client.close()


async def test_simulator_notifications_reach_the_endpoints(aiohttp_server):
    """Statuses of each kind of ending, a revoke's outcome and a reply, as signed XML through
    CmCallbackEndpoints."""
    got: list = []
    arrived = asyncio.Event()

    async def token_of(chatbot: str):
        return "cb" if chatbot == CHATBOT else None

    async def on_delivery(chatbot, events):
        got.extend((e.message_id, e.status, e.error_code) for e in events)
        arrived.set()

    async def on_user(chatbot, event):
        got.append((event.in_reply_to, event.kind, event.text))
        arrived.set()

    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(CmCallbackEndpoints(token_of=token_of, on_delivery=on_delivery, on_user=on_user).routes("/rcs"))
    server = await aiohttp_server(app)
    timing = SimulatorTiming(delivery_delay_s=0.01, display_delay_s=0.01, revoke_delay_s=0.01)
    async with CmNetApiSimulator(callback_base_url=str(server.make_url("/rcs")), timing=timing) as cm_sim:
        cm_sim.add_chatbot(CHATBOT, "app", "tok", "cb")
        client = cm_client(cm_sim)
        for mid, to in (("m-1", "+8613800138001"), ("m-0", "+8613800138010"), ("m-7", "+8613800138007")):
            assert (await client.send(OutboundMessage(mid, to, text_parts("hi"), "c", f"k-{mid}"))).accepted
        assert (await client.revoke("m-7", "+8613800138007")).accepted
        statuses = {
            ("m-1", "delivered", None),
            ("m-1", "displayed", None),
            ("m-0", "failed", 2),
            ("m-7", "revokeOk", None),
        }
        await asyncio.wait_for(_until(lambda: set(got) >= statuses, arrived), 5)
        assert await cm_sim.reply("m-1", "好的")  # answers m-1's contribution, k-m-1
        expected = statuses | {("k-m-1", "text", "好的")}
        await asyncio.wait_for(_until(lambda: set(got) >= expected, arrived), 5)
        await client.close()
    assert set(got) == expected and cm_sim.callbacks_failed == 0


async def _until(predicate, arrived: asyncio.Event) -> None:
    while not predicate():
        arrived.clear()
        await arrived.wait()


def test_a_base64_suggestion_response():
    """A tap as a CM demo service logs it: the suggestion response's JSON base64-encoded in
    bodyText, said by contentEncoding; the answered message by inReplyToContributionID."""
    response = '{"response":{"reply":{"displayText":"我的跨年礼物","postback":{"data":"gift"}}}}'
    raw = (
        '<msg:inboundMessageNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1"><inboundMessage>'
        "<destinationAddress>sip:125666660001@botplatform.rcs.chinamobile.com</destinationAddress>"
        "<senderAddress>tel:+8613752385051</senderAddress><messageId>5eae954c-42ca-4181-9ab4-9c0ef2e2ac66</messageId>"
        "<contentType>application/vnd.gsma.botsuggestion.response.v1.0+json</contentType>"
        "<contentEncoding>base64</contentEncoding>"
        f"<bodyText>{base64.b64encode(response.encode()).decode()}</bodyText>"
        "<conversationID>fSFDSFDR</conversationID><contributionID>fdsffdsf</contributionID>"
        "<inReplyToContributionID>c-1</inReplyToContributionID></inboundMessage></msg:inboundMessageNotification>"
    ).encode()
    event = parse_inbound_notification(raw, now=NOW)
    assert (event.kind, event.postback, event.display_text, event.in_reply_to, event.from_number) == (
        "suggestion_response",
        "gift",
        "我的跨年礼物",
        "c-1",
        "+8613752385051",
    )
