"""A China Telecom SMGW simulator speaking SMGP 3.0 over TCP, as strict as a gateway.

It checks the login (a known ClientID, an AuthenticatorClient made with its shared secret,
version 0x30: status 21 or 22 otherwise), every submit's layout (a frame off it drops the
connection), its MsgType (6, a message to a handset: else 30), MsgFormat (34), MsgLength
(≤ 140 octets, 160 for ASCII: 36), the PkTotal/PkNumber TLVs against the concatenation UDH a
long message's parts carry (10), its destination count (1–100) and numbers (47), its source
number (46). Outcomes are the sandbox endings (`fallback.gateways.simulator`); flow control is
status 1, "system busy".
"""

from __future__ import annotations

from fallback.gateways import smgp
from fallback.gateways.pdu import Pdu
from fallback.gateways.session import terminal_id
from fallback.gateways.simulator import SANDBOX_SECRET, GatewaySimulator, Session
from fallback.udh import concat_info, split_udh

SANDBOX_CLIENT_ID = "hy000001"
GATEWAY_CODE = "123456"  # this SMGW's code in the MsgIDs it makes
__all__ = ["SANDBOX_CLIENT_ID", "SANDBOX_SECRET", "SmgpSimulator"]


class SmgpSimulator(GatewaySimulator):
    protocol = smgp.SMGP30
    keepalive = ("active_test", "active_test_resp", {})
    goodbye = ("exit", "exit_resp")
    flow_control = 1
    sandbox_account = SANDBOX_CLIENT_ID

    def login(self, session: Session, frame: bytes) -> bool:
        pdu = self.protocol.decode(frame)
        if pdu.name != "login":
            return False
        client_id, sent = pdu["ClientID"], pdu["AuthenticatorClient"]
        secret = self.accounts.get(client_id)
        status = 0
        if pdu["ClientVersion"] > smgp.VERSION:
            status = 22
        elif secret is None or sent != smgp.authenticator_client(client_id, secret, f"{pdu['TimeStamp']:010d}"):
            status = 21
        proof = smgp.authenticator_server(0, sent, secret or "") if status == 0 else bytes(16)
        session.send("login_resp", pdu.sequence, {"Status": status, "AuthenticatorServer": proof,
                                                   "ServerVersion": smgp.VERSION})  # fmt: skip
        if status == 0:
            session.version, session.account = smgp.VERSION, client_id
        return status == 0

    def check(self, pdu: Pdu) -> int:
        fmt, content, tlvs = pdu["MsgFormat"], pdu["MsgContent"], pdu["TLVs"]
        if pdu["MsgType"] != smgp.MT:
            return 30
        if fmt not in (smgp.ASCII, smgp.BINARY, smgp.UCS2, smgp.GBK):
            return 34
        if len(content) > (160 if fmt == smgp.ASCII else 140) or (fmt == smgp.UCS2 and len(content) % 2):
            return 36
        total = tlvs.get(smgp.PK_TOTAL, b"\x01")[0]
        number = tlvs.get(smgp.PK_NUMBER, b"\x01")[0]
        udhi = tlvs.get(smgp.TP_UDHI, b"\x00")[:1] == b"\x01"
        if not 1 <= number <= total:
            return 10
        if udhi:
            info = concat_info(split_udh(content, True)[0])
            if info is None or info[1:] != (total, number):
                return 10
        elif total > 1:
            return 10  # the parts of a long message carry their UDH
        dests = pdu["DestTermID"]
        if not 1 <= len(dests) <= 100 or not all(d.isdigit() for d in dests):
            return 47
        if not pdu["SrcTermID"].isdigit():
            return 46
        if pdu["NeedReport"] not in (0, 1):
            return 10
        return 0

    def destinations(self, pdu: Pdu) -> list[str]:
        return list(pdu["DestTermID"])

    def wants_report(self, pdu: Pdu) -> bool:
        return pdu["NeedReport"] == 1

    def new_msg_id(self) -> bytes:
        return smgp.MsgId.at(GATEWAY_CODE, self.now(), next(self.sequence)).pack()

    def submit_answer(self, pdu: Pdu, status: int, msg_id: object) -> tuple[str, dict]:
        return "submit_resp", {"MsgID": msg_id or bytes(10), "Status": status}

    def report(self, version: int, msg_id: object, dest: str, stat: str) -> dict:
        assert isinstance(msg_id, bytes)
        stamp = self.now().strftime("%y%m%d%H%M")
        err = "000" if stat == "DELIVRD" else "001"
        content = smgp.Report(msg_id, stat, err, stamp, stamp, dlvrd="001" if stat == "DELIVRD" else "000").encode()
        return {"MsgID": self.new_msg_id(), "IsReport": 1, "MsgFormat": smgp.ASCII, "RecvTime": self._recv_time(),
                "SrcTermID": dest, "MsgContent": content}  # fmt: skip

    def reply(self, source: str, destination: str, content: bytes, udhi: bool) -> dict:
        return {"MsgID": self.new_msg_id(), "IsReport": 0, "MsgFormat": smgp.UCS2, "RecvTime": self._recv_time(),
                "SrcTermID": terminal_id(source), "DestTermID": destination, "MsgContent": content,
                "TLVs": {smgp.TP_UDHI: b"\x01"} if udhi else {}}  # fmt: skip

    def _recv_time(self) -> str:
        return self.now().strftime("%Y%m%d%H%M%S")
