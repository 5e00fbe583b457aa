"""Golden frames of CMPP 2.0/3.0, SGIP 1.2 and SMGP 3.0, each written out field by field from
the specifications' message tables (never from the codec's own tables): encoding the data gives
exactly these octets, and decoding these octets gives back the data."""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime

import pytest

from fallback.gateways import cmpp, sgip, smgp
from fallback.gateways.pdu import PduError, mmddhhmmss


def pad(text: str | bytes, size: int) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    assert len(raw) <= size
    return raw + b"\x00" * (size - len(raw))


def u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def frame(command_id: int, sequence: bytes, body: bytes) -> bytes:
    return u(8 + len(sequence) + len(body), 4) + u(command_id, 4) + sequence + body


UCS2_HELLO = "您好".encode("utf-16-be")  # 4 octets
AUTH = bytes(range(16))
CMPP_MSG_ID = 0x0123456789ABCDEF

CMPP3_SUBMIT_BODY = (
    u(0, 8)  # Msg_Id (the gateway fills it)
    + u(1, 1)  # Pk_total
    + u(1, 1)  # Pk_number
    + u(1, 1)  # Registered_Delivery
    + u(1, 1)  # Msg_level
    + pad("HONGYAN", 10)  # Service_Id
    + u(2, 1)  # Fee_UserType (the SP pays)
    + pad("", 32)  # Fee_terminal_Id
    + u(0, 1)  # Fee_terminal_type
    + u(0, 1)  # TP_pId
    + u(0, 1)  # TP_udhi
    + u(8, 1)  # Msg_Fmt: UCS2
    + pad("901234", 6)  # Msg_src
    + pad("01", 2)  # FeeType: free
    + pad("000000", 6)  # FeeCode
    + pad("", 17)  # ValId_Time
    + pad("", 17)  # At_Time
    + pad("1065801234", 21)  # Src_Id
    + u(2, 1)  # DestUsr_tl
    + pad("13800138000", 32)  # Dest_terminal_Id × 2
    + pad("13900139000", 32)
    + u(0, 1)  # Dest_terminal_type
    + u(4, 1)  # Msg_Length
    + UCS2_HELLO  # Msg_Content
    + pad("", 20)  # LinkID
)
CMPP2_SUBMIT_BODY = (
    u(0, 8) + u(1, 1) + u(1, 1) + u(1, 1) + u(1, 1) + pad("HONGYAN", 10) + u(2, 1)
    + pad("", 21)  # Fee_terminal_Id: 21 octets, no type in 2.0
    + u(0, 1) + u(0, 1) + u(8, 1) + pad("901234", 6) + pad("01", 2) + pad("000000", 6) + pad("", 17) + pad("", 17)
    + pad("1065801234", 21) + u(1, 1)
    + pad("13800138000", 21)  # one Dest_terminal_Id of 21 octets
    + u(4, 1) + UCS2_HELLO
    + pad("", 8)  # Reserve
)  # fmt: skip
SUBMIT_DATA = {
    "Pk_total": 1, "Pk_number": 1, "Registered_Delivery": 1, "Msg_level": 1, "Service_Id": "HONGYAN",
    "Fee_UserType": 2, "Msg_Fmt": 8, "Msg_src": "901234", "FeeType": "01", "FeeCode": "000000",
    "Src_Id": "1065801234", "Msg_Content": UCS2_HELLO,
}  # fmt: skip

CMPP3_REPORT = (
    u(CMPP_MSG_ID, 8) + pad("DELIVRD", 7) + pad("2612042230", 10) + pad("2612042231", 10)
    + pad("13800138000", 32) + u(42, 4)
)  # fmt: skip
CMPP3_DELIVER_BODY = (
    u(0x1111, 8)  # Msg_Id
    + pad("1065801234", 21)  # Dest_Id
    + pad("HONGYAN", 10)  # Service_Id
    + u(0, 1) + u(0, 1) + u(15, 1)  # TP_pid, TP_udhi, Msg_Fmt (GBK)
    + pad("13800138000", 32) + u(0, 1)  # Src_terminal_Id, Src_terminal_type
    + u(1, 1)  # Registered_Delivery: a status report
    + u(len(CMPP3_REPORT), 1) + CMPP3_REPORT
    + pad("", 20)  # LinkID
)  # fmt: skip

SGIP_SEQ = (3_012_345_678, 1204223000, 7)
# node 3012345678, 12-04 22:30:00, counter 7: three big-endian 4-octet integers
SGIP_SEQ_BYTES = bytes.fromhex("b38cbf4e" + "47c6fc18" + "00000007")  # 0xB38CBF4E, 0x47C6FC18, 7
SGIP_UDH = bytes.fromhex("050003a50201")  # concatenation: reference 0xa5, part 1 of 2
SGIP_SUBMIT_BODY = (
    pad("1065501234", 21)  # SPNumber
    + pad("000000000000000000000", 21)  # ChargeNumber (the SP pays)
    + u(1, 1)  # UserCount
    + pad("8613100131000", 21)  # UserNumber
    + pad("12345", 5)  # CorpId
    + pad("HONGYAN", 10)  # ServiceType
    + u(0, 1)  # FeeType
    + pad("0", 6) + pad("0", 6)  # FeeValue, GivenValue
    + u(0, 1) + u(2, 1) + u(0, 1)  # AgentFlag, MorelatetoMTFlag, Priority
    + pad("", 16) + pad("", 16)  # ExpireTime, ScheduleTime
    + u(1, 1)  # ReportFlag
    + u(0, 1) + u(0, 1) + u(8, 1) + u(0, 1)  # TP_pid, TP_udhi, MessageCoding, MessageType
    + u(4, 4) + UCS2_HELLO  # MessageLength (4 octets), MessageContent
    + pad("", 8)  # Reserve
)  # fmt: skip

SMGP_MSG_ID = bytes.fromhex("12345612042230000042")  # gateway 123456, 12-04 22:30, sequence 42
SMGP_SUBMIT_BODY = (
    u(6, 1) + u(1, 1) + u(1, 1)  # MsgType (MT), NeedReport, Priority
    + pad("HONGYAN", 10)  # ServiceID
    + pad("00", 2) + pad("000000", 6) + pad("000000", 6)  # FeeType, FeeCode, FixedFee
    + u(8, 1)  # MsgFormat
    + pad("", 17) + pad("", 17)  # ValidTime, AtTime
    + pad("1065901234", 21) + pad("", 21)  # SrcTermID, ChargeTermID
    + u(1, 1) + pad("13300133000", 21)  # DestTermIDCount, DestTermID
    + u(4, 1) + UCS2_HELLO  # MsgLength, MsgContent
    + pad("", 8)  # Reserve
    + u(smgp.PK_TOTAL, 2) + u(1, 2) + u(1, 1)  # TLV PkTotal = 1
    + u(smgp.PK_NUMBER, 2) + u(1, 2) + u(1, 1)  # TLV PkNumber = 1
)  # fmt: skip

CASES = [
    pytest.param(cmpp.CMPP30, "active_test", 7, {}, bytes.fromhex("0000000c0000000800000007"), id="cmpp3-active-test"),
    pytest.param(
        cmpp.CMPP30, "active_test_resp", 7, {"Reserved": 0}, bytes.fromhex("0000000d800000080000000700"),
        id="cmpp3-active-test-resp",
    ),
    pytest.param(
        cmpp.CMPP30, "connect", 1,
        {"Source_Addr": "901234", "AuthenticatorSource": AUTH, "Version": 0x30, "Timestamp": 1204223000},
        frame(cmpp.CONNECT, u(1, 4), pad("901234", 6) + AUTH + u(0x30, 1) + u(1204223000, 4)),
        id="cmpp3-connect",
    ),
    pytest.param(
        cmpp.CMPP30, "connect_resp", 1, {"Status": 0, "AuthenticatorISMG": AUTH, "Version": 0x30},
        frame(cmpp.CONNECT_RESP, u(1, 4), u(0, 4) + AUTH + u(0x30, 1)), id="cmpp3-connect-resp",
    ),
    pytest.param(
        cmpp.CMPP20, "connect_resp", 1, {"Status": 3, "AuthenticatorISMG": AUTH, "Version": 0x20},
        frame(cmpp.CONNECT_RESP, u(1, 4), u(3, 1) + AUTH + u(0x20, 1)), id="cmpp2-connect-resp",
    ),
    pytest.param(
        cmpp.CMPP30, "submit", 2,
        {**SUBMIT_DATA, "Dest_terminal_Id": ["13800138000", "13900139000"]},
        frame(cmpp.SUBMIT, u(2, 4), CMPP3_SUBMIT_BODY), id="cmpp3-submit",
    ),
    pytest.param(
        cmpp.CMPP20, "submit", 2, {**SUBMIT_DATA, "Dest_terminal_Id": ["13800138000"]},
        frame(cmpp.SUBMIT, u(2, 4), CMPP2_SUBMIT_BODY), id="cmpp2-submit",
    ),
    pytest.param(
        cmpp.CMPP30, "submit_resp", 2, {"Msg_Id": CMPP_MSG_ID, "Result": 8},
        frame(cmpp.SUBMIT_RESP, u(2, 4), u(CMPP_MSG_ID, 8) + u(8, 4)), id="cmpp3-submit-resp-flow-control",
    ),
    pytest.param(
        cmpp.CMPP20, "submit_resp", 2, {"Msg_Id": CMPP_MSG_ID, "Result": 0},
        frame(cmpp.SUBMIT_RESP, u(2, 4), u(CMPP_MSG_ID, 8) + u(0, 1)), id="cmpp2-submit-resp",
    ),
    pytest.param(
        cmpp.CMPP30, "deliver", 9,
        {"Msg_Id": 0x1111, "Dest_Id": "1065801234", "Service_Id": "HONGYAN", "Msg_Fmt": 15,
         "Src_terminal_Id": "13800138000", "Registered_Delivery": 1, "Msg_Content": CMPP3_REPORT},
        frame(cmpp.DELIVER, u(9, 4), CMPP3_DELIVER_BODY), id="cmpp3-deliver-report",
    ),
    pytest.param(
        sgip.SGIP12, "bind", SGIP_SEQ,
        {"Login_Type": 1, "Login_Name": "hongyan", "Login_Password": "secret"},
        frame(sgip.BIND, SGIP_SEQ_BYTES, u(1, 1) + pad("hongyan", 16) + pad("secret", 16) + pad("", 8)),
        id="sgip-bind",
    ),
    pytest.param(
        sgip.SGIP12, "submit", SGIP_SEQ,
        {"SPNumber": "1065501234", "ChargeNumber": "000000000000000000000", "UserNumber": ["8613100131000"],
         "CorpId": "12345", "ServiceType": "HONGYAN", "FeeValue": "0", "GivenValue": "0", "MorelatetoMTFlag": 2,
         "ReportFlag": 1, "MessageCoding": 8, "MessageContent": UCS2_HELLO},
        frame(sgip.SUBMIT, SGIP_SEQ_BYTES, SGIP_SUBMIT_BODY), id="sgip-submit",
    ),
    pytest.param(
        sgip.SGIP12, "report", SGIP_SEQ,
        {"SubmitSequenceNumber": SGIP_SEQ_BYTES, "ReportType": 0, "UserNumber": "8613100131000", "State": 2,
         "ErrorCode": 1},
        frame(sgip.REPORT, SGIP_SEQ_BYTES,
              SGIP_SEQ_BYTES + u(0, 1) + pad("8613100131000", 21) + u(2, 1) + u(1, 1) + pad("", 8)),
        id="sgip-report",
    ),
    pytest.param(
        sgip.SGIP12, "deliver_resp", SGIP_SEQ, {"Result": 0},
        frame(sgip.DELIVER_RESP, SGIP_SEQ_BYTES, u(0, 1) + pad("", 8)), id="sgip-deliver-resp",
    ),
    pytest.param(
        sgip.SGIP12, "bind", SGIP_SEQ,  # the SMG binding to the SP's listener
        {"Login_Type": 2, "Login_Name": "smg", "Login_Password": "pw"},
        frame(sgip.BIND, SGIP_SEQ_BYTES, u(2, 1) + pad("smg", 16) + pad("pw", 16) + pad("", 8)),
        id="sgip-bind-smg-to-sp",
    ),
    pytest.param(
        sgip.SGIP12, "bind_resp", SGIP_SEQ, {"Result": 1},
        frame(sgip.BIND_RESP, SGIP_SEQ_BYTES, u(1, 1) + pad("", 8)), id="sgip-bind-resp-illegal-login",
    ),
    pytest.param(sgip.SGIP12, "unbind", SGIP_SEQ, {}, frame(sgip.UNBIND, SGIP_SEQ_BYTES, b""), id="sgip-unbind"),
    pytest.param(
        sgip.SGIP12, "unbind_resp", SGIP_SEQ, {}, frame(sgip.UNBIND_RESP, SGIP_SEQ_BYTES, b""), id="sgip-unbind-resp",
    ),
    pytest.param(
        sgip.SGIP12, "submit_resp", SGIP_SEQ, {"Result": 11},
        frame(sgip.SUBMIT_RESP, SGIP_SEQ_BYTES, u(11, 1) + pad("", 8)), id="sgip-submit-resp-node-busy",
    ),
    pytest.param(
        sgip.SGIP12, "deliver", SGIP_SEQ,
        {"UserNumber": "8613100131000", "SPNumber": "1065501234", "TP_udhi": 1, "MessageCoding": 8,
         "MessageContent": SGIP_UDH + UCS2_HELLO},
        frame(sgip.DELIVER, SGIP_SEQ_BYTES,
              pad("8613100131000", 21) + pad("1065501234", 21)  # UserNumber, SPNumber
              + u(0, 1) + u(1, 1) + u(8, 1)  # TP_pid, TP_udhi, MessageCoding
              + u(10, 4) + SGIP_UDH + UCS2_HELLO  # MessageLength (4 octets), MessageContent
              + pad("", 8)),  # Reserve
        id="sgip-deliver-mo-part",
    ),
    pytest.param(
        sgip.SGIP12, "report_resp", SGIP_SEQ, {"Result": 0},
        frame(sgip.REPORT_RESP, SGIP_SEQ_BYTES, u(0, 1) + pad("", 8)), id="sgip-report-resp",
    ),
    pytest.param(
        smgp.SMGP30, "login", 1,
        {"ClientID": "hy000001", "AuthenticatorClient": AUTH, "LoginMode": 2, "TimeStamp": 1204223000,
         "ClientVersion": 0x30},
        frame(smgp.LOGIN, u(1, 4), pad("hy000001", 8) + AUTH + u(2, 1) + u(1204223000, 4) + u(0x30, 1)),
        id="smgp-login",
    ),
    pytest.param(
        smgp.SMGP30, "submit", 3,
        {"MsgType": 6, "NeedReport": 1, "Priority": 1, "ServiceID": "HONGYAN", "FeeType": "00",
         "FeeCode": "000000", "FixedFee": "000000", "MsgFormat": 8, "SrcTermID": "1065901234",
         "DestTermID": ["13300133000"], "MsgContent": UCS2_HELLO,
         "TLVs": {smgp.PK_TOTAL: b"\x01", smgp.PK_NUMBER: b"\x01"}},
        frame(smgp.SUBMIT, u(3, 4), SMGP_SUBMIT_BODY), id="smgp-submit-tlvs",
    ),
    pytest.param(
        smgp.SMGP30, "submit_resp", 3, {"MsgID": SMGP_MSG_ID, "Status": 0},
        frame(smgp.SUBMIT_RESP, u(3, 4), SMGP_MSG_ID + u(0, 4)), id="smgp-submit-resp",
    ),
    pytest.param(smgp.SMGP30, "exit", 4, {}, bytes.fromhex("0000000c0000000600000004"), id="smgp-exit"),
]  # fmt: skip


@pytest.mark.parametrize(("proto", "name", "seq", "data", "wire"), CASES)
def test_golden_frames(proto, name, seq, data, wire):
    assert proto.encode(name, seq, data) == wire
    pdu = proto.decode(wire)
    assert (pdu.name, pdu.sequence) == (name, seq)
    for key, value in data.items():
        assert pdu[key] == value, key


@pytest.mark.parametrize(
    ("proto", "wire", "message"),
    [
        (cmpp.CMPP30, bytes.fromhex("0000000c00000008000000"), "shorter than the header"),
        (cmpp.CMPP30, bytes.fromhex("0000000d0000000800000007"), "the header says 13"),
        (cmpp.CMPP30, bytes.fromhex("0000000c0000009900000007"), "unknown command id"),
        (cmpp.CMPP30, bytes.fromhex("0000000e800000080000000700ff"), "1 octets after the last field"),
        # a submit_resp cut short: the Result's 4 octets are missing
        (cmpp.CMPP30, frame(cmpp.SUBMIT_RESP, u(2, 4), u(1, 8)), "Result runs past the end"),
        # a deliver whose Msg_Length says more than the frame holds
        (cmpp.CMPP30, frame(cmpp.DELIVER, u(9, 4), CMPP3_DELIVER_BODY[: -20 - 71] + b"\x05"), "runs past"),
        # a TLV whose length runs past the frame
        (smgp.SMGP30, frame(smgp.SUBMIT, u(3, 4), SMGP_SUBMIT_BODY + u(0x10, 2) + u(9, 2) + b"90"), "TLV 0x0010"),
    ],
)
def test_malformed_frames_are_refused(proto, wire, message):
    with pytest.raises(PduError, match=message):
        proto.decode(wire)


def test_values_that_do_not_fit_are_refused():
    with pytest.raises(PduError, match="longer than 6 octets"):
        cmpp.CMPP30.encode("connect", 1, {"Source_Addr": "9012345"})
    with pytest.raises(PduError, match="no field 'Msg_Lenght'"):
        cmpp.CMPP30.encode("submit", 1, {"Msg_Lenght": 3})
    with pytest.raises(PduError, match="does not fit 1 octets"):
        cmpp.CMPP20.encode("submit_resp", 1, {"Msg_Id": 1, "Result": 256})
    with pytest.raises(PduError, match="out of bounds"):
        cmpp.CMPP30.frame_length(u(100_000, 4))


def test_cmpp_authenticators_follow_the_formulas():
    stamp = mmddhhmmss(datetime(2026, 12, 4, 22, 30, 0))
    assert stamp == "1204223000"
    source = cmpp.authenticator_source("901234", "secret", stamp)
    assert source == hashlib.md5(b"901234" + b"\x00" * 9 + b"secret" + b"1204223000").digest()
    assert (
        cmpp.authenticator_ismg(0, source, "secret", cmpp.V30) == hashlib.md5(b"\x00" * 4 + source + b"secret").digest()
    )
    assert cmpp.authenticator_ismg(0, source, "secret", cmpp.V20) == hashlib.md5(b"\x00" + source + b"secret").digest()


def test_smgp_authenticators_follow_the_formulas():
    client = smgp.authenticator_client("hy000001", "secret", "1204223000")
    assert client == hashlib.md5(b"hy000001" + b"\x00" * 7 + b"secret" + b"1204223000").digest()
    assert smgp.authenticator_server(0, client, "secret") == hashlib.md5(b"\x00" * 4 + client + b"secret").digest()


def test_cmpp_msg_id_bit_layout():
    msg_id = cmpp.MsgId.at(datetime(2026, 12, 4, 22, 30, 59), gateway=0x2ABCDE, sequence=0xBEEF)
    packed = msg_id.pack()
    # month 12 (4 bits) | day 4 (5) | hour 22 (5) | minute 30 (6) | second 59 (6) | gateway (22) | sequence (16)
    expected = (((((12 << 5 | 4) << 5 | 22) << 6 | 30) << 6 | 59) << 22 | 0x2ABCDE) << 16 | 0xBEEF
    assert packed == expected
    assert cmpp.MsgId.unpack(packed) == msg_id
    with pytest.raises(PduError, match="does not fit 22 bits"):
        cmpp.MsgId(1, 1, 1, 1, 1, 1 << 22, 0).pack()


def test_cmpp_status_report_round_trip_and_length_check():
    report = cmpp.Report.decode(CMPP3_REPORT, cmpp.V30)
    assert report == cmpp.Report(CMPP_MSG_ID, "DELIVRD", "2612042230", "2612042231", "13800138000", 42)
    assert report.encode(cmpp.V30) == CMPP3_REPORT
    v2 = report.encode(cmpp.V20)
    assert len(v2) == 60 and cmpp.Report.decode(v2, cmpp.V20) == report
    with pytest.raises(PduError, match="status report of 60 octets"):
        cmpp.Report.decode(v2, cmpp.V30)


def test_smgp_msg_id_is_bcd():
    msg_id = smgp.MsgId.unpack(SMGP_MSG_ID)
    assert msg_id == smgp.MsgId("123456", "12042230", 42)
    assert str(msg_id) == "12345612042230000042"
    assert msg_id.pack() == SMGP_MSG_ID
    with pytest.raises(PduError, match="not binary-coded decimal"):
        smgp.MsgId.unpack(bytes.fromhex("1234561204223000004a"))


def test_smgp_status_report_round_trip():
    report = smgp.Report(SMGP_MSG_ID, "UNDELIV", "004", "2612042230", "2612042231")
    content = report.encode()
    assert content.startswith(b"id:" + SMGP_MSG_ID + b" sub:001 dlvrd:001 Submit_date:2612042230")
    assert b" stat:UNDELIV err:004 Txt:" in content
    assert smgp.Report.decode(content) == report
    # a gateway that writes "text:" and no padding
    other = (
        b"id:"
        + SMGP_MSG_ID
        + b" sub:001 dlvrd:001 Submit_date:2612042230 done_date:2612042231 stat:DELIVRD err:000 text:hi"
    )
    assert smgp.Report.decode(other).stat == "DELIVRD" and smgp.Report.decode(other).text == b"hi"


def test_sgip_sequence_numbers():
    seq = sgip.sequence(3_012_345_678, datetime(2026, 12, 4, 22, 30, 0), 7)
    assert seq == SGIP_SEQ
    assert sgip.sequence_bytes(seq) == SGIP_SEQ_BYTES == struct.pack(">III", 3_012_345_678, 1_204_223_000, 7)
    assert sgip.sequence_of(SGIP_SEQ_BYTES) == seq
    # January: MMDDHHMMSS as an integer has no leading zero; the part id keeps ten digits
    january = sgip.sequence(3_000_000_001, datetime(2027, 1, 2, 3, 4, 5), 0x1_0000_0001)
    assert january == (3_000_000_001, 102030405, 1)
    assert sgip.sequence_text(january) == "3000000001-0102030405-1"
    with pytest.raises(PduError, match="12 octets, not 8"):
        sgip.sequence_of(bytes(8))
