"""CapabilityCache: TTLs, coalescing, invalidation, its bound."""

from __future__ import annotations

import asyncio
import time

import pytest

from rcs.capability import CapabilityCache
from rcs.results import Capability

S, N, U, I = Capability.SUPPORTED, Capability.NOT_SUPPORTED, Capability.UNKNOWN, Capability.INVALID  # noqa: E741


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Fetcher:
    """Answers from a table; records each call; can hold calls until released."""

    def __init__(self, table: dict, hold: bool = False):
        self.table = table
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, numbers):
        self.calls.append(list(numbers))
        self.entered.set()
        await self.release.wait()
        return {n: self.table[n] for n in numbers if n in self.table}


async def test_ttls_by_kind():
    clock = Clock()
    cache = CapabilityCache(ttl=100, negative_ttl=10, clock=clock)
    fetch = Fetcher({"a": S, "b": N, "c": I, "d": U})
    assert await cache.resolve_many(["a", "b", "c", "d", "e"], fetch) == {"a": S, "b": N, "c": I, "d": U, "e": U}
    assert [cache.get(n) for n in "abcde"] == [S, N, I, None, None]  # unknown never cached
    clock.t += 11
    assert [cache.get(n) for n in "abc"] == [S, None, I]
    clock.t += 90
    assert [cache.get(n) for n in "abc"] == [None, None, None]
    await cache.resolve_many(["a", "b"], fetch)
    assert fetch.calls == [["a", "b", "c", "d", "e"], ["a", "b"]]


async def test_hits_skip_the_fetch_and_duplicates_are_fetched_once():
    cache = CapabilityCache(clock=Clock())
    fetch = Fetcher({"a": S, "b": N})
    await cache.resolve("a", fetch)
    assert await cache.resolve_many(["a", "b", "b", "a"], fetch) == {"a": S, "b": N}
    assert fetch.calls == [["a"], ["b"]]
    assert (cache.hits, cache.misses) == (1, 2)


async def test_concurrent_lookups_of_one_number_coalesce():
    cache = CapabilityCache(clock=Clock())
    fetch = Fetcher({"a": S, "b": N, "c": S}, hold=True)
    first = asyncio.create_task(cache.resolve_many(["a", "b"], fetch))
    await fetch.entered.wait()
    second = asyncio.create_task(cache.resolve_many(["b", "c"], fetch))
    third = asyncio.create_task(cache.resolve("a", fetch))
    # Let the followers reach their await on the in-flight futures.
    while len(fetch.calls) < 2:
        await asyncio.sleep(0)
    fetch.release.set()
    assert await first == {"a": S, "b": N}
    assert await second == {"b": N, "c": S}
    assert await third == S
    assert fetch.calls == [["a", "b"], ["c"]]


async def test_failed_fetch_answers_unknown_and_is_not_cached():
    cache = CapabilityCache(clock=Clock())

    async def broken(numbers):
        raise ConnectionError("maap down")

    assert await cache.resolve_many(["a", "b"], broken) == {"a": U, "b": U}
    assert cache.get("a") is None and len(cache) == 0


async def test_invalidation_on_capability_failure():
    cache = CapabilityCache(ttl=100, negative_ttl=10, clock=Clock())
    for n in "abc":
        cache.put(n, S)
    cache.note_failed("a", 2)  # not a 5G-message terminal: remember it cannot take RCS
    cache.note_failed("b", 4)  # offline: forget, ask again next time
    cache.invalidate("c")
    assert [cache.get(n) for n in "abc"] == [N, None, None]


def test_bounded_size_evicts_the_oldest_written():
    clock = Clock()
    cache = CapabilityCache(ttl=100, negative_ttl=10, clock=clock, max_entries=10)
    for i in range(5):
        cache.put(f"n{i}", N)
    clock.t += 11
    for i in range(5, 15):
        cache.put(f"n{i}", S)
    assert len(cache) == 10
    assert [cache.get(f"n{i}") for i in range(15)] == [None] * 5 + [S] * 10


# (bound, what is written in order, what the cache holds afterwards, oldest first)
BOUND_CASES = [
    pytest.param(3, ["a", "b", "c"], ["a", "b", "c"], id="exactly full: nothing goes"),
    pytest.param(3, ["a", "b", "c", "d"], ["b", "c", "d"], id="one over: the oldest goes"),
    pytest.param(3, ["a", "b", "c", "d", "e", "f", "g"], ["e", "f", "g"], id="many over: one out per new one"),
    pytest.param(3, ["a", "b", "c", "a", "d"], ["c", "a", "d"], id="a rewrite makes an entry the newest"),
    pytest.param(3, ["a", "b", "c", "c", "c"], ["a", "b", "c"], id="rewriting a present entry evicts nothing"),
    pytest.param(1, ["a", "b"], ["b"], id="a bound of one keeps the newest"),
    pytest.param(0, ["a", "b"], [], id="a bound of zero caches nothing"),
]


@pytest.mark.parametrize(("bound", "writes", "held"), BOUND_CASES)
def test_bound(bound, writes, held):
    cache = CapabilityCache(clock=Clock(), max_entries=bound)
    for n in writes:
        cache.put(n, S)
    assert list(cache._entries) == held
    assert [n for n in "abcdefg" if cache.get(n) is S] == sorted(held)


# (bound, answers the fetch gives, how many stay cached)
FETCH_CASES = [
    pytest.param(4, {"a": S, "b": N, "c": I, "d": S, "e": S, "f": N}, 4, id="a fetch larger than the bound"),
    pytest.param(4, {"a": S, "b": U, "c": U, "d": U, "e": U, "f": S}, 2, id="unknown answers take no room"),
]


@pytest.mark.parametrize(("bound", "answers", "cached"), FETCH_CASES)
async def test_bound_on_a_fetch(bound, answers, cached):
    cache = CapabilityCache(clock=Clock(), max_entries=bound)
    fetch = Fetcher(answers)
    got = await cache.resolve_many(list(answers), fetch)
    assert got == answers  # every caller still gets every answer
    assert len(cache) == cached
    assert list(cache._entries)[-1] == "f"  # the newest kept


def test_unknown_frees_its_entry_and_a_bound_never_evicts_for_it():
    cache = CapabilityCache(clock=Clock(), max_entries=2)
    cache.put("a", S)
    cache.put("b", S)
    cache.put("c", U)
    assert list(cache._entries) == ["a", "b"]
    cache.put("a", U)
    assert list(cache._entries) == ["b"]


def test_eviction_at_a_large_bound_costs_the_same_per_entry():
    """Writes past a full, large cache evict one entry each without rescanning the table: 100,000
    evictions take about as long as 100,000 writes into free room (a plain dict popping its first
    key took minutes for this)."""
    bound = 100_000
    cache = CapabilityCache(clock=Clock(), max_entries=bound)
    t0 = time.perf_counter()
    for i in range(bound):
        cache.put(f"n{i}", S)
    filling = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(bound, 2 * bound):
        cache.put(f"n{i}", S)
    evicting = time.perf_counter() - t0
    assert len(cache) == bound
    assert cache.get(f"n{bound - 1}") is None and cache.get(f"n{2 * bound - 1}") is S
    assert evicting < 5 * filling + 0.5


async def test_key_function_keeps_numbers_out_of_the_table():
    import hashlib
    import hmac

    def blind(number: str) -> str:
        return hmac.new(b"k" * 32, number.encode(), hashlib.sha256).hexdigest()

    cache = CapabilityCache(clock=Clock(), key=blind)
    fetch = Fetcher({"+8613800001231": S, "+8613800001230": N})
    got = await cache.resolve_many(["+8613800001231", "+8613800001230"], fetch)
    assert got == {"+8613800001231": S, "+8613800001230": N}
    assert fetch.calls == [["+8613800001231", "+8613800001230"]]  # the fetch gets real numbers
    assert not any(k.startswith("+") for k in cache._entries)
    assert cache.get("+8613800001231") is S
    cache.note_failed("+8613800001231", 1)
    assert cache.get("+8613800001231") is N
    cache.invalidate("+8613800001231")
    assert cache.get("+8613800001231") is None
