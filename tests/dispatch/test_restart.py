"""The acceptance test of the dispatcher: SIGKILL the server while messages are in flight,
start it again on the same data dir — none lost, none sent twice.

The MaaP and SMSC simulators run as their own processes so they outlive the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"rcs_delivered", "rcs_read", "sms_delivered", "sms_failed", "failed"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def spawn(*args: str, env: dict | None = None, log: Path) -> asyncio.subprocess.Process:
    out = log.open("ab")
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdout=out, stderr=out, env={**os.environ, **(env or {})}
    )


async def wait_ready(url: str, proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert proc.returncode is None, "process exited"
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered")


async def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


async def statuses(session, base: str) -> dict[str, str]:
    out, cursor = {}, None
    while True:
        url = f"{base}/v1/messages?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        async with session.get(url) as resp:
            page = await resp.json()
        out.update({m["id"]: m["status"] for m in page["data"]})
        cursor = page.get("next_cursor")
        if not cursor:
            return out


async def test_sigkill_in_flight_loses_nothing_and_sends_nothing_twice(tmp_path):
    port, maap_port, smsc_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "processes.log"
    maap = await spawn(
        "-m",
        "rcs.simulator",
        "--port",
        str(maap_port),
        "--callback-url",
        f"{base}/rcs",
        "--delivery-delay",
        "0.3",
        "--display-delay",
        "0.3",
        log=log,
    )
    smsc = await spawn("-m", "fallback.smsc", "--port", str(smsc_port), "--receipt-delay", "0.3", log=log)
    env = {
        "HONGYAN_MAAP_URL": f"http://127.0.0.1:{maap_port}",
        "HONGYAN_SMSC_ADDRESS": f"127.0.0.1:{smsc_port}",
        "HONGYAN_LOG_LEVEL": "WARNING",
    }
    server_args = ("server.py", "--data-dir", str(tmp_path / "var"), "--port", str(port))
    server = None
    try:
        await wait_port(maap_port)
        await wait_port(smsc_port)
        server = await spawn(*server_args, env=env, log=log)
        await wait_ready(f"{base}/healthz", server)
        key = json.loads((tmp_path / "var" / "demo-tenant.json").read_text())["api_key"]
        card = {
            "message": {
                "generalPurposeCard": {
                    "layout": {"cardOrientation": "VERTICAL"},
                    "content": {"title": "停机维护通知", "description": "今晚 2 点"},
                }
            }
        }
        # Endings 1–6 go by RCS, 0 falls back to SMS.
        numbers = [f"+8613912{i:05d}{i % 7}" for i in range(400)]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
            for i in range(0, len(numbers), 100):
                async with session.post(
                    f"{base}/v1/messages",
                    json={
                        "recipients": [{"to": n} for n in numbers[i : i + 100]],
                        "card": card,
                        "ttl": 4,
                    },
                ) as resp:
                    assert resp.status == 202
            # Kill while some are done and others are still travelling.
            deadline = time.monotonic() + 20
            while True:
                seen = await statuses(session, base)
                done = sum(s in FINAL for s in seen.values())
                if done >= 20 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            server.send_signal(signal.SIGKILL)
            await server.wait()
            assert done < len(numbers), "everything finished before the kill; the test proves nothing"

            server = await spawn(*server_args, env=env, log=log)
            await wait_ready(f"{base}/healthz", server)
            deadline = time.monotonic() + 60
            while True:
                seen = await statuses(session, base)
                if len(seen) == len(numbers) and all(s in FINAL for s in seen.values()):
                    break
                assert time.monotonic() < deadline, f"not final: {sorted(set(seen.values()) - FINAL)}"
                await asyncio.sleep(0.1)
            for mid in seen:
                async with session.get(f"{base}/v1/messages/{mid}") as resp:
                    view = await resp.json()
                types = [e["type"] for e in view["events"]]
                assert types.count("rcs_sent") <= 1 and types.count("sms_sent") <= 1, types
                assert not ("rcs_delivered" in types and "sms_sent" in types), types
                if view["to"].endswith("0"):
                    assert view["status"] in ("sms_delivered", "sms_failed"), types
    finally:
        for proc in (server, maap, smsc):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await proc.wait()
