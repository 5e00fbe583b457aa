"""A third-party CMPP 2.0 client (pycmpp, from PyPI) against the ISMG simulator, over a real
socket: its connect (version 0x21, its own authenticator), a short and a long submit (its own
UDH, TP_pId 1, empty Src_Id), an active test and its terminate are accepted and answered in the
layout it reads — not only our own client's reading of the specification."""

from __future__ import annotations

import asyncio
import socket
import struct

from pycmpp.request import (
    ActiveTestRequestInstance,
    ConnectRequestInstance,
    SubmitRequestInstance,
    TerminateRequestInstance,
)
from pycmpp.response import ConnectResponseInstance, SubmitResponseInstance

from fallback.gateways import cmpp
from fallback.gateways.cmpp_simulator import CmppSimulator
from fallback.udh import concat_info, split_udh

SP_ID, SECRET = "300250", "300250"
LONG = "【鸿雁】尊敬的客户，您本月话费账单已出，共计58.00元，请于月底前缴纳，感谢您的支持！" * 2


def _frame(so: socket.socket) -> bytes:
    header = b""
    while len(header) < 12:
        header += so.recv(12 - len(header))
    (length,) = struct.unpack("!L", header[:4])
    body = b""
    while len(body) < length - 12:
        body += so.recv(length - 12 - len(body))
    return header + body


def _peer_session(port: int) -> dict:
    """What pycmpp's own builders send and its own parsers read, as the library's Cmpp does
    (without its endless receive loop)."""
    out: dict = {}
    with socket.create_connection(("127.0.0.1", port), timeout=5) as so:
        so.sendall(ConnectRequestInstance().create(SP_ID, SECRET))
        resp = ConnectResponseInstance()
        resp.resolve(_frame(so))
        out["connect"] = (resp.status, resp.version)
        so.sendall(
            SubmitRequestInstance().create(
                msg_src=SP_ID, msg_content="验证码 123456", dest_terminal_id=["13800138010"], registered_delivery=1
            )
        )
        submit = SubmitResponseInstance()
        submit.resolve(_frame(so))
        out["short"] = (submit.status, submit.msg_id)
        # A long message the way pycmpp's Cmpp.submit splits one: 64 characters a part, its UDH.
        parts = [LONG[i : i + 64] for i in range(0, len(LONG), 64)]
        out["long"] = []
        for n, text in enumerate(parts, start=1):
            head = bytes((5, 0, 3, 42, len(parts), n))
            so.sendall(
                SubmitRequestInstance().create(
                    msg_src=SP_ID,
                    msg_content=text,
                    msg_head=head,
                    dest_terminal_id=["13800138010"],
                    pk_total=len(parts),
                    pk_number=n,
                    tp_pid=1,
                    tp_udhi=1,
                )
            )
            got = SubmitResponseInstance()
            got.resolve(_frame(so))
            out["long"].append(got.status)
        so.sendall(ActiveTestRequestInstance().create())
        out["active_test"] = struct.unpack("!L", _frame(so)[4:8])[0]
        so.sendall(TerminateRequestInstance().create())
        out["terminate"] = struct.unpack("!L", _frame(so)[4:8])[0]
    return out


async def test_pycmpp_talks_to_the_ismg_simulator():
    async with CmppSimulator(accounts={SP_ID: SECRET}) as sim:
        got = await asyncio.to_thread(_peer_session, sim.port)
        received = list(sim.received)
    assert got["connect"] == (0, 0x21)  # its 2.x version answered in kind
    assert got["short"][0] == 0 and cmpp.MsgId.unpack(got["short"][1]).gateway > 0
    assert got["long"] == [0] * len(got["long"]) and len(got["long"]) == 2
    assert (got["active_test"], got["terminate"]) == (cmpp.ACTIVE_TEST_RESP, cmpp.TERMINATE_RESP)
    short, *long = received
    assert short["Dest_terminal_Id"] == ["13800138010"] and short["Src_Id"] == ""
    assert short["Msg_Content"].decode("utf-16-be") == "验证码 123456" and short["Msg_Fmt"] == cmpp.UCS2
    joined = ""
    for n, part in enumerate(long, start=1):
        udh, body = split_udh(part["Msg_Content"], bool(part["TP_udhi"]))
        assert concat_info(udh) == (42, 2, n) and (part["Pk_total"], part["Pk_number"]) == (2, n)
        joined += body.decode("utf-16-be")
    assert joined == LONG


async def test_a_wrong_secret_from_pycmpp_is_refused():
    async with CmppSimulator(accounts={SP_ID: "another"}) as sim:

        def connect() -> int:
            with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as so:
                so.sendall(ConnectRequestInstance().create(SP_ID, SECRET))
                resp = ConnectResponseInstance()
                resp.resolve(_frame(so))
                return resp.status

        assert await asyncio.to_thread(connect) == 3  # authentication failed
