"""Long replies over SMPP arrive whole: parts announced by a concatenation UDH (in any order) or
by the sar_* TLVs are joined, a text in the message_payload TLV is read, a short one passes as it
is. An SMSC that sends them is played by a few lines over a real socket (the smpp.pdu codec)."""

from __future__ import annotations

import asyncio

import pytest
from smpp.pdu import operations, pdu_types
from smpp.pdu.pdu_encoding import PDUEncoder

from fallback import smpp
from fallback.client import SmppClient
from fallback.udh import concat_udh

SOURCE, DEST = "8613800138010", "1069000000123"
TEXT = "请帮我查询一下本月的流量使用情况，还有话费余额，谢谢！" * 3  # 81 characters: two UCS-2 parts
UCS2 = 0x08


def deliver(seq: int, short_message: bytes = b"", *, udhi: bool = False, **tlvs) -> operations.DeliverSM:
    features = [pdu_types.EsmClassGsmFeatures.UDHI_INDICATOR_SET] if udhi else []
    return operations.DeliverSM(
        seqNum=seq,
        source_addr=SOURCE,
        source_addr_ton=pdu_types.AddrTon.INTERNATIONAL,
        destination_addr=DEST,
        esm_class=pdu_types.EsmClass(pdu_types.EsmClassMode.DEFAULT, pdu_types.EsmClassType.DEFAULT, features),
        data_coding=smpp.data_coding(UCS2),
        short_message=short_message,
        **tlvs,
    )


def halves() -> tuple[bytes, bytes]:
    raw = TEXT.encode("utf-16-be")
    return raw[:134], raw[134:]


def by_udh() -> list[operations.DeliverSM]:
    first, second = halves()
    # the second part first: the network does not keep the order
    return [
        deliver(2, concat_udh(77, 2, 2) + second, udhi=True),
        deliver(3, concat_udh(77, 2, 1) + first, udhi=True),
    ]


def by_sar() -> list[operations.DeliverSM]:
    first, second = halves()
    return [
        deliver(2, first, sar_msg_ref_num=300, sar_total_segments=2, sar_segment_seqnum=1),
        deliver(3, second, sar_msg_ref_num=300, sar_total_segments=2, sar_segment_seqnum=2),
    ]


def by_payload() -> list[operations.DeliverSM]:
    return [deliver(2, message_payload=TEXT.encode("utf-16-be"))]


def short() -> list[operations.DeliverSM]:
    return [deliver(2, "好的".encode("utf-16-be"))]


async def smsc_sending(pdus: list[operations.DeliverSM]):
    """An SMSC that binds anyone and then sends `pdus`. It encodes with a codec of its own: the
    smpp.pdu codec sizes message_payload by the length of the last option it *decoded*, so one
    shared with the client would refuse to encode it."""
    codec = PDUEncoder()

    async def serve(reader, writer):
        bind = smpp.decode_pdu(await smpp.read_frame(reader))
        writer.write(codec.encode(operations.BindTransceiverResp(seqNum=bind.seqNum, system_id="FAKE")))
        for pdu in pdus:
            writer.write(codec.encode(pdu))
        await writer.drain()
        while await reader.read(4096):  # the client's deliver_sm_resp
            pass

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@pytest.mark.parametrize(
    ("pdus", "text"),
    [
        pytest.param(by_udh(), TEXT, id="udh-out-of-order"),
        pytest.param(by_sar(), TEXT, id="sar-tlvs"),
        pytest.param(by_payload(), TEXT, id="message-payload"),
        pytest.param(short(), "好的", id="short"),
    ],
)
async def test_a_long_reply_arrives_whole(pdus, text):
    server = await smsc_sending(pdus)
    client = SmppClient("127.0.0.1", server.sockets[0].getsockname()[1], "hongyan", "secret")
    async with server, client:
        reply = await asyncio.wait_for(client.inbound.get(), 5)
        await asyncio.sleep(0)  # nothing else is on its way
    assert (reply.source, reply.destination, reply.text) == ("+" + SOURCE, DEST, text)
    assert client.inbound.empty()


async def test_the_smsc_simulator_sends_a_long_reply_in_parts_and_the_client_joins_them():
    from fallback.smsc.simulator import SmscSimulator

    async with SmscSimulator(credentials={"hongyan": "secret"}) as sim:
        client = SmppClient("127.0.0.1", sim.port, "hongyan", "secret")
        async with client:
            await client.wait_bound(5)
            await sim.send_mo("+" + SOURCE, DEST, TEXT)
            reply = await asyncio.wait_for(client.inbound.get(), 5)
    assert reply.text == TEXT and client.inbound.empty()
