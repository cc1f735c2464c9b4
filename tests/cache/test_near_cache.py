"""L1, the near cache: its bounds, its fences, and the cross-process staleness bound."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from services.runtime import near_cache
from services.runtime.cache import Cache, VersionedCache
from services.runtime.near_cache import ENTRY_OVERHEAD_BYTES, STALENESS_BOUND_SECONDS, NearCache

# The reader process runs this long; the writer's changes fit well inside it.
READER_SECONDS = 3.0
WRITES = 25


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live_cache(max_bytes: int = 10_000, ttl_seconds: float = 60.0) -> tuple[NearCache, Clock]:
    clock = Clock()
    near = NearCache(max_bytes=max_bytes, ttl_seconds=ttl_seconds, clock=clock)
    near.live_until = float("inf")
    return near, clock


def test_a_near_cache_that_has_not_heard_from_redis_serves_nothing() -> None:
    near, _ = live_cache()
    near.put(near.fence("ns", "k"), b"v")
    near.live_until = 0.0
    assert near.get("ns", "k") is None


def test_the_least_recently_used_entry_goes_when_the_bytes_bound_is_passed() -> None:
    entry = 1000
    near, _ = live_cache(max_bytes=3 * (entry + ENTRY_OVERHEAD_BYTES + 3))
    for key in ("a", "b", "c"):
        near.put(near.fence("ns", key), key.encode() * entry)
    assert near.get("ns", "a") is not None  # a is now the most recent
    near.put(near.fence("ns", "d"), b"d" * entry)
    assert near.get("ns", "b") is None
    assert [near.get("ns", key) is not None for key in "acd"] == [True, True, True]
    assert near.bytes_used <= near.max_bytes


def test_an_entry_goes_after_its_ttl() -> None:
    near, clock = live_cache(ttl_seconds=5)
    near.put(near.fence("ns", "k"), b"v")
    clock.now += 5.01
    assert near.get("ns", "k") is None


def test_a_fill_that_raced_an_invalidation_is_not_stored() -> None:
    near, _ = live_cache()
    fence = near.fence("ns", "k")  # a reader starts reading L3 ...
    near.apply(near_cache.invalidation_message("ns", "k"))  # ... a write lands ...
    assert not near.put(fence, b"old")  # ... its old value stays out
    assert near.get("ns", "k") is None


def test_a_namespace_invalidation_retires_its_entries_and_fences_only() -> None:
    near, _ = live_cache()
    near.put(near.fence("listings", "page"), b"old page")
    fence = near.fence("listings", "other")
    near.put(near.fence("titles", "t"), b"title")
    near.apply(near_cache.invalidation_message("listings", None))
    assert near.get("listings", "page") is None
    assert not near.put(fence, b"old")
    assert near.get("titles", "t") == b"title"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    near_cache.attach(client, near_cache.NearCacheSettings())
    yield client
    await near_cache.detach(client)
    await client.aclose()


def layer_count(namespace: str, layer: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "streammesh_cache_layer_requests_total",
        {"namespace": namespace, "layer": layer, "result": result},
    )
    return value or 0.0


async def wait_live(layer: near_cache.Layer) -> None:
    async with asyncio.timeout(5):
        await layer.link.wait_live()


async def test_a_warm_read_is_an_l1_hit_and_each_layer_counts(
    redis: Redis, redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    namespace = request.node.name
    cache = Cache(redis, namespace, prefix=redis_prefix)
    layer = near_cache.layer_for(redis, redis_prefix)
    assert layer is not None
    calls = 0

    async def load() -> bytes:
        nonlocal calls
        calls += 1
        return b"v1"

    assert await cache.get_or_load("k", load) == b"v1"
    await wait_live(layer)
    for _ in range(5):
        assert await cache.get_or_load("k", load) == b"v1"
    assert calls == 1
    # A read while the link's last heartbeat is older than the bound goes to L3
    # (a loaded machine): most, not necessarily all, are L1 hits.
    assert layer_count(namespace, "l1", "hit") >= 3
    assert layer_count(namespace, "l1", "hit") + layer_count(namespace, "l3", "hit") == 5
    assert layer_count(namespace, "l3", "miss") == 1


async def test_the_writers_own_process_reads_its_write_at_once(
    redis: Redis, redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    cache = Cache(redis, request.node.name, prefix=redis_prefix)
    listings = VersionedCache(redis, request.node.name + "-listings", prefix=redis_prefix)
    layer = near_cache.layer_for(redis, redis_prefix)
    assert layer is not None
    store = {"k": b"old", "page": b"old page"}
    assert await cache.get_or_load("k", lambda: _value(store, "k")) == b"old"
    assert await listings.get_or_load("page", lambda: _value(store, "page")) == b"old page"
    await wait_live(layer)
    store.update(k=b"new", page=b"new page")
    await cache.invalidate("k")
    await listings.invalidate_all()
    assert await cache.get_or_load("k", lambda: _value(store, "k")) == b"new"
    assert await listings.get_or_load("page", lambda: _value(store, "page")) == b"new page"


async def _value(store: dict[str, bytes], key: str) -> bytes:
    return store[key]


async def test_a_write_in_one_process_is_never_read_stale_in_another_past_the_bound(
    redis: Redis, redis_url: str, redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    namespace = request.node.name
    writer = Cache(redis, namespace, prefix=redis_prefix)
    await redis.set(redis_prefix + "store", b"0")
    reader = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.cache.near_reader",
        redis_url,
        redis_prefix,
        namespace,
        str(READER_SECONDS),
        stdout=asyncio.subprocess.PIPE,
    )
    assert reader.stdout is not None
    async with asyncio.timeout(15):
        assert (await reader.stdout.readline()).strip() == b"ready"
        written_at: dict[int, float] = {}
        for version in range(1, WRITES + 1):
            await asyncio.sleep(0.05)
            # The write commits (the store), then the writer invalidates.
            await redis.set(redis_prefix + "store", str(version).encode())
            await writer.invalidate("k")
            written_at[version] = time.monotonic()
        output, _ = await reader.communicate()
    lines = output.decode().splitlines()
    summary = json.loads(lines[-1])
    reads = [json.loads(line) for line in lines[:-1]]
    assert reader.returncode == 0
    # The reader really read from its near cache (else the test proves nothing).
    assert summary["l1_hits"] > len(reads) / 2
    worst = 0.0
    for started, _finished, value in reads:
        # The newest write whose invalidate returned more than the bound before this read began.
        due = [v for v, at in written_at.items() if at + STALENESS_BOUND_SECONDS <= started]
        assert int(value) >= max(due, default=0), (started, value)
        # How stale it was in fact: since the write after the value read had returned.
        newer = [at for v, at in written_at.items() if v > int(value) and at <= started]
        worst = max(worst, started - min(newer, default=started))
    print(
        f"reads {len(reads)}, l1 hits {summary['l1_hits']}, worst staleness {worst * 1000:.2f} ms"
    )
