"""SMGP 3.0 (China Telecom's SMS gateway protocol): the PDUs, the authenticators, the MsgID and
the status report.

Field layouts are those of the specification's message tables (SMGP 3.0 §5): fixed fields,
then optional TLVs (§5.3) after the 8-octet Reserve of a submit or deliver. The 10-octet MsgID
is binary-coded decimal: the gateway's code (6 digits), the time (MMDDHHMM) and a sequence
(6 digits).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from fallback.gateways.pdu import Int, Octets, PduDef, PduError, Protocol, Raw, Repeat, Tlvs, Var

VERSION = 0x30

LOGIN, LOGIN_RESP = 0x00000001, 0x80000001
SUBMIT, SUBMIT_RESP = 0x00000002, 0x80000002
DELIVER, DELIVER_RESP = 0x00000003, 0x80000003
ACTIVE_TEST, ACTIVE_TEST_RESP = 0x00000004, 0x80000004
EXIT, EXIT_RESP = 0x00000006, 0x80000006

# LoginMode
SEND, RECEIVE, TRANSMIT = 0, 1, 2
# MsgFormat
ASCII, BINARY, UCS2, GBK = 0, 4, 8, 15
# TLV tags (§5.3)
TP_PID, TP_UDHI, LINK_ID, PK_TOTAL, PK_NUMBER, SRC_TERM_TYPE, MSG_SRC = 0x01, 0x02, 0x03, 0x09, 0x0A, 0x0D, 0x10
# Status (§6): 0 success; 1 "system busy" asks the SP to slow down, as does the vendors' 134
# ("over the set flow", 128–255 being theirs to define); the others name what is wrong.
FLOW_CONTROL = frozenset({1, 134})
STATUS = {0: "success", 1: "system busy", 2: "too many connections", 10: "bad message structure",
          11: "bad command", 12: "repeated sequence", 20: "bad IP address", 21: "authentication failed",
          22: "version too high", 30: "bad message type", 31: "bad priority", 32: "bad fee type",
          33: "bad fee code", 34: "bad message format", 35: "bad time format", 36: "bad message length",
          37: "expired", 39: "routing error", 44: "bad valid time", 45: "bad send time",
          46: "bad sending number", 47: "bad receiving number", 48: "bad charged number",
          134: "over the set flow"}  # fmt: skip

_TERM = Octets(21)

SMGP30 = Protocol(
    "SMGP 3.0",
    [
        PduDef(
            "login",
            LOGIN,
            (
                ("ClientID", Octets(8)),
                ("AuthenticatorClient", Raw(16)),
                ("LoginMode", Int(1)),
                ("TimeStamp", Int(4)),
                ("ClientVersion", Int(1)),
            ),
        ),
        PduDef(
            "login_resp",
            LOGIN_RESP,
            (
                ("Status", Int(4)),
                ("AuthenticatorServer", Raw(16)),
                ("ServerVersion", Int(1)),
            ),
        ),
        PduDef(
            "submit",
            SUBMIT,
            (
                ("MsgType", Int(1)),
                ("NeedReport", Int(1)),
                ("Priority", Int(1)),
                ("ServiceID", Octets(10)),
                ("FeeType", Octets(2)),
                ("FeeCode", Octets(6)),
                ("FixedFee", Octets(6)),
                ("MsgFormat", Int(1)),
                ("ValidTime", Octets(17)),
                ("AtTime", Octets(17)),
                ("SrcTermID", _TERM),
                ("ChargeTermID", _TERM),
                ("DestTermIDCount", Int(1)),
                ("DestTermID", Repeat(_TERM, "DestTermIDCount")),
                ("MsgLength", Int(1)),
                ("MsgContent", Var("MsgLength")),
                ("Reserve", Octets(8)),
                ("TLVs", Tlvs()),
            ),
        ),
        PduDef("submit_resp", SUBMIT_RESP, (("MsgID", Raw(10)), ("Status", Int(4)))),
        PduDef(
            "deliver",
            DELIVER,
            (
                ("MsgID", Raw(10)),
                ("IsReport", Int(1)),
                ("MsgFormat", Int(1)),
                ("RecvTime", Octets(14)),
                ("SrcTermID", _TERM),
                ("DestTermID", _TERM),
                ("MsgLength", Int(1)),
                ("MsgContent", Var("MsgLength")),
                ("Reserve", Octets(8)),
                ("TLVs", Tlvs()),
            ),
        ),
        PduDef("deliver_resp", DELIVER_RESP, (("MsgID", Raw(10)), ("Status", Int(4)))),
        PduDef("active_test", ACTIVE_TEST),
        PduDef("active_test_resp", ACTIVE_TEST_RESP),
        PduDef("exit", EXIT),
        PduDef("exit_resp", EXIT_RESP),
    ],  # fmt: skip
)


def authenticator_client(client_id: str, secret: str, stamp: str) -> bytes:
    """MD5(ClientID + 7 octets of 0 + shared secret + MMDDHHMMSS), the SP's login proof."""
    return hashlib.md5(client_id.encode() + bytes(7) + secret.encode() + stamp.encode()).digest()  # noqa: S324


def authenticator_server(status: int, client_auth: bytes, secret: str) -> bytes:
    """MD5(Status (4 octets) + AuthenticatorClient + shared secret), the gateway's answer."""
    return hashlib.md5(status.to_bytes(4, "big") + client_auth + secret.encode()).digest()  # noqa: S324


def _bcd(digits: str) -> bytes:
    return bytes(int(digits[i]) << 4 | int(digits[i + 1]) for i in range(0, len(digits), 2))


def _digits(raw: bytes) -> str:
    out = "".join(f"{b >> 4}{b & 0xF}" for b in raw)
    if not out.isdigit() or any(b >> 4 > 9 or b & 0xF > 9 for b in raw):
        raise PduError(f"{raw.hex()} is not binary-coded decimal")
    return out


@dataclass(frozen=True)
class MsgId:
    """SMGP's MsgID: the gateway's code (6 digits), MMDDHHMM and a 6-digit sequence."""

    gateway: str
    time: str  # MMDDHHMM
    sequence: int

    def pack(self) -> bytes:
        if not (len(self.gateway) == 6 and self.gateway.isdigit() and len(self.time) == 8 and self.time.isdigit()):
            raise PduError("an SMGP MsgID needs a 6-digit gateway code and an MMDDHHMM time")
        return _bcd(self.gateway) + _bcd(self.time) + _bcd(f"{self.sequence % 1_000_000:06d}")

    @classmethod
    def unpack(cls, raw: bytes) -> MsgId:
        if len(raw) != 10:
            raise PduError(f"an SMGP MsgID is 10 octets, not {len(raw)}")
        digits = _digits(raw)
        return cls(digits[:6], digits[6:14], int(digits[14:]))

    @classmethod
    def at(cls, gateway: str, moment: datetime, sequence: int) -> MsgId:
        return cls(gateway, moment.strftime("%m%d%H%M"), sequence)

    def __str__(self) -> str:
        return f"{self.gateway}{self.time}{self.sequence:06d}"


@dataclass(frozen=True)
class Report:
    """A status report, the MsgContent of a deliver with IsReport 1:
    ``id:<MsgID, 10 octets> sub:001 dlvrd:001 Submit_date:YYMMDDHHMM done_date:YYMMDDHHMM
    stat:DELIVRD err:000 Txt:<20 octets>``."""

    msg_id: bytes
    stat: str
    err: str
    submit_date: str
    done_date: str
    sub: str = "001"
    dlvrd: str = "001"
    text: bytes = b""

    def encode(self) -> bytes:
        return (
            b"id:"
            + Raw(10).encode(self.msg_id)
            + f" sub:{self.sub} dlvrd:{self.dlvrd} Submit_date:{self.submit_date} done_date:{self.done_date}"
            f" stat:{self.stat:<7.7} err:{self.err} Txt:".encode("ascii")
            + Raw(20).encode(self.text)
        )

    @classmethod
    def decode(cls, content: bytes) -> Report:
        if not content.startswith(b"id:") or len(content) < 13:
            raise PduError("an SMGP status report begins with id: and a 10-octet MsgID")
        head, text = _split_text(content[13:])
        found = dict(re.findall(r"(\w+):(\S*)", head.decode("ascii", "replace")))
        try:
            return cls(
                msg_id=content[3:13],
                stat=found["stat"],
                err=found["err"],
                submit_date=found["Submit_date"],
                done_date=found["done_date"],
                sub=found.get("sub", "001"),
                dlvrd=found.get("dlvrd", "001"),
                text=text.rstrip(b"\x00"),
            )
        except KeyError as exc:
            raise PduError(f"an SMGP status report without {exc.args[0]}") from exc


def _split_text(rest: bytes) -> tuple[bytes, bytes]:
    """The report's fields before `Txt:` (some gateways write `text:`) and the text after it."""
    parts = re.split(rb" (?i:txt|text):", rest, maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else b""
