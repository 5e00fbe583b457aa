"""SMGP 3.0 (China Telecom's SMS gateway protocol): the PDUs, the authenticators, the MsgID and
the status report.

Field layouts are those of the specification's message tables (SMGP 3.0 §5): fixed fields,
then optional TLVs (§5.3) after the 8-octet Reserve of a submit or deliver. The 10-octet MsgID
is binary-coded decimal: the gateway's code (6 digits), the time (MMDDHHMM) and a sequence
(6 digits).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fallback.gateways.pdu import Int, Octets, Pdu, PduDef, PduError, Protocol, Raw, Repeat, Tlvs, Var, mmddhhmmss
from fallback.gateways.session import (
    TUNING,
    Answer,
    GatewayClient,
    decode_content,
    e164_of,
    gateway_route,
    part_payloads,
    part_receipt,
    terminal_id,
)
from fallback.route import InboundSms, RouteHooks
from fallback.segmentation import Segmentation
from fallback.udh import LongReplies, concat_info, split_udh

log = logging.getLogger("hongyan.smgp")

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


# --- the route kind -------------------------------------------------------------------------

MT = 6  # MsgType of a message to a handset


def msg_id_text(raw: bytes) -> str:
    """A MsgID as text: its 20 digits (a gateway that breaks the BCD rule: its octets in hex)."""
    try:
        return str(MsgId.unpack(raw))
    except PduError:
        return raw.hex()


class SmgpClient(GatewayClient):
    """An SP connected to a China Telecom SMGW over SMGP 3.0 (login mode transmit: submits and
    delivers on one connection)."""

    protocol = SMGP30
    goodbye = "exit"

    def __init__(self, host: str, port: int, client_id: str, secret: str, *, service_id: str = "", **tuning: Any):
        if len(client_id.encode()) > 8:
            raise ValueError("client_id is longer than SMGP's 8 characters")
        if len(service_id.encode()) > 10:
            raise ValueError("service_id is longer than SMGP's 10 characters")
        super().__init__(host, port, **tuning)
        self.client_id, self._secret, self.service_id = client_id, secret, service_id
        self.long_replies = LongReplies(self._clock)

    def login(self) -> tuple[str, dict]:
        stamp = mmddhhmmss(self.now())
        return "login", {
            "ClientID": self.client_id,
            "AuthenticatorClient": authenticator_client(self.client_id, self._secret, stamp),
            "LoginMode": TRANSMIT,
            "TimeStamp": int(stamp),
            "ClientVersion": VERSION,
        }

    def login_error(self, sent: dict, answer: Pdu) -> str | None:
        status = answer["Status"]
        if status != 0:
            return f"status {status}: {STATUS.get(status, 'error')}"
        if answer["AuthenticatorServer"] != authenticator_server(0, sent["AuthenticatorClient"], self._secret):
            return "the gateway's AuthenticatorServer does not prove it knows the shared secret"
        return None

    def submit_parts(self, dest: str, source: str, seg: Segmentation, reference: int) -> list[tuple[str, dict]]:
        ascii_text, payloads = part_payloads(seg, reference)
        total = len(payloads)
        out = []
        for number, content in enumerate(payloads, start=1):
            tlvs: dict[int, bytes] = {}
            if total > 1:
                tlvs = {TP_UDHI: b"\x01", PK_TOTAL: bytes([total]), PK_NUMBER: bytes([number])}
            out.append(("submit", {
                "MsgType": MT, "NeedReport": 1, "Priority": 1, "ServiceID": self.service_id, "FeeType": "00",
                "FeeCode": "000000", "FixedFee": "000000", "MsgFormat": ASCII if ascii_text else UCS2,
                "SrcTermID": source, "DestTermID": [terminal_id(dest)], "MsgContent": content, "TLVs": tlvs,
            }))  # fmt: skip
        return out

    def read_answer(self, answer: Pdu) -> Answer:
        status = answer["Status"]
        if status == 0:
            return Answer(True, msg_id_text(answer["MsgID"]))
        return Answer(False, status=status, throttled=status in FLOW_CONTROL, transient=status in TRANSIENT,
                      text=STATUS.get(status, f"status {status}"))  # fmt: skip

    def answer_request(self, pdu: Pdu) -> tuple[str, dict] | None:
        if pdu.name == "active_test":
            return "active_test_resp", {}
        if pdu.name == "exit":
            return "exit_resp", {}
        if pdu.name != "deliver":
            return None
        if pdu["IsReport"] == 1:
            try:
                report = Report.decode(pdu["MsgContent"])
            except PduError as exc:
                log.warning("unreadable SMGP status report ignored: %s", exc)
            else:
                self.counts["receipts"] += 1
                err = None if report.err in ("", "000") else report.err
                self.receipts.receipt(part_receipt(msg_id_text(report.msg_id), report.stat.strip(), err))
        else:
            udhi = pdu["TLVs"].get(TP_UDHI, b"\x00")[:1] == b"\x01"
            udh, body = split_udh(pdu["MsgContent"], udhi)
            source, destination = e164_of(pdu["SrcTermID"]), pdu["DestTermID"]
            text = self.long_replies.add(source, destination, concat_info(udh), decode_content(body, pdu["MsgFormat"]))
            if text is not None:
                reply = InboundSms(source, destination, text, message_id=msg_id_text(pdu["MsgID"]))
                self.hand_on(self._on_inbound, self.inbound, reply)
        return "deliver_resp", {"MsgID": pdu["MsgID"], "Status": 0}


TRANSIENT = frozenset({2, 12})  # too many connections, a repeated sequence
_SMGP_OPTIONS: dict[str, Callable[[Any], Any]] = {"service_id": str, **TUNING}


def smgp_route(name: str, options: Mapping[str, Any], hooks: RouteHooks) -> SmgpClient:
    """An SMGP 3.0 connection from a routes-file entry: `host`, `port`, `client_id`, `secret`
    (the shared secret) and optionally `service_id` and tuning."""
    return gateway_route("SMGP", SmgpClient, "client_id", _SMGP_OPTIONS, name, options, hooks)
