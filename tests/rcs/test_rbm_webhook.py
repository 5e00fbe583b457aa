"""RBM's webhook: the clientToken handshake, X-Goog-Signature, Pub/Sub redelivery, and each
RBM event as the platform event a CN callback would give."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import orjson
import pytest
from aiohttp import web

from api.middleware import problem_middleware
from rcs.rbm_webhook import SIGNATURE_HEADER, RbmWebhook, parse_event, push_envelope, signature
from rcs.results import DeliveryEvent, UserEvent

TOKEN = "client-token-0b7c"
AGENT = "signal_sydney_2025_rpmzz2aq_agent"
CHATBOT = f"sip:{AGENT}@rbm.goog"
NOW = datetime(2025, 9, 29, 12, 0, tzinfo=UTC)

# A user's tap as RBM delivers it (a third-party capture of an RBM userEvent, published in a
# partner's webhook-testing notes), and the events of RBM's reference with the same fields.
TAP = {
    "senderPhoneNumber": "+61456529125",
    "messageId": "Mx4j0813TNQeuVjpAChX=lPw",
    "sendTime": "2025-09-29T11:44:22.15958Z",
    "agentId": f"{AGENT}@rbm.goog",
    "suggestionResponse": {"postbackData": "btn_4_1_route_map", "text": "View route map", "type": "ACTION"},
}
BASE = {"senderPhoneNumber": "+61456529125", "messageId": "m-1", "sendTime": "2025-09-29T11:44:22Z", "agentId": AGENT}

EVENTS = [
    (
        {**BASE, "eventType": "DELIVERED", "eventId": "e1"},
        DeliveryEvent,
        {"status": "delivered", "recipient": "+61456529125"},
    ),
    ({**BASE, "eventType": "READ", "eventId": "e2"}, DeliveryEvent, {"status": "displayed"}),
    ({**BASE, "eventType": "TTL_EXPIRATION_REVOKED", "eventId": "e3"}, DeliveryEvent, {"status": "revokeOk"}),
    ({**BASE, "eventType": "IS_TYPING", "eventId": "e4"}, type(None), {}),
    ({**BASE, "text": "Hello"}, UserEvent, {"kind": "text", "text": "Hello", "from_number": "+61456529125"}),
    (
        TAP,
        UserEvent,
        {
            "kind": "suggestion_response",
            "postback": "btn_4_1_route_map",
            "display_text": "View route map",
            "extra": {"suggestion": "action"},
        },
    ),
    ({**BASE, "location": {"latitude": 37.42, "longitude": -122.08}}, UserEvent, {"kind": "location"}),
    (
        {
            **BASE,
            "userFile": {
                "thumbnail": {
                    "mimeType": "image/jpeg",
                    "fileSizeBytes": 100,
                    "fileUri": "https://rcs.test/t",
                    "fileName": "t.jpg",
                },
                "payload": {
                    "mimeType": "image/jpeg",
                    "fileSizeBytes": 9000,
                    "fileUri": "https://rcs.test/f",
                    "fileName": "f.jpg",
                },
            },
        },
        UserEvent,
        {"kind": "file"},
    ),
]


@pytest.mark.parametrize(("event", "kind", "fields"), EVENTS)
def test_each_event_is_the_platforms(event, kind, fields):
    parsed = parse_event(event, now=NOW)
    assert isinstance(parsed, kind)
    for name, value in fields.items():
        assert getattr(parsed, name) == value
    if isinstance(parsed, UserEvent) and parsed.kind == "file":
        assert (parsed.file.url, parsed.file.file_size, parsed.file.thumbnail_url) == (
            "https://rcs.test/f",
            9000,
            "https://rcs.test/t",
        )
    if isinstance(parsed, UserEvent) and parsed.kind == "location":
        assert (parsed.location.latitude, parsed.location.crs) == (37.42, "wgs84")


def test_signature_is_base64_hmac_sha512_of_the_decoded_data():
    data = orjson.dumps(TAP)
    expected = base64.b64encode(hmac.new(TOKEN.encode(), data, hashlib.sha512).digest()).decode()
    assert signature(TOKEN, data) == expected and len(base64.b64decode(expected)) == 64


@pytest.fixture
async def hook(aiohttp_client):
    got: list = []
    fail = {"next": False}

    async def on_delivery(chatbot_id, events):
        if fail["next"]:
            fail["next"] = False
            raise RuntimeError("store down")
        got.extend((chatbot_id, e) for e in events)

    async def on_user(chatbot_id, event):
        got.append((chatbot_id, event))

    async def agents(agent_id):
        return (TOKEN, CHATBOT) if agent_id == AGENT else None

    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(RbmWebhook(agents=agents, on_delivery=on_delivery, on_user=on_user).routes("/rcs"))
    client = await aiohttp_client(app)
    return client, got, fail


def _push(event, pubsub_id="1001", token=TOKEN):
    body, data = push_envelope(event, pubsub_id, "2025-09-29T11:44:23Z", "projects/p/subscriptions/s")
    return body, {SIGNATURE_HEADER: signature(token, data), "content-type": "application/json"}


async def test_client_token_handshake_echoes_the_secret(hook):
    client, _, _ = hook
    ok = await client.post(f"/rcs/rbm/{AGENT}", json={"clientToken": TOKEN, "secret": "s3cr3t"})
    assert ok.status == 200 and await ok.text() == "s3cr3t"
    wrong = await client.post(f"/rcs/rbm/{AGENT}", json={"clientToken": "other", "secret": "s3cr3t"})
    assert wrong.status == 403 and "s3cr3t" not in await wrong.text()


@pytest.mark.parametrize(
    ("agent", "token", "drop_header", "status"),
    [(AGENT, "other-token", False, 401), (AGENT, TOKEN, True, 401), ("unknown_agent", TOKEN, False, 404)],
)
async def test_unsigned_or_unknown_is_refused(hook, agent, token, drop_header, status):
    client, got, _ = hook
    body, headers = _push({**BASE, "eventType": "DELIVERED"}, token=token)
    if drop_header:
        headers.pop(SIGNATURE_HEADER)
    assert (await client.post(f"/rcs/rbm/{agent}", data=body, headers=headers)).status == status
    assert got == []


async def test_a_redelivery_is_handled_once_and_a_failed_one_again(hook):
    client, got, fail = hook
    body, headers = _push({**BASE, "eventType": "DELIVERED"})
    fail["next"] = True
    assert (await client.post(f"/rcs/rbm/{AGENT}", data=body, headers=headers)).status == 500
    for _ in range(2):  # Pub/Sub retries, then delivers the same message once more
        assert (await client.post(f"/rcs/rbm/{AGENT}", data=body, headers=headers)).status == 200
    assert [(c, e.status) for c, e in got] == [(CHATBOT, "delivered")]


async def test_a_tap_reaches_the_user_handler(hook):
    client, got, _ = hook
    body, headers = _push(TAP, "2002")
    assert (await client.post(f"/rcs/rbm/{AGENT}", data=body, headers=headers)).status == 200
    ((chatbot, event),) = got
    assert chatbot == CHATBOT and event.postback == "btn_4_1_route_map"
