"""CnCspMaap against the MaaP simulator, and the simulator's callbacks into the platform's
endpoints, all over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import orjson
import pytest

from rcs.callbacks import signed_headers
from rcs.maap import (
    BOT_MESSAGE_TYPE,
    ContentPart,
    OutboundMessage,
    card_parts,
    file_parts,
    location_parts,
    text_parts,
)
from rcs.operators import CnCspMaap
from rcs.results import Capability, Outcome, classify_code

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
        parts=card_parts(CARD),
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
    # 40001: "获取 accessToken 时 appKey 错误"
    assert not result.accepted and result.outcome is Outcome.TOKEN and result.code == 40001


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


async def test_invalid_destination_is_refused(client):
    result = await client.send(message("inv", "+86123"))
    # 20002 "参数异常": the interface has no code of its own for a malformed number
    assert (result.accepted, result.outcome, result.code, result.http_status) == (
        False,
        classify_code(20002),
        20002,
        400,
    )


async def test_a_card_serialised_into_a_string_still_goes_as_an_object(client, receiver, simulator):
    """Parts built before the `*_parts` helpers (a card as JSON text) reach the strict MaaP as objects."""
    legacy = OutboundMessage(
        "legacy", "+8613800001231", (ContentPart(BOT_MESSAGE_TYPE, orjson.dumps(CARD).decode()),), "c", "k"
    )
    assert (await client.send(legacy)).accepted
    assert simulator.messages["legacy"].parts == [{"contentType": BOT_MESSAGE_TYPE, "contentText": CARD}]
    await receiver.status("legacy", "displayed")


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
        ("+8613800001231", Capability.UNKNOWN),
        ("+8613800001230", Capability.UNKNOWN),  # only a send tells: failed, code 2
        ("+86123", Capability.INVALID),
        ("13800001231", Capability.INVALID),
    ],
)
async def test_capability_is_never_asked_of_the_maap(client, simulator, number, expected):
    assert await client.check_capability(number) is expected
    assert (await client.check_capabilities([number])) == {number: expected}
    assert simulator.tokens_issued == 0  # no request at all reached the MaaP


async def test_media_upload_round_trip(client, simulator, receiver):
    media = await client.upload_media(
        b"\x89PNG fake image", "image/png", "a.png", thumbnail=(b"thumb", "image/jpeg", "t.jpg")
    )
    assert media.content_type == "image/png" and media.file_size == 15 and media.file_name == "a.png"
    assert media.until is not None  # a temporary upload says until when it lives
    assert media.thumbnail_url and media.url != media.thumbnail_url
    async with aiohttp.ClientSession() as s, s.get(media.url) as resp:
        assert await resp.read() == b"\x89PNG fake image"
    downloaded = await client.download_media(media.url)
    assert (downloaded.data, downloaded.content_type, downloaded.filename) == (
        b"\x89PNG fake image",
        "image/png",
        "a.png",
    )
    # the file goes in the file-transfer form; the MaaP takes the urls it issued
    assert (await client.send(OutboundMessage("file1", "+8613800001231", file_parts(media), "c", "k"))).accepted
    await receiver.status("file1", "delivered")
    # deleted, it is gone: neither downloadable nor sendable
    assert (await client.delete_media(media.url)).accepted
    result = await client.send(OutboundMessage("file2", "+8613800001231", file_parts(media), "c", "k"))
    assert (result.accepted, result.code) == (False, 40007)


async def test_permanent_upload_and_its_quota_counts(client):
    media = await client.upload_media(b"mp4", "video/mp4", "v.mp4", temporary=False)
    assert media.until is None
    deleted = await client.delete_media(media.url)
    assert deleted.accepted


async def test_chatbot_information_optionals_and_menu(client, simulator, receiver):
    info = await client.chatbot_info()
    assert (info["accessNo"], info["domain"]) == ("hongyan", "botplatform.sandbox.local")
    menu = {"entries": [{"reply": {"displayText": "帮助", "postback": {"data": "help"}}}]}
    assert (await client.update_menu(menu)).accepted
    assert (await client.chatbot_info())["menu"] == menu
    assert (await client.update_chatbot_optionals({"themeColour": "#FF0000"})).accepted
    assert (await client.chatbot_info())["themeColour"] == "#000000"  # pending the operator's audit
    assert await simulator.approve_optionals()
    assert (await client.chatbot_info())["themeColour"] == "#FF0000"
    _, audit = await receiver.notice()
    _, change = await receiver.notice()
    assert (audit.kind, audit.result, audit.audit_type) == ("audit_result", "pass", "chatbotInformation")
    assert change.kind == "information_change"
    too_many = {"entries": [{"reply": {"displayText": f"r{i}", "postback": {"data": "x"}}} for i in range(4)]}
    refused = await client.update_menu(too_many)
    assert (refused.accepted, refused.code) == (False, 40016)


def _assert_strict_page(page: str, headers) -> None:
    """Issue 13 finding 13: the handset pages had no CSP. No inline script may run (the one
    script is the simulator's own file, the live refresh); the one style block is allowed by
    its hash (and no inline style attribute needs more)."""
    import base64
    import hashlib

    csp = headers["Content-Security-Policy"]
    [style] = re.findall(r"<style>(.*?)</style>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert "script-src 'self';" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert re.findall(r"<script[^>]*>(.*?)</script>", page, re.S) == [""] and " style=" not in page
    assert '<script src="/handset/static/refresh.js" defer>' in page
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_handset_page_and_tap_sends_postback(client, receiver, simulator):
    assert (await client.send(message("card1", "+8613812341234"))).accepted
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{simulator.url}/handset") as resp:
            index = await resp.text()
            assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        assert "+86138****1234" in index and "+8613812341234" not in index
        async with s.get(f"{simulator.url}/handset/message/card1", allow_redirects=False) as resp:
            assert resp.status == 303
            page_url = resp.headers["Location"].split("#")[0]
        async with s.get(simulator.url + page_url) as resp:
            page = await resp.text()
            headers = resp.headers
        assert "双十一 &lt;b&gt;大促&lt;/b&gt;" in page  # card text shown, escaped
        _assert_strict_page(page, headers)
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
    # exactly the interface's example form of a suggestion response, inReplyTo added
    body = receiver.last_body("/messages")
    assert list(body) == [
        "messageId",
        "messageList",
        "destinationAddress",
        "senderAddress",
        "conversationId",
        "contributionId",
        "inReplyTo",
    ]
    assert body["messageList"] == [
        {
            "contentType": "application/vnd.gsma.botsuggestion.response.v1.0+json",
            "contentEncoding": "utf8",
            "contentText": {"response": {"action": {"displayText": "Open", "postback": {"data": "open=1"}}}},
        }
    ]
    assert (body["destinationAddress"], body["senderAddress"]) == (simulator.chatbot_id, "tel:+8613812341234")
    assert (body["conversationId"], body["inReplyTo"]) == ("conv-card1", "contrib-card1")
    assert body["contributionId"] not in ("contrib-card1", "") and body["messageId"] != "card1"


async def test_handset_shows_text_locations_files_and_chips(client, receiver, simulator):
    chips = [{"reply": {"displayText": "退订", "postback": {"data": "unsubscribe"}}}]
    media = await client.upload_media(b"%PDF", "image/png", "bill.png")
    sends = [
        ("h-text", text_parts("您的账单 <已出>", chips)),
        ("h-loc", location_parts(31.2304, 121.4737, "外滩")),
        ("h-file", file_parts(media)),
    ]
    for mid, parts in sends:
        assert (await client.send(OutboundMessage(mid, "+8613812341231", parts, "conv-h", "contrib-" + mid))).accepted
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{simulator.url}/handset/message/h-text") as resp:
            page = await resp.text()
    assert "您的账单 &lt;已出&gt;" in page  # text, escaped
    assert "外滩 (31.2304, 121.4737)" in page  # the location
    assert f'href="{media.url}">bill.png</a>' in page  # the file
    assert ">退订</button>" in page  # the chip list, tappable
    assert await simulator.tap("h-text", 0)
    _, event = await receiver.user()
    assert (event.kind, event.postback, event.in_reply_to) == ("suggestion_response", "unsubscribe", "contrib-h-text")


async def test_handset_reply_is_a_text_user_event(client, receiver, simulator):
    assert (await client.send(message("card2", "+8613812341235"))).accepted
    handset_id = simulator.messages["card2"].handset_id
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{simulator.url}/handset/{handset_id}/reply", data={"text": "你好"}) as resp:
            assert resp.status == 200
    _, event = await receiver.user()
    assert (event.kind, event.text, event.conversation_id) == ("text", "你好", "conv-card2")
    body = receiver.last_body("/messages")
    assert list(body) == [
        "messageId",
        "messageList",
        "dateTime",
        "destinationAddress",
        "senderAddress",
        "conversationId",
        "contributionId",
    ]
    assert body["messageList"] == [{"contentType": "text/plain", "contentText": "你好"}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00", body["dateTime"])


async def test_handset_shares_a_location(client, receiver, simulator):
    assert (await client.send(message("loc1", "+8613812341236"))).accepted
    assert await simulator.share_location("loc1", 39.9087, 116.3975, "天安门 广场")
    _, event = await receiver.user()
    assert event.kind == "location" and (event.location.latitude, event.location.longitude) == (39.9087, 116.3975)
    body = receiver.last_body("/messages")
    assert body["messageList"] == [
        {
            "contentType": "text/plain",
            "contentText": "geo:39.9087,116.3975;crs=gcj02;u=10;rcs-l=%E5%A4%A9%E5%AE%89%E9%97%A8%20%E5%B9%BF%E5%9C%BA",
        }
    ]
    assert "inReplyTo" not in body and body["conversationId"] == "conv-loc1"


async def test_handset_sends_a_file_the_chatbot_can_download(client, receiver, simulator):
    assert (await client.send(message("file3", "+8613812341232"))).accepted
    assert await simulator.send_file("file3", b"JPEGDATA", "image/jpeg", "photo.jpg", thumbnail=(b"T", "image/jpeg"))
    _, event = await receiver.user()
    assert event.kind == "file" and event.file.file_size == 8 and event.file.thumbnail_url
    body = receiver.last_body("/messages")
    (part,) = body["messageList"]
    assert (part["contentType"], part["contentEncoding"]) == ("application/vnd.gsma.rcs-ft-http", "utf8")
    assert [list(i) for i in part["contentText"]] == [
        ["type", "fileSize", "contentType", "url"],
        ["type", "fileSize", "fileName", "contentType", "url"],
    ]
    downloaded = await client.download_media(event.file.url)
    assert downloaded.data == b"JPEGDATA"


async def test_handset_shares_device_specifics(client, receiver, simulator):
    assert (await client.send(message("dev1", "+8613812341233"))).accepted
    assert await simulator.share_device_specifics("dev1")
    body = receiver.last_body("/messages")
    assert body["messageList"] == [
        {
            "contentType": "application/vnd.gsma.botsharedclientdata.v1.0+json",
            "contentEncoding": "utf8",
            "contentText": {
                "sharedData": {
                    "deviceSpecifics": {
                        "deviceModel": "OnePlus 7 Pro",
                        "platformVersion": "Android-9.1.2",
                        "clientVendor": "VNDR",
                        "clientVersion": "RCSAndrd-1.0",
                        "batteryRemainingMinutes": 517,
                    }
                }
            },
        }
    ]
    _, event = await receiver.user()
    assert event.kind == "device_specifics" and event.device.battery_remaining_minutes == 517


async def test_notices_in_the_interface_forms(receiver, simulator):
    assert await simulator.send_spam_report(["cf9e4a75-663b-1032-ac45-159f940783c5"])
    assert receiver.last_body("/notice/rcsspam") == {
        "messageId": ["cf9e4a75-663b-1032-ac45-159f940783c5"],
        "spamType": "垃圾消息",
        "freeText": "全是广告",
    }
    _, spam = await receiver.notice()
    assert (spam.kind, spam.message_ids) == ("spam_report", ("cf9e4a75-663b-1032-ac45-159f940783c5",))
    assert await simulator.send_audit_result("message", "fail", description="文件不符合规则", remark="messageId: m1")
    audit = receiver.last_body("/check")
    assert list(audit) == ["type", "result", "time", "description", "remark"]
    assert (audit["type"], audit["result"], audit["remark"]) == ("message", "fail", "messageId: m1")
    _, notice = await receiver.notice()
    assert (notice.kind, notice.subject_kind, notice.subject) == ("audit_result", "messageId", "m1")
    assert await simulator.send_information_change()
    assert receiver.last_body("/notice/informationChange")["accessNo"] == "hongyan"
    paths = [p for p, _ in receiver.bodies]
    chatbot = "sip%3Ahongyan%40botplatform.sandbox.local"
    assert paths == [
        f"/rcs/notifyInfoNotification/{chatbot}/notice/rcsspam",
        f"/rcs/notifyInfoNotification/{chatbot}/check",
        f"/rcs/notifyInfoNotification/{chatbot}/notice/informationChange",
    ]


async def test_statuses_in_the_interface_form(client, receiver, simulator):
    assert (await client.send(message("st1", "+8613800001230"))).accepted
    failed, _ = await receiver.status("st1", "failed")
    (info,) = receiver.last_body("/status")["deliveryInfoList"]
    assert list(info) == [
        "messageId",
        "status",
        "errorCode",
        "errorMessage",
        "dateTime",
        "destinationAddress",
        "senderAddress",
    ]
    assert (info["destinationAddress"], info["senderAddress"]) == (simulator.chatbot_id, "tel:+8613800001230")
    assert (info["status"], info["errorCode"]) == ("failed", 2)


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


async def test_a_public_only_client_does_not_connect_to_loopback(simulator):
    """A brand's own channel outside the sandbox: its server root is the brand's choice, so the
    client refuses non-public addresses when it connects (issue 12's leftover, finding 12's parser)."""
    from dataclasses import replace

    for root in (
        simulator.client_settings().server_root,
        f"0x7f000001:{simulator.port}",
        f"localhost:{simulator.port}",
    ):
        maap = CnCspMaap(replace(simulator.client_settings(), server_root=root, public_only=True))
        try:
            result = await maap.send(message(f"m-{root}", "+8613800001231"))
            assert not result.accepted and result.outcome == Outcome.RETRY, result
            assert "public" in (result.detail or "")
        finally:
            await maap.close()
    assert simulator.tokens_issued == 0 and not simulator.messages  # nothing reached it


async def test_a_public_only_client_does_not_follow_a_name_inside(simulator):
    """A name that passed registration but resolves to a private address now: no connection."""
    import socket

    from security.addresses import host_refusal

    name = socket.gethostname()
    if all(not host_refusal(a[4][0]) for a in socket.getaddrinfo(name, simulator.port)):
        pytest.skip(f"{name} resolves to a public address here")
    from dataclasses import replace

    maap = CnCspMaap(replace(simulator.client_settings(), server_root=f"{name}:{simulator.port}", public_only=True))
    try:
        result = await maap.send(message("m-name", "+8613800001231"))
    finally:
        await maap.close()
    assert not result.accepted and result.outcome == Outcome.RETRY
    assert simulator.tokens_issued == 0


async def test_a_public_only_client_follows_no_redirect(aiohttp_server):
    """A redirect could name a literal private address, which no resolver would see: a brand's
    channel client takes the MaaP's answer as final."""
    from aiohttp import web

    from rcs.operators.cn_csp import CnCspSettings

    inside_hits = []

    async def inside(request):
        inside_hits.append(request.path)
        return web.json_response({"accessToken": "t", "expires": 3600})

    inner = await aiohttp_server(_app({"/{tail:.*}": inside}))

    async def redirect(request):
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{inner.port}{request.path}")

    outer = await aiohttp_server(_app({"/{tail:.*}": redirect}))

    class _Dns:  # "maap.brand.example" is this test's outer server (stands in for public DNS)
        async def resolve(self, host, port=0, family=0):
            return [{"hostname": host, "host": "127.0.0.1", "port": outer.port, "family": 2, "proto": 0, "flags": 0}]

        async def close(self):
            pass

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_Dns()))
    settings = CnCspSettings(
        server_root=f"maap.brand.example:{outer.port}",
        chatbot_id="sip:12520001@botplatform.example.cn",
        app_id="a",
        app_key="k",
        scheme="http",
        public_only=True,
    )
    maap = CnCspMaap(settings, session=session)
    try:
        result = await maap.send(message("m-redirect", "+8613800001231"))
    finally:
        await session.close()
    assert not result.accepted and inside_hits == []


def _app(handlers: dict):
    from aiohttp import web

    app = web.Application()
    for path, handler in handlers.items():
        app.router.add_route("*", path, handler)
    return app
