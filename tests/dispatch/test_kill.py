"""Kill tests: `kill -9` of the real server process (`server.py`, everything in one process) while messages are in
flight, a restart on the same data, then nothing lost and nothing sent twice.

The MaaP and SMSC simulators run in this test's process, so they outlive the server and count
what really reached them: messages accepted per number at the SMSC and at the MaaP. After the
restart every accepted message reaches a final status; only SMS whose part was written and
never answered are in doubt (at most the route's window), each reported as such; the evidence
chain verifies.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from dispatch import DispatchOptions
from fallback.smsc import SmscSimulator
from rcs.simulator import MaapSimulator, SimulatorTiming
from tests.conftest import TEST_MASTER_KEY, card, listen_port

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"rcs_delivered", "rcs_read", "sms_delivered", "sms_failed", "failed", "expired", "revoked", "rejected"}
RCS_ENDINGS = {"rcs_read", "rcs_delivered"}
# What each sandbox ending ends as (an SMS in doubt aside).
EXPECTED = {
    "1": "rcs_read",
    "2": "rcs_read",
    "3": "rcs_read",
    "4": "rcs_read",
    "5": "rcs_read",
    "6": "rcs_read",
    "8": "rcs_read",  # 503 twice, then delivered and read
    "7": "sms_delivered",  # never delivered: the silence re-ask revokes it, the SMS goes
    "44": "rcs_delivered",  # delivered, callbacks lost: the re-ask's revokeFail says so
    "0": "sms_delivered",
    "00": "sms_delivered",  # the SMSC throttles twice first
    "9": "sms_failed",  # UNDELIV
    "90": "sms_delivered",  # the receipt is lost: query_sm says DELIVERED
}
DEADLINE = 90.0


def free_port() -> int:
    return listen_port()


def number(k: int, ending: str) -> str:
    """A mobile number ending in `ending` (one digit endings get a neutral 1 before them)."""
    tail = ending if len(ending) == 2 else "1" + ending
    return f"+8613{k:07d}{tail}"


@dataclass
class Stack:
    """The simulators here, the server as a process; kill and restart it at will."""

    tmp: Path
    database_url: str | None
    env: dict = field(default_factory=dict)
    port: int = 0  # chosen once the simulators hold their ports
    server: asyncio.subprocess.Process | None = None
    maap: MaapSimulator | None = None
    smsc: SmscSimulator | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.tmp / "var"

    async def start_simulators(self, stack: AsyncExitStack, *, smsc_latency: float) -> None:
        timing = SimulatorTiming(delivery_delay_s=0.3, display_delay_s=0.3, revoke_delay_s=0.1, not_capable_delay_s=0.2)
        self.maap = await stack.enter_async_context(MaapSimulator(timing=timing))
        self.smsc = await stack.enter_async_context(SmscSimulator(receipt_delay=0.3, latency=smsc_latency))
        self.port = free_port()
        self.maap.callback_base_url = f"{self.base}/rcs"
        self.env.update(
            {
                "HONGYAN_MAAP_URL": self.maap.url,
                "HONGYAN_SMSC_ADDRESS": f"127.0.0.1:{self.smsc.port}",
                "HONGYAN_LOG_LEVEL": "WARNING",
                "HONGYAN_RCS_SILENCE_S": "2",
                "HONGYAN_SMS_RECEIPT_WAIT_S": "2",
            }
        )
        if self.database_url:
            self.env.update({"HONGYAN_DATABASE_URL": self.database_url, "HONGYAN_MASTER_KEY": TEST_MASTER_KEY})

    async def run(self, *args: str) -> int:
        proc = await self._spawn(*args)
        return await proc.wait()

    async def _spawn(self, *args: str) -> asyncio.subprocess.Process:
        out = (self.tmp / "server.log").open("ab")
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "server.py",
            *args,
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            cwd=ROOT,
            stdout=out,
            stderr=out,
            env={**os.environ, **self.env},
        )

    async def serve(self) -> None:
        if self.database_url and self.server is None:
            assert await self.run("migrate") == 0
        self.server = await self._spawn()  # no subcommand: API and dispatch in this one process
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.server.returncode is None, (self.tmp / "server.log").read_text()[-3000:]
                try:
                    async with session.get(f"{self.base}/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "the server never answered"
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGKILL)
        await self.server.wait()

    async def stop(self) -> None:
        if self.server is not None and self.server.returncode is None:
            self.server.terminate()
            await self.server.wait()


async def tenant_key(stack: Stack) -> str:
    if stack.database_url is None:
        return json.loads((stack.data_dir / "demo-tenant.json").read_text())["api_key"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "server.py",
        "tenant",
        "create",
        "Kill test",
        "--data-dir",
        str(stack.data_dir),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **stack.env},
    )
    out, _ = await proc.communicate()
    return json.loads(out)["api_key"]


async def statuses(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    out, cursor = {}, None
    while True:
        url = f"{base}/v1/messages?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        async with session.get(url) as resp:
            assert resp.status == 200
            page = await resp.json()
        out.update({m["id"]: m["status"] for m in page["data"]})
        cursor = page.get("next_cursor")
        if not cursor:
            return out


async def all_final(session: aiohttp.ClientSession, base: str, expected: int) -> dict[str, str]:
    deadline = time.monotonic() + DEADLINE
    while True:
        seen = await statuses(session, base)
        if len(seen) == expected and all(s in FINAL for s in seen.values()):
            return seen
        left = sorted({s for s in seen.values() if s not in FINAL})
        assert time.monotonic() < deadline, f"{len(seen)} of {expected} messages; not final: {left}"
        await asyncio.sleep(0.2)


async def views(session: aiohttp.ClientSession, base: str, ids) -> list[dict]:
    async def one(mid: str) -> dict:
        async with session.get(f"{base}/v1/messages/{mid}") as resp:
            assert resp.status == 200
            return await resp.json()

    return await asyncio.gather(*(one(mid) for mid in ids))


def in_doubt(view: dict) -> bool:
    return view["status"] == "sms_failed" and any(
        e["type"] == "sms_failed" and (e.get("detail") or {}).get("in_doubt") for e in view["events"]
    )


def assert_sent_at_most_once(stack: Stack, numbers: list[str]) -> int:
    """Count at the simulators: no number got two SMS, two RCS messages, or both. Returns how
    many numbers got something twice (0)."""
    assert stack.maap is not None and stack.smsc is not None
    twice = 0
    delivered_rcs = {
        stack.maap.messages[mid].number
        for mid in stack.maap.messages
        if stack.maap.messages[mid].state in ("delivered", "displayed")
    }
    for n in numbers:
        sms = stack.smsc.messages_to(n)
        handset = stack.maap.handsets.get(stack.maap._handset_by_number.get(n, ""))
        rcs = len(handset.message_ids) if handset is not None else 0
        if sms > 1 or rcs > 1 or (sms and n in delivered_rcs):
            twice += 1
    return twice


# -- an SMS claim cut off mid-window -------------------------------------------------------------


@pytest.mark.parametrize(
    "policy, delivered_in_doubt",
    [
        (None, False),  # the default, "report": in doubt ends sms_failed, never sent twice
        ("resend", True),  # sent again: delivered (the lost first copy never reached anyone here)
    ],
)
async def test_kill_mid_window_leaves_only_written_pdus_in_doubt(tmp_path, policy, delivered_in_doubt):
    """40 SMS claimed together, a window of 4, the SMSC sitting on its answers: the kill finds
    4 parts written and 36 not. The 36 are sent after the restart; only the 4 are in doubt."""
    stack = Stack(tmp_path, None)
    async with AsyncExitStack() as exits:
        await stack.start_simulators(exits, smsc_latency=60.0)
        assert stack.smsc is not None
        routes = tmp_path / "routes.toml"
        routes.write_text(
            f'[routes.smsc]\nkind = "smpp"\nhost = "127.0.0.1"\nport = {stack.smsc.port}\nsystem_id = "hongyan"\n'
            'password = { env = "KILL_TEST_SMPP_PASSWORD" }\nmax_per_second = 1000\nwindow = 4\n'
            + (f'in_doubt = "{policy}"\n' if policy else "")
        )
        stack.env.update({"HONGYAN_ROUTES": str(routes), "KILL_TEST_SMPP_PASSWORD": "sandbox"})
        del stack.env["HONGYAN_SMSC_ADDRESS"]
        exits.push_async_callback(stack.stop)
        await stack.serve()
        key = await tenant_key(stack)
        numbers = [number(k, "0") for k in range(40)]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
            body = {"recipients": [{"to": n} for n in numbers], "card": card(), "ttl": 60}
            async with session.post(f"{stack.base}/v1/messages", json=body) as resp:
                assert resp.status == 202
            # The window is full: 4 parts written, none answered.
            await stack.smsc.wait_until(lambda: stack.smsc.counts["received_submit_sm"] >= 4, 30)
            await stack.kill()
            assert stack.smsc.counts["received_submit_sm"] == 4
            stack.smsc.latency = 0.0
            await stack.serve()
            seen = await all_final(session, stack.base, len(numbers))
            got = await views(session, stack.base, seen)
        doubt = [v for v in got if in_doubt(v)]
        delivered = [v for v in got if v["status"] == "sms_delivered"]
        resent = [v for v in got if any((e.get("detail") or {}).get("resent") for e in v["events"])]
        if delivered_in_doubt:
            assert (len(delivered), len(resent), doubt) == (40, 4, [])
        else:
            assert len(doubt) == 4 and len(delivered) == 36, sorted(v["status"] for v in got)
        assert assert_sent_at_most_once(stack, numbers) == 0


# -- bounded load to every sandbox ending, killed mid-way -------------------------------------------


async def test_kill_under_load_loses_nothing_and_sends_nothing_twice(tmp_path, database_url, capsys):
    stack = Stack(tmp_path, database_url)
    endings = list(EXPECTED)
    numbers = [number(k, endings[k % len(endings)]) for k in range(520)]
    async with AsyncExitStack() as exits:
        # The SMSC's answers take 50 ms: parts are in flight whenever SMS are being sent.
        await stack.start_simulators(exits, smsc_latency=0.05)
        assert stack.smsc is not None and stack.maap is not None
        exits.push_async_callback(stack.stop)
        await stack.serve()
        key = await tenant_key(stack)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
            for i in range(0, len(numbers), 130):
                body = {"recipients": [{"to": n} for n in numbers[i : i + 130]], "card": card(), "ttl": 60}
                async with session.post(f"{stack.base}/v1/messages", json=body) as resp:
                    assert resp.status == 202
            smsc = stack.smsc
            # Kill while SMS parts are on the wire unanswered, some messages done, most not.
            await smsc.wait_until(
                lambda: (
                    smsc.counts["submit_sm"] >= 20
                    and smsc.counts["received_submit_sm"] - smsc.counts["submit_sm"] - smsc.counts["throttled"] >= 2
                ),
                60,
            )
            await stack.kill()
            sms_before = smsc.counts["submit_sm"]
            await stack.serve()
            seen = await all_final(session, stack.base, len(numbers))
            got = await views(session, stack.base, seen)
        sms_bound = sum(1 for v in got if v["status"].startswith("sms_"))
        assert sms_before < sms_bound, "every SMS went before the kill; the test proves nothing"
        doubt = [v for v in got if in_doubt(v)]
        twice = assert_sent_at_most_once(stack, numbers)
        verify = await stack.run("evidence", "verify")
    with capsys.disabled():
        print(
            f"\nkill test ({'postgresql' if database_url else 'sqlite'}): accepted {len(numbers)}, "
            f"final {sum(v['status'] in FINAL for v in got)}, in doubt {len(doubt)}, sent twice {twice}"
        )
    assert twice == 0
    assert len(doubt) <= DispatchOptions().sms_in_flight, "more in doubt than SMS in flight"
    by_ending = {}
    for v in got:
        ending = next(e for e in sorted(EXPECTED, key=len, reverse=True) if v["to"].endswith(e))
        if v not in doubt:
            by_ending.setdefault(ending, set()).add(v["status"])
    assert by_ending == {e: {s} for e, s in EXPECTED.items()}
    for v in got:
        types = [e["type"] for e in v["events"]]
        assert types.count("sms_sent") <= 1, types
        assert not ({"rcs_delivered", "rcs_read"} & set(types) and "sms_sent" in types), types
    assert verify == 0, (stack.tmp / "server.log").read_text()[-2000:]
