"""CnCspMaap against the MaaP simulator, and the simulator's callbacks into the platform's
endpoints, all over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from rcs.callbacks import signed_headers
from rcs.maap import BOT_MESSAGE_TYPE, ContentPart, OutboundMessage
from rcs.operators import CnCspMaap
from rcs.results import Capability, Outcome

CARD = {
    "message": {
        "generalPurposeCard": {
            "layout": {"cardOrientation": "VERTICAL"},
            "content": {
                "title": "双十一 <b>大促</b>",
                "description": "Tap one",
                "suggestions": [
                    {"reply": {"displayText": "Yes", "postback": {"data": "answer=yes"}}},
                    {
                        "action": {
                            "displayText": "Open",
                            "postback": {"data": "open=1"},
                            "urlAction": {"openUrl": {"url": "https://example.cn", "application": "browser"}},
                        }
                    },
                ],
            },
        }
    }
}


def message(message_id: str, to: str) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        to=to,
        parts=(ContentPart(BOT_MESSAGE_TYPE, orjson.dumps(CARD).decode()),),
        conversation_id="conv-" + message_id,
        contribution_id="contrib-" + message_id,
    )


async def test_token_issued_once_and_reused(client, simulator):
    for i in range(3):
        assert (await client.send(message(f"m{i}", "+8613800001231"))).accepted
    assert simulator.tokens_issued == 1
    assert client.tokens.issued == 1


async def test_concurrent_first_calls_fetch_one_token(client, simulator):
    results = await asyncio.gather(*(client.send(message(f"c{i}", "+8613800001232")) for i in range(20)))
    assert all(r.accepted for r in results)
    assert simulator.tokens_issued == 1


async def test_token_invalidated_by_a_new_one_is_refreshed_and_retried_once(client, simulator):
    assert (await client.send(message("before", "+8613800001233"))).accepted
    # Another holder asks for a token: the operator invalidates ours.
    other = CnCspMaap(simulator.client_settings())
    try:
        assert (await other.send(message("other", "+8613800001234"))).accepted
    finally:
        await other.close()
    result = await client.send(message("after", "+8613800001235"))
    assert result.accepted and result.outcome is Outcome.ACCEPTED
    assert client.tokens.issued == 2 and simulator.tokens_issued == 3


async def test_token_refreshed_ahead_of_expiry(simulator):
    now = [1_000_000.0]
    maap = CnCspMaap(simulator.client_settings(), clock=lambda: now[0])
    simulator.clock = lambda: now[0]
    try:
        assert (await maap.send(message("t1", "+8613800001231"))).accepted
        now[0] += 7200 - 299  # inside the 300 s refresh margin
        assert (await maap.send(message("t2", "+8613800001231"))).accepted
        assert maap.tokens.issued == 2
    finally:
        await maap.close()


async def test_wrong_app_key_is_a_token_failure(simulator):
    settings = simulator.client_settings()
    bad = CnCspMaap(type(settings)(**{**settings.__dict__, "app_key": "wrong"}))
    try:
        result = await bad.send(message("bad", "+8613800001231"))
    finally:
        await bad.close()
    assert not result.accepted and result.outcome is Outcome.TOKEN and result.code == 40014


async def test_delivered_then_displayed(client, receiver):
    assert (await client.send(message("ok1", "+8613800001231"))).accepted
    displayed, seen = await receiver.status("ok1", "displayed")
    assert [e.status for e in seen] == ["delivered", "displayed"]
    assert displayed.error_code is None


@pytest.mark.parametrize("number", ["+8613800001230", "+8613800001239", "+8613800001200"])
async def test_not_capable_numbers_fail_with_code_2(client, receiver, number):
    mid = "nc" + number[-3:]
    assert (await client.send(message(mid, number))).accepted
    failed, _ = await receiver.status(mid, "failed")
    assert failed.error_code == 2


async def test_never_delivered_then_revoke_ok(client, receiver, simulator):
    assert (await client.send(message("m7", "+8613800001237"))).accepted
    result = await client.revoke("m7", "+8613800001237")
    assert result.accepted
    revoked, seen = await receiver.status("m7", "revokeOk")
    assert [e.status for e in seen] == ["revokeOk"]  # never delivered before it


async def test_revoke_after_delivery_fails(client, receiver):
    assert (await client.send(message("late", "+8613800001231"))).accepted
    await receiver.status("late", "delivered")
    assert (await client.revoke("late", "+8613800001231")).accepted
    await receiver.status("late", "revokeFail")


async def test_eight_answers_503_twice_then_accepts(client, receiver):
    first = await client.send(message("m8", "+8613800001218"))
    second = await client.send(message("m8", "+8613800001218"))
    third = await client.send(message("m8", "+8613800001218"))
    for r in (first, second):
        assert (r.accepted, r.outcome, r.code, r.http_status) == (False, Outcome.RETRY, -1, 503)
    assert third.accepted
    await receiver.status("m8", "displayed")


async def test_invalid_destination_is_a_validation_error(client):
    result = await client.send(message("inv", "+86123"))
    assert (result.accepted, result.outcome, result.code) == (False, Outcome.INVALID, 40006)


async def test_unreachable_maap_is_transient(unused_tcp_port):
    from rcs.operators import CnCspSettings

    maap = CnCspMaap(CnCspSettings(f"127.0.0.1:{unused_tcp_port}", "sip:x@y", "a", "k", scheme="http"))
    try:
        result = await maap.send(message("down", "+8613800001231"))
        capability = await maap.check_capability("+8613800001231")
    finally:
        await maap.close()
    assert (result.accepted, result.outcome) == (False, Outcome.RETRY)  # token endpoint unreachable
    assert capability is Capability.UNKNOWN


@pytest.mark.parametrize(
    "number, expected",
    [
        ("+8613800001231", Capability.SUPPORTED),
        ("+8613800001238", Capability.SUPPORTED),
        ("+8613800001230", Capability.NOT_SUPPORTED),
        ("+8613800001239", Capability.NOT_SUPPORTED),
        ("+8613800001200", Capability.NOT_SUPPORTED),
        ("+86123", Capability.INVALID),
        ("13800001231", Capability.INVALID),
    ],
)
async def test_capability_single(client, number, expected):
    assert await client.check_capability(number) is expected


async def test_capability_batch(client):
    numbers = [f"+86138000{i:05d}" for i in range(1200)] + ["bogus"]
    answers = await client.check_capabilities(numbers)
    assert len(answers) == len(numbers)
    assert answers["bogus"] is Capability.INVALID
    assert answers["+8613800000001"] is Capability.SUPPORTED
    assert answers["+8613800000100"] is Capability.NOT_SUPPORTED
    assert answers["+8613800000019"] is Capability.NOT_SUPPORTED


async def test_media_upload_round_trip(client):
    media = await client.upload_media(
        b"\x89PNG fake image", "image/png", "a.png", thumbnail=(b"thumb", "image/jpeg", "t.jpg")
    )
    assert media.content_type == "image/png" and media.file_size == 15
    assert media.thumbnail_url and media.url != media.thumbnail_url
    async with aiohttp.ClientSession() as s, s.get(media.url) as resp:
        assert await resp.read() == b"\x89PNG fake image"


async def test_handset_page_and_tap_sends_postback(client, receiver, simulator):
    assert (await client.send(message("card1", "+8613812341234"))).accepted
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{simulator.url}/handset") as resp:
            index = await resp.text()
        assert "+86138****1234" in index and "+8613812341234" not in index
        async with s.get(f"{simulator.url}/handset/message/card1", allow_redirects=False) as resp:
            assert resp.status == 303
            page_url = resp.headers["Location"].split("#")[0]
        async with s.get(simulator.url + page_url) as resp:
            page = await resp.text()
        assert "双十一 &lt;b&gt;大促&lt;/b&gt;" in page  # card text shown, escaped
        assert ">Yes</button>" in page and ">Open</button>" in page
        async with s.post(
            simulator.url + page_url + "/tap", data={"message_id": "card1", "index": "1"}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
    chatbot, event = await receiver.user()
    assert chatbot == simulator.chatbot_id
    assert event.kind == "suggestion_response"
    assert (event.postback, event.display_text, event.from_number) == ("open=1", "Open", "+8613812341234")
    assert event.in_reply_to == "contrib-card1" and event.conversation_id == "conv-card1"


async def test_handset_reply_is_a_text_user_event(client, receiver, simulator):
    assert (await client.send(message("card2", "+8613812341235"))).accepted
    handset_id = simulator.messages["card2"].handset_id
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{simulator.url}/handset/{handset_id}/reply", data={"text": "你好"}) as resp:
            assert resp.status == 200
    _, event = await receiver.user()
    assert (event.kind, event.text) == ("text", "你好")


async def test_callbacks_with_a_wrong_token_are_rejected(receiver, simulator):
    async with aiohttp.ClientSession() as s:
        headers = signed_headers("not-the-token", simulator.clock())
        async with s.post(
            f"{receiver.url}/deliveryNotification/x/status", json={"deliveryInfoList": []}, headers=headers
        ) as resp:
            assert resp.status == 401
            assert (await resp.json())["detail"] == "callback rejected: bad_signature"
    assert receiver.statuses == []


async def test_url_verification_handshake(receiver, simulator):
    async with aiohttp.ClientSession() as s:
        headers = {**signed_headers("test-callback-token", simulator.clock()), "echoStr": "abc123"}
        async with s.get(f"{receiver.url}/notifyPath", headers=headers) as resp:
            assert resp.status == 200
            assert (resp.headers["echoStr"], resp.headers["appId"]) == ("abc123", "test-app")
        # Same nonce again is a replay.
        async with s.get(f"{receiver.url}/notifyPath", headers=headers) as resp:
            assert resp.status == 401


async def test_access_log_never_carries_numbers_or_paths(client, simulator, caplog):
    caplog.set_level("DEBUG")
    assert (await client.send(message("log1", "+8613812345671"))).accepted
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{simulator.url}/handset/message/log1") as resp:
            assert resp.status == 200
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/handset/message/{message_id}" in text  # route templates are logged
    assert "+8613812345671" not in text and "/handset/message/log1" not in text


async def test_short_token_lifetime_renews_half_way(simulator):
    now = [1_000_000.0]
    simulator.clock = lambda: now[0]
    simulator.timing = type(simulator.timing)(token_lifetime_s=100)  # shorter than 2 × margin
    maap = CnCspMaap(simulator.client_settings(), clock=lambda: now[0])
    try:
        assert (await maap.send(message("s1", "+8613800001231"))).accepted
        now[0] += 49
        assert (await maap.send(message("s2", "+8613800001231"))).accepted
        assert maap.tokens.issued == 1
        now[0] += 2
        assert (await maap.send(message("s3", "+8613800001231"))).accepted
        assert maap.tokens.issued == 2
    finally:
        await maap.close()


async def test_from_config():
    maap = CnCspMaap.from_config({"server_root": "127.0.0.1:1", "chatbot_id": "sip:a@b", "app_id": "i", "app_key": "k"})
    assert maap.settings.base_url == "https://127.0.0.1:1/bot/v1/sip%3Aa%40b"
    with pytest.raises(ValueError, match="nope"):
        CnCspMaap.from_config({"nope": 1})


async def test_unknown_chatbot_is_refused(receiver):
    receiver.endpoints.chatbot_ids = frozenset({"sip:x@y"})
    async with aiohttp.ClientSession() as s:
        for chatbot, expected in [("sip%3Aother%40bot", 404), ("sip%3Ax%40y", 204)]:
            headers = signed_headers("test-callback-token", receiver.endpoints.clock())
            async with s.post(
                f"{receiver.url}/deliveryNotification/{chatbot}/status", json={"deliveryInfoList": []}, headers=headers
            ) as resp:
                assert resp.status == expected
