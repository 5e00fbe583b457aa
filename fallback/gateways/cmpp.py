"""CMPP (China Mobile Peer to Peer) 2.0 and 3.0: the PDUs, the authenticators and the Msg_Id.

Field layouts are those of the specification's message tables (CMPP 3.0 §7.4; CMPP 2.0 §7.4).
What changed in 3.0: terminal ids are 32 octets, each followed by a terminal type octet (0 real
number, 1 pseudo number); status and result fields are 4 octets instead of 1; the 8-octet
`Reserve` at the end of a submit or deliver became the 20-octet `LinkID`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fallback.gateways.pdu import Int, Octets, Pdu, PduDef, PduError, Protocol, Raw, Repeat, Var, mmddhhmmss
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

log = logging.getLogger("hongyan.cmpp")

V20, V30 = 0x20, 0x30

CONNECT, CONNECT_RESP = 0x00000001, 0x80000001
TERMINATE, TERMINATE_RESP = 0x00000002, 0x80000002
SUBMIT, SUBMIT_RESP = 0x00000004, 0x80000004
DELIVER, DELIVER_RESP = 0x00000005, 0x80000005
ACTIVE_TEST, ACTIVE_TEST_RESP = 0x00000008, 0x80000008

# Msg_Fmt
ASCII, BINARY, UCS2, GBK = 0, 4, 8, 15

# CMPP_CONNECT_RESP Status
CONNECT_STATUS = {0: "ok", 1: "bad structure", 2: "bad source address", 3: "authentication failed",
                  4: "version too high", 5: "other error"}  # fmt: skip
# CMPP_SUBMIT_RESP Result; 8 is flow control ("slow down", not the message's fault)
SUBMIT_RESULT = {0: "ok", 1: "bad structure", 2: "bad command", 3: "duplicate sequence", 4: "bad message length",
                 5: "bad fee code", 6: "message too long", 7: "bad service id", 8: "flow control",
                 9: "other error"}  # fmt: skip
FLOW_CONTROL = 8


def _definitions(version: int) -> list[PduDef]:
    v3 = version >= V30
    terminal = Octets(32 if v3 else 21)
    status = Int(4 if v3 else 1)

    def with_type(name: str) -> list:
        return [(name, terminal), (name.replace("_Id", "_type"), Int(1))] if v3 else [(name, terminal)]

    tail = [("LinkID", Octets(20))] if v3 else [("Reserve", Octets(8))]
    return [
        PduDef("connect", CONNECT, (
            ("Source_Addr", Octets(6)), ("AuthenticatorSource", Raw(16)), ("Version", Int(1)),
            ("Timestamp", Int(4)),
        )),
        PduDef("connect_resp", CONNECT_RESP, (
            ("Status", status), ("AuthenticatorISMG", Raw(16)), ("Version", Int(1)),
        )),
        PduDef("terminate", TERMINATE),
        PduDef("terminate_resp", TERMINATE_RESP),
        PduDef("submit", SUBMIT, tuple([
            ("Msg_Id", Int(8)), ("Pk_total", Int(1)), ("Pk_number", Int(1)), ("Registered_Delivery", Int(1)),
            ("Msg_level", Int(1)), ("Service_Id", Octets(10)), ("Fee_UserType", Int(1)),
            *with_type("Fee_terminal_Id"),
            ("TP_pId", Int(1)), ("TP_udhi", Int(1)), ("Msg_Fmt", Int(1)), ("Msg_src", Octets(6)),
            ("FeeType", Octets(2)), ("FeeCode", Octets(6)), ("ValId_Time", Octets(17)), ("At_Time", Octets(17)),
            ("Src_Id", Octets(21)), ("DestUsr_tl", Int(1)), ("Dest_terminal_Id", Repeat(terminal, "DestUsr_tl")),
            *([("Dest_terminal_type", Int(1))] if v3 else []),
            ("Msg_Length", Int(1)), ("Msg_Content", Var("Msg_Length")),
            *tail,
        ])),
        PduDef("submit_resp", SUBMIT_RESP, (("Msg_Id", Int(8)), ("Result", status))),
        PduDef("deliver", DELIVER, tuple([
            ("Msg_Id", Int(8)), ("Dest_Id", Octets(21)), ("Service_Id", Octets(10)), ("TP_pid", Int(1)),
            ("TP_udhi", Int(1)), ("Msg_Fmt", Int(1)), *with_type("Src_terminal_Id"),
            ("Registered_Delivery", Int(1)), ("Msg_Length", Int(1)), ("Msg_Content", Var("Msg_Length")),
            *tail,
        ])),
        PduDef("deliver_resp", DELIVER_RESP, (("Msg_Id", Int(8)), ("Result", status))),
        PduDef("active_test", ACTIVE_TEST),
        PduDef("active_test_resp", ACTIVE_TEST_RESP, (("Reserved", Int(1)),)),
    ]  # fmt: skip


CMPP20 = Protocol("CMPP 2.0", _definitions(V20))
CMPP30 = Protocol("CMPP 3.0", _definitions(V30))


def protocol(version: int) -> Protocol:
    """The codec of a CMPP version: 2.x (0x20–0x2F: SPs' 2.0 clients send 0x20 or 0x21, the same
    layout) or 3.0 (0x30)."""
    if V20 <= version < V30:
        return CMPP20
    if version == V30:
        return CMPP30
    raise PduError(f"CMPP version 0x{version:02x} is not supported (0x20–0x2F, 0x30)")


def authenticator_source(source_addr: str, secret: str, stamp: str) -> bytes:
    """MD5(Source_Addr + 9 octets of 0 + shared secret + timestamp), the SP's login proof."""
    return hashlib.md5(source_addr.encode() + bytes(9) + secret.encode() + stamp.encode()).digest()  # noqa: S324


def authenticator_ismg(status: int, source_auth: bytes, secret: str, version: int) -> bytes:
    """MD5(Status + AuthenticatorSource + shared secret), the gateway's answer; Status as its
    field is on the wire (1 octet in 2.0, 4 in 3.0)."""
    size = 4 if version >= V30 else 1
    return hashlib.md5(status.to_bytes(size, "big") + source_auth + secret.encode()).digest()  # noqa: S324


@dataclass(frozen=True)
class MsgId:
    """CMPP's 64-bit Msg_Id: month (4 bits), day (5), hour (5), minute (6), second (6), the
    gateway's code (22) and a sequence (16)."""

    month: int
    day: int
    hour: int
    minute: int
    second: int
    gateway: int
    sequence: int

    def pack(self) -> int:
        value = 0
        for part, bits in zip(self._parts(), (4, 5, 5, 6, 6, 22, 16)):
            if not 0 <= part < 1 << bits:
                raise PduError(f"{part} does not fit {bits} bits of a Msg_Id")
            value = value << bits | part
        return value

    def _parts(self) -> tuple[int, ...]:
        return (self.month, self.day, self.hour, self.minute, self.second, self.gateway, self.sequence)

    @classmethod
    def unpack(cls, value: int) -> MsgId:
        parts = []
        for bits in (16, 22, 6, 6, 5, 5, 4):
            parts.append(value & ((1 << bits) - 1))
            value >>= bits
        sequence, gateway, second, minute, hour, day, month = parts
        return cls(month, day, hour, minute, second, gateway, sequence)

    @classmethod
    def at(cls, moment: datetime, gateway: int, sequence: int) -> MsgId:
        return cls(moment.month, moment.day, moment.hour, moment.minute, moment.second, gateway, sequence & 0xFFFF)


@dataclass(frozen=True)
class Report:
    """A status report, the Msg_Content of a deliver with Registered_Delivery 1."""

    msg_id: int
    stat: str  # DELIVRD, EXPIRED, UNDELIV, REJECTD, MA:xxxx, …
    submit_time: str  # YYMMDDHHMM
    done_time: str
    dest_terminal_id: str
    smsc_sequence: int

    def encode(self, version: int) -> bytes:
        terminal = 32 if version >= V30 else 21
        return (
            self.msg_id.to_bytes(8, "big")
            + Octets(7).encode(self.stat)
            + Octets(10).encode(self.submit_time)
            + Octets(10).encode(self.done_time)
            + Octets(terminal).encode(self.dest_terminal_id)
            + self.smsc_sequence.to_bytes(4, "big")
        )

    @classmethod
    def decode(cls, content: bytes, version: int) -> Report:
        terminal = 32 if version >= V30 else 21
        if len(content) != 8 + 7 + 10 + 10 + terminal + 4:
            raise PduError(f"a CMPP {version >> 4}.0 status report of {len(content)} octets")
        at = 35 + terminal
        return cls(
            msg_id=int.from_bytes(content[:8], "big"),
            stat=Octets(7).decode(content[8:15]),
            submit_time=Octets(10).decode(content[15:25]),
            done_time=Octets(10).decode(content[25:35]),
            dest_terminal_id=Octets(terminal).decode(content[35:at]),
            smsc_sequence=int.from_bytes(content[at:], "big"),
        )


# --- the route kind -------------------------------------------------------------------------

TRANSIENT_RESULTS = frozenset({3, 9})  # a duplicate sequence, "other error"


class CmppClient(GatewayClient):
    """An SP connected to a China Mobile ISMG over CMPP 2.0 or 3.0: submits with receipts
    requested, answers delivers (receipts and replies) and active tests."""

    goodbye = "terminate"

    def __init__(self, host: str, port: int, sp_id: str, secret: str, *, service_id: str = "", version: int = V30,
                 **tuning: Any):  # fmt: skip
        if len(sp_id.encode()) > 6:
            raise ValueError("sp_id (Source_Addr) is longer than CMPP's 6 characters")
        if len(service_id.encode()) > 10:
            raise ValueError("service_id is longer than CMPP's 10 characters")
        self.protocol = protocol(version)
        super().__init__(host, port, **tuning)
        self.sp_id, self._secret, self.service_id, self.version = sp_id, secret, service_id, version
        self.long_replies = LongReplies(self._clock)

    def login(self) -> tuple[str, dict]:
        stamp = mmddhhmmss(self.now())
        return "connect", {
            "Source_Addr": self.sp_id,
            "AuthenticatorSource": authenticator_source(self.sp_id, self._secret, stamp),
            "Version": self.version,
            "Timestamp": int(stamp),
        }

    def login_error(self, sent: dict, answer: Pdu) -> str | None:
        status = answer["Status"]
        if status != 0:
            return f"status {status}: {CONNECT_STATUS.get(status, 'other error')}"
        expected = authenticator_ismg(0, sent["AuthenticatorSource"], self._secret, self.version)
        if answer["AuthenticatorISMG"] != expected:
            return "the gateway's AuthenticatorISMG does not prove it knows the shared secret"
        return None

    def submit_parts(self, dest: str, source: str, seg: Segmentation, reference: int) -> list[tuple[str, dict]]:
        ascii_text, payloads = part_payloads(seg, reference)
        total = len(payloads)
        out = []
        for number, content in enumerate(payloads, start=1):
            out.append(("submit", {
                "Pk_total": total, "Pk_number": number, "Registered_Delivery": 1, "Msg_level": 1,
                "Service_Id": self.service_id, "Fee_UserType": 2, "TP_udhi": int(total > 1),
                "Msg_Fmt": ASCII if ascii_text else UCS2, "Msg_src": self.sp_id, "FeeType": "01",
                "FeeCode": "000000", "Src_Id": source, "Dest_terminal_Id": [terminal_id(dest)],
                "Msg_Content": content,
            }))  # fmt: skip
        return out

    def read_answer(self, answer: Pdu) -> Answer:
        result = answer["Result"]
        if result == 0:
            return Answer(True, str(answer["Msg_Id"]))
        text = SUBMIT_RESULT.get(result, f"result {result}")
        return Answer(False, status=result, throttled=result == FLOW_CONTROL, transient=result in TRANSIENT_RESULTS,
                      text=text)  # fmt: skip

    def answer_request(self, pdu: Pdu) -> tuple[str, dict] | None:
        if pdu.name == "active_test":
            return "active_test_resp", {"Reserved": 0}
        if pdu.name == "terminate":
            return "terminate_resp", {}
        if pdu.name != "deliver":
            return None
        if pdu["Registered_Delivery"] == 1:
            self._on_report(pdu)
        else:
            self._on_reply(pdu)
        return "deliver_resp", {"Msg_Id": pdu["Msg_Id"], "Result": 0}

    def _on_report(self, pdu: Pdu) -> None:
        try:
            report = Report.decode(pdu["Msg_Content"], self.version)
        except PduError as exc:
            log.warning("unreadable CMPP status report ignored: %s", exc)
            return
        self.counts["receipts"] += 1
        self.receipts.receipt(part_receipt(str(report.msg_id), report.stat))

    def _on_reply(self, pdu: Pdu) -> None:
        udh, body = split_udh(pdu["Msg_Content"], bool(pdu["TP_udhi"]))
        source, destination = e164_of(pdu["Src_terminal_Id"]), pdu["Dest_Id"]
        text = self.long_replies.add(source, destination, concat_info(udh), decode_content(body, pdu["Msg_Fmt"]))
        if text is not None:
            reply = InboundSms(source=source, destination=destination, text=text, message_id=str(pdu["Msg_Id"]))
            self.hand_on(self._on_inbound, self.inbound, reply)


def _version(value: Any) -> int:
    found = {"2.0": V20, "3.0": V30, V20: V20, V30: V30}.get(value if isinstance(value, int) else str(value))
    if found is None:
        raise ValueError(f'version {value!r} is not "2.0" or "3.0"')
    return found


_CMPP_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "service_id": str,
    "version": _version,
    **TUNING,
}


def cmpp_route(name: str, options: Mapping[str, Any], hooks: RouteHooks) -> CmppClient:
    """A CMPP connection from a routes-file entry: `host`, `port`, `sp_id` (Source_Addr), `secret`
    (the shared secret) and optionally `service_id`, `version` ("2.0" or "3.0") and tuning."""
    return gateway_route("CMPP", CmppClient, "sp_id", _CMPP_OPTIONS, name, options, hooks)
