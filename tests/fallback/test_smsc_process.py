"""`python -m fallback.smsc` as its own process, driven by the client over TCP."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from fallback.client import SmppClient

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 10.0


async def test_standalone_simulator(unused_tcp_port):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fallback.smsc",
        "--port",
        str(unused_tcp_port),
        "--receipt-delay",
        "0.05",
        "--system-id",
        "hongyan",
        "--password",
        "pw",
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(proc.stderr.readline(), DEADLINE)
        assert b"listening on 127.0.0.1:%d" % unused_tcp_port in line
        async with SmppClient("127.0.0.1", unused_tcp_port, "hongyan", "pw") as client:
            await client.wait_bound(DEADLINE)
            await client.submit("+8613812345679", "hello", "HONGYAN", reference="p")
            outcome = await asyncio.wait_for(client.outcomes.get(), DEADLINE)
            assert (outcome.reference, outcome.status, outcome.reason) == ("p", "failed", "UNDELIV err:001")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), DEADLINE) == 0
    rest = await proc.stderr.read()
    assert b"13812345679" not in line + rest
