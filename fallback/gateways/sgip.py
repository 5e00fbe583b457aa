"""SGIP 1.2 (China Unicom's SMS gateway interface): the PDUs, the sequence number and the
route kind.

Field layouts are those of the specification's command tables (SGIP 1.2 §4.2). A sequence
number is three 4-octet parts: the sending node's number, the time (MMDDHHMMSS as a decimal
integer) and a counter. SGIP runs both ways: the SP connects to the gateway (SMG) to submit;
the SMG connects to the SP to deliver mobile-originated messages and reports, so the route
listens too. SGIP has no heartbeat: either side closes a connection it has no use for, and the
SP connects again when it has something to send.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import struct
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fallback.framing import FrameWriter
from fallback.gateways.pdu import Int, Octets, Pdu, PduDef, PduError, Protocol, Raw, Repeat, Var, mmddhhmmss
from fallback.gateways.session import (
    TUNING,
    Answer,
    ConnectionLost,
    GatewayClient,
    decode_content,
    e164_of,
    part_payloads,
    part_receipt,
)
from fallback.route import InboundSms, RouteHooks, route_options
from fallback.segmentation import Segmentation
from fallback.udh import LongReplies, concat_info, split_udh

log = logging.getLogger("hongyan.sgip")

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
# Report's ReportType: 0 the state of an earlier submit (1 answers a user-state query)
SUBMIT_STATE = 0

# Result and ErrorCode (SGIP 1.2 §4.3 "错误代码表"; read from China Unicom's SGIP 1.2
# specification as two open implementations carry it: github.com/bromine0x23/sgip
# SgipConstants.java and github.com/yedamao/go_sgip sgip/protocol/constants.go). 1–20 answer
# commands; 21–32 are a report's reasons a message did not arrive.
RESULT = {0: "ok", 1: "illegal login", 2: "repeated login", 3: "too many connections", 4: "wrong login type",
          5: "bad parameter format", 6: "illegal mobile number", 7: "bad message id", 8: "bad message length",
          9: "illegal sequence number", 10: "illegal GNS operation", 11: "node busy",
          21: "destination unreachable", 22: "routing error", 23: "no such route", 24: "invalid charge number",
          25: "user cannot be reached", 26: "handset memory full", 27: "handset does not support SMS",
          28: "handset receive error", 29: "unknown user", 30: "function not offered", 31: "illegal device",
          32: "system failure", 33: "SMSC queue full"}  # fmt: skip
# "Node busy" (its store full or otherwise unable for now) asks the SP to slow down; too many
# connections and a repeated sequence number are the session's fault, not the message's: try
# again. The others name what is wrong with the message: permanent.
NODE_BUSY = 11
TRANSIENT = frozenset({3, 9})
ILLEGAL_LOGIN, REPEATED_LOGIN, TOO_MANY_CONNECTIONS, WRONG_LOGIN_TYPE, BAD_PARAMETER = 1, 2, 3, 4, 5
ILLEGAL_NUMBER, BAD_COMMAND_ID, BAD_LENGTH = 6, 7, 8

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


def sequence_text(seq: tuple[int, int, int]) -> str:
    """A submit's sequence number as the part id its report names: node-MMDDHHMMSS-counter."""
    node, stamp, counter = seq
    return f"{node}-{stamp:010d}-{counter}"


def user_number(e164: str) -> str:
    """A number as SGIP carries it: its international digits (86 and the 11 national digits for
    a Chinese mobile; the specification refuses a mobile number without 86)."""
    return e164.lstrip("+")


# --- the route kind -------------------------------------------------------------------------

MAX_SMG_CONNECTIONS = 60  # the specification's "too many connections" threshold
NO_CHARGE = "0" * 21  # ChargeNumber all zeros: the SP pays
MT_NOT_FROM_MO = 2  # MorelatetoMTFlag: an MT message no MO asked for
REPORT_ALWAYS = 1  # ReportFlag: a report whether or not the message arrives


class SgipClient(GatewayClient):
    """An SP on a China Unicom SMG over SGIP 1.2: binds (Login_Type 1) to submit, with reports
    requested; listens for the SMG's own connections (Login_Type 2, with the login the SMG was
    given) that bring reports and replies. A connection idle for `idle_timeout` seconds is
    unbound; the next submit binds again."""

    protocol = SGIP12
    goodbye = "unbind"
    on_demand = True

    def __init__(
        self,
        host: str,
        port: int,
        login_name: str,
        secret: str,
        *,
        node_id: int,
        listen_port: int,
        listen_host: str = "0.0.0.0",  # noqa: S104 - the SMG connects from outside
        smg_login: str | None = None,
        smg_password: str | None = None,
        service_type: str = "",
        idle_timeout: float = 60.0,
        **tuning: Any,
    ):
        for what, value, size in (("login_name", login_name, 16), ("secret", secret, 16),
                                  ("service_type", service_type, 10), ("smg_login", smg_login or "", 16),
                                  ("smg_password", smg_password or "", 16)):  # fmt: skip
            if len(value.encode()) > size:
                raise ValueError(f"{what} is longer than SGIP's {size} characters")
        if not 3_000_000_000 <= node_id <= 0xFFFFFFFF:
            raise ValueError("node_id is not an SP's node number (3AAAAQQQQQ: 3, area code, corporation code)")
        super().__init__(host, port, **tuning)
        self.login_name, self._secret, self.node_id, self.service_type = login_name, secret, node_id, service_type
        self.corp_id = f"{node_id:010d}"[-5:]  # the node number ends with the corporation code
        self.listen_host, self.listen_port = listen_host, listen_port
        self.smg_login = login_name if smg_login is None else smg_login
        self._smg_password = secret if smg_password is None else smg_password
        self.idle_timeout = idle_timeout
        self.long_replies = LongReplies(self._clock)
        self._listener: asyncio.Server | None = None
        self._smg_connections: set[FrameWriter] = set()
        self._last_request = 0.0
        self.counts.update({"smg_binds": 0, "refused_smg_binds": 0, "idle_unbinds": 0})

    # --- the SP → SMG connection ----------------------------------------------------------------

    def next_sequence(self) -> tuple[int, int, int]:
        self._seq = self._seq % 0xFFFFFFFF + 1
        return sequence(self.node_id, self.now(), self._seq)

    def login(self) -> tuple[str, dict]:
        return "bind", {"Login_Type": SP_TO_SMG, "Login_Name": self.login_name, "Login_Password": self._secret}

    def login_error(self, sent: dict, answer: Pdu) -> str | None:
        result = answer["Result"]
        return None if result == 0 else f"result {result}: {RESULT.get(result, 'error')}"

    def submit_parts(self, dest: str, source: str, seg: Segmentation, reference: int) -> list[tuple[str, dict]]:
        ascii_text, payloads = part_payloads(seg, reference)
        udhi = int(len(payloads) > 1)
        return [("submit", {
            "SPNumber": source, "ChargeNumber": NO_CHARGE, "UserNumber": [user_number(dest)], "CorpId": self.corp_id,
            "ServiceType": self.service_type, "FeeValue": "0", "GivenValue": "0", "MorelatetoMTFlag": MT_NOT_FROM_MO,
            "ReportFlag": REPORT_ALWAYS, "TP_udhi": udhi, "MessageCoding": ASCII if ascii_text else UCS2,
            "MessageContent": content,
        }) for content in payloads]  # fmt: skip

    def read_answer(self, answer: Pdu) -> Answer:
        result = answer["Result"]
        if result == 0:
            return Answer(True, sequence_text(answer.sequence))  # the report names the submit's sequence
        return Answer(False, status=result, throttled=result == NODE_BUSY, transient=result in TRANSIENT,
                      text=RESULT.get(result, f"result {result}"))  # fmt: skip

    def answer_request(self, pdu: Pdu) -> tuple[str, dict] | None:
        if pdu.name == "unbind":
            return "unbind_resp", {}
        return None  # the SMG sends nothing else on the SP's connection

    async def _request(self, conn, name: str, fields: dict, timeout: float | None = None) -> Pdu:
        self._last_request = asyncio.get_running_loop().time()
        return await super()._request(conn, name, fields, timeout)

    async def _keep_alive(self, conn) -> None:
        """No heartbeat in SGIP: unbind once the connection has been idle for `idle_timeout`."""
        loop = asyncio.get_running_loop()
        while True:
            idle_for = loop.time() - self._last_request
            if idle_for < self.idle_timeout or conn.pending:
                await asyncio.sleep(max(self.idle_timeout - idle_for, 0.01))
                continue
            self.counts["idle_unbinds"] += 1
            try:
                await self._request(conn, "unbind", {}, min(self.response_timeout, 5.0))
            except (TimeoutError, ConnectionLost, OSError):
                pass  # closing anyway
            conn.closed.set()
            return

    # --- the SMG → SP connections ---------------------------------------------------------------

    async def start(self) -> None:
        if self._listener is None:
            self._listener = await asyncio.start_server(self._serve_smg, self.listen_host, self.listen_port)
            self.listen_port = self._listener.sockets[0].getsockname()[1]
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._listener is not None:
            self._listener.close()
            for writer in list(self._smg_connections):
                writer.abort()
            await self._listener.wait_closed()
            self._listener = None

    async def _serve_smg(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        writer = FrameWriter(stream)
        self._smg_connections.add(writer)
        bound = False
        try:
            while True:
                try:
                    header = await asyncio.wait_for(reader.readexactly(4), self.idle_timeout)
                except TimeoutError:
                    if bound:  # idle: the SP may end it as well as the SMG
                        writer.send(self.protocol.encode("unbind", self.next_sequence()))
                    break
                frame = header + await asyncio.wait_for(
                    reader.readexactly(self.protocol.frame_length(header) - 4), self.response_timeout
                )
                pdu = self.protocol.decode(frame)
                if not bound:
                    bound = self._smg_bind(writer, pdu)
                    if not bound:
                        break
                elif not self._from_smg(writer, pdu):
                    break
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # idle, or the SMG hung up: it connects again when it has more
        except PduError as exc:
            log.warning("SGIP: a malformed PDU from the SMG, dropping its connection: %s", exc)
        finally:
            self._smg_connections.discard(writer)
            writer.close()

    def _smg_bind(self, writer: FrameWriter, pdu: Pdu) -> bool:
        if pdu.name != "bind":
            return False
        if len(self._smg_connections) > MAX_SMG_CONNECTIONS:
            result = TOO_MANY_CONNECTIONS
        elif pdu["Login_Type"] != SMG_TO_SP:
            result = WRONG_LOGIN_TYPE
        elif not (hmac.compare_digest(pdu["Login_Name"].encode(), self.smg_login.encode())
                  and hmac.compare_digest(pdu["Login_Password"].encode(), self._smg_password.encode())):  # fmt: skip
            result = ILLEGAL_LOGIN
        else:
            result = 0
        writer.send(self.protocol.encode("bind_resp", pdu.sequence, {"Result": result}))
        self.counts["smg_binds" if result == 0 else "refused_smg_binds"] += 1
        if result:
            log.warning("SGIP: the SMG's bind refused: %s", RESULT[result])
        return result == 0

    def _from_smg(self, writer: FrameWriter, pdu: Pdu) -> bool:
        """Handle one PDU on a bound SMG connection; False ends the connection."""
        if pdu.definition.command_id & 0x80000000:
            return True  # an answer to our unbind
        if pdu.name == "report":
            self._on_report(pdu)
            answer = "report_resp"
        elif pdu.name == "deliver":
            self._on_reply(pdu)
            answer = "deliver_resp"
        elif pdu.name == "unbind":
            writer.send(self.protocol.encode("unbind_resp", pdu.sequence))
            return False
        else:
            result = REPEATED_LOGIN if pdu.name == "bind" else BAD_COMMAND_ID  # a command an SMG never sends
            writer.send(self.protocol.encode(f"{pdu.name}_resp", pdu.sequence, {"Result": result}))
            return False
        writer.send(self.protocol.encode(answer, pdu.sequence, {"Result": 0}))
        return True

    def _on_report(self, pdu: Pdu) -> None:
        if pdu["ReportType"] != SUBMIT_STATE or pdu["State"] == WAITING:
            return  # not about a submit, or not final yet
        part_id = sequence_text(sequence_of(pdu["SubmitSequenceNumber"]))
        self.counts["receipts"] += 1
        if pdu["State"] == DELIVERED:
            self.receipts.receipt(part_receipt(part_id, "DELIVRD"))
        else:
            self.receipts.receipt(part_receipt(part_id, "UNDELIV", str(pdu["ErrorCode"])))

    def _on_reply(self, pdu: Pdu) -> None:
        udh, body = split_udh(pdu["MessageContent"], bool(pdu["TP_udhi"]))
        source, destination = e164_of(pdu["UserNumber"]), pdu["SPNumber"]
        text = self.long_replies.add(source, destination, concat_info(udh), decode_content(body, pdu["MessageCoding"]))
        if text is not None:
            self.hand_on(self._on_inbound, self.inbound, InboundSms(source, destination, text))


def _revealed(value: Any) -> str:
    reveal = getattr(value, "reveal", None)  # security.secrets.Secret
    return str(reveal() if callable(reveal) else value)


_SGIP_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "listen_host": str,
    "smg_login": str,
    "smg_password": _revealed,
    "service_type": str,
    "idle_timeout": float,
    **{key: convert for key, convert in TUNING.items() if key != "keepalive_interval"},  # no heartbeat
}
_SGIP_REQUIRED = ("host", "port", "login_name", "secret", "node_id", "listen_port")


def sgip_route(name: str, options: Mapping[str, Any], hooks: RouteHooks) -> SgipClient:
    """An SGIP 1.2 route from a routes-file entry: `host`, `port` (the SMG), `login_name` and
    `secret` (the SP's bind), `node_id` (the SP's node number), `listen_port` (where the SMG
    connects back) and optionally `listen_host`, `smg_login`/`smg_password` (what the SMG must
    present; the SP's own by default), `service_type`, `idle_timeout` and tuning."""
    given, tuned = route_options("SGIP", name, options, _SGIP_REQUIRED, _SGIP_OPTIONS)
    try:
        return SgipClient(str(given["host"]), int(given["port"]), str(given["login_name"]), str(given["secret"]),
                          node_id=int(given["node_id"]), listen_port=int(given["listen_port"]),
                          on_outcome=hooks.on_outcome, on_inbound=hooks.on_inbound,
                          on_throttle=hooks.on_throttle, **tuned)  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"SGIP route {name}: {exc}") from None
