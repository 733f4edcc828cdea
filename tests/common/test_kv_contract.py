"""The key-value port's contract, run against both adapters.

The Redis adapter runs against a real server (`redis_target`: a key prefix of the test's own,
cleaned up afterwards); it is skipped when none is configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from common.kv import KeyValueStore
from common.kv.memory import InMemoryKeyValueStore
from tests.support.services import RedisTarget

TTL = 0.3
PAST_TTL = 0.45  # long enough after TTL for Redis's expiry to have happened


@dataclass(frozen=True)
class Target:
    kind: str
    url: str | None = None
    prefix: str = ""


@pytest.fixture(params=["memory", "redis"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "redis":
        t = request.getfixturevalue("redis_target")
        return Target("redis", t.url, t.prefix)
    return Target("memory")


def make_kv(target: Target, prefix: str | None = None) -> KeyValueStore:
    if target.kind == "redis":
        from common.kv.redis import RedisKeyValueStore

        assert target.url is not None
        return RedisKeyValueStore(target.url, prefix=target.prefix if prefix is None else prefix)
    return InMemoryKeyValueStore()


@pytest.fixture
async def kv(target: Target) -> AsyncIterator[KeyValueStore]:
    store = make_kv(target)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


async def test_ping(kv: KeyValueStore) -> None:
    assert await kv.ping() is True


async def test_get_set(kv: KeyValueStore) -> None:
    assert await kv.get("missing") is None
    await kv.set("k", "v1")
    assert await kv.get("k") == "v1"
    await kv.set("k", "v2")
    assert await kv.get("k") == "v2"
    await kv.set("unicode", "grüße ✓")
    assert await kv.get("unicode") == "grüße ✓"
    await kv.set("empty", "")
    assert await kv.get("empty") == ""


async def test_get_many_reads_each_key_in_order(kv: KeyValueStore) -> None:
    await kv.set("a", "1")
    await kv.set("c", "3")
    await kv.set("gone", "x", ttl_seconds=TTL)
    assert await kv.get_many("c", "missing", "a", "c") == ["3", None, "1", "3"]
    assert await kv.get_many() == []
    await asyncio.sleep(PAST_TTL)
    assert await kv.get_many("gone", "a") == [None, "1"]


async def test_set_with_ttl_expires(kv: KeyValueStore) -> None:
    await kv.set("short", "v", ttl_seconds=TTL)
    assert await kv.get("short") == "v"
    left = await kv.ttl("short")
    assert left is not None and 0 < left <= TTL
    await asyncio.sleep(PAST_TTL)
    assert await kv.get("short") is None
    assert await kv.ttl("short") is None


async def test_set_without_ttl_clears_an_earlier_ttl(kv: KeyValueStore) -> None:
    await kv.set("k", "v", ttl_seconds=TTL)
    await kv.set("k", "w")
    assert await kv.ttl("k") is None
    await asyncio.sleep(PAST_TTL)
    assert await kv.get("k") == "w"


async def test_set_with_ttl_in_the_past_leaves_nothing(kv: KeyValueStore) -> None:
    await kv.set("k", "old")
    await kv.set("k", "v", ttl_seconds=0)
    assert await kv.get("k") is None
    await kv.set("k", "v", ttl_seconds=-5)
    assert await kv.get("k") is None


async def test_ttl_none_for_missing_or_no_expiry(kv: KeyValueStore) -> None:
    assert await kv.ttl("missing") is None
    await kv.set("forever", "v")
    assert await kv.ttl("forever") is None
    await kv.set("later", "v", ttl_seconds=60)
    left = await kv.ttl("later")
    assert left is not None and 59 < left <= 60
    assert isinstance(left, float)


async def test_set_if_absent(kv: KeyValueStore) -> None:
    assert await kv.set_if_absent("lock", "first") is True
    assert await kv.set_if_absent("lock", "second") is False
    assert await kv.get("lock") == "first"
    assert await kv.ttl("lock") is None


async def test_set_if_absent_with_ttl(kv: KeyValueStore) -> None:
    assert await kv.set_if_absent("once", "a", ttl_seconds=TTL) is True
    assert await kv.set_if_absent("once", "b", ttl_seconds=TTL) is False
    left = await kv.ttl("once")
    assert left is not None and 0 < left <= TTL
    await asyncio.sleep(PAST_TTL)
    assert await kv.set_if_absent("once", "c", ttl_seconds=TTL) is True
    assert await kv.get("once") == "c"


async def test_set_if_absent_is_exclusive_under_concurrency(kv: KeyValueStore) -> None:
    results = await asyncio.gather(*(kv.set_if_absent("race", str(i)) for i in range(20)))
    assert results.count(True) == 1
    assert await kv.get("race") == str(results.index(True))


async def test_delete(kv: KeyValueStore) -> None:
    await kv.set("a", "1")
    await kv.set("b", "2")
    assert await kv.delete("a", "b", "missing") == 2
    assert await kv.get("a") is None and await kv.get("b") is None
    assert await kv.delete("a") == 0
    assert await kv.delete() == 0


async def test_delete_of_expired_key_counts_nothing(kv: KeyValueStore) -> None:
    await kv.set("gone", "v", ttl_seconds=TTL)
    await asyncio.sleep(PAST_TTL)
    assert await kv.delete("gone") == 0


async def test_incr_counts_from_one(kv: KeyValueStore) -> None:
    assert [await kv.incr("n") for _ in range(3)] == [1, 2, 3]
    assert await kv.get("n") == "3"
    assert await kv.ttl("n") is None


async def test_incr_creates_with_ttl_and_keeps_it(kv: KeyValueStore) -> None:
    assert await kv.incr("hits", ttl_seconds=10) == 1
    first = await kv.ttl("hits")
    assert first is not None and 9 < first <= 10
    await asyncio.sleep(0.05)
    assert await kv.incr("hits", ttl_seconds=100) == 2  # the window is not extended
    second = await kv.ttl("hits")
    assert second is not None and second < first
    assert await kv.incr("hits") == 3
    third = await kv.ttl("hits")
    assert third is not None and third <= second


async def test_incr_window_expires(kv: KeyValueStore) -> None:
    assert await kv.incr("win", ttl_seconds=TTL) == 1
    assert await kv.incr("win", ttl_seconds=TTL) == 2
    await asyncio.sleep(PAST_TTL)
    assert await kv.get("win") is None
    assert await kv.incr("win", ttl_seconds=TTL) == 1
    left = await kv.ttl("win")
    assert left is not None and 0 < left <= TTL


async def test_incr_gives_a_ttl_to_a_counter_without_one(kv: KeyValueStore) -> None:
    """EXPIRE NX semantics: a counter left without expiry gets one on the next increment."""
    await kv.set("legacy", "5")
    assert await kv.incr("legacy", ttl_seconds=10) == 6
    left = await kv.ttl("legacy")
    assert left is not None and 9 < left <= 10


async def test_incr_is_atomic_under_concurrency(kv: KeyValueStore) -> None:
    results = await asyncio.gather(*(kv.incr("c", ttl_seconds=30) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    left = await kv.ttl("c")
    assert left is not None and left <= 30


async def test_incr_on_a_non_integer_raises(kv: KeyValueStore) -> None:
    await kv.set("text", "abc")
    with pytest.raises(ValueError):
        await kv.incr("text")
    assert await kv.get("text") == "abc"


# ---------------------------------------------------------------- adapter specifics


async def test_redis_prefix_isolates_stores(redis_target: RedisTarget) -> None:
    target = Target("redis", redis_target.url, redis_target.prefix)
    one = make_kv(target, prefix=f"{target.prefix}one:")
    two = make_kv(target, prefix=f"{target.prefix}two:")
    try:
        await one.set("shared", "1")
        assert await two.get("shared") is None
        assert await two.set_if_absent("shared", "2") is True
        assert (await one.get("shared"), await two.get("shared")) == ("1", "2")
    finally:
        await one.close()
        await two.close()


async def test_memory_sweep_drops_expired_keys() -> None:
    now = [1000.0]
    kv = InMemoryKeyValueStore(clock=lambda: now[0])
    for i in range(2000):
        await kv.set(f"tmp{i}", "v", ttl_seconds=1)
    await kv.set("keep", "v")
    now[0] += 2
    # nobody reads the expired keys again; writes alone must keep the store from growing
    for i in range(2100):
        await kv.set(f"new{i % 10}", "v", ttl_seconds=100)
    assert len(kv) == 11
    assert await kv.get("keep") == "v"


async def test_memory_sweep_runs_after_a_while_even_with_few_writes() -> None:
    now = [0.0]
    kv = InMemoryKeyValueStore(clock=lambda: now[0])
    for i in range(10):
        await kv.set(f"tmp{i}", "v", ttl_seconds=1)
    now[0] += 61
    await kv.set("other", "v")
    assert len(kv) == 1
