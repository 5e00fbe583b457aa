"""The MaaP simulator's state file: what it keeps across a restart is bounded (the newest
messages and their handsets), and a message kept is still known to the restarted simulator (a
revoke of it is answered, not refused as unknown), over real sockets."""

from __future__ import annotations

from rcs import simulator as simulator_module
from rcs.operators import CnCspMaap
from rcs.simulator import MaapSimulator
from tests.rcs.conftest import CALLBACK_TOKEN, FAST
from tests.rcs.test_client_simulator import message


async def test_a_restart_keeps_the_newest_messages_only(receiver, tmp_path, monkeypatch):
    monkeypatch.setattr(simulator_module, "KEPT_MESSAGES", 3)  # a bound small enough to see
    state = tmp_path / "maap.json"
    ids = [f"m{i}" for i in range(5)]
    first = MaapSimulator("127.0.0.1", 0, receiver.url, CALLBACK_TOKEN, timing=FAST, state_path=state)
    await first.start()
    client = CnCspMaap(first.client_settings())
    try:
        for i, mid in enumerate(ids):
            assert (await client.send(message(mid, f"+861380013800{i + 1}"))).accepted
    finally:
        await client.close()
        await first.stop()

    again = MaapSimulator("127.0.0.1", 0, receiver.url, CALLBACK_TOKEN, timing=FAST, state_path=state)
    await again.start()
    client = CnCspMaap(again.client_settings())
    try:
        assert list(again.messages) == ids[-3:]
        assert {again.handsets[m.handset_id].number for m in again.messages.values()} == {
            "+8613800138003",
            "+8613800138004",
            "+8613800138005",
        }
        assert all(m.message_id in again.handsets[m.handset_id].thread for m in again.messages.values())
        assert (await client.revoke(ids[-1], "+8613800138005")).accepted
        assert not (await client.revoke(ids[0], "+8613800138001")).accepted  # forgotten: unknown
    finally:
        await client.close()
        await again.stop()
