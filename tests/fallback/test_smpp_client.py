"""SmppClient against SmscSimulator over real TCP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging

import pytest
from smpp.pdu import operations

from fallback import smpp
from fallback.client import SmppClient, SmppError
from fallback.compose import is_opt_out_reply
from fallback.segmentation import segment_sms
from fallback.smsc import SmscSimulator

DEADLINE = 5.0  # generous upper bound for anything to happen; never a pause


@pytest.fixture
async def sim():
    simulator = SmscSimulator("127.0.0.1", 0, receipt_delay=0.05)
    await simulator.start()
    yield simulator
    await simulator.stop()


def make_client(sim: SmscSimulator, **kwargs) -> SmppClient:
    kwargs.setdefault("reconnect_delay", 0.05)
    return SmppClient("127.0.0.1", sim.port, "hongyan", "secret", **kwargs)


@pytest.fixture
async def client(sim):
    smpp_client = make_client(sim)
    await smpp_client.start()
    await smpp_client.wait_bound(DEADLINE)
    yield smpp_client
    await smpp_client.stop()


async def next_outcome(client: SmppClient):
    return await asyncio.wait_for(client.outcomes.get(), DEADLINE)


@pytest.mark.parametrize("number", ["+8613800001231", "+8613800001230", "+8613800001220"])
async def test_delivered(client, number):
    result = await client.submit(number, "Your code is 123456", "HONGYAN", reference="m1")
    assert result.reference == "m1"
    assert len(result.part_ids) == 1
    outcome = await next_outcome(client)
    assert (outcome.reference, outcome.status, outcome.reason) == ("m1", "delivered", None)
    assert [p.message_id for p in outcome.parts] == list(result.part_ids)
    assert [p.stat for p in outcome.parts] == ["DELIVRD"]


async def test_sandbox_timing_default_receipt_delay():
    async with SmscSimulator() as simulator:  # the sandbox default: receipts after 0.5 s
        async with make_client(simulator) as smpp_client:
            await smpp_client.wait_bound(DEADLINE)
            await smpp_client.submit("+8613800001234", "hello", "HONGYAN", reference="r")
            assert (await next_outcome(smpp_client)).status == "delivered"


async def test_undeliverable_rolls_up_failed_with_reason(client):
    await client.submit("+8613800001239", "hello", "HONGYAN", reference="m9")
    outcome = await next_outcome(client)
    assert (outcome.reference, outcome.status) == ("m9", "failed")
    assert outcome.reason == "UNDELIV err:001"
    assert outcome.parts[0].stat == "UNDELIV"


async def test_throttled_twice_then_delivered(sim, client):
    result = await client.submit("+8613800001200", "hello", "HONGYAN", reference="m00")
    assert len(result.part_ids) == 1
    assert sim.counts["throttled"] == 2
    assert client.counts["throttled"] == 2
    outcome = await next_outcome(client)
    assert outcome.status == "delivered"


async def test_throttling_is_per_message(sim, client):
    for reference in ("first", "second"):  # the same text again is a new message
        await client.submit("+8613800001200", "same text", "HONGYAN", reference=reference)
        assert (await next_outcome(client)).status == "delivered"
    assert sim.counts["throttled"] == 4
    await client.submit("+8613800001200", "你" * 150, "HONGYAN", reference="long")
    outcome = await next_outcome(client)
    assert (outcome.status, len(outcome.parts)) == ("delivered", 3)
    assert sim.counts["throttled"] == 6  # twice for the whole message, not per part


async def test_long_ucs2_message_rolls_up_three_parts(sim, client):
    text = "您好，这是一条很长的短信。" * 12  # 156 UTF-16 units → 67 + 67 + 22
    seg = segment_sms(text, "gsm")
    assert (seg.encoding, seg.segments) == ("UCS-2", 3)
    result = await client.submit("+8613800001234", text, "HONGYAN", reference="long")
    assert len(set(result.part_ids)) == 3
    outcome = await next_outcome(client)
    assert outcome.status == "delivered"
    assert [p.message_id for p in outcome.parts] == list(result.part_ids)
    assert all(p.stat == "DELIVRD" for p in outcome.parts)
    assert sim.counts["submit_sm"] == 3
    assert client.outcomes.empty()  # one outcome per message, not per part


async def test_long_message_to_undeliverable_number_fails_once(client):
    await client.submit("+8613800001239", "a" * 400, "HONGYAN", reference="long9")
    outcome = await next_outcome(client)
    assert (outcome.status, outcome.reason) == ("failed", "UNDELIV err:001")
    await client.submit("+8613800001231", "next", "HONGYAN", reference="after")
    assert (await next_outcome(client)).reference == "after"  # no stray outcomes in between


async def test_concurrent_submits_in_window(sim):
    async with make_client(sim, window=4) as smpp_client:
        await smpp_client.wait_bound(DEADLINE)
        numbers = [f"+861380000{i:04d}" for i in range(1, 41) if i % 10 not in (0, 9)]
        results = await asyncio.gather(
            *(smpp_client.submit(n, f"message {i}", "HONGYAN", reference=f"c{i}") for i, n in enumerate(numbers))
        )
        assert len({r.part_ids[0] for r in results}) == len(numbers)
        outcomes = [await next_outcome(smpp_client) for _ in numbers]
        assert {o.reference for o in outcomes} == {f"c{i}" for i in range(len(numbers))}
        assert {o.status for o in outcomes} == {"delivered"}


async def test_enquire_link_keepalive(sim):
    async with make_client(sim, enquire_link_interval=0.02) as smpp_client:
        await smpp_client.wait_bound(DEADLINE)
        await sim.wait_until(lambda: sim.counts["enquire_link"] >= 3, DEADLINE)
        assert smpp_client.bound
        assert sim.counts["binds"] == 1  # answered keep-alives never cause a rebind


async def test_reconnects_after_dropped_connection(sim, client):
    sim.drop_connections()
    await sim.wait_until(lambda: sim.counts["binds"] >= 2, DEADLINE)
    await client.wait_bound(DEADLINE)
    await client.submit("+8613800001231", "after reconnect", "HONGYAN", reference="again")
    assert (await next_outcome(client)).status == "delivered"


async def test_reconnects_after_smsc_restart(sim, client):
    port = sim.port
    await sim.stop()
    async with SmscSimulator("127.0.0.1", port, receipt_delay=0.05) as restarted:
        await restarted.wait_until(lambda: restarted.counts["binds"] >= 1, DEADLINE)
        await client.wait_bound(DEADLINE)
        await client.submit("+8613800001232", "hello", "HONGYAN", reference="restart")
        assert (await next_outcome(client)).status == "delivered"


async def test_receipt_after_client_restart_rolls_up_via_track(sim):
    first = make_client(sim)
    async with first:
        await first.wait_bound(DEADLINE)
        result = await first.submit("+8613800001234", "a" * 200, "HONGYAN", reference="persisted")
    # The SMSC holds the receipts until the ESME binds again; the new client learns the part
    # ids from storage (here: the SubmitResult) and rolls them up.
    second = make_client(sim)
    async with second:
        await second.wait_bound(DEADLINE)
        second.track("persisted", result.part_ids)
        outcome = await next_outcome(second)
        assert (outcome.reference, outcome.status) == ("persisted", "delivered")
        assert [p.message_id for p in outcome.parts] == list(result.part_ids)


async def test_outcome_callback(sim):
    seen: asyncio.Queue = asyncio.Queue()

    async def on_outcome(outcome):
        await seen.put(outcome)

    async with make_client(sim, on_outcome=on_outcome) as smpp_client:
        await smpp_client.wait_bound(DEADLINE)
        await smpp_client.submit("+8613800001239", "hello", "HONGYAN", reference="cb")
        outcome = await asyncio.wait_for(seen.get(), DEADLINE)
        assert (outcome.reference, outcome.status) == ("cb", "failed")
        assert smpp_client.outcomes.empty()


async def test_inbound_opt_out_reply(sim, client):
    await sim.send_mo("+8613800001234", "10690001", "ＴＤ")
    inbound = await asyncio.wait_for(client.inbound.get(), DEADLINE)
    assert inbound.source == "+8613800001234"
    assert inbound.destination == "10690001"
    assert is_opt_out_reply(inbound.text)
    await sim.send_mo("+8613800001234", "10690001", "STOP")
    assert (await asyncio.wait_for(client.inbound.get(), DEADLINE)).text == "STOP"


async def test_bind_refused_with_wrong_password():
    async with SmscSimulator(credentials={"hongyan": "right"}) as simulator:
        async with make_client(simulator) as smpp_client:
            await simulator.wait_until(lambda: simulator.counts["bind_refused"] >= 1, DEADLINE)
            assert not smpp_client.bound
            assert simulator.counts["binds"] == 0


async def test_submit_without_bind_fails_transiently(unused_tcp_port):
    smpp_client = SmppClient(
        "127.0.0.1", unused_tcp_port, "hongyan", "secret", submit_timeout=0.1, reconnect_delay=0.05
    )
    async with smpp_client:
        with pytest.raises(SmppError) as info:
            await smpp_client.submit("+8613800001231", "hello", "HONGYAN")
        assert info.value.transient


async def test_simulator_logs_mask_numbers(sim, client, caplog):
    caplog.set_level(logging.DEBUG, logger="hongyan")
    await client.submit("+8613812345678", "hello", "HONGYAN")
    await next_outcome(client)
    await client.submit("+8613812345600", "hello", "HONGYAN")
    await next_outcome(client)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "+86138****5678" in logged
    assert "13812345678" not in logged and "13812345600" not in logged


async def test_invalid_destination_is_a_permanent_error(client):
    with pytest.raises(SmppError) as info:
        await client.submit("+86abc", "hello", "HONGYAN")
    assert not info.value.transient
    assert info.value.status.name == "ESME_RINVDSTADR"
    await client.submit("+8613800001231", "still bound", "HONGYAN", reference="ok")
    assert (await next_outcome(client)).reference == "ok"


async def test_simulator_answers_unknown_commands_with_generic_nack(sim):
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        # command_id 0x00000099 does not exist in SMPP 3.4.
        writer.write((16).to_bytes(4, "big") + (0x99).to_bytes(4, "big") + bytes(4) + (7).to_bytes(4, "big"))
        frame = await asyncio.wait_for(smpp.read_frame(reader), DEADLINE)
        command_id, status, seq = smpp.frame_header(frame)
        assert (command_id, seq) == (0x80000000, 7)
        assert status != 0
        # A submit_sm before binding is refused with ESME_RINVBNDSTS (0x04).
        writer.write(smpp.encode_pdu(operations.EnquireLink(seqNum=8)))
        frame = await asyncio.wait_for(smpp.read_frame(reader), DEADLINE)
        assert smpp.frame_header(frame) == (0x80000015, 0, 8)
        writer.write(
            smpp.encode_pdu(operations.SubmitSM(seqNum=9, destination_addr="8613800001231", short_message=b"hi"))
        )
        frame = await asyncio.wait_for(smpp.read_frame(reader), DEADLINE)
        assert smpp.frame_header(frame)[1:] == (0x04, 9)
        # A corrupt length closes the connection.
        writer.write((3).to_bytes(4, "big") + bytes(12))
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
    finally:
        writer.close()


class SilentSmsc:
    """Binds clients, then answers nothing: a half-dead link the client must notice."""

    def __init__(self):
        self.connections = 0
        self.changed = asyncio.Event()

    async def serve(self, reader, writer):
        self.connections += 1
        self.changed.set()
        try:
            while True:
                frame = await smpp.read_frame(reader)
                pdu = smpp.decode_pdu(frame)
                if pdu.commandId.name == "bind_transceiver":
                    writer.write(smpp.encode_pdu(operations.BindTransceiverResp(seqNum=pdu.seqNum, system_id="SILENT")))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_unanswered_enquire_link_triggers_reconnect():
    silent = SilentSmsc()
    server = await asyncio.start_server(silent.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    smpp_client = SmppClient(
        "127.0.0.1", port, "hongyan", "secret", enquire_link_interval=0.02, response_timeout=0.1, reconnect_delay=0.02
    )
    try:
        async with smpp_client:

            async def reconnected():
                while silent.connections < 2:
                    silent.changed.clear()
                    await silent.changed.wait()

            await asyncio.wait_for(reconnected(), DEADLINE)
            assert smpp_client.counts["binds"] >= 1
    finally:
        server.close()
        await server.wait_closed()


async def test_unanswered_submit_is_a_transient_error():
    silent = SilentSmsc()
    server = await asyncio.start_server(silent.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    smpp_client = SmppClient("127.0.0.1", port, "hongyan", "secret", response_timeout=0.1)
    try:
        async with smpp_client:
            await smpp_client.wait_bound(DEADLINE)
            with pytest.raises(SmppError) as info:
                await smpp_client.submit("+8613800001231", "hello", "HONGYAN")
            assert info.value.transient and info.value.status == "timeout"
    finally:
        server.close()
        await server.wait_closed()


async def test_connection_closed_during_bind_retries_without_waiting_for_timeout():
    connections = []
    changed = asyncio.Event()

    async def slam(reader, writer):
        connections.append(1)
        changed.set()
        await reader.readexactly(16)  # the bind_transceiver header, then hang up
        writer.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # With a 60 s response timeout only a prompt failure of the pending bind allows 3 attempts.
    smpp_client = SmppClient(
        "127.0.0.1", port, "hongyan", "secret", response_timeout=60, reconnect_delay=0.01, max_reconnect_delay=0.02
    )
    try:
        async with smpp_client:

            async def attempts(n):
                while len(connections) < n:
                    changed.clear()
                    await changed.wait()

            await asyncio.wait_for(attempts(3), DEADLINE)
            assert not smpp_client.bound
    finally:
        server.close()
        await server.wait_closed()


async def test_simulator_receipt_format_is_stable():
    """The receipt the sandbox sends, byte for byte (injected clock and ids)."""
    from datetime import UTC, datetime

    from smpp.pdu import pdu_types

    ids = iter(["00000000000000a1"])
    simulator = SmscSimulator(
        receipt_delay=0.01, now=lambda: datetime(2026, 11, 23, 9, 22, tzinfo=UTC), id_factory=lambda: next(ids)
    )
    async with simulator:
        reader, writer = await asyncio.open_connection("127.0.0.1", simulator.port)
        try:
            writer.write(
                smpp.encode_pdu(
                    operations.BindTransceiver(
                        seqNum=1, system_id="hongyan", password="pw", system_type="", interface_version=0x34
                    )
                )
            )
            writer.write(
                smpp.encode_pdu(
                    operations.SubmitSM(
                        seqNum=2,
                        source_addr="HONGYAN",
                        destination_addr="8613800001239",
                        dest_addr_ton=pdu_types.AddrTon.INTERNATIONAL,
                        short_message=b"hi",
                        registered_delivery=pdu_types.RegisteredDelivery(
                            pdu_types.RegisteredDeliveryReceipt.SMSC_DELIVERY_RECEIPT_REQUESTED
                        ),
                    )
                )
            )
            frames = [await asyncio.wait_for(smpp.read_frame(reader), DEADLINE) for _ in range(3)]
        finally:
            writer.close()
    bind_resp, submit_resp, receipt = (smpp.decode_pdu(f) for f in frames)
    assert submit_resp.params["message_id"] == b"00000000000000a1"
    assert receipt.params["short_message"] == (
        b"id:00000000000000a1 sub:001 dlvrd:000 submit date:2611230922 done date:2611230922 stat:UNDELIV err:001 text:"
    )
    assert receipt.params["receipted_message_id"] == b"00000000000000a1"
    assert receipt.params["message_state"] == pdu_types.MessageState.UNDELIVERABLE
    assert (receipt.params["source_addr"], receipt.params["destination_addr"]) == (b"8613800001239", b"HONGYAN")


# -- query_sm, SMS in doubt, throttle bursts ---------------------------------------------------------


async def test_query_sm_tells_the_state_of_an_accepted_part(sim, client):
    sim.receipt_delay = 1.0  # long enough to ask before the part settles
    result = await client.submit("+8613800001231", "hello", "HONGYAN", reference="q")
    (part,) = result.part_ids
    # Before its receipt the part is en route: no final state yet.
    assert (await client.query(part, "HONGYAN")).stat is None
    await next_outcome(client)
    state = await client.query(part, "HONGYAN")
    assert (state.message_id, state.stat) == (part, "DELIVRD")
    assert sim.counts["query_sm"] == 2


@pytest.mark.parametrize(
    ("number", "stat"),
    [("+8613800001290", "DELIVRD"), ("+8613800001239", "UNDELIV")],
)
async def test_query_sm_answers_what_a_lost_receipt_would_have_said(sim, client, number, stat):
    (part,) = (await client.submit(number, "hello", "HONGYAN", reference="lost")).part_ids
    await sim.wait_until(lambda: sim.counts["settled"] == 1, DEADLINE)
    assert (await client.query(part, "HONGYAN")).stat == stat
    assert sim.counts["receipts"] == (0 if number.endswith("90") else 1)


@pytest.mark.parametrize(
    ("part", "source"),
    [("no-such-id", "HONGYAN"), (None, "OTHER")],  # None: a real id, asked for by another source
)
async def test_query_sm_about_an_unknown_message_says_unknown(client, part, source):
    if part is None:
        (part,) = (await client.submit("+8613800001231", "hello", "HONGYAN")).part_ids
    state = await client.query(part, source)
    assert (state.stat, state.err) == ("UNKNOWN", "ESME_RQUERYFAIL")


async def test_a_part_written_and_never_answered_is_in_doubt(sim):
    sim.latency = 30.0  # the SMSC sits on its answer
    async with make_client(sim) as smpp_client:
        await smpp_client.wait_bound(DEADLINE)
        submit = asyncio.create_task(smpp_client.submit("+8613800001231", "hello", "HONGYAN"))
        await sim.wait_until(lambda: sim.counts["received_submit_sm"] == 1, DEADLINE)
        sim.drop_connections()
        with pytest.raises(SmppError) as info:
            await asyncio.wait_for(submit, DEADLINE)
        assert info.value.in_doubt and info.value.transient and info.value.status == "connection lost"


async def test_a_submit_that_never_went_on_the_wire_is_not_in_doubt(unused_tcp_port):
    smpp_client = SmppClient("127.0.0.1", unused_tcp_port, "hongyan", "secret", submit_timeout=0.1)
    async with smpp_client:
        with pytest.raises(SmppError) as info:
            await smpp_client.submit("+8613800001231", "hello", "HONGYAN")
        assert info.value.status == "unbound" and not info.value.in_doubt


async def test_the_mark_goes_first_and_a_refusing_mark_sends_nothing(sim, client):
    order = []

    async def mark():
        order.append(sim.counts["received_submit_sm"])

    await client.submit("+8613800001231", "a" * 200, "HONGYAN", before_write=mark)
    assert order == [0]  # awaited once, before the first of the two parts

    async def refuse():
        raise LookupError("moved on")

    with pytest.raises(LookupError):
        await client.submit("+8613800001232", "hello", "HONGYAN", before_write=refuse)
    assert sim.counts["received_submit_sm"] == 2


async def test_a_window_of_throttle_answers_is_one_slowdown(sim):
    heard = []
    async with make_client(sim, throttle_delay=0.01, on_throttle=lambda: heard.append(1)) as smpp_client:
        await smpp_client.wait_bound(DEADLINE)
        # …00 numbers are throttled twice each; ten written together are answered together.
        numbers = [f"+86138000{i:03d}00" for i in range(10)]
        await asyncio.gather(*(smpp_client.submit(n, "hello", "HONGYAN") for n in numbers))
    assert sim.counts["throttled"] == 20 and sim.counts["submit_sm"] == 10
    assert len(heard) <= 11  # the first round's nine echoes of the first throttle slow nothing
