"""What a SIGKILLed Redis loses of a burst of acknowledged writes (AOF, ``everysec``).

``appendfsync everysec`` writes every command to the AOF (the kernel's page
cache) before it answers, and fsyncs once a second. So a killed *process*
loses nothing it acknowledged: the page cache outlives it. What it can lose
is the last second (two, when an fsync is slow) on a *machine* crash or
power cut, before the page cache reaches the disk. The relay closes that
window for the event streams: it keeps every row in the owning database's
outbox and, seeing Redis' run_id change, publishes the last
``redis_loss_window_seconds`` (5 s) again (consumers dedupe on event_id);
tests/events/test_redis_restart.py drops the AOF's tail to prove it.

This test measures the process-crash half: writers XADD as fast as they can,
Redis is SIGKILLed mid-burst and started again, and every acknowledged entry
is looked for.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.events.conftest import PrivateRedis

WRITERS = 8
# The burst: each writer's bound; the kill comes after KILL_AFTER acknowledged.
MAX_PER_WRITER = 5_000
KILL_AFTER = 3_000
STREAM = "chaos.durability"


async def test_a_sigkilled_redis_keeps_every_acknowledged_write(
    private_redis: PrivateRedis,
) -> None:
    acknowledged: set[str] = set()
    failed = 0
    enough = asyncio.Event()

    async def writer(number: int) -> None:
        nonlocal failed
        client = Redis.from_url(private_redis.url, socket_timeout=2)
        try:
            for n in range(MAX_PER_WRITER):
                try:
                    entry = await client.xadd(STREAM, {"writer": number, "n": n})
                except (RedisError, OSError):
                    failed += 1
                    return  # the server is gone: the burst is over for this writer
                acknowledged.add(entry.decode() if isinstance(entry, bytes) else entry)
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()
        finally:
            await client.aclose()

    writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    await asyncio.wait_for(enough.wait(), 60)
    killed_at = time.monotonic()
    await private_redis.kill()
    await asyncio.gather(*writers)
    await private_redis.start()
    restarted_in = time.monotonic() - killed_at

    client = Redis.from_url(private_redis.url, socket_timeout=10)
    try:
        reply: Any = await client.xrange(STREAM, "-", "+")
        stored = {entry.decode() for entry, _ in reply}
    finally:
        await client.aclose()
    lost = acknowledged - stored
    print(
        f"\nRedis SIGKILL mid-burst: {len(acknowledged)} writes acknowledged, {len(lost)} lost, "
        f"{len(stored) - len(acknowledged)} applied without an answer, {failed} writers cut off; "
        f"back in {restarted_in:.2f} s"
    )
    assert lost == set()
