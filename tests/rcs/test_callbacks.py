"""Callback signatures, replay protection and parsing into typed events."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from rcs.callbacks import (
    FILE_TRANSFER_JSON_TYPE,
    SHARED_CLIENT_DATA_TYPE,
    CallbackFormatError,
    NonceCache,
    Verdict,
    callback_signature,
    parse_audit_result,
    parse_delivery_callback,
    parse_information_change,
    parse_spam_report,
    parse_user_callback,
    signed_headers,
    verify_callback,
)
from rcs.maap import FILE_TRANSFER_TYPE, PUSH_LOCATION_TYPE, SUGGESTION_RESPONSE_TYPE
from rcs.results import DeviceSpecifics, Location

TOKEN = "cb-token"
NOW = 1_780_000_000.0
NOW_DT = datetime.fromtimestamp(NOW, UTC)


def headers(ts: float = NOW, nonce: str = "n1", token: str = TOKEN, ms: bool = True) -> dict:
    t = str(int(ts * 1000)) if ms else str(int(ts))
    return {"timestamp": t, "nonce": nonce, "signature": callback_signature(token, t, nonce)}


def test_signature_is_sha256_of_sorted_parts():
    expected = hashlib.sha256("".join(sorted(["tok", "1700000000000", "abc"])).encode()).hexdigest()
    assert callback_signature("tok", "1700000000000", "abc") == expected


@pytest.mark.parametrize(
    "hdrs, verdict",
    [
        (headers(), Verdict.OK),
        (headers(ms=False), Verdict.OK),  # seconds accepted too
        ({**headers(), "signature": headers()["signature"].upper()}, Verdict.OK),
        (headers(token="someone-else"), Verdict.BAD_SIGNATURE),
        ({**headers(), "nonce": "other"}, Verdict.BAD_SIGNATURE),  # signature covers the nonce
        (headers(ts=NOW - 301), Verdict.STALE),
        (headers(ts=NOW + 301), Verdict.STALE),
        (headers(ts=NOW - 299), Verdict.OK),
        ({"timestamp": "1", "nonce": "x"}, Verdict.MISSING),
        ({}, Verdict.MISSING),
    ],
)
def test_verify_callback(hdrs, verdict):
    assert verify_callback(hdrs, TOKEN, nonces=NonceCache(), now=NOW) is verdict


def test_signed_headers_follow_the_interface():
    # timestamp: seconds since the epoch; nonce: a UUID
    h = signed_headers(TOKEN, NOW)
    assert h["timestamp"] == str(int(NOW))
    assert uuid.UUID(h["nonce"])
    assert h["signature"] == callback_signature(TOKEN, h["timestamp"], h["nonce"])
    assert verify_callback(h, TOKEN, nonces=NonceCache(), now=NOW) is Verdict.OK
    ms = signed_headers(TOKEN, NOW, "n", millis=True)
    assert ms["timestamp"] == str(int(NOW * 1000))
    assert verify_callback(ms, TOKEN, nonces=NonceCache(), now=NOW) is Verdict.OK


def test_replayed_nonce_is_rejected_until_it_expires():
    nonces = NonceCache(ttl_s=600)
    assert verify_callback(headers(nonce="a"), TOKEN, nonces=nonces, now=NOW) is Verdict.OK
    assert verify_callback(headers(nonce="a"), TOKEN, nonces=nonces, now=NOW + 1) is Verdict.REPLAYED
    assert verify_callback(headers(nonce="b"), TOKEN, nonces=nonces, now=NOW + 1) is Verdict.OK
    # Once the TTL passed the timestamp is stale anyway; the cache forgets the nonce.
    assert nonces.add("a", NOW + 601) and len(nonces) == 1  # "b" expired as well


def test_forged_request_does_not_burn_a_nonce():
    nonces = NonceCache()
    assert verify_callback(headers(nonce="z", token="x"), TOKEN, nonces=nonces, now=NOW) is Verdict.BAD_SIGNATURE
    assert verify_callback(headers(nonce="z"), TOKEN, nonces=nonces, now=NOW) is Verdict.OK


def test_nonce_cache_is_bounded():
    nonces = NonceCache(ttl_s=600, max_entries=3)
    for i in range(10):
        assert nonces.add(str(i), NOW)
    assert len(nonces) <= 3


def test_parse_delivery():
    body = {
        "deliveryInfoList": [
            {
                "messageId": "m1",
                "status": "delivered",
                "dateTime": "2026-11-23T09:00:00.500Z",
                "destinationAddress": "tel:+8613800001231",
            },
            {"messageId": "m2", "status": "failed", "errorCode": "2", "errorMessage": "not 5G"},
            {"messageId": "m3", "status": "revokeOk"},
        ]
    }
    events = parse_delivery_callback(body, now=NOW_DT)
    assert [(e.message_id, e.status, e.error_code) for e in events] == [
        ("m1", "delivered", None),
        ("m2", "failed", 2),
        ("m3", "revokeOk", None),
    ]
    assert events[0].at == datetime(2026, 11, 23, 9, 0, 0, 500000, tzinfo=UTC)
    assert events[1].at == NOW_DT and events[1].error_message == "not 5G"


@pytest.mark.parametrize(
    "body, path",
    [
        ({"deliveryInfoList": {}}, "/deliveryInfoList"),
        ({"deliveryInfoList": [1]}, "/deliveryInfoList/0"),
        ({"deliveryInfoList": [{"status": "sent"}]}, "/deliveryInfoList/0/messageId"),
        ({"deliveryInfoList": [{"messageId": "m"}]}, "/deliveryInfoList/0/status"),
    ],
)
def test_parse_delivery_errors(body, path):
    with pytest.raises(CallbackFormatError) as err:
        parse_delivery_callback(body, now=NOW_DT)
    assert err.value.path == path


def test_parse_delivery_without_a_list_is_no_events():
    # deliveryInfoList is optional in the interface
    assert parse_delivery_callback({}, now=NOW_DT) == []
    assert parse_delivery_callback({"deliveryInfoList": None}, now=NOW_DT) == []


@pytest.mark.parametrize(
    "item, recipient",
    [
        ({"senderAddress": "tel:+8613800001231", "destinationAddress": "sip:bot@x"}, "+8613800001231"),
        ({"destinationAddress": "tel:+8613800001231", "senderAddress": "sip:bot@x"}, "+8613800001231"),
        ({"destinationAddress": ["tel:+8613800001231"]}, "+8613800001231"),
        ({"destinationAddress": "sip:bot@x"}, None),
        ({}, None),
        # The canonical E.164 form, whatever the spelling: messages are matched on it.
        ({"senderAddress": "tel:+86-138-0000-1231"}, "+8613800001231"),
        ({"senderAddress": "tel:+8613800001231;phone-context=+86"}, "+8613800001231"),
        ({"senderAddress": "tel:+86138000012٣1"}, "+8613800001231"),
        ({"senderAddress": "tel:not-a-number"}, None),
    ],
)
def test_delivery_recipient_is_the_tel_address(item, recipient):
    (event,) = parse_delivery_callback({"deliveryInfoList": [{"messageId": "m", "status": "sent", **item}]}, now=NOW_DT)
    assert event.recipient == recipient


@pytest.mark.parametrize(
    "sender",
    [
        "tel:+8613812341234",
        "tel:+86 138-1234-1234",
        "tel:+86138123412٣4",
        "tel:＋８６１３８１２３４１２３４",
        "sip:+8613812341234@ims.mnc001.mcc460.3gppnetwork.org;user=phone",
    ],
)
def test_the_users_number_arrives_canonical(sender):
    """A reply is matched to its conversation by the blind index of this number: any other
    spelling of it would miss (or, for an opt-out, leave the number on no list)."""
    event = parse_user_callback({**mo("text/plain", "hi"), "senderAddress": sender}, now=NOW_DT)
    assert event.from_number == "+8613812341234"


@pytest.mark.parametrize("sender", ["tel:", "tel:hello", "sip:bot@x", 13812341234])
def test_a_user_message_without_a_number_is_refused(sender):
    with pytest.raises(CallbackFormatError) as info:
        parse_user_callback({**mo("text/plain", "hi"), "senderAddress": sender}, now=NOW_DT)
    assert info.value.path == "/senderAddress"


def mo(content_type: str, content_text, **extra) -> dict:
    return {
        "messageId": "mo1",
        "senderAddress": "tel:+8613812341234",
        "destinationAddress": "sip:bot@x",
        "dateTime": "2026-11-23T09:00:00Z",
        "conversationId": "c1",
        "contributionId": "k1",
        "messageList": [{"contentType": content_type, "contentText": content_text}],
        **extra,
    }


PUSH_LOCATION = """<?xml version="1.0" encoding="UTF-8"?>
<rcsenvelope xmlns="urn:gsma:params:xml:ns:rcs:rcs:geolocation"
  xmlns:gml="http://www.opengis.net/gml" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10">
 <rcspushlocation id="a1" label="公司">
  <gp:geopriv><gp:location-info><gml:Point srsName="urn:ogc:def:crs:EPSG::4326">
   <gml:pos>31.2304 121.4737</gml:pos></gml:Point></gp:location-info></gp:geopriv>
 </rcspushlocation></rcsenvelope>"""

FILE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp">
 <file-info type="thumbnail"><file-size>100</file-size><content-type>image/jpeg</content-type>
  <data url="https://maap.example/t/1" until="2026-11-30T00:00:00Z"/></file-info>
 <file-info type="file"><file-size>2048</file-size><file-name>a.jpg</file-name>
  <content-type>image/jpeg</content-type><data url="https://maap.example/f/1" until="2026-11-30T00:00:00Z"/></file-info>
</file>"""


@pytest.mark.parametrize(
    "body, expected",
    [
        (mo("text/plain", "你好"), {"kind": "text", "text": "你好"}),
        (
            mo(
                SUGGESTION_RESPONSE_TYPE,
                orjson.dumps({"response": {"reply": {"displayText": "是", "postback": {"data": "yes"}}}}).decode(),
            ),
            {"kind": "suggestion_response", "postback": "yes", "display_text": "是"},
        ),
        (
            mo(SUGGESTION_RESPONSE_TYPE, {"response": {"action": {"displayText": "Go", "postback": {"data": "go"}}}}),
            {"kind": "suggestion_response", "postback": "go", "display_text": "Go"},
        ),
        (mo(PUSH_LOCATION_TYPE, PUSH_LOCATION), {"kind": "location", "location": Location(31.2304, 121.4737, "公司")}),
        (
            mo("text/plain", "geo:39.9,116.4;u=10"),
            {"kind": "location", "location": Location(39.9, 116.4, uncertainty_m=10.0)},
        ),
        (
            mo("text/plain", "GEO:39.9,116.4;crs=wgs84;u=x;rcs-l=%E5%85%AC%E5%8F%B8"),
            {"kind": "location", "location": Location(39.9, 116.4, "公司", "wgs84")},
        ),
        (mo("text/plain", "geo: where are you?"), {"kind": "text", "text": "geo: where are you?"}),
        (mo("text/plain", "geo:91,0"), {"kind": "text", "location": None}),
        (mo(FILE_TRANSFER_JSON_TYPE, FILE_XML), {"kind": "file"}),  # the XML form under the JSON form's type
        (mo(FILE_TRANSFER_TYPE, FILE_XML), {"kind": "file"}),
        (
            mo(
                "application/octet-stream",
                [{"type": "file", "url": "https://m/f", "contentType": "video/mp4", "fileSize": 9}],
            ),
            {"kind": "file"},
        ),
        (  # top-level contentType/contentText profile
            {"senderAddress": "tel:+8613812341234", "contentType": "text/plain", "contentText": "hi"},
            {"kind": "text", "text": "hi", "message_id": None},
        ),
    ],
)
def test_parse_user(body, expected):
    event = parse_user_callback(body, now=NOW_DT)
    assert event.from_number == "+8613812341234"
    for key, value in expected.items():
        assert getattr(event, key) == value
    if event.kind == "file":
        assert event.file.url in ("https://maap.example/f/1", "https://m/f")
    if "messageList" in body:
        assert (event.message_id, event.conversation_id, event.contribution_id) == ("mo1", "c1", "k1")
        assert event.at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_file_xml_fields():
    event = parse_user_callback(mo(FILE_TRANSFER_TYPE, FILE_XML), now=NOW_DT)
    f = event.file
    assert (f.content_type, f.file_size, f.thumbnail_url) == ("image/jpeg", 2048, "https://maap.example/t/1")
    assert f.file_name == "a.jpg"


FILE_LIST = [
    {"type": "thumbnail", "url": "https://m/t", "contentType": "image/png"},
    {"type": "file", "url": "https://m/f", "contentType": "video/mp4", "fileSize": "9", "fileName": "v.mp4"},
]


@pytest.mark.parametrize(
    "content",
    [
        FILE_LIST,
        orjson.dumps(FILE_LIST).decode(),  # the list as text
        {"fileInfo": FILE_LIST},
    ],
)
def test_file_json_forms(content):
    f = parse_user_callback(mo(FILE_TRANSFER_JSON_TYPE, content), now=NOW_DT).file
    assert (f.url, f.content_type, f.file_size, f.file_name, f.thumbnail_url) == (
        "https://m/f",
        "video/mp4",
        9,
        "v.mp4",
        "https://m/t",
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def encoded(content_type: str, text: str, encoding: str = "base64") -> dict:
    body = mo(content_type, b64(text))
    body["messageList"][0]["contentEncoding"] = encoding
    return body


@pytest.mark.parametrize(
    "body, expected",
    [
        (encoded("text/plain", "你好"), {"kind": "text", "text": "你好"}),
        (encoded("text/plain", "你好", "BASE64"), {"kind": "text", "text": "你好"}),
        (encoded("text/plain", "geo:39.9,116.4"), {"kind": "location", "location": Location(39.9, 116.4)}),
        (
            encoded(PUSH_LOCATION_TYPE, PUSH_LOCATION),
            {"kind": "location", "location": Location(31.2304, 121.4737, "公司")},
        ),
        (encoded(FILE_TRANSFER_TYPE, FILE_XML), {"kind": "file"}),
        (
            encoded(SUGGESTION_RESPONSE_TYPE, '{"response":{"action":{"displayText":"Go","postback":{"data":"go"}}}}'),
            {"kind": "suggestion_response", "postback": "go", "extra": {"suggestion": "action"}},
        ),
    ],
)
def test_base64_content_is_decoded_then_parsed(body, expected):
    event = parse_user_callback(body, now=NOW_DT)
    for key, value in expected.items():
        assert getattr(event, key) == value


def test_base64_split_over_lines_and_unpadded():
    text = b64("一段比较长的文字，用来测试换行的 base64 编码内容。")
    body = mo("text/plain", text[:20] + "\r\n" + text[20:].rstrip("="))
    body["messageList"][0]["contentEncoding"] = "base64"
    assert parse_user_callback(body, now=NOW_DT).text == "一段比较长的文字，用来测试换行的 base64 编码内容。"


def test_utf8_encoding_is_the_default():
    body = mo("text/plain", "aGk=")
    body["messageList"][0]["contentEncoding"] = "utf8"
    assert parse_user_callback(body, now=NOW_DT).text == "aGk="


def test_device_specifics():
    shared = {"deviceSpecifics": {"deviceModel": "M1", "batteryRemainingMinutes": "30"}, "other": 1}
    event = parse_user_callback(mo(SHARED_CLIENT_DATA_TYPE, {"sharedData": shared}), now=NOW_DT)
    assert event.kind == "device_specifics"
    assert event.device == DeviceSpecifics(device_model="M1", battery_remaining_minutes=30)
    assert event.extra == {"shared_data": shared}


@pytest.mark.parametrize(
    "extra, in_reply_to",
    [
        ({"inReplyTo": "c-mt"}, "c-mt"),
        ({"inReplyToContributionId": "c-old"}, "c-old"),
        ({"inReplyTo": "c-mt", "inReplyToContributionId": "c-old"}, "c-mt"),
        ({"inReplyTo": ""}, None),
        ({}, None),
    ],
)
def test_in_reply_to(extra, in_reply_to):
    assert parse_user_callback(mo("text/plain", "hi", **extra), now=NOW_DT).in_reply_to == in_reply_to


def test_the_field_tables_spelling_of_the_time():
    body = mo("text/plain", "hi")
    del body["dateTime"]
    body["dataTime"] = "2020-01-17T14:42:20.840+08:00"
    at = parse_user_callback(body, now=NOW_DT).at
    assert at == datetime(2020, 1, 17, 14, 42, 20, 840000, tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.parametrize(
    "body, path",
    [
        ({"messageList": []}, "/senderAddress"),
        (mo(SUGGESTION_RESPONSE_TYPE, "{not json"), "/messageList/0/contentText"),
        (mo(PUSH_LOCATION_TYPE, "<a>"), "/messageList/0/contentText"),
        (mo("application/x-unknown", "x"), "/messageList/0/contentType"),
        (mo("text/plain", {"text": "x"}), "/messageList/0/contentText"),
        (  # the top-level profile
            {
                "senderAddress": "tel:+8613812341234",
                "contentType": "text/plain",
                "contentEncoding": "base64",
                "contentText": "***",
            },
            "/contentText",
        ),
        (
            {
                **mo("text/plain", "x"),
                "messageList": [{"contentType": "text/plain", "contentEncoding": "base64", "contentText": "***"}],
            },
            "/messageList/0/contentText",
        ),
        (
            {
                **mo("text/plain", "x"),
                "messageList": [{"contentType": "text/plain", "contentEncoding": "base64", "contentText": 5}],
            },
            "/messageList/0/contentText",
        ),
        (
            {
                **mo("text/plain", "x"),
                "messageList": [{"contentType": "text/plain", "contentEncoding": "base64", "contentText": "//79"}],
            },
            "/messageList/0/contentText",
        ),
        (mo(SHARED_CLIENT_DATA_TYPE, {"nothing": 1}), "/messageList/0/contentText"),
        (mo(SHARED_CLIENT_DATA_TYPE, {"sharedData": {"deviceSpecifics": 3}}), "/messageList/0/contentText"),
        (mo(FILE_TRANSFER_JSON_TYPE, [{"type": "thumbnail", "url": "u"}]), "/messageList/0/contentText"),
        (mo(FILE_TRANSFER_JSON_TYPE, "not json"), "/messageList/0/contentText"),
        (mo(PUSH_LOCATION_TYPE, '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'), "/messageList/0/contentText"),
    ],
)
def test_parse_user_errors(body, path):
    with pytest.raises(CallbackFormatError) as err:
        parse_user_callback(body, now=NOW_DT)
    assert err.value.path == path


# -- notices ------------------------------------------------------------------------------------

BOT = "sip:bot@x"


@pytest.mark.parametrize(
    "body, ids",
    [
        ({"messageId": ["a", "b"], "spamType": "t"}, ("a", "b")),
        ({"messageId": "a"}, ("a",)),
        ({"messageId": []}, ()),
        ({}, ()),
    ],
)
def test_parse_spam_report(body, ids):
    notice = parse_spam_report(body, chatbot_id=BOT, now=NOW_DT)
    assert (notice.kind, notice.chatbot_id, notice.message_ids, notice.at, notice.raw) == (
        "spam_report",
        BOT,
        ids,
        NOW_DT,
        body,
    )


@pytest.mark.parametrize("body", [{"messageId": 5}, {"messageId": [1]}, {"messageId": {"a": 1}}])
def test_parse_spam_report_errors(body):
    with pytest.raises(CallbackFormatError) as err:
        parse_spam_report(body, chatbot_id=BOT, now=NOW_DT)
    assert err.value.path == "/messageId"


CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    "extra, at, subject_kind, subject",
    [
        (
            {"time": "2020-01-17T14:42:20+08:00", "remark": "messageId: m1"},
            datetime(2020, 1, 17, 14, 42, 20, tzinfo=CST),
            "messageId",
            "m1",
        ),
        (
            {"time": "20-01-17 14:42:20", "remark": "url：http://x/a.mp4"},
            datetime(2020, 1, 17, 14, 42, 20, tzinfo=CST),
            "url",
            "http://x/a.mp4",
        ),
        (
            {"time": "2020-01-17 14:42:20", "remark": "no key here"},
            datetime(2020, 1, 17, 14, 42, 20, tzinfo=CST),
            None,
            "no key here",
        ),
        ({"time": "yesterday"}, NOW_DT, None, None),
        ({}, NOW_DT, None, None),
    ],
)
def test_parse_audit_result(extra, at, subject_kind, subject):
    notice = parse_audit_result({"type": "message", "result": "pass", **extra}, chatbot_id=BOT, now=NOW_DT)
    assert (notice.kind, notice.audit_type, notice.result, notice.passed) == ("audit_result", "message", "pass", True)
    assert (notice.at, notice.subject_kind, notice.subject) == (at, subject_kind, subject)


@pytest.mark.parametrize(
    "body, path",
    [({"result": "pass"}, "/type"), ({"type": "media"}, "/result"), ({"type": "media", "result": 1}, "/result")],
)
def test_parse_audit_result_errors(body, path):
    with pytest.raises(CallbackFormatError) as err:
        parse_audit_result(body, chatbot_id=BOT, now=NOW_DT)
    assert err.value.path == path


def test_parse_information_change():
    notice = parse_information_change({"anything": 1}, chatbot_id=BOT, now=NOW_DT)
    assert (notice.kind, notice.chatbot_id, notice.at, notice.raw) == (
        "information_change",
        BOT,
        NOW_DT,
        {"anything": 1},
    )
