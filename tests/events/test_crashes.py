"""Crashes: a relay SIGKILLed mid-batch, a consumer SIGKILLed before its ack.

Both run as real processes (``streammesh events relay`` and a consumer
script) against the real Redis and real SQLite/MariaDB outboxes.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from services.events import streams
from tests.events import consumer_proc
from tests.events.conftest import Outbox
from tests.events.helpers import (
    WAIT_SECONDS,
    entries,
    first_occurrences,
    item_event,
    per_aggregate,
    produce,
    read_stream,
    wait_until,
)
from tests.events.test_consumer import publish

ROOT = Path(__file__).resolve().parents[2]
RELAY_KILLS = 4
EVENTS_PER_ROUND = 4 * 25  # 4 aggregates x 25


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )


async def _started(process: asyncio.subprocess.Process) -> None:
    """Waits for the relay's first line: its signal handlers are in place."""
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT_SECONDS)
    assert b"relaying outbox" in line


async def _relay(
    outbox: Outbox, redis_url: str, prefix: str, domain: str
) -> asyncio.subprocess.Process:
    process = await _spawn(
        "-m",
        "services.cli",
        "events",
        "--redis-url",
        redis_url,
        "--prefix",
        prefix,
        "relay",
        "--sql-url",
        outbox.url,
        "--table",
        outbox.table.name,
        "--domain",
        domain,
        "--batch-size",
        "5",
        "--lease-ttl-ms",
        "1000",
    )
    await _started(process)
    return process


async def _unpublished(outbox: Outbox) -> int:
    async with outbox.engine.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).where(outbox.table.c.published_at.is_(None))
        )
    return int(count or 0)


async def test_a_relay_killed_mid_batch_loses_and_reorders_nothing(
    outbox: Outbox, redis: Redis, redis_url: str, redis_prefix: str, domain: str, stream: str
) -> None:
    produced = []
    for round_number in range(RELAY_KILLS):
        relay = await _relay(outbox, redis_url, redis_prefix, domain)
        start_length = await redis.xlen(stream) if await redis.exists(stream) else 0
        writer = asyncio.create_task(
            produce(outbox.engine, outbox.table, 4, 25, start=round_number * 25)
        )

        async def publishing(since: int = start_length) -> bool:
            return await redis.exists(stream) > 0 and await redis.xlen(stream) > since

        await wait_until(publishing, "the relay to publish")
        await asyncio.sleep(random.uniform(0, 0.05))
        relay.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(relay.wait(), WAIT_SECONDS) == -signal.SIGKILL
        produced += await writer

    relay = await _relay(outbox, redis_url, redis_prefix, domain)
    try:

        async def all_published() -> bool:
            return await _unpublished(outbox) == 0

        await wait_until(all_published, "the restarted relay to drain the outbox")
    finally:
        relay.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(relay.wait(), WAIT_SECONDS) == 0

    everything = await read_stream(redis, stream)
    delivered = first_occurrences(everything)
    assert sorted(e.event_id for e in delivered) == sorted(e.event_id for e in produced)
    expected = {f"a{n}": list(range(RELAY_KILLS * 25)) for n in range(4)}
    assert per_aggregate(delivered) == expected


@pytest_asyncio.fixture
async def effects_db(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "effects.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    metadata = sa.MetaData()
    consumer_proc.tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    yield path


async def _effects(db: Path) -> list[tuple[str, int]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{db}")
    effects, _ = consumer_proc.tables(sa.MetaData())
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(effects.c.aggregate_id, effects.c.seq).order_by(effects.c.id)
        )
        found = [(row.aggregate_id, row.seq) for row in rows]
    await engine.dispose()
    return found


@pytest.mark.parametrize("kill_when", ["before_effect", "after_effect"])
async def test_a_consumer_killed_before_its_ack_gets_the_entry_again_and_acts_once(
    redis: Redis, redis_url: str, stream: str, effects_db: Path, kill_when: str
) -> None:
    events = [item_event(f"a{a}", seq) for seq in range(15) for a in range(2)]
    await publish(redis, stream, events)
    consumer = ["-m", "tests.events.consumer_proc", redis_url, stream, "g", str(effects_db)]

    crashing = await _spawn(*consumer, "--kill-at", "a0:5", "--kill-when", kill_when)
    assert await asyncio.wait_for(crashing.wait(), WAIT_SECONDS) == -signal.SIGKILL
    handled_before = await _effects(effects_db)
    assert (("a0", 5) in handled_before) == (kill_when == "after_effect")
    assert ("a0", 6) not in handled_before  # a0 was blocked behind the crash

    survivor = await _spawn(*consumer)
    try:

        async def all_handled() -> bool:
            return len(await _effects(effects_db)) >= len(events)

        await wait_until(all_handled, "the survivor to handle every event")

        async def all_acked() -> bool:
            return (await redis.xpending(stream, "g"))["pending"] == 0

        await wait_until(all_acked, "every entry acked")
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(survivor.wait(), WAIT_SECONDS) == 0

    handled = await _effects(effects_db)
    assert len(handled) == len(set(handled)) == len(events)
    for aggregate in ("a0", "a1"):
        assert [seq for agg, seq in handled if agg == aggregate] == list(range(15))


async def test_an_event_that_crashes_every_consumer_is_dead_lettered_after_n_deliveries(
    redis: Redis, redis_url: str, stream: str, effects_db: Path
) -> None:
    events = [item_event("a0", seq) for seq in range(4)]
    await publish(redis, stream, events)
    consumer = ["-m", "tests.events.consumer_proc", redis_url, stream, "g", str(effects_db)]
    crashing = [*consumer, "--kill-at", "a0:1", "--kill-when", "before_effect"]

    for _ in range(2):  # deliveries 1 and 2 each take a consumer down
        process = await _spawn(*crashing, "--max-deliveries", "2")
        assert await asyncio.wait_for(process.wait(), WAIT_SECONDS) == -signal.SIGKILL

    # Delivery 3 exceeds the bound: dead-lettered without running the handler.
    survivor = await _spawn(*crashing, "--max-deliveries", "2")
    try:

        async def all_done() -> bool:
            return len(await _effects(effects_db)) == 3

        await wait_until(all_done, "the other events handled")
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(survivor.wait(), WAIT_SECONDS) == 0

    assert await _effects(effects_db) == [("a0", 0), ("a0", 2), ("a0", 3)]
    ((_id, dead),) = await entries(redis, streams.dlq_name(stream))
    assert dead[b"event_id"] == events[1].event_id.encode()
    assert b"without an ack" in dead[b"error"]
    assert dead[b"deliveries"] == b"3"
