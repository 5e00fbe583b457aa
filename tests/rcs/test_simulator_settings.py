"""Simulator settings, the Maap interface and the standalone `python -m rcs.simulator`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from rcs.maap import Maap, ManagedRcsChannel, OutboundMessage, text_parts
from rcs.operators import OPERATORS, CnCspMaap
from rcs.results import Outcome
from rcs.simulator import DEFAULT_MAX_MESSAGES, MaapSimulator, SimulatorTiming, _parse_args

ROOT = Path(__file__).resolve().parents[2]


def msg(mid: str, to: str = "+8613800001231") -> OutboundMessage:
    return OutboundMessage(mid, to, text_parts("您好"), "c", "k")


def test_registry_and_interface():
    assert OPERATORS["cn_csp"] is CnCspMaap
    sim = MaapSimulator()
    maap = CnCspMaap(sim.client_settings())
    assert isinstance(maap, Maap) and isinstance(maap, ManagedRcsChannel)


@pytest.mark.parametrize("rate, accepted", [(1.0, False), (0.0, True)])
async def test_failure_rate(rate, accepted):
    async with MaapSimulator(timing=SimulatorTiming(failure_rate=rate)) as sim:
        maap = CnCspMaap(sim.client_settings())
        try:
            results = [await maap.send(msg(f"f{i}")) for i in range(5)]
        finally:
            await maap.close()
    assert all(r.accepted is accepted for r in results)
    if not accepted:
        assert {(r.outcome, r.code, r.http_status) for r in results} == {(Outcome.RETRY, -1, 503)}


async def test_expired_token_is_refreshed():
    sim_now = [1_000_000.0]
    async with MaapSimulator(clock=lambda: sim_now[0]) as sim:
        maap = CnCspMaap(sim.client_settings())
        try:
            assert (await maap.send(msg("e1"))).accepted
            sim_now[0] += 7201  # the operator's clock says the token expired (42001)
            assert (await maap.send(msg("e2"))).accepted
            assert sim.tokens_issued == 2
        finally:
            await maap.close()


async def test_repeated_message_id_is_answered_not_redone():
    async with MaapSimulator(timing=SimulatorTiming(delivery_delay_s=3600)) as sim:
        maap = CnCspMaap(sim.client_settings())
        try:
            assert (await maap.send(msg("dup"))).accepted
            assert (await maap.send(msg("dup"))).accepted
        finally:
            await maap.close()
        assert len(sim.messages) == 1 and len(next(iter(sim.handsets.values())).message_ids) == 1


async def test_standalone_process(unused_tcp_port):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rcs.simulator",
        "--port",
        str(unused_tcp_port),
        "--base-path",
        "/exampleAPI",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)  # printed once it serves
        assert f"127.0.0.1:{unused_tcp_port}" in line.decode()
        sim = MaapSimulator(port=unused_tcp_port, base_path="/exampleAPI")  # same defaults → matching settings
        maap = CnCspMaap(sim.client_settings())
        try:
            assert (await maap.send(msg("p1"))).accepted
        finally:
            await maap.close()
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{unused_tcp_port}/handset") as r:
            assert r.status == 200 and "+86138****1231" in await r.text()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert b"+8613800001231" not in err  # access log and logs carry no full number


async def test_statuses_are_batched_in_order(receiver):
    timing = SimulatorTiming(delivery_delay_s=0.001, display_delay_s=0.001, callback_batch=7)
    async with MaapSimulator(
        callback_base_url=receiver.url, callback_token="test-callback-token", timing=timing
    ) as sim:
        maap = CnCspMaap(sim.client_settings())
        try:
            results = await asyncio.gather(*(maap.send(msg(f"b{i}")) for i in range(40)))
            assert all(r.accepted for r in results)
            for i in range(40):
                _, seen = await receiver.status(f"b{i}", "displayed")
                assert [e.status for e in seen] == ["delivered", "displayed"]
        finally:
            await maap.close()
        # 80 statuses in at most 7 a request; each message's delivered came before its displayed.
        assert sum(receiver.batch_sizes) == 80 and max(receiver.batch_sizes) <= 7
        assert len(receiver.batch_sizes) < 80  # statuses were batched
        assert (sim.callbacks_sent, sim.callbacks_failed) == (len(receiver.batch_sizes), 0)


async def test_old_messages_are_forgotten():
    timing = SimulatorTiming(delivery_delay_s=3600, max_messages=3)
    async with MaapSimulator(timing=timing) as sim:
        maap = CnCspMaap(sim.client_settings())
        try:
            for i, n in enumerate(["+8613800001231", "+8613800001232", "+8613800001231", "+8613800001233"]):
                assert (await maap.send(msg(f"o{i}", n))).accepted
        finally:
            await maap.close()
        assert list(sim.messages) == ["o1", "o2", "o3"]
        assert sorted(len(h.message_ids) for h in sim.handsets.values()) == [1, 1, 1]


# (messages kept at most, messages sent, the ids kept oldest first, handsets left)
RETENTION_CASES = [
    pytest.param(5, 3, ["r0", "r1", "r2"], 3, id="under the bound: all kept"),
    pytest.param(3, 3, ["r0", "r1", "r2"], 3, id="at the bound: all kept"),
    pytest.param(3, 7, ["r4", "r5", "r6"], 3, id="over: the oldest forgotten first"),
    pytest.param(1, 4, ["r3"], 1, id="a bound of one keeps the newest"),
]


@pytest.mark.parametrize(("bound", "sent", "kept", "handsets"), RETENTION_CASES)
async def test_retention_bound(bound, sent, kept, handsets):
    timing = SimulatorTiming(delivery_delay_s=3600, max_messages=bound)
    async with MaapSimulator(timing=timing) as sim:
        maap = CnCspMaap(sim.client_settings())
        try:
            for i in range(sent):
                assert (await maap.send(msg(f"r{i}", f"+86138000012{i:02d}"))).accepted
        finally:
            await maap.close()
        assert list(sim.messages) == kept
        assert len(sim.handsets) == handsets  # a handset goes with its last message
        assert sum(len(m.timers) for m in sim.messages.values()) == len(kept)  # forgotten ones' timers cancelled


@pytest.mark.parametrize(
    ("argv", "bound"),
    [([], DEFAULT_MAX_MESSAGES), (["--max-messages", "500"], 500)],
)
def test_retention_is_a_command_line_option(argv, bound):
    assert _parse_args(argv).max_messages == bound
    assert SimulatorTiming().max_messages == DEFAULT_MAX_MESSAGES
