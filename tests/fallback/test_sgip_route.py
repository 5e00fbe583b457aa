"""What SGIP 1.2 has that the other gateway protocols do not (the shared cases are in
test_gateway_routes.py): the route's listener, where the SMG binds with Login_Type 2 and the
login it was given; reports naming a submit by its 12-octet sequence number; no heartbeat, so
idle connections closed by either side and bound again on demand; the result codes' classes."""

from __future__ import annotations

import asyncio

import pytest

from fallback.gateways import sgip
from fallback.gateways.pdu import Pdu
from fallback.gateways.session import GatewayError
from fallback.gateways.sgip_simulator import SANDBOX_LOGIN, SANDBOX_NODE_ID, SgipSimulator, SpEndpoint
from fallback.gateways.simulator import SANDBOX_SECRET
from fallback.route import RouteHooks, SmsRoute

SEQ = (SANDBOX_NODE_ID, 1204223000, 9)


def route(sim: SgipSimulator, **kw) -> sgip.SgipClient:
    return sgip.SgipClient("127.0.0.1", sim.port, SANDBOX_LOGIN, SANDBOX_SECRET, node_id=SANDBOX_NODE_ID,
                           listen_host="127.0.0.1", listen_port=0, throttle_delay=0.01, **kw)  # fmt: skip


async def started(sim: SgipSimulator, client: sgip.SgipClient, password: str = SANDBOX_SECRET) -> None:
    await client.start()
    sim.sp_endpoints[SANDBOX_LOGIN] = SpEndpoint("127.0.0.1", client.listen_port, SANDBOX_LOGIN, password)
    await client.wait_bound(5)


async def until(predicate, timeout: float = 5) -> None:
    async def poll():
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_a_report_names_the_submit_by_its_sequence_number():
    async with SgipSimulator(receipt_delay=0.01) as sim:
        client = route(sim)
        try:
            await started(sim, client)
            sent = await client.submit("+8613100131010", "hello", "1065501234", reference="r")
            outcome = await asyncio.wait_for(client.outcomes.get(), 5)
        finally:
            await client.stop()
    [got] = sim.received
    node, stamp, counter = sgip.sequence_of(got["_msg_id"])
    assert sent.part_ids == (f"{node}-{stamp:010d}-{counter}",) and node == SANDBOX_NODE_ID
    assert got["CorpId"] == "00001" and got["ChargeNumber"] == "0" * 21 and got["ReportFlag"] == 1
    assert (outcome.reference, outcome.status, outcome.parts[0].message_id) == ("r", "delivered", sent.part_ids[0])
    assert sim.counts["sp_binds"] == 1 and client.counts["smg_binds"] == 1


async def test_an_undelivered_report_carries_its_error_code():
    async with SgipSimulator(receipt_delay=0.01) as sim:
        client = route(sim)
        try:
            await started(sim, client)
            await client.submit("+8613100131019", "hello", "1065501234", reference="u")
            outcome = await asyncio.wait_for(client.outcomes.get(), 5)
        finally:
            await client.stop()
    assert (outcome.status, outcome.reason) == ("failed", "UNDELIV err:25")


async def test_the_smg_must_present_the_login_the_route_was_given():
    async with SgipSimulator(receipt_delay=0.01, retry_delay=5) as sim:
        client = route(sim)
        try:
            await started(sim, client, password="wrong")
            await client.submit("+8613100131010", "hello", "1065501234", reference="held")
            await until(lambda: sim.counts["refused_sp_binds"] == 1)
            assert client.counts["refused_smg_binds"] == 1 and client.outcomes.empty()
            # the SMG's configuration fixed: the report held goes when the SP binds again
            sim.sp_endpoints[SANDBOX_LOGIN] = SpEndpoint("127.0.0.1", client.listen_port, SANDBOX_LOGIN, SANDBOX_SECRET)
            sim.drop_connections()
            await until(lambda: not client.bound)
            await client.submit("+8613100131020", "again", "1065501234", reference="again")
            outcomes = {(await asyncio.wait_for(client.outcomes.get(), 5)).reference for _ in range(2)}
        finally:
            await client.stop()
    assert outcomes == {"held", "again"}


@pytest.mark.parametrize(
    ("login_type", "name", "password", "result"),
    [
        (sgip.SMG_TO_SP, SANDBOX_LOGIN, SANDBOX_SECRET, 0),
        (sgip.SP_TO_SMG, SANDBOX_LOGIN, SANDBOX_SECRET, sgip.WRONG_LOGIN_TYPE),
        (sgip.SMG_TO_SP, SANDBOX_LOGIN, "wrong", sgip.ILLEGAL_LOGIN),
        (sgip.SMG_TO_SP, "someone", SANDBOX_SECRET, sgip.ILLEGAL_LOGIN),
    ],
)
async def test_the_listener_checks_the_smgs_bind(login_type, name, password, result):
    async with SgipSimulator() as sim:
        client = route(sim)
        try:
            await client.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", client.listen_port)
            answer = await exchange(reader, writer, "bind",
                                    {"Login_Type": login_type, "Login_Name": name, "Login_Password": password})  # fmt: skip
            assert (answer.name, answer["Result"], answer.sequence) == ("bind_resp", result, SEQ)
            if result:
                assert await reader.read() == b""  # refused: the SP hangs up
            else:  # bound: a second bind is refused as a repeated login, and the SP hangs up
                again = await exchange(reader, writer, "bind",
                                       {"Login_Type": login_type, "Login_Name": name, "Login_Password": password})  # fmt: skip
                assert again["Result"] == sgip.REPEATED_LOGIN and await reader.read() == b""
            writer.close()
        finally:
            await client.stop()


async def test_a_malformed_pdu_on_the_listener_drops_the_connection():
    async with SgipSimulator() as sim:
        client = route(sim)
        try:
            await client.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", client.listen_port)
            bind = sgip.SGIP12.encode("bind", SEQ, {"Login_Type": 2})
            writer.write((len(bind) - 1).to_bytes(4, "big") + bind[4:-1])  # one octet short of its layout
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
        finally:
            await client.stop()


async def test_a_reply_over_the_smgs_connection_is_answered_and_reaches_the_route():
    async with SgipSimulator() as sim:
        client = route(sim)
        try:
            await client.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", client.listen_port)
            await exchange(reader, writer, "bind",
                           {"Login_Type": 2, "Login_Name": SANDBOX_LOGIN, "Login_Password": SANDBOX_SECRET})  # fmt: skip
            answer = await exchange(reader, writer, "deliver", {
                "UserNumber": "8613100131000", "SPNumber": "1065501234", "MessageCoding": sgip.GBK,
                "MessageContent": "退订".encode("gbk"),
            })  # fmt: skip
            assert (answer.name, answer["Result"]) == ("deliver_resp", 0)
            reply = await asyncio.wait_for(client.inbound.get(), 5)
            assert (reply.source, reply.destination, reply.text) == ("+8613100131000", "1065501234", "退订")
            bye = await exchange(reader, writer, "unbind", {})
            assert bye.name == "unbind_resp" and await reader.read() == b""
            writer.close()
        finally:
            await client.stop()


async def test_idle_connections_close_and_the_next_submit_binds_again():
    """The SMG unbinds an idle SP; the route binds again only for its next submit. The route
    unbinds its own idle connection too."""
    async with SgipSimulator(receipt_delay=0.01) as sim:
        sim.idle_timeout = 0.1
        client = route(sim)
        try:
            await started(sim, client)
            await until(lambda: not client.bound)
            assert sim.counts["logins"] == 1
            await client.submit("+8613100131010", "hello", "1065501234", reference="r")
            assert (await asyncio.wait_for(client.outcomes.get(), 5)).status == "delivered"
            assert sim.counts["logins"] == 2
        finally:
            await client.stop()
    async with SgipSimulator(receipt_delay=0.01) as sim:
        client = route(sim, idle_timeout=0.1)
        try:
            await started(sim, client)
            await until(lambda: not client.bound)
            assert client.counts["idle_unbinds"] == 1 and sim.counts["logins"] == 1
        finally:
            await client.stop()


async def test_the_listener_unbinds_an_idle_smg():
    async with SgipSimulator() as sim:
        client = route(sim, idle_timeout=0.1)
        try:
            await client.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", client.listen_port)
            await exchange(reader, writer, "bind",
                           {"Login_Type": 2, "Login_Name": SANDBOX_LOGIN, "Login_Password": SANDBOX_SECRET})  # fmt: skip
            header = await asyncio.wait_for(reader.readexactly(4), 5)
            unbind = sgip.SGIP12.decode(header + await reader.readexactly(sgip.SGIP12.frame_length(header) - 4))
            assert unbind.name == "unbind" and unbind.sequence[0] == SANDBOX_NODE_ID
            assert await reader.read() == b""
            writer.close()
        finally:
            await client.stop()


async def test_a_number_outside_china_is_refused_by_the_smg():
    async with SgipSimulator() as sim:
        client = route(sim)
        try:
            await started(sim, client)
            with pytest.raises(GatewayError) as refused:
                await client.submit("+447700900123", "hello", "1065501234")
        finally:
            await client.stop()
    assert refused.value.status == sgip.ILLEGAL_NUMBER and not refused.value.transient


@pytest.mark.parametrize(
    ("result", "ok", "throttled", "transient"),
    [
        (0, True, False, False),
        (sgip.NODE_BUSY, False, True, False),  # node busy: slow down
        (3, False, False, True),  # too many connections
        (9, False, False, True),  # illegal (repeated) sequence number
        (5, False, False, False),  # bad parameter format
        (6, False, False, False),  # illegal mobile number
        (8, False, False, False),  # bad message length
    ],
)
def test_result_codes_map_to_outcome_classes(result, ok, throttled, transient):
    client = sgip.SgipClient("h", 1, "sp", "pw", node_id=SANDBOX_NODE_ID, listen_port=0)
    answer = client.read_answer(Pdu(sgip.SGIP12.by_name("submit_resp"), SEQ, {"Result": result}))
    assert (answer.ok, answer.throttled, answer.transient) == (ok, throttled, transient)
    assert answer.part_id == (f"{SANDBOX_NODE_ID}-1204223000-9" if ok else "")


BASE = {"host": "h", "port": 8801, "login_name": "hongyan", "secret": "s", "node_id": 3000000001, "listen_port": 8802}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({k: v for k, v in BASE.items() if k != "listen_port"}, "listen_port is required"),
        ({**BASE, "node_id": 123}, "not an SP's node number"),
        ({**BASE, "login_name": "x" * 17}, "longer than SGIP's 16"),
        ({**BASE, "keepalive_interval": 3}, "unknown option"),  # SGIP has no heartbeat
    ],
)
def test_route_options_are_checked(options, error):
    with pytest.raises(ValueError, match=error):
        sgip.sgip_route("cucc", options, RouteHooks())


def test_the_route_is_an_sms_route_with_the_smgs_login():
    from security.secrets import Secret

    default = sgip.sgip_route("cucc", BASE, RouteHooks())
    assert isinstance(default, SmsRoute) and (default.smg_login, default.corp_id) == ("hongyan", "00001")
    given = sgip.sgip_route("cucc", {**BASE, "smg_login": "smg", "smg_password": Secret("p")}, RouteHooks())
    assert given.smg_login == "smg" and given._smg_password == "p"


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str, values: dict) -> Pdu:
    writer.write(sgip.SGIP12.encode(name, SEQ, values))
    header = await asyncio.wait_for(reader.readexactly(4), 5)
    return sgip.SGIP12.decode(header + await reader.readexactly(sgip.SGIP12.frame_length(header) - 4))
