"""Cache-aside against a real Redis: hits, stampedes, invalidation races, outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from services.runtime.cache import DEFAULT_TTL_SECONDS, Cache, VersionedCache
from tests.events.conftest import PrivateRedis


class CountingLoader:
    """A store stand-in that counts how often the cache falls through to it."""

    def __init__(self, value: bytes | None, delay: float = 0.0) -> None:
        self.value = value
        self.delay = delay
        self.calls = 0

    async def __call__(self) -> bytes | None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.value


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def cache(redis: Redis, redis_prefix: str, request: pytest.FixtureRequest) -> Cache:
    # A namespace per test keeps counters and keys apart.
    return Cache(redis, request.node.name, prefix=redis_prefix)


def _count(namespace: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "streammesh_cache_requests_total", {"namespace": namespace, "result": result}
    )
    return value or 0.0


async def test_a_miss_loads_once_and_the_next_read_is_a_hit(cache: Cache) -> None:
    loader = CountingLoader(b"profile-7")
    assert await cache.get_or_load("7", loader) == b"profile-7"
    assert await cache.get_or_load("7", loader) == b"profile-7"
    assert loader.calls == 1


async def test_entries_expire_after_the_case_study_ttl(
    cache: Cache, redis: Redis, redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    await cache.get_or_load("ttl", CountingLoader(b"v"))
    ttl_ms = await redis.pttl(f"{redis_prefix}cache:{request.node.name}:ttl")
    assert 0 < ttl_ms <= DEFAULT_TTL_SECONDS * 1000


async def test_a_stampede_on_one_key_runs_one_loader(cache: Cache) -> None:
    loader = CountingLoader(b"hot", delay=0.05)
    results = await asyncio.gather(*(cache.get_or_load("hot", loader) for _ in range(50)))
    assert results == [b"hot"] * 50
    assert loader.calls == 1


async def test_two_processes_missing_together_load_once(
    redis: Redis, redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    # Two Cache objects share nothing in memory, like two worker processes.
    first = Cache(redis, request.node.name, prefix=redis_prefix)
    second = Cache(redis, request.node.name, prefix=redis_prefix)
    loader = CountingLoader(b"shared", delay=0.1)
    results = await asyncio.gather(first.get_or_load("k", loader), second.get_or_load("k", loader))
    assert results == [b"shared", b"shared"]
    assert loader.calls == 1


async def test_invalidate_makes_the_next_read_load_the_new_value(cache: Cache) -> None:
    await cache.get_or_load("p", CountingLoader(b"old"))
    await cache.invalidate("p")
    fresh = CountingLoader(b"new")
    assert await cache.get_or_load("p", fresh) == b"new"
    assert fresh.calls == 1


async def test_a_read_that_raced_a_write_does_not_put_the_old_value_back(cache: Cache) -> None:
    store = {"row": b"old"}
    read_done = asyncio.Event()
    write_done = asyncio.Event()

    async def slow_read() -> bytes | None:
        value = store["row"]  # reads the old row ...
        read_done.set()
        await write_done.wait()  # ... and is overtaken by a writer
        return value

    reader = asyncio.create_task(cache.get_or_load("row", slow_read))
    await read_done.wait()
    store["row"] = b"new"
    await cache.invalidate("row")
    write_done.set()
    assert await reader == b"old"  # that caller saw the pre-write state
    assert await cache.get_or_load("row", CountingLoader(store["row"])) == b"new"


async def test_not_found_is_passed_through_and_not_cached(cache: Cache) -> None:
    loader = CountingLoader(None)
    assert await cache.get_or_load("gone", loader) is None
    assert await cache.get_or_load("gone", loader) is None
    assert loader.calls == 2


async def test_hits_and_misses_are_counted(cache: Cache, request: pytest.FixtureRequest) -> None:
    loader = CountingLoader(b"x")
    await cache.get_or_load("c", loader)
    await cache.get_or_load("c", loader)
    await cache.get_or_load("c", loader)
    assert _count(request.node.name, "miss") == 1
    assert _count(request.node.name, "hit") == 2


async def test_redis_down_serves_from_the_store(unused_tcp_port: int) -> None:
    dead = Redis(host="127.0.0.1", port=unused_tcp_port, socket_connect_timeout=0.2)
    cache = Cache(dead, "outage")
    loader = CountingLoader(b"from-store")
    assert await cache.get_or_load("k", loader) == b"from-store"
    assert _count("outage", "error") >= 1
    await dead.aclose()


@pytest.fixture
def listings(redis: Redis, redis_prefix: str, request: pytest.FixtureRequest) -> VersionedCache:
    return VersionedCache(redis, request.node.name, prefix=redis_prefix)


async def test_a_versioned_entry_is_loaded_once_then_hit(listings: VersionedCache) -> None:
    loader = CountingLoader(b"page-1")
    assert await listings.get_or_load("US|PG", loader) == b"page-1"
    assert await listings.get_or_load("US|PG", loader) == b"page-1"
    assert loader.calls == 1


async def test_invalidate_all_retires_every_entry_of_the_namespace(
    listings: VersionedCache,
) -> None:
    await listings.get_or_load("US|PG", CountingLoader(b"old us"))
    await listings.get_or_load("GB|R", CountingLoader(b"old gb"))
    await listings.invalidate_all()
    assert await listings.get_or_load("US|PG", CountingLoader(b"new us")) == b"new us"
    assert await listings.get_or_load("GB|R", CountingLoader(b"new gb")) == b"new gb"


async def test_a_fill_that_raced_invalidate_all_is_never_read(listings: VersionedCache) -> None:
    read_done, write_done = asyncio.Event(), asyncio.Event()

    async def slow_read() -> bytes | None:
        read_done.set()
        await write_done.wait()
        return b"before the write"

    reader = asyncio.create_task(listings.get_or_load("page", slow_read))
    await read_done.wait()
    await listings.invalidate_all()
    write_done.set()
    assert await reader == b"before the write"
    assert await listings.get_or_load("page", CountingLoader(b"after")) == b"after"


async def test_an_invalidation_caught_by_a_redis_restart_still_lands(tmp_path: Path) -> None:
    # The write has committed when it invalidates; an invalidation lost to a
    # Redis restart left the old value readable for a TTL after the write was
    # acknowledged (the chaos suite read an acknowledged rename back stale).
    server = PrivateRedis(tmp_path)
    await server.start()
    client = Redis.from_url(server.url, socket_connect_timeout=0.5)
    try:
        cache = Cache(client, "restart", prefix="restart:")
        assert await cache.get_or_load("p", CountingLoader(b"old")) == b"old"
        await asyncio.sleep(1.5)  # the fill is in the AOF (everysec), as in production
        await server.kill()

        async def restart_soon() -> None:
            await asyncio.sleep(0.5)
            await server.start()

        restarting = asyncio.create_task(restart_soon())
        await cache.invalidate("p")  # Redis is down when this begins
        await restarting
        assert await cache.get_or_load("p", CountingLoader(b"new")) == b"new"
    finally:
        await client.aclose()
        await server.kill()
