"""Fault injection over real sockets: a MaaP that times out, resets connections or answers 5xx
for a while; an SMSC that drops the bind mid-window, throttles, loses receipts or forgets its
messages. Every message ends delivered or with a
reported failure — never silence.

The MaaP and SMSC simulators run here, the MaaP behind a TCP proxy that misbehaves on demand;
the app is the real one (`server.create_app`) pointed at them as at a real operator and SMSC.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, replace

import pytest

from dispatch import DispatchOptions, RetryPolicy
from fallback.smsc import SmscSimulator
from rcs.simulator import MaapSimulator, SimulatorTiming
from server import DispatchConfig
from tests.conftest import card
from tests.dispatch.conftest import wait_for

FAULTS = DispatchConfig(
    smsc_receipt_delay=0.05,
    maap_timeout_s=0.5,
    options=DispatchOptions(
        poll_s=0.02,
        lease_s=2.0,
        revoke_wait_s=0.5,
        revoke_give_up_s=1.0,
        rcs_silence_s=30.0,
        sms_receipt_wait_s=0.3,
        retry=RetryPolicy(first_s=0.05, cap_s=0.5),
    ),
)
TIMING = SimulatorTiming(delivery_delay_s=0.05, display_delay_s=0.05, revoke_delay_s=0.05, not_capable_delay_s=0.02)
FINAL = {"rcs_delivered", "rcs_read", "sms_delivered", "sms_failed", "failed", "expired", "revoked"}


class FaultProxy:
    """A TCP proxy in front of a real server. `mode`: "pass" forwards; "reset" answers every
    connection with a RST; "hang" accepts, reads and never answers. Leaving "pass" cuts the
    connections open through it (with a RST)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.mode = "pass"
        self.faulted = 0  # connections refused or left hanging
        self.changed = asyncio.Event()
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            _reset(writer)
        await self._server.wait_closed()

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode != "pass":
            for writer in list(self._open):
                _reset(writer)

    async def wait_faulted(self, n: int, timeout: float = 10.0) -> None:
        async def reached():
            while self.faulted < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(reached(), timeout)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode != "pass":
            self.faulted += 1
            self.changed.set()
            if self.mode == "reset":
                _reset(writer)
                return
            self._open.add(writer)
            try:
                while await reader.read(65536):
                    pass
            finally:
                self._open.discard(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _reset(writer)
            return
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)
        finally:
            self._open.difference_update((writer, up_writer))
            for w in (writer, up_writer):
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class Rig:
    api: object
    maap: MaapSimulator
    smsc: SmscSimulator
    proxy: FaultProxy


@pytest.fixture
def fault_config() -> DispatchConfig:
    return FAULTS


@pytest.fixture
async def rig(aiohttp_server, aiohttp_client, dispatch_settings, fault_config, unused_tcp_port_factory):
    """The app, its MaaP behind a fault proxy and its SMSC, all on loopback."""
    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient

    async with (
        MaapSimulator(timing=TIMING) as maap,
        SmscSimulator(receipt_delay=0.05) as smsc,
        FaultProxy(maap.port) as proxy,
    ):
        # The app's port is chosen once the simulators hold theirs, so it cannot be one of them.
        settings = replace(
            dispatch_settings,
            port=unused_tcp_port_factory(),
            maap_url=f"http://127.0.0.1:{proxy.port}",
            smsc_address=f"127.0.0.1:{smsc.port}",
        )
        maap.callback_base_url = f"http://127.0.0.1:{settings.port}/rcs"
        app = create_app(settings, Wiring(dispatch=fault_config))
        server = await aiohttp_server(app, port=settings.port)
        client = await aiohttp_client(server)
        tenant, key = await app[ACCOUNTS].create_tenant("Fault brand", signature="【鸿雁测试】")
        yield Rig(ApiClient(client, tenant.id, key), maap, smsc, proxy)


async def send(api, numbers: list[str], **extra) -> list[str]:
    got = await api.post("/v1/messages", json={"recipients": [{"to": n} for n in numbers], "card": card(), **extra})
    assert got.status == 202, await got.text()
    return [m["id"] for m in (await got.json())["messages"]]


def ended(view: dict) -> bool:
    """Final, and for an RCS message read (a delivered one is read right after, here)."""
    return view["status"] in FINAL - {"rcs_delivered"}


async def finals(api, ids: list[str], timeout: float = 20.0) -> list[dict]:
    return list(await asyncio.gather(*(wait_for(api, mid, ended, timeout) for mid in ids)))


def retried(view: dict) -> bool:
    return any(e["type"] == "queued" and (e.get("detail") or {}).get("error") for e in view["events"])


# -- the MaaP -----------------------------------------------------------------------------------


def hang(rig: Rig) -> None:
    rig.proxy.set("hang")


def reset(rig: Rig) -> None:
    rig.proxy.set("reset")


def storm(rig: Rig) -> None:
    rig.maap.timing = replace(rig.maap.timing, failure_rate=1.0)


def calm(rig: Rig) -> None:
    rig.proxy.set("pass")
    rig.maap.timing = replace(rig.maap.timing, failure_rate=0.0)


@pytest.mark.parametrize(
    "fault",
    [hang, reset, storm],
    ids=["timeouts", "connection resets", "5xx storm"],
)
async def test_a_maap_fault_is_retried_until_delivery(rig, fault):
    fault(rig)
    ids = await send(rig.api, ["+8613800001231", "+8613800001232", "+8613800001230"], ttl=60)
    # Every message felt the fault (a retry scheduled with its error) before it clears.
    await asyncio.gather(*(wait_for(rig.api, mid, retried) for mid in ids))
    calm(rig)
    views = await finals(rig.api, ids)
    assert [v["status"] for v in views] == ["rcs_read", "rcs_read", "sms_delivered"]


@pytest.mark.parametrize(
    "fault, status, reason",
    [
        # Unreachable past the TTL: the revoke never gets an answer, so no SMS either.
        (hang, "failed", "the operator never answered the revoke"),
        (reset, "failed", "the operator never answered the revoke"),
        # Refusing sends only: the revoke gets through, the MaaP knows no such message, the SMS goes.
        (storm, "sms_delivered", None),
    ],
    ids=["timeouts", "connection resets", "5xx storm"],
)
async def test_a_maap_that_never_recovers_ends_in_a_reported_outcome(rig, fault, status, reason):
    fault(rig)
    (mid,) = await send(rig.api, ["+8613800001231"], ttl=1)
    (view,) = await finals(rig.api, [mid])
    assert view["status"] == status
    if reason:
        assert view["events"][-1]["detail"]["reason"].startswith(reason)


# -- the SMSC -----------------------------------------------------------------------------------


async def test_a_bind_dropped_mid_window_leaves_only_the_written_parts_in_doubt(rig):
    rig.smsc.latency = 0.3  # answers take a while: parts are on the wire when the bind drops
    numbers = [f"+86138000{i:03d}10" for i in range(8)]
    ids = await send(rig.api, numbers, ttl=60)
    await rig.smsc.wait_until(lambda: rig.smsc.counts["received_submit_sm"] >= 2, 10)
    written = rig.smsc.counts["received_submit_sm"]
    rig.smsc.drop_connections()
    rig.smsc.latency = 0.0
    views = await finals(rig.api, ids)
    doubt = [v for v in views if v["status"] == "sms_failed" and v["events"][-1]["detail"].get("in_doubt")]
    assert 1 <= len(doubt) <= written
    assert all(v["status"] == "sms_delivered" for v in views if v not in doubt)
    assert all(rig.smsc.messages_to(n) <= 1 for n in numbers)


async def test_a_throttling_smsc_slows_down_and_delivers_everything(rig):
    numbers = [f"+86138000{i:03d}00" for i in range(12)]  # …00: ESME_RTHROTTLED twice each
    views = await finals(rig.api, await send(rig.api, numbers, ttl=60))
    assert {v["status"] for v in views} == {"sms_delivered"}
    assert rig.smsc.counts["throttled"] >= 24


async def test_a_lost_receipt_is_asked_about(rig):
    (view,) = await finals(rig.api, await send(rig.api, ["+8613800001290"], ttl=60))  # …90: receipt lost
    assert view["status"] == "sms_delivered"
    assert view["events"][-1]["detail"]["via"] == "query_sm"
    assert rig.smsc.counts["query_sm"] >= 1


async def test_an_smsc_that_forgot_the_message_is_a_reported_failure(rig):
    # The receipt is lost and the SMSC restarts before it is asked: it knows nothing of the id.
    port = rig.smsc.port
    (mid,) = await send(rig.api, ["+8613800001290"], ttl=60)
    await wait_for(rig.api, mid, lambda v: v["status"] == "sms_sent")
    await rig.smsc.stop()
    async with SmscSimulator(port=port, receipt_delay=0.05) as forgetful:
        (view,) = await finals(rig.api, [mid])
        assert forgetful.counts["query_sm"] >= 1
    assert view["status"] == "sms_failed"
    assert view["events"][-1]["detail"]["reason"].startswith("UNKNOWN")
