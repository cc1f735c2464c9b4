"""A second process for the near-cache tests: reads one key through its own L1.

``python -m tests.cache.near_reader REDIS_URL PREFIX NAMESPACE SECONDS`` prints
``ready`` once its near cache serves, then one JSON line per read
(``[started, finished, value]`` on the system-wide monotonic clock), and at the
end ``{"l1_hits": n}``. The "store" it loads from is the Redis key
``PREFIX + "store"``, which the test's writer changes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from redis.asyncio import Redis

from services.runtime import near_cache
from services.runtime.cache import Cache

# Bounded: the reader stops after SECONDS, and sleeps this long between reads.
READ_PAUSE_SECONDS = 0.001


async def main(url: str, prefix: str, namespace: str, seconds: float) -> None:
    redis = Redis.from_url(url)
    near_cache.attach(redis, near_cache.NearCacheSettings())
    cache = Cache(redis, namespace, prefix=prefix)
    layer = near_cache.layer_for(redis, prefix)
    assert layer is not None

    async def load() -> bytes | None:
        value = await redis.get(prefix + "store")
        return value.encode() if isinstance(value, str) else value

    await cache.get_or_load("k", load)
    async with asyncio.timeout(10):
        await layer.link.wait_live()
    print("ready", flush=True)
    hits = 0
    # Kept until the end: printing each read would block on a full pipe.
    reads: list[tuple[float, float, str]] = []
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        started = time.monotonic()
        cached = layer.near.get(namespace, "k") is not None
        value = await cache.get_or_load("k", load)
        hits += cached
        reads.append((started, time.monotonic(), (value or b"").decode()))
        await asyncio.sleep(READ_PAUSE_SECONDS)
    for read in reads:
        print(json.dumps(read))
    print(json.dumps({"l1_hits": hits}), flush=True)
    await near_cache.detach(redis)
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
