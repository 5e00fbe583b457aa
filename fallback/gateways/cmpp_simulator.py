"""A China Mobile ISMG simulator speaking CMPP 2.0 and 3.0 over TCP, as strict as a gateway.

It checks what a gateway checks: the connect comes first, from a known SP (Source_Addr) with an
AuthenticatorSource made with its shared secret, in a version it speaks (0x20 or 0x30, else
status 4); every submit's layout (the codec refuses a frame that does not follow it; the
connection is dropped), its Msg_Fmt, its Msg_Length (≤ 140 octets, 160 for ASCII), its
Pk_total/Pk_number and the concatenation UDH a long message's parts must carry, its
destination count (1–100) and numbers. Outcomes are the sandbox endings
(`fallback.gateways.simulator`); flow control is Result 8.
"""

from __future__ import annotations

from fallback.gateways import cmpp
from fallback.gateways.pdu import Pdu
from fallback.gateways.simulator import SANDBOX_SECRET, GatewaySimulator, Session
from fallback.udh import concat_info, split_udh

# The sandbox SP (public by design: it opens only the simulator).
SANDBOX_SP_ID = "901234"
__all__ = ["SANDBOX_SECRET", "SANDBOX_SP_ID", "CmppSimulator"]
GATEWAY_CODE = 0x1A2B3  # this ISMG's code in the Msg_Ids it makes


class CmppSimulator(GatewaySimulator):
    protocol = cmpp.CMPP30
    keepalive = ("active_test", "active_test_resp", {"Reserved": 0})
    goodbye = ("terminate", "terminate_resp")
    flow_control = cmpp.FLOW_CONTROL
    sandbox_account = SANDBOX_SP_ID

    def login(self, session: Session, frame: bytes) -> bool:
        # The version decides the layout of everything after it; the connect is the same in both.
        version = frame[12 + 6 + 16] if len(frame) >= 12 + 27 else 0
        pdu = cmpp.CMPP30.decode(frame)
        if pdu.name != "connect":
            return False
        sp_id, sent = pdu["Source_Addr"], pdu["AuthenticatorSource"]
        secret = self.accounts.get(sp_id)
        status = 0
        if not cmpp.V20 <= version <= cmpp.V30:  # 2.x (0x20, 0x21…) or 3.0
            status, version = 4, cmpp.V30
        elif secret is None:
            status = 2
        elif sent != cmpp.authenticator_source(sp_id, secret, f"{pdu['Timestamp']:010d}"):
            status = 3
        session.protocol = cmpp.protocol(version)
        proof = cmpp.authenticator_ismg(status, sent, secret or "", version) if status == 0 else bytes(16)
        session.send("connect_resp", pdu.sequence, {"Status": status, "AuthenticatorISMG": proof, "Version": version})
        if status == 0:
            session.version, session.account = version, sp_id
        return status == 0

    def check(self, pdu: Pdu) -> int:
        fmt, content = pdu["Msg_Fmt"], pdu["Msg_Content"]
        if fmt not in (cmpp.ASCII, cmpp.BINARY, cmpp.UCS2, cmpp.GBK):
            return 1
        if len(content) > (160 if fmt == cmpp.ASCII else 140):
            return 6
        total, number = pdu["Pk_total"], pdu["Pk_number"]
        if not 1 <= number <= total:
            return 1
        if pdu["TP_udhi"]:
            info = concat_info(split_udh(content, True)[0])
            if info is None or info[1:] != (total, number):
                return 1
        elif total > 1:
            return 1  # the parts of a long message carry their UDH
        dests = pdu["Dest_terminal_Id"]
        if not 1 <= len(dests) <= 100 or not all(d.isdigit() for d in dests):
            return 1
        # An empty Src_Id is the SP's own access number (the gateway fills it in, as 2.0 SPs rely on).
        if pdu["Registered_Delivery"] not in (0, 1) or not (pdu["Src_Id"] == "" or pdu["Src_Id"].isdigit()):
            return 1
        if fmt == cmpp.UCS2 and len(content) % 2:
            return 1
        return 0

    def destinations(self, pdu: Pdu) -> list[str]:
        return list(pdu["Dest_terminal_Id"])

    def wants_report(self, pdu: Pdu) -> bool:
        return pdu["Registered_Delivery"] == 1

    def new_msg_id(self) -> int:
        return cmpp.MsgId.at(self.now(), GATEWAY_CODE, next(self.sequence)).pack()

    def submit_answer(self, pdu: Pdu, status: int, msg_id: object) -> tuple[str, dict]:
        return "submit_resp", {"Msg_Id": msg_id or 0, "Result": status}

    def report(self, version: int, msg_id: object, dest: str, stat: str) -> dict:
        stamp = self.now().strftime("%y%m%d%H%M")
        assert isinstance(msg_id, int)
        content = cmpp.Report(msg_id, stat, stamp, stamp, dest, next(self.sequence)).encode(version)
        return {"Msg_Id": self.new_msg_id(), "Src_terminal_Id": dest, "Registered_Delivery": 1, "Msg_Content": content}

    def reply(self, source: str, destination: str, content: bytes, udhi: bool) -> dict:
        return {
            "Msg_Id": self.new_msg_id(), "Dest_Id": destination, "TP_udhi": int(udhi), "Msg_Fmt": cmpp.UCS2,
            "Src_terminal_Id": cmpp.terminal_id(source), "Registered_Delivery": 0, "Msg_Content": content,
        }  # fmt: skip
