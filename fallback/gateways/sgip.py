"""SGIP 1.2 (China Unicom's SMS gateway interface): the PDUs and the sequence number.

Field layouts are those of the specification's command tables (SGIP 1.2 §4.2). A sequence
number is three 4-octet parts: the sending node's number, the time (MMDDHHMMSS as a decimal
integer) and a counter. SGIP runs both ways: the SP connects to the gateway (SMG) to submit;
the SMG connects to the SP to deliver mobile-originated messages and reports.
"""

from __future__ import annotations

import struct
from datetime import datetime

from fallback.gateways.pdu import Int, Octets, PduDef, PduError, Protocol, Raw, Repeat, Var, mmddhhmmss

BIND, BIND_RESP = 0x00000001, 0x80000001
UNBIND, UNBIND_RESP = 0x00000002, 0x80000002
SUBMIT, SUBMIT_RESP = 0x00000003, 0x80000003
DELIVER, DELIVER_RESP = 0x00000004, 0x80000004
REPORT, REPORT_RESP = 0x00000005, 0x80000005

# Bind's Login Type
SP_TO_SMG, SMG_TO_SP = 1, 2
# MessageCoding
ASCII, BINARY, UCS2, GBK = 0, 4, 8, 15
# Report's State
DELIVERED, WAITING, FAILED = 0, 1, 2

_RESULT = (("Result", Int(1)), ("Reserve", Octets(8)))
_NUMBER = Octets(21)

SGIP12 = Protocol(
    "SGIP 1.2",
    [
        PduDef(
            "bind",
            BIND,
            (
                ("Login_Type", Int(1)),
                ("Login_Name", Octets(16)),
                ("Login_Password", Octets(16)),
                ("Reserve", Octets(8)),
            ),
        ),
        PduDef("bind_resp", BIND_RESP, _RESULT),
        PduDef("unbind", UNBIND),
        PduDef("unbind_resp", UNBIND_RESP),
        PduDef(
            "submit",
            SUBMIT,
            (
                ("SPNumber", _NUMBER),
                ("ChargeNumber", _NUMBER),
                ("UserCount", Int(1)),
                ("UserNumber", Repeat(_NUMBER, "UserCount")),
                ("CorpId", Octets(5)),
                ("ServiceType", Octets(10)),
                ("FeeType", Int(1)),
                ("FeeValue", Octets(6)),
                ("GivenValue", Octets(6)),
                ("AgentFlag", Int(1)),
                ("MorelatetoMTFlag", Int(1)),
                ("Priority", Int(1)),
                ("ExpireTime", Octets(16)),
                ("ScheduleTime", Octets(16)),
                ("ReportFlag", Int(1)),
                ("TP_pid", Int(1)),
                ("TP_udhi", Int(1)),
                ("MessageCoding", Int(1)),
                ("MessageType", Int(1)),
                ("MessageLength", Int(4)),
                ("MessageContent", Var("MessageLength")),
                ("Reserve", Octets(8)),
            ),
        ),
        PduDef("submit_resp", SUBMIT_RESP, _RESULT),
        PduDef(
            "deliver",
            DELIVER,
            (
                ("UserNumber", _NUMBER),
                ("SPNumber", _NUMBER),
                ("TP_pid", Int(1)),
                ("TP_udhi", Int(1)),
                ("MessageCoding", Int(1)),
                ("MessageLength", Int(4)),
                ("MessageContent", Var("MessageLength")),
                ("Reserve", Octets(8)),
            ),
        ),
        PduDef("deliver_resp", DELIVER_RESP, _RESULT),
        PduDef(
            "report",
            REPORT,
            (
                ("SubmitSequenceNumber", Raw(12)),
                ("ReportType", Int(1)),
                ("UserNumber", _NUMBER),
                ("State", Int(1)),
                ("ErrorCode", Int(1)),
                ("Reserve", Octets(8)),
            ),
        ),
        PduDef("report_resp", REPORT_RESP, _RESULT),
    ],  # fmt: skip
    sequence_size=12,
)


def sequence(node: int, moment: datetime, counter: int) -> tuple[int, int, int]:
    """A sequence number: the node, MMDDHHMMSS of `moment` as an integer, the counter."""
    return node, int(mmddhhmmss(moment)), counter & 0xFFFFFFFF


def sequence_bytes(seq: tuple[int, int, int]) -> bytes:
    """The 12 octets a report's SubmitSequenceNumber carries."""
    return struct.pack(">III", *seq)


def sequence_of(raw: bytes) -> tuple[int, int, int]:
    if len(raw) != 12:
        raise PduError(f"an SGIP sequence number is 12 octets, not {len(raw)}")
    node, stamp, counter = struct.unpack(">III", raw)
    return node, stamp, counter
