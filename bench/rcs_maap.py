"""Bench the rcs package: cached capability look-ups and sends through the MaaP simulator.

    python bench/rcs_maap.py --seconds 10

Prints a table, then one JSON line of medians. The simulator and client share this process
(one core each would need two processes; the figure is a floor for the client + simulator pair).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rcs.capability import CapabilityCache  # noqa: E402
from rcs.maap import OutboundMessage, card_parts  # noqa: E402
from rcs.operators import CnCspMaap  # noqa: E402
from rcs.results import Capability  # noqa: E402
from rcs.simulator import MaapSimulator, SimulatorTiming  # noqa: E402

NUMBERS = [f"+86138{i:08d}" for i in range(100_000)]
PARTS = card_parts(
    {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": {"title": "bench"}}}}
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_get(seconds: float) -> list[float]:
    """Rounds of cache.get over warm entries; lookups/s per round."""
    cache = CapabilityCache()
    for n in NUMBERS:
        cache.put(n, Capability.SUPPORTED)
    rates, end = [], time.perf_counter() + seconds
    get = cache.get
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        for n in NUMBERS:
            get(n)
        rates.append(len(NUMBERS) / (time.perf_counter() - t0))
    return rates


async def bench_resolve_many(seconds: float) -> list[float]:
    """Latency (ms) of resolve_many for 100 cached numbers."""
    cache = CapabilityCache()
    for n in NUMBERS:
        cache.put(n, Capability.SUPPORTED)

    async def never(numbers):  # all hits: the fetch must not be called
        raise AssertionError("fetched")

    lat, end, i = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        batch = NUMBERS[i : i + 100]
        i = (i + 100) % (len(NUMBERS) - 100)
        t0 = time.perf_counter()
        await cache.resolve_many(batch, never)
        lat.append((time.perf_counter() - t0) * 1000)
    return lat


async def bench_send(seconds: float, concurrency: int = 64, separate: bool = False) -> list[float]:
    """Sends/s through CnCspMaap → simulator (no callback target), per one-second window;
    the simulator runs in this process, or in its own (`separate`, as on a 2-core deployment)."""
    proc = None
    if separate:
        port = _free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rcs.simulator",
            "--port",
            str(port),
            "--delivery-delay",
            "3600",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.wait_for(proc.stdout.readline(), 30)  # printed once it serves
        sim = MaapSimulator(port=port)  # same defaults: only used for the client settings
    else:
        sim = MaapSimulator(timing=SimulatorTiming(delivery_delay_s=3600))
        await sim.start()
    maap = CnCspMaap(sim.client_settings())
    counts: list[int] = []
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(w: int):
        nonlocal done
        k = 0
        while time.perf_counter() < stop:
            msg = OutboundMessage(
                f"b{w}-{k}",
                NUMBERS[(w * 7919 + k) % len(NUMBERS)][:-1] + "1",
                PARTS,
                "c",
                "k",
            )
            result = await maap.send(msg)
            assert result.accepted, result
            done += 1
            k += 1

    async def sampler():
        last = 0
        while time.perf_counter() < stop:
            await asyncio.sleep(1)
            counts.append(done - last)
            last = done

    try:
        await asyncio.gather(sampler(), *(worker(w) for w in range(concurrency)))
    finally:
        await maap.close()
        if proc is not None:
            proc.terminate()
            await proc.wait()
        else:
            await sim.stop()
    return [float(c) for c in counts] or [float(done) / max(seconds, 1e-9)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()
    s = args.seconds
    gets = bench_get(s / 4)
    lat = asyncio.run(bench_resolve_many(s / 4))
    sends = asyncio.run(bench_send(max(1.0, s / 4)))
    apart = asyncio.run(bench_send(max(1.0, s / 4), separate=True))
    figures = {
        "cached_lookups_per_s": round(statistics.median(gets)),
        "resolve_many_100_cached_ms": round(statistics.median(lat), 4),
        "maap_sends_per_s": round(statistics.median(sends)),
        "maap_sends_per_s_simulator_process": round(statistics.median(apart)),
    }
    print(f"{'figure':<32}{'median':>14}{'rounds':>8}")
    print(f"{'cached look-ups / s (get)':<32}{figures['cached_lookups_per_s']:>14,}{len(gets):>8}")
    print(f"{'resolve_many(100 cached) ms':<32}{figures['resolve_many_100_cached_ms']:>14}{len(lat):>8}")
    print(f"{'sends / s, simulator in-process':<32}{figures['maap_sends_per_s']:>14,}{len(sends):>8}")
    print(f"{'sends / s, simulator process':<32}{figures['maap_sends_per_s_simulator_process']:>14,}{len(apart):>8}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
