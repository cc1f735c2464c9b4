"""What L1 saves per read: the same warm key through Cache with and without the near cache.

In one process against the Redis of ``--redis`` (``make infra-up``'s by
default): ``--reads`` sequential warm reads of one 1 KiB entry, then the
same with ``--concurrency`` readers; prints reads per second and the mean
cost of a read, L3 only (a Redis round trip each) against L1 (a dict
lookup while the invalidation link is live). Bounded by ``--reads``.

    .venv/bin/python -m bench.near_cache_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from redis.asyncio import Redis

from services.runtime import near_cache
from services.runtime.cache import Cache

VALUE = b"x" * 1024


async def rate(cache: Cache, reads: int, concurrency: int) -> float:
    async def load() -> bytes:
        return VALUE

    await cache.get_or_load("warm", load)
    per_reader = reads // concurrency

    async def reader() -> None:
        for _ in range(per_reader):
            await cache.get_or_load("warm", load)

    started = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(concurrency)))
    return per_reader * concurrency / (time.perf_counter() - started)


async def main(url: str, reads: int, concurrency: int) -> None:
    prefix = f"bench:near:{os.getpid()}:"
    plain = Redis.from_url(url)
    near = Redis.from_url(url)
    near_cache.attach(near, near_cache.NearCacheSettings())
    try:
        redis_only = Cache(plain, "bench", prefix=prefix)
        l1 = Cache(near, "bench", prefix=prefix)
        layer = near_cache.layer_for(near, prefix)
        assert layer is not None
        await l1.get_or_load("warm", lambda: asyncio.sleep(0, VALUE))
        async with asyncio.timeout(10):
            await layer.link.wait_live()
        print(f"{'reads of one warm 1 KiB key':<34}{'reads/s':>10}{'us/read':>10}")
        for readers in (1, concurrency):
            for name, cache in (("L3 only (Redis)", redis_only), ("L1 near cache", l1)):
                per_second = await rate(cache, reads, readers)
                label = f"{name}, {readers} reader{'s' if readers > 1 else ''}"
                print(f"{label:<34}{per_second:>10.0f}{1e6 / per_second:>10.1f}")
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        await near_cache.detach(near)
        await plain.delete(f"{prefix}cache:bench:warm")
        await plain.aclose()
        await near.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.redis, args.reads, args.concurrency))
