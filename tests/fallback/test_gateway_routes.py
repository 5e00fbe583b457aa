"""One table of cases over every Chinese gateway route kind (CMPP 2.0, CMPP 3.0, SMGP 3.0,
SGIP 1.2) against its simulator, over real sockets: login with the authenticators, each sandbox
ending's outcome, long messages in parts with their UDH, long replies joined, the gateway's
refusals, reconnection. SGIP's reports and replies come over the gateway's own connections to
the route's listener."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from fallback.gateways import cmpp, sgip, smgp
from fallback.gateways.cmpp_simulator import SANDBOX_SP_ID, CmppSimulator
from fallback.gateways.session import GatewayClient, GatewayError
from fallback.gateways.sgip_simulator import SANDBOX_LOGIN, SANDBOX_NODE_ID, SgipSimulator, SpEndpoint
from fallback.gateways.simulator import SANDBOX_SECRET, GatewaySimulator
from fallback.gateways.smgp_simulator import SANDBOX_CLIENT_ID, SmgpSimulator
from fallback.route import RouteHooks, SmsRoute
from fallback.udh import concat_info, split_udh


@dataclass(frozen=True)
class Kind:
    """How a kind's client is made and how its simulator's records name the fields."""

    simulator: type[GatewaySimulator]
    make: Any  # (simulator, secret, **tuning) → client
    dest: str
    source: str
    fmt: str
    content: str
    ucs2: int
    ascii: int
    parts: Any  # a received submit → (total, number, udhi)
    bad_source_status: int
    number: Any = lambda e164: e164[3:]  # a destination as the submit carries it
    on_demand: bool = False  # after the gateway hangs up, connects again only to submit


def _cmpp(version):
    return lambda sim, secret, **kw: cmpp.CmppClient(
        "127.0.0.1", sim.port, SANDBOX_SP_ID, secret, service_id="HONGYAN", version=version, **kw
    )


def _sgip(sim, secret, **kw):
    """An SGIP route listening on a port of its own; the simulator is told where (as an SMG is
    configured with the SP's address) once the route listens."""
    client = sgip.SgipClient("127.0.0.1", sim.port, SANDBOX_LOGIN, secret, node_id=SANDBOX_NODE_ID,
                             listen_host="127.0.0.1", listen_port=0, service_type="HONGYAN", **kw)  # fmt: skip
    started = client.start

    async def start():
        await started()
        sim.sp_endpoints[SANDBOX_LOGIN] = SpEndpoint("127.0.0.1", client.listen_port, SANDBOX_LOGIN, secret)

    client.start = start  # type: ignore[method-assign]
    return client


def _sgip_parts(got):
    info = concat_info(split_udh(got["MessageContent"], True)[0]) if got["TP_udhi"] else (0, 1, 1)
    return info[1], info[2], got["TP_udhi"]


def _smgp_parts(got):
    tlvs = got["TLVs"]
    return tlvs.get(smgp.PK_TOTAL, b"\x01")[0], tlvs.get(smgp.PK_NUMBER, b"\x01")[0], int(smgp.TP_UDHI in tlvs)


_CMPP = dict(dest="Dest_terminal_Id", source="Src_Id", fmt="Msg_Fmt", content="Msg_Content", ucs2=cmpp.UCS2,
             ascii=cmpp.ASCII, parts=lambda g: (g["Pk_total"], g["Pk_number"], g["TP_udhi"]), bad_source_status=1)  # fmt: skip
KINDS = {
    "cmpp2": Kind(CmppSimulator, _cmpp(cmpp.V20), **_CMPP),
    "cmpp3": Kind(CmppSimulator, _cmpp(cmpp.V30), **_CMPP),
    "smgp": Kind(
        SmgpSimulator,
        lambda sim, secret, **kw: smgp.SmgpClient("127.0.0.1", sim.port, SANDBOX_CLIENT_ID, secret, service_id="HONGYAN", **kw),
        dest="DestTermID", source="SrcTermID", fmt="MsgFormat", content="MsgContent", ucs2=smgp.UCS2,
        ascii=smgp.ASCII, parts=_smgp_parts, bad_source_status=46,
    ),
    "sgip": Kind(
        SgipSimulator, _sgip, dest="UserNumber", source="SPNumber", fmt="MessageCoding", content="MessageContent",
        ucs2=sgip.UCS2, ascii=sgip.ASCII, parts=_sgip_parts, bad_source_status=sgip.BAD_PARAMETER,
        number=lambda e164: e164[1:], on_demand=True,
    ),
}  # fmt: skip
VERSIONS = [pytest.param(k, id=k) for k in KINDS]


@pytest.fixture
async def sim(request):
    kind = KINDS[request.node.callspec.params["version"]]
    async with kind.simulator(receipt_delay=0.01) as simulator:
        yield simulator


def client_for(sim: GatewaySimulator, version: str, secret: str = SANDBOX_SECRET, **kw) -> GatewayClient:
    return KINDS[version].make(sim, secret, throttle_delay=0.01, reconnect_delay=0.01, **kw)


async def next_outcome(client: cmpp.CmppClient):
    return await asyncio.wait_for(client.outcomes.get(), 5)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("number", "status", "reason", "throttled"),
    [
        ("+8613800138010", "delivered", None, 0),  # …0: not RCS-capable, SMS delivered
        ("+8613800138001", "delivered", None, 0),
        ("+8613800138009", "failed", "UNDELIV", 0),  # …9: the SMS is undeliverable
        ("+8613800138100", "delivered", None, 2),  # …00: flow control twice, then accepted
    ],
)
async def test_each_sandbox_ending(sim, version, number, status, reason, throttled):
    async with client_for(sim, version) as client:
        await client.wait_bound(5)
        sent = await client.submit(number, "您的验证码是 123456", "1069000000123", reference="r1")
        outcome = await next_outcome(client)
    assert (outcome.reference, outcome.status) == ("r1", status)
    assert outcome.reason == reason if reason is None else outcome.reason.startswith(reason)  # SMGP adds err:…
    assert outcome.parts[0].message_id == sent.part_ids[0]
    assert client.counts["throttled"] == throttled == sim.counts["throttled"]
    kind = KINDS[version]
    [got] = sim.received
    assert got[kind.dest] == [kind.number(number)] and got[kind.source] == "1069000000123"
    assert got[kind.fmt] == kind.ucs2 and got[kind.content].decode("utf-16-be") == "您的验证码是 123456"


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_lost_report_leaves_the_message_open(sim, version):
    async with client_for(sim, version) as client:
        await client.wait_bound(5)
        await client.submit("+8613800138090", "hello", "1069000000", reference="lost")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.outcomes.get(), 0.3)
    assert sim.received[0][KINDS[version].fmt] == KINDS[version].ascii


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_long_message_goes_in_parts_with_their_udh(sim, version):
    text = "尊敬的客户，您本月话费账单已出，请及时缴纳。" * 7  # 154 characters: 3 UCS-2 parts
    async with client_for(sim, version) as client:
        await client.wait_bound(5)
        sent = await client.submit("+8613800138010", text, "1069000000", reference="long")
        outcome = await next_outcome(client)
    assert len(sent.part_ids) == 3 and outcome.status == "delivered" and len(outcome.parts) == 3
    kind, infos, joined = KINDS[version], [], ""
    for number, part in enumerate(sim.received, start=1):
        assert kind.parts(part) == (3, number, 1)
        udh, body = split_udh(part[kind.content], True)
        infos.append(concat_info(udh))
        joined += body.decode("utf-16-be")
        assert len(part[kind.content]) <= 140
    assert joined == text
    assert len({i[0] for i in infos}) == 1 and [i[1:] for i in infos] == [(3, 1), (3, 2), (3, 3)]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_long_reply_arrives_joined(sim, version):
    text = "请帮我查询一下本月的流量使用情况，谢谢！" * 5
    async with client_for(sim, version) as client:
        await client.wait_bound(5)
        sim.send_mo("+8613800138000", "1069000000123", text)
        reply = await asyncio.wait_for(client.inbound.get(), 5)
    assert sim.counts["mo"] == 2
    assert (reply.source, reply.destination, reply.text) == ("+8613800138000", "1069000000123", text)
    assert client.inbound.empty()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_wrong_secret_is_refused_and_never_logs_in(sim, version):
    async with client_for(sim, version, secret="wrong") as client:
        with pytest.raises(TimeoutError):
            await client.wait_bound(0.3)
    assert sim.counts["refused_logins"] >= 1 and sim.counts["logins"] == 0


async def test_the_gateway_must_prove_it_knows_the_secret():
    """A peer that answers status 0 without the AuthenticatorISMG the shared secret makes is
    not the gateway: the client does not log in to it."""
    answered = []

    async def impostor(reader, writer):
        header = await reader.readexactly(4)
        frame = header + await reader.readexactly(cmpp.CMPP30.frame_length(header) - 4)
        connect = cmpp.CMPP30.decode(frame)
        answered.append(connect["Source_Addr"])
        writer.write(
            cmpp.CMPP30.encode(
                "connect_resp", connect.sequence, {"Status": 0, "AuthenticatorISMG": bytes(16), "Version": 0x30}
            )
        )
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(impostor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = cmpp.CmppClient("127.0.0.1", port, SANDBOX_SP_ID, SANDBOX_SECRET, reconnect_delay=5)
    async with server, client:
        await _until(lambda: answered)
        with pytest.raises(TimeoutError):
            await client.wait_bound(0.3)
    assert client.counts["logins"] == 0


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_refused_submit_says_why(sim, version):
    async with client_for(sim, version) as client:
        await client.wait_bound(5)
        with pytest.raises(GatewayError) as refused:
            await client.submit("+8613800138000", "x", "106900000A")  # Src_Id must be digits
    assert refused.value.status == KINDS[version].bad_source_status
    assert not refused.value.transient and not refused.value.in_doubt


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_route_reconnects_after_the_gateway_drops_it(sim, version):
    async with client_for(sim, version) as client:
        await client.wait_bound(5)
        sim.drop_connections()
        if KINDS[version].on_demand:  # SGIP: bound again by the next submit
            await asyncio.wait_for(_until(lambda: not client.bound), 5)
            assert sim.counts["logins"] == 1
        else:
            await asyncio.wait_for(_until(lambda: sim.counts["logins"] == 2 and client.bound), 5)
        await client.submit("+8613800138010", "again", "1069000000", reference="again")
        assert (await next_outcome(client)).status == "delivered"
    assert sim.counts["logins"] == 2


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"port": 7890, "sp_id": "901234", "secret": "s"}, "host is required"),
        ({"host": "h", "port": 7890, "sp_id": "9012345", "secret": "s"}, "longer than CMPP's 6"),
        ({"host": "h", "port": 7890, "sp_id": "901234", "secret": "s", "version": "4.0"}, 'is not "2.0" or "3.0"'),
        ({"host": "h", "port": 7890, "sp_id": "901234", "secret": "s", "windw": 3}, "unknown option"),
    ],
)
def test_route_options_are_checked(options, error):
    with pytest.raises(ValueError, match=error):
        cmpp.cmpp_route("cmcc", options, RouteHooks())


def test_the_route_kinds_are_sms_routes():
    route = cmpp.cmpp_route(
        "cmcc", {"host": "h", "port": 7890, "sp_id": "901234", "secret": "s", "version": "2.0"}, RouteHooks()
    )
    assert isinstance(route, SmsRoute) and route.version == cmpp.V20
    ctcc = smgp.smgp_route("ctcc", {"host": "h", "port": 8900, "client_id": "hy000001", "secret": "s"}, RouteHooks())
    assert isinstance(ctcc, SmsRoute)
    with pytest.raises(ValueError, match="longer than SMGP's 8"):
        smgp.smgp_route("ctcc", {"host": "h", "port": 8900, "client_id": "hy0000012", "secret": "s"}, RouteHooks())
