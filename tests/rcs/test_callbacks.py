"""Callback signatures, replay protection and parsing into typed events."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from rcs.callbacks import (
    CallbackFormatError,
    NonceCache,
    Verdict,
    callback_signature,
    parse_delivery_callback,
    parse_user_callback,
    verify_callback,
)
from rcs.maap import FILE_TRANSFER_TYPE, PUSH_LOCATION_TYPE, SUGGESTION_RESPONSE_TYPE
from rcs.results import Location

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
        ({}, "/deliveryInfoList"),
        ({"deliveryInfoList": [1]}, "/deliveryInfoList/0"),
        ({"deliveryInfoList": [{"status": "sent"}]}, "/deliveryInfoList/0/messageId"),
        ({"deliveryInfoList": [{"messageId": "m"}]}, "/deliveryInfoList/0/status"),
    ],
)
def test_parse_delivery_errors(body, path):
    with pytest.raises(CallbackFormatError) as err:
        parse_delivery_callback(body, now=NOW_DT)
    assert err.value.path == path


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
        (mo("text/plain", "geo:39.9,116.4;u=10"), {"kind": "location", "location": Location(39.9, 116.4)}),
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


@pytest.mark.parametrize(
    "body, path",
    [
        ({"messageList": []}, "/senderAddress"),
        (mo(SUGGESTION_RESPONSE_TYPE, "{not json"), "/messageList/0/contentText"),
        (mo(PUSH_LOCATION_TYPE, "<a>"), "/messageList/0/contentText"),
        (mo("application/x-unknown", "x"), "/messageList/0/contentType"),
        (mo(PUSH_LOCATION_TYPE, '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'), "/messageList/0/contentText"),
    ],
)
def test_parse_user_errors(body, path):
    with pytest.raises(CallbackFormatError) as err:
        parse_user_callback(body, now=NOW_DT)
    assert err.value.path == path
