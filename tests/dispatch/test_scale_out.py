"""The scale-out proof (PostgreSQL): the sandbox simulators, `serve --workers 2` and two
`dispatch` processes as real processes sharing one database. A bounded load goes in through both
API workers; one dispatcher is killed (SIGKILL) mid-way; every message still reaches its final
status exactly once.

What counts as "once", from outside the platform: the MaaP simulator accepted every message id,
and was sent an id it already had only for messages the killed dispatcher held when it died (a
send whose record it never made: the same message again, which the operator answers without
delivering twice — docs/delivery.md); the SMSC got no number twice. From inside: no message has
any status event twice, and the messages the killed process held were taken over by the other
once their (short, 5 s) lease ran out.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import asyncpg

from tests.conftest import TEST_MASTER_KEY, prepare_database
from tests.dispatch.test_kill import free_port, number

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 2000
BATCH = 50
LEASE_S = 5
# Sandbox endings and what each ends as: RCS read, or (no RCS) the SMS delivered.
EXPECTED = {"1": "rcs_read", "2": "rcs_read", "3": "rcs_read", "4": "rcs_read", "5": "rcs_read", "0": "sms_delivered"}
FINAL = {"rcs_read", "sms_delivered", "sms_failed", "failed", "expired", "rejected", "revoked"}
# Events a message has at most once (a `queued` or `fallback_pending` repeats on a retry).
ONCE = ("rcs_sent", "rcs_delivered", "rcs_read", "sms_sent", "sms_delivered")
DEADLINE_S = 40.0


class Processes:
    """Processes of one split deployment, their output in one log file."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env = tmp, env
        self.log = tmp / "processes.log"
        self.running: list[asyncio.subprocess.Process] = []

    async def start(self, *args: str, stdout=None) -> asyncio.subprocess.Process:
        out = self.log.open("ab")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "server.py",
            *args,
            "--data-dir",
            str(self.tmp / "var"),
            cwd=ROOT,
            stdout=stdout or out,
            stderr=out,
            env={**os.environ, **self.env},
        )
        self.running.append(proc)
        return proc

    async def run(self, *args: str) -> bytes:
        proc = await self.start(*args, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        assert proc.returncode == 0, self.tail()
        return out

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    async def stop(self) -> None:
        for proc in reversed(self.running):
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def wait_ready(url: str, proc: asyncio.subprocess.Process, processes: Processes) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:
            assert proc.returncode is None, processes.tail()
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, f"{url} never answered\n{processes.tail()}"
            await asyncio.sleep(0.1)


async def counts(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/counts") as resp:
        assert resp.status == 200
        return await resp.json()


async def test_two_api_and_two_dispatch_processes_send_every_message_once_through_a_kill(
    database_templates, tmp_path, pg_url, capsys
):
    await prepare_database(database_templates, tmp_path, pg_url)
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    port, dispatch_ports = free_port(), (free_port(), free_port())
    env = {
        "HONGYAN_DATABASE_URL": pg_url,
        "HONGYAN_MASTER_KEY": TEST_MASTER_KEY,
        "HONGYAN_LOG_LEVEL": "WARNING",
        "HONGYAN_DISPATCH_LEASE_S": str(LEASE_S),
    }
    processes = Processes(tmp_path, env)
    endings = list(EXPECTED)
    numbers = [number(k, endings[k % len(endings)]) for k in range(MESSAGES)]
    async with AsyncExitStack() as exits:
        exits.push_async_callback(processes.stop)
        key = json.loads(await processes.run("tenant", "create", "Scale-out test"))["api_key"]
        sims = await processes.start(
            "simulators",
            "--port",
            str(port),
            *("--delivery-delay", "0.2", "--display-delay", "0.2", "--receipt-delay", "0.2"),
            stdout=asyncio.subprocess.PIPE,
        )
        assert sims.stdout is not None
        where = json.loads(await asyncio.wait_for(sims.stdout.readline(), 60) or b"null")
        assert where, processes.tail()
        inbox = where["inbox_url"].removesuffix("/sms")
        env.update({"HONGYAN_MAAP_URL": where["maap_url"], "HONGYAN_SMSC_ADDRESS": where["smsc_address"]})
        api = await processes.start("serve", "--workers", "2", "--port", str(port))
        dispatchers = [await processes.start("dispatch", "--metrics-port", str(p)) for p in dispatch_ports]
        await wait_ready(f"http://127.0.0.1:{port}/readyz", api, processes)
        for proc, p in zip(dispatchers, dispatch_ports, strict=True):
            await wait_ready(f"http://127.0.0.1:{p}/readyz", proc, processes)

        # The load: batches over new connections, which the kernel spreads over both API workers.
        async def post(session: aiohttp.ClientSession, batch: list[str]) -> None:
            body = {"recipients": [{"to": n} for n in batch], "text": "您的验证码是 4721", "ttl": 120}
            async with session.post(f"http://127.0.0.1:{port}/v1/messages", json=body) as resp:
                assert resp.status == 202, await resp.text()

        headers = {"Authorization": f"Bearer {key}"}
        connector = aiohttp.TCPConnector(force_close=True, limit=8)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            batches = [numbers[i : i + BATCH] for i in range(0, MESSAGES, BATCH)]
            sending = asyncio.gather(*(post(session, b) for b in batches))
            # Kill one dispatcher once a fifth of the messages reached the MaaP, at a moment it holds
            # claims (on a loaded machine the other one may have taken every batch so far): it is
            # frozen first, so the claims read are the ones it dies holding.
            victim = dispatchers[0]
            deadline = time.monotonic() + DEADLINE_S
            conn = await asyncpg.connect(dsn)
            try:
                while True:
                    assert time.monotonic() < deadline, "the dispatcher to kill never held a claim" + processes.tail()
                    if (await counts(where["maap_url"]))["messages_accepted"] >= MESSAGES // 5:
                        victim.send_signal(signal.SIGSTOP)
                        held = {
                            r["id"]
                            for r in await conn.fetch(
                                "SELECT id FROM messages WHERE lease_owner LIKE $1", f"%:{victim.pid}:%"
                            )
                        }
                        if held:
                            victim.send_signal(signal.SIGKILL)
                            await victim.wait()
                            break
                        victim.send_signal(signal.SIGCONT)
                    await asyncio.sleep(0.02)
            finally:
                await conn.close()
            await sending

        # Every message final (the survivor took over the victim's claims after their lease).
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + DEADLINE_S
            while True:
                by_status = dict(await conn.fetch("SELECT status, count(*) FROM messages GROUP BY status"))
                if sum(by_status.values()) == MESSAGES and set(by_status) <= FINAL:
                    break
                if time.monotonic() > deadline:
                    stuck = await conn.fetch(
                        "SELECT m.id, m.lease_owner, e.type, e.at_ms, e.source, e.detail FROM messages m JOIN message_events e"
                        " ON e.message_id = m.id WHERE m.id IN (SELECT id FROM messages WHERE status = 'rcs_sent' LIMIT 2)"
                        " ORDER BY m.id, e.at_ms"
                    )
                    maap = await counts(where["maap_url"])
                    raise AssertionError(
                        f"not final: {by_status}; held {len(held)} {sorted(held)[:3]}; maap {maap['messages_accepted']} "
                        f"{list(maap['repeated_sends'].items())[:5]} {maap['callbacks_failed']}\n"
                        + "\n".join(str(dict(r)) for r in stuck)
                        + processes.tail()
                    )
                await asyncio.sleep(0.25)
            repeated_events = await conn.fetch(
                "SELECT message_id, type, count(*) AS n FROM message_events WHERE type = ANY($1::text[]) "
                "GROUP BY message_id, type HAVING count(*) > 1",
                list(ONCE),
            )
            rows = await conn.fetch("SELECT id, status FROM messages")
        finally:
            await conn.close()
        maap, smsc = await counts(where["maap_url"]), await counts(inbox)
        api_alive = api.returncode is None and dispatchers[1].returncode is None

    statuses = {r["id"]: r["status"] for r in rows}
    with capsys.disabled():
        print(
            f"\nscale-out: {MESSAGES} messages, 2 API + 2 dispatch processes, one killed holding {len(held)}; "
            f"final {by_status}; MaaP accepted {maap['messages_accepted']}, repeated {len(maap['repeated_sends'])}; "
            f"SMSC submit_sm {smsc['submit_sm']}, repeated destinations {smsc['repeated_destinations']}"
        )
    assert api_alive, processes.tail()
    assert held, "the killed dispatcher held no claims: the kill proved nothing"
    assert sorted({r["type"] for r in repeated_events}) == [], f"{len(repeated_events)} messages"
    assert maap["messages_accepted"] == MESSAGES  # every message to the MaaP (the SMS ones answered `failed`)
    assert set(maap["repeated_sends"]) <= held, "a message sent again that no dead process held"
    assert smsc["repeated_destinations"] == 0
    # What each ending ends as; an SMS in flight on the killed process's bind may end in doubt.
    sms = sum(1 for n in numbers if n.endswith("0"))
    failed = {mid for mid, s in statuses.items() if s == "sms_failed"}
    assert failed <= held, "an SMS failed that no dead process held"
    assert by_status.get("rcs_read", 0) == MESSAGES - sms
    assert by_status.get("sms_delivered", 0) + len(failed) == sms
    assert smsc["submit_sm"] >= by_status.get("sms_delivered", 0)
