"""A China Mobile ISMG simulator speaking CMPP 2.0 and 3.0 over TCP, as strict as a gateway.

It checks what a gateway checks: the connect comes first, from a known SP (Source_Addr) with an
AuthenticatorSource made with its shared secret, in a version it speaks (0x20 or 0x30, else
status 4); every submit's layout (the codec refuses a frame that does not follow it; the
connection is dropped), its Msg_Fmt, its Msg_Length (≤ 140 octets, 160 for ASCII), its
Pk_total/Pk_number and the concatenation UDH a long message's parts must carry, its
destination count (1–100) and numbers. The outcome is the sandbox's, by the destination's last
digits (`fallback.smsc.simulator.behaviour_for`): ``00`` flow control (Result 8) for the
first two submits of a part, then accepted; ``9`` a report UNDELIV; ``90`` accepted with the
report lost; anything else a report DELIVRD after `receipt_delay`. Reports go to a connection
of the SP that submitted (held until it connects again). `send_mo` delivers a reply from a
handset, split in parts with a UDH when long.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from fallback.framing import FrameWriter
from fallback.gateways import cmpp
from fallback.gateways.pdu import Pdu, PduError, Protocol
from fallback.gateways.session import CHINA
from fallback.segmentation import segment_sms
from fallback.smsc.simulator import RECEIPT_LOST, THROTTLE_THEN_DELIVER, THROTTLED_SUBMITS, UNDELIVERABLE, behaviour_for
from fallback.udh import concat_info, concat_udh, split_udh
from security.logs import mask_phone

log = logging.getLogger("hongyan.cmpp.simulator")

# The sandbox SP (public by design: it opens only the simulator).
SANDBOX_SP_ID = "901234"
SANDBOX_SECRET = "sandbox"
GATEWAY_CODE = 0x1A2B3  # this ISMG's code in the Msg_Ids it makes
MAX_HELD_REPORTS = 10_000


@dataclass(eq=False)
class _Session:
    writer: FrameWriter
    protocol: Protocol = cmpp.CMPP30
    version: int = 0
    sp_id: str = ""
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def send(self, name: str, sequence: int, values: dict | None = None) -> None:
        self.writer.send(self.protocol.encode(name, sequence, values or {}))


class CmppSimulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        accounts: dict[str, str] | None = None,
        receipt_delay: float = 0.2,
        now=lambda: datetime.now(CHINA),
    ):
        self.host, self.port = host, port
        self.accounts = accounts if accounts is not None else {SANDBOX_SP_ID: SANDBOX_SECRET}
        self.receipt_delay, self.now = receipt_delay, now
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._held: dict[str, list[tuple[str, dict]]] = {}
        self._msg_seq = itertools.count(1)
        self._throttled: Counter[tuple] = Counter()
        self._tasks: set[asyncio.Task] = set()
        self.submits: Counter[str] = Counter()  # accepted parts per destination terminal id
        self.received: list[dict] = []  # the accepted submits' fields, for tests
        self.counts = {"logins": 0, "refused_logins": 0, "submits": 0, "throttled": 0, "reports": 0, "mo": 0}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.writer.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> CmppSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def drop_connections(self) -> None:
        for session in list(self._sessions):
            session.writer.abort()

    # --- connections --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(FrameWriter(writer))
        self._sessions.add(session)
        try:
            while True:
                header = await reader.readexactly(4)
                frame = header + await reader.readexactly(session.protocol.frame_length(header) - 4)
                if not self._handle(session, frame):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except PduError as exc:
            log.info("CMPP simulator: malformed PDU, dropping the connection: %s", exc)
        finally:
            self._sessions.discard(session)
            session.writer.close()

    def _handle(self, session: _Session, frame: bytes) -> bool:
        if not session.version:
            return self._connect(session, frame)
        pdu = session.protocol.decode(frame)
        if pdu.definition.command_id & 0x80000000:
            return True  # deliver_resp, active_test_resp
        if pdu.name == "submit":
            self._submit(session, pdu)
        elif pdu.name == "active_test":
            session.send("active_test_resp", pdu.sequence, {"Reserved": 0})
        elif pdu.name == "terminate":
            session.send("terminate_resp", pdu.sequence)
            return False
        else:
            return False  # a connect again, or what an SP never sends: the gateway hangs up
        return True

    def _connect(self, session: _Session, frame: bytes) -> bool:
        # The version decides the layout of everything after, the connect's own included.
        version = frame[12 + 6 + 16] if len(frame) >= 12 + 27 else 0
        pdu = cmpp.CMPP30.decode(frame)  # a connect is the same in both versions
        if pdu.name != "connect":
            return False
        sp_id, sent = pdu["Source_Addr"], pdu["AuthenticatorSource"]
        secret = self.accounts.get(sp_id)
        stamp = f"{pdu['Timestamp']:010d}"
        status = 0
        if version not in (cmpp.V20, cmpp.V30):
            status, version = 4, cmpp.V30
        elif secret is None:
            status = 2
        elif sent != cmpp.authenticator_source(sp_id, secret, stamp):
            status = 3
        session.protocol = cmpp.protocol(version)
        proof = cmpp.authenticator_ismg(status, sent, secret or "", version) if status == 0 else bytes(16)
        session.send("connect_resp", pdu.sequence, {"Status": status, "AuthenticatorISMG": proof, "Version": version})
        if status:
            self.counts["refused_logins"] += 1
            return False
        session.version, session.sp_id = version, sp_id
        self.counts["logins"] += 1
        for name, values in self._held.pop(sp_id, []):
            session.send(name, next(session.seq), values)
        return True

    # --- submits ------------------------------------------------------------------------------

    def _submit(self, session: _Session, pdu: Pdu) -> None:
        result = self._check(pdu)
        if result == 0:
            dests = pdu["Dest_terminal_Id"]
            key = (session.sp_id, tuple(dests), pdu["Pk_number"], pdu["Msg_Content"])
            if (
                any(behaviour_for(d) == THROTTLE_THEN_DELIVER for d in dests)
                and self._throttled[key] < THROTTLED_SUBMITS
            ):
                self._throttled[key] += 1
                self.counts["throttled"] += 1
                result = cmpp.FLOW_CONTROL
        if result:
            session.send("submit_resp", pdu.sequence, {"Msg_Id": 0, "Result": result})
            return
        msg_id = cmpp.MsgId.at(self.now(), GATEWAY_CODE, next(self._msg_seq)).pack()
        session.send("submit_resp", pdu.sequence, {"Msg_Id": msg_id, "Result": 0})
        self.counts["submits"] += 1
        self.received.append(dict(pdu.body, Msg_Id=msg_id))
        for dest in pdu["Dest_terminal_Id"]:
            self.submits[dest] += 1
            behaviour = behaviour_for(dest)
            if pdu["Registered_Delivery"] == 1 and behaviour != RECEIPT_LOST:
                stat = "UNDELIV" if behaviour == UNDELIVERABLE else "DELIVRD"
                self._later(self._report, session.sp_id, session.version, msg_id, dest, stat)
        log.info("CMPP simulator accepted a part for %s", mask_phone(pdu["Dest_terminal_Id"][0]))

    def _check(self, pdu: Pdu) -> int:
        """The submit's Result: 0, or what a gateway answers for the first fault found."""
        fmt, content = pdu["Msg_Fmt"], pdu["Msg_Content"]
        if fmt not in (cmpp.ASCII, cmpp.BINARY, cmpp.UCS2, cmpp.GBK):
            return 1
        if len(content) > (160 if fmt == cmpp.ASCII else 140):
            return 6
        total, number = pdu["Pk_total"], pdu["Pk_number"]
        if not 1 <= number <= total:
            return 1
        if pdu["TP_udhi"]:
            udh, _ = split_udh(content, True)
            info = concat_info(udh) if len(udh) <= len(content) else None
            if info is None or info[1:] != (total, number):
                return 1
        elif total > 1:
            return 1  # the parts of a long message carry their UDH
        dests = pdu["Dest_terminal_Id"]
        if not 1 <= len(dests) <= 100 or not all(d.isdigit() for d in dests):
            return 1
        if pdu["Registered_Delivery"] not in (0, 1) or not pdu["Src_Id"].isdigit():
            return 1
        if fmt == cmpp.UCS2 and len(content) % 2 and not pdu["TP_udhi"]:
            return 1
        return 0

    async def _report(self, sp_id: str, version: int, msg_id: int, dest: str, stat: str) -> None:
        await asyncio.sleep(self.receipt_delay)
        stamp = self.now().strftime("%y%m%d%H%M")
        content = cmpp.Report(msg_id, stat, stamp, stamp, dest, next(self._msg_seq)).encode(version)
        values = {
            "Msg_Id": cmpp.MsgId.at(self.now(), GATEWAY_CODE, next(self._msg_seq)).pack(),
            "Dest_Id": "", "Service_Id": "", "Msg_Fmt": 0, "Src_terminal_Id": dest,
            "Registered_Delivery": 1, "Msg_Content": content,
        }  # fmt: skip
        self.counts["reports"] += 1
        self._to_sp(sp_id, version, values)

    # --- replies from handsets --------------------------------------------------------------------

    def send_mo(self, source_e164: str, destination: str, text: str, *, sp_id: str = SANDBOX_SP_ID) -> None:
        """A handset's reply to `destination` (the SP's number with its extension), in parts
        with a concatenation UDH when long."""
        seg = segment_sms(text, "gsm", ucs2=True)
        reference = next(self._msg_seq) & 0xFF
        total = len(seg.parts)
        for number, part in enumerate(seg.parts, start=1):
            content = part.text.encode("utf-16-be")
            if total > 1:
                content = concat_udh(reference, total, number) + content
            values = {
                "Msg_Id": cmpp.MsgId.at(self.now(), GATEWAY_CODE, next(self._msg_seq)).pack(),
                "Dest_Id": destination, "Service_Id": "", "TP_udhi": int(total > 1), "Msg_Fmt": cmpp.UCS2,
                "Src_terminal_Id": cmpp.terminal_id(source_e164), "Registered_Delivery": 0, "Msg_Content": content,
            }  # fmt: skip
            self.counts["mo"] += 1
            self._to_sp(sp_id, 0, values)

    def _to_sp(self, sp_id: str, version: int, values: dict) -> None:
        session = next((s for s in self._sessions if s.sp_id == sp_id and (not version or s.version == version)), None)
        if session is None:
            held = self._held.setdefault(sp_id, [])
            if len(held) < MAX_HELD_REPORTS:
                held.append(("deliver", values))
            return
        session.send("deliver", next(session.seq), values)

    def _later(self, fn, *args) -> None:
        task = asyncio.get_running_loop().create_task(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
