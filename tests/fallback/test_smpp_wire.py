"""SMPP payloads, receipt parsing and simulator suffix rules, without sockets."""

from __future__ import annotations

from datetime import datetime

import pytest
from smpp.pdu import operations, pdu_types

from fallback import smpp
from fallback.segmentation import segment_sms
from fallback.smsc import behaviour_for

RECEIPT = pdu_types.EsmClass(pdu_types.EsmClassMode.DEFAULT, pdu_types.EsmClassType.SMSC_DELIVERY_RECEIPT)


def roundtrip(pdu: operations.PDU) -> operations.PDU:
    return smpp.decode_pdu(smpp.encode_pdu(pdu))


def test_single_gsm_part_is_unpacked_septets_without_udh():
    [part] = smpp.wire_parts(segment_sms("Hi €[x]", "gsm"), reference=7)
    assert part.data_coding == 0x00
    assert not part.udhi
    # One septet per octet; € = ESC 0x65, [ = ESC 0x3C, ] = ESC 0x3E (3GPP TS 23.038 §6.2.1.1).
    assert part.short_message == bytes([0x48, 0x69, 0x20, 0x1B, 0x65, 0x1B, 0x3C, 0x78, 0x1B, 0x3E])


def test_long_gsm_parts_carry_8bit_reference_udh():
    parts = smpp.wire_parts(segment_sms("a" * 200, "gsm"), reference=300)
    assert [p.short_message[:6] for p in parts] == [
        bytes([0x05, 0x00, 0x03, 300 % 256, 2, 1]),
        bytes([0x05, 0x00, 0x03, 300 % 256, 2, 2]),
    ]
    assert [len(p.short_message) for p in parts] == [6 + 153, 6 + 47]
    assert all(p.udhi and p.data_coding == 0 for p in parts)


def test_ucs2_parts_are_big_endian_and_keep_surrogate_pairs():
    text = "你" * 66 + "\U0001f600" + "好" * 5
    parts = smpp.wire_parts(segment_sms(text, "gsm"), reference=1)
    assert [p.data_coding for p in parts] == [0x08, 0x08]
    bodies = [p.short_message[6:] for p in parts]
    assert bodies[0] == ("你" * 66).encode("utf-16-be")
    assert bodies[1] == ("\U0001f600" + "好" * 5).encode("utf-16-be")
    assert max(len(p.short_message) for p in parts) <= 140


def test_submit_sm_roundtrips_through_the_codec():
    [part] = smpp.wire_parts(segment_sms("你好", "gsm"), reference=1)
    pdu = roundtrip(
        operations.SubmitSM(
            seqNum=9,
            destination_addr="8613800001234",
            data_coding=smpp.data_coding(part.data_coding),
            short_message=part.short_message,
            registered_delivery=pdu_types.RegisteredDelivery(
                pdu_types.RegisteredDeliveryReceipt.SMSC_DELIVERY_RECEIPT_REQUESTED
            ),
        )
    )
    assert smpp.data_coding_value(pdu) == 0x08
    assert smpp.decode_text(pdu.params["short_message"], 0x08) == "你好"


@pytest.mark.parametrize(
    ("udh", "info"),
    [
        (bytes([5, 0, 3, 42, 3, 2]), (42, 3, 2)),
        (bytes([6, 8, 4, 0x01, 0x02, 4, 1]), (0x0102, 4, 1)),
        (bytes([8, 0x24, 1, 1, 0, 3, 9, 2, 2]), (9, 2, 2)),  # another IE first
        (bytes([3, 0x24, 1, 1]), None),
    ],
)
def test_concat_info(udh, info):
    assert smpp.concat_info(udh) == info


# (receipt text, TLVs, expected (id, stat, err)) — formats seen from different SMSCs.
RECEIPT_CASES = [
    (
        "standard",
        "id:0123456789 sub:001 dlvrd:001 submit date:2611230922 done date:2611230923 stat:DELIVRD err:000 text:hello",
        {},
        ("0123456789", "DELIVRD", "000"),
    ),
    (
        "undeliverable",
        "id:abc sub:001 dlvrd:000 submit date:2611230922 done date:2611230923 stat:UNDELIV err:001 text:",
        {},
        ("abc", "UNDELIV", "001"),
    ),
    (
        "case and underscores",
        "ID:7F Sub:1 Dlvrd:1 Submit_Date:261123092201 Done_Date:2611230923 Stat:delivrd Err:0 Text:x",
        {},
        ("7F", "DELIVRD", "0"),
    ),
    ("words spelled out", "id:1 stat:DELIVERED err:000", {}, ("1", "DELIVRD", "000")),
    ("rejected", "id:1 stat:REJECTD err:011", {}, ("1", "REJECTD", "011")),
    ("text field with a fake stat", "id:9 stat:EXPIRED err:000 text:stat:DELIVRD", {}, ("9", "EXPIRED", "000")),
    (
        "TLVs only",
        "",
        {"receipted_message_id": "t1", "message_state": pdu_types.MessageState.DELIVERED},
        ("t1", "DELIVRD", None),
    ),
    (
        "TLVs win over text",
        "id:x stat:ENROUTE",
        {"receipted_message_id": "y", "message_state": pdu_types.MessageState.UNDELIVERABLE},
        ("y", "UNDELIV", None),
    ),
]


@pytest.mark.parametrize(
    ("text", "tlvs", "expected"), [c[1:] for c in RECEIPT_CASES], ids=[c[0] for c in RECEIPT_CASES]
)
def test_parse_receipt(text, tlvs, expected):
    pdu = roundtrip(
        operations.DeliverSM(
            seqNum=1, source_addr="8613800001234", esm_class=RECEIPT, short_message=text.encode("ascii"), **tlvs
        )
    )
    assert smpp.is_receipt(pdu)
    receipt = smpp.parse_receipt(pdu)
    assert (receipt.message_id, receipt.stat, receipt.err) == expected


def test_receipt_dates():
    pdu = roundtrip(
        operations.DeliverSM(
            seqNum=1,
            esm_class=RECEIPT,
            short_message=(
                b"id:1 sub:001 dlvrd:001 submit date:2611230922 done date:261123092315 stat:DELIVRD err:000"
            ),
        )
    )
    receipt = smpp.parse_receipt(pdu)
    assert receipt.submitted_at == datetime(2026, 11, 23, 9, 22)
    assert receipt.done_at == datetime(2026, 11, 23, 9, 23, 15)
    assert receipt.final


@pytest.mark.parametrize("text", [b"", b"hello there", b"stat:DELIVRD", b"id:5"])
def test_unreadable_receipt_is_none(text):
    pdu = roundtrip(operations.DeliverSM(seqNum=1, esm_class=RECEIPT, short_message=text))
    assert smpp.parse_receipt(pdu) is None


def test_plain_deliver_sm_is_not_a_receipt():
    pdu = roundtrip(operations.DeliverSM(seqNum=1, short_message=b"TD"))
    assert not smpp.is_receipt(pdu)


@pytest.mark.parametrize(
    ("number", "behaviour"),
    [
        ("8613800001231", "deliver"),
        ("8613800001230", "deliver"),  # 0: not RCS-capable, SMS delivered
        ("8613800001220", "deliver"),  # …20 → row 0
        ("8613800001239", "undeliverable"),
        ("8613800001219", "undeliverable"),  # …19 → row 9
        ("8613800001200", "throttle_then_deliver"),
        ("8613800001000", "throttle_then_deliver"),
        ("8613800001237", "deliver"),
        ("8613800001238", "deliver"),
    ],
)
def test_simulator_suffixes(number, behaviour):
    assert behaviour_for(number) == behaviour


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("HONGYAN", ("HONGYAN", pdu_types.AddrTon.ALPHANUMERIC)),
        ("106900001234", ("106900001234", pdu_types.AddrTon.UNKNOWN)),
        ("+8613800001234", ("8613800001234", pdu_types.AddrTon.INTERNATIONAL)),
    ],
)
def test_source_address(source, expected):
    assert smpp.source_address(source)[:2] == expected


@pytest.mark.parametrize("value", ["²601011200", "٢٦٠١٠١١٢٠٠", "2601011200x"])
def test_a_receipt_date_in_other_digits_is_unreadable_not_a_crash(value):
    from fallback.smpp import parse_receipt_date

    assert parse_receipt_date(value) is None
