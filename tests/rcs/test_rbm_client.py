"""The RBM client against the strict RBM simulator over loopback: OAuth with the agent's
service-account key, what RBM refuses, revoke outcomes, capability look-ups, Google errors."""

from __future__ import annotations

import logging

import aiohttp
import orjson
import pytest

from rcs.maap import ContentPart, OutboundMessage, card_parts
from rcs.operators.rbm import RbmChannel, classify_google
from rcs.rbm_simulator import RbmSimulator, new_service_account
from rcs.results import Capability, Outcome
from rcs.simulator import SimulatorTiming
from tests.conftest import card

AGENT = "test_agent_01"


@pytest.fixture
async def sim():
    simulator = RbmSimulator(timing=SimulatorTiming(delivery_delay_s=0.05, display_delay_s=0.05))
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def rbm(sim):
    revoked: list = []

    async def on_delivery(chatbot_id, events):
        revoked.extend((chatbot_id, e.message_id, e.status) for e in events)

    account = sim.add_agent(AGENT, client_token="t")
    config = {
        "server_root": sim.root,
        "scheme": "http",
        "chatbot_id": f"sip:{AGENT}@rbm.goog",
        "app_id": account["client_email"],
        "app_key": orjson.dumps(account).decode(),
    }
    channel = RbmChannel.from_config(config, on_delivery=on_delivery)
    yield channel, revoked
    await channel.close()


def _message(mid: str, to: str, parts=None) -> OutboundMessage:
    return OutboundMessage(mid, to, parts or card_parts(card()), "conv", mid)


async def test_one_token_serves_many_sends_and_a_rejected_one_is_renewed(sim, rbm):
    channel, _ = rbm
    for i in range(3):
        assert (await channel.send(_message(f"m{i}", "+8613800138001"))).accepted
    assert channel.tokens.issued == 1
    sim.tokens.clear()  # RBM forgot it (revoked, rotated): 401, a new token, the send goes
    assert (await channel.send(_message("m3", "+8613800138001"))).accepted
    assert channel.tokens.issued == 2


async def test_a_key_rbm_does_not_know_is_refused_at_the_token_endpoint(sim):
    sim.add_agent(AGENT, client_token="t")
    stranger, _ = new_service_account(sim.agents[AGENT].client_email, sim.token_uri)  # same email, other key
    channel = RbmChannel.from_config(
        {
            "server_root": sim.root,
            "scheme": "http",
            "agent_id": AGENT,
            "service_account_key": orjson.dumps(stranger).decode(),
        }
    )
    result = await channel.send(_message("m1", "+8613800138001"))
    await channel.close()
    assert (result.accepted, result.outcome) == (False, Outcome.TOKEN)


@pytest.mark.parametrize(
    ("to", "outcome", "status"),
    [
        ("+8613800138001", Outcome.ACCEPTED, 200),
        ("+8613800138010", Outcome.PERMANENT, 404),  # not RCS-capable: SMS
        ("+8613800138008", Outcome.RETRY, 503),
    ],
)
async def test_sandbox_endings_answer_sends(rbm, to, outcome, status):
    channel, _ = rbm
    result = await channel.send(_message("m-" + to[-3:], to))
    assert (result.outcome, result.http_status) == (outcome, status)


async def test_the_eighth_ending_accepts_after_two_refusals(rbm):
    channel, _ = rbm
    answers = [(await channel.send(_message("m8", "+8613800138008"))).http_status for _ in range(3)]
    assert answers == [503, 503, 200]


async def test_revoke_outcomes_reach_dispatch_as_statuses(sim, rbm):
    channel, revoked = rbm
    assert (await channel.send(_message("never", "+8613800138007"))).accepted
    assert (await channel.revoke("never", "+8613800138007")).accepted
    assert (await channel.revoke("unknown", "+8613800138001")).accepted  # answered: revokeFail
    assert revoked == [
        (f"sip:{AGENT}@rbm.goog", "never", "revokeOk"),
        (f"sip:{AGENT}@rbm.goog", "unknown", "revokeFail"),
    ]
    assert sim.messages[(AGENT, "never")].state == "revoked"


async def test_capabilities_one_and_many(rbm):
    channel, _ = rbm
    assert await channel.check_capability("+8613800138001") is Capability.SUPPORTED
    assert await channel.check_capability("+8613800138000") is Capability.NOT_SUPPORTED
    assert await channel.check_capability("12345") is Capability.INVALID
    many = await channel.check_capabilities(["+8613800138001", "+8613800138009", "+8613800138100", "nope"])
    assert many == {
        "+8613800138001": Capability.SUPPORTED,
        "+8613800138009": Capability.NOT_SUPPORTED,
        "+8613800138100": Capability.NOT_SUPPORTED,
        "nope": Capability.INVALID,
    }


async def test_numbers_are_masked_in_logs(rbm, caplog):
    channel, _ = rbm
    with caplog.at_level(logging.DEBUG):
        await channel.send(_message("m0", "+8613800138010"))
    assert "13800138010" not in caplog.text and "m0" in caplog.text


BAD = [
    ({"contentMessage": {"text": "a", "richCard": {}}}, "exactly one"),
    ({"contentMessage": {"text": "a", "colour": 1}}, 'Unknown name "colour"'),
    ({"contentMessage": {"text": "a" * 3073}}, "3072"),
    ({"contentMessage": {"text": "a"}, "ttl": "10s", "expireTime": "2026-01-01T00:00:00Z"}, "both"),
    ({"contentMessage": {"text": "a"}, "ttl": "ten"}, "duration"),
    ({"contentMessage": {"text": "a", "suggestions": [{"reply": {"text": "r", "postbackData": "p"}}] * 12}}, "1 to 11"),
    ({"contentMessage": {"text": "a", "suggestions": [{"reply": {"text": "x" * 26}}]}}, "1 to 25"),
    (
        {
            "contentMessage": {
                "richCard": {"standaloneCard": {"cardOrientation": "HORIZONTAL", "cardContent": {"title": "t"}}}
            }
        },
        "thumbnailImageAlignment",
    ),
    (
        {"contentMessage": {"richCard": {"carouselCard": {"cardWidth": "SMALL", "cardContents": [{"title": "t"}]}}}},
        "2 to 10",
    ),
    (
        {
            "contentMessage": {
                "richCard": {
                    "carouselCard": {
                        "cardWidth": "SMALL",
                        "cardContents": [
                            {"media": {"height": "TALL", "contentInfo": {"fileUrl": "https://x.test/a.jpg"}}},
                            {"title": "t"},
                        ],
                    }
                }
            }
        },
        "TALL",
    ),
    (
        {
            "contentMessage": {
                "text": "a",
                "suggestions": [{"action": {"text": "call", "dialAction": {"phoneNumber": "12"}}}],
            }
        },
        "E.164",
    ),
    (
        {
            "contentMessage": {
                "text": "a",
                "suggestions": [
                    {"action": {"text": "go", "openUrlAction": {"url": "https://x.test", "webviewViewMode": "FULL"}}}
                ],
            }
        },
        "WEBVIEW",
    ),
    ({"contentMessage": {"text": "a"}, "messageTrafficType": "SPAM"}, "messageTrafficType"),
]


@pytest.mark.parametrize(("body", "words"), BAD)
async def test_the_simulator_refuses_what_rbm_refuses(sim, rbm, body, words):
    channel, _ = rbm
    token = await channel.tokens.get()
    async with aiohttp.ClientSession() as http:
        url = f"http://{sim.root}/v1/phones/+8613800138001/agentMessages"
        async with http.post(
            url, params={"messageId": "x", "agentId": AGENT}, json=body, headers={"authorization": f"Bearer {token}"}
        ) as resp:
            answer = await resp.json()
    assert resp.status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"
    assert words in answer["error"]["message"]


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}, Outcome.THROTTLE),
        (503, {"error": {"code": 503, "status": "UNAVAILABLE"}}, Outcome.RETRY),
        (404, {"error": {"code": 404, "status": "NOT_FOUND"}}, Outcome.PERMANENT),
        (400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, Outcome.INVALID),
        (401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, Outcome.TOKEN),
        (403, {"error": {"code": 403, "status": "PERMISSION_DENIED"}}, Outcome.PERMANENT),
        (409, {"error": {"code": 409, "status": "ALREADY_EXISTS"}}, Outcome.INVALID),
        (200, {}, Outcome.ACCEPTED),
    ],
)
def test_google_errors(status, body, outcome):
    assert classify_google(status, body).outcome is outcome


async def test_unknown_action_kinds_never_reach_rbm(rbm):
    channel, _ = rbm
    chips = ContentPart(
        "application/vnd.gsma.botsuggestion.v1.0+json",
        {"suggestions": [{"action": {"displayText": "x", "deviceAction": {}}}]},
    )
    result = await channel.send(_message("mx", "+8613800138001", (ContentPart("text/plain", "hi"), chips)))
    assert result.outcome is Outcome.INVALID and "deviceAction" in result.detail


async def test_the_assertion_is_googles_jwt_bearer_claim_set(sim):
    """RFC 7523 as Google's OAuth for service accounts takes it: RS256 with the key's id, iss the
    client_email, aud the token URI, the rbm scope, at most an hour."""
    import jwt

    account = sim.add_agent(AGENT, client_token="t")
    channel = RbmChannel.from_config(
        {
            "server_root": sim.root,
            "scheme": "http",
            "agent_id": AGENT,
            "service_account_key": orjson.dumps(account).decode(),
        },
        clock=lambda: 1_700_000_000.0,
    )
    assertion = channel.assertion()
    header = jwt.get_unverified_header(assertion)
    claims = jwt.decode(
        assertion,
        sim.agents[AGENT].public_key,
        algorithms=["RS256"],
        audience=sim.token_uri,
        options={"verify_exp": False},
    )
    assert header == {"alg": "RS256", "typ": "JWT", "kid": account["private_key_id"]}
    assert claims == {
        "iss": account["client_email"],
        "scope": "https://www.googleapis.com/auth/rcsbusinessmessaging",
        "aud": sim.token_uri,
        "iat": 1_700_000_000,
        "exp": 1_700_003_600,
    }
    await channel.close()


async def test_requests_have_the_form_of_googles_curl_samples(aiohttp_server):
    """Method, path and query of each call as Google's RBM command-line samples write them
    (send, revoke, capability, users:batchGet), with a bearer token."""
    from aiohttp import web

    seen: list = []

    async def token(request):
        return web.json_response({"access_token": "ya29.t", "expires_in": 3600, "token_type": "Bearer"})

    async def record(request):
        body = await request.read()
        seen.append(
            (
                request.method,
                request.raw_path.split("?")[0],
                dict(request.query),
                request.headers.get("Authorization"),
                orjson.loads(body) if body else None,
            )
        )
        return web.json_response({"reachableUsers": []} if request.path.endswith("batchGet") else {})

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_route("*", "/{tail:.*}", record)
    server = await aiohttp_server(app)
    account, _ = new_service_account("a@p.iam.gserviceaccount.com", f"http://127.0.0.1:{server.port}/token")
    channel = RbmChannel.from_config(
        {
            "server_root": f"127.0.0.1:{server.port}",
            "scheme": "http",
            "agent_id": AGENT,
            "service_account_key": orjson.dumps(account).decode(),
        },
        request_ids=lambda: "1234",
    )
    await channel.send(
        OutboundMessage("1234566622a1", "+12223334444", (ContentPart("text/plain", "Hello World"),), "c", "c")
    )
    await channel.revoke("1234566622a1", "+12223334444")
    await channel.check_capability("+12223334444")
    await channel.check_capabilities(["+12223334444", "+12223334445"])
    await channel.close()
    bearer = "Bearer ya29.t"
    assert seen == [
        (
            "POST",
            "/v1/phones/+12223334444/agentMessages",
            {"messageId": "1234566622a1", "agentId": AGENT},
            bearer,
            {"contentMessage": {"text": "Hello World"}},
        ),
        ("DELETE", "/v1/phones/+12223334444/agentMessages/1234566622a1", {"agentId": AGENT}, bearer, None),
        ("GET", "/v1/phones/+12223334444/capabilities", {"requestId": "1234", "agentId": AGENT}, bearer, None),
        ("POST", "/v1/users:batchGet", {}, bearer, {"users": ["+12223334444", "+12223334445"], "agentId": AGENT}),
    ]
