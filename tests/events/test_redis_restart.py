"""A Redis SIGKILLed and restarted (AOF on, fsync every second) under load loses no event.

Runs on a private redis-server, since killing the shared one would break
every other test running at the time.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.events import streams
from services.events.consumer import ConsumerConfig, ConsumerRunner, Delivery
from services.events.dedupe import SqlProcessedEvents
from services.events.outbox import SqlOutboxSource
from services.events.relay import Relay, RelayConfig
from streammesh.events.v1 import event_pb2
from tests.events import consumer_proc
from tests.events.conftest import Outbox, PrivateRedis
from tests.events.helpers import produce, read_stream, seq_of, wait_until

AGGREGATES = 4
PER_AGGREGATE = 60
KILL_AFTER_EFFECTS = 80


@pytest_asyncio.fixture
async def effects_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'effects.db'}")
    metadata = sa.MetaData()
    consumer_proc.tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_no_event_is_lost_when_redis_is_killed_and_restarted(
    outbox: Outbox, private_redis: PrivateRedis, effects_engine: AsyncEngine
) -> None:
    stream = streams.stream_name("users")
    effects, processed_table = consumer_proc.tables(sa.MetaData())
    processed = SqlProcessedEvents(effects_engine, processed_table, "g")

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        async with effects_engine.begin() as conn:
            if await processed.record(conn, event.event_id):
                await conn.execute(
                    sa.insert(effects).values(
                        event_id=event.event_id, aggregate_id=event.aggregate_id, seq=seq_of(event)
                    )
                )

    async def handled() -> list[tuple[str, int]]:
        async with effects_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(effects.c.aggregate_id, effects.c.seq).order_by(effects.c.id)
            )
            return [(row.aggregate_id, row.seq) for row in rows]

    redis = Redis.from_url(private_redis.url, socket_timeout=5)
    relay = Relay(
        SqlOutboxSource(outbox.engine, outbox.table, name="users"),
        redis,
        stream,
        RelayConfig(batch_size=10, idle_poll_seconds=0.01, lease_ttl_ms=2_000),
    )
    consumer = ConsumerRunner(
        redis,
        stream,
        "g",
        handler,
        config=ConsumerConfig(
            read_count=10, block_ms=100, claim_idle_ms=300, lease_ttl_ms=2_000, max_deliveries=50
        ),
        dedupe=processed,
    )
    stop = asyncio.Event()
    running = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    writer = asyncio.create_task(produce(outbox.engine, outbox.table, AGGREGATES, PER_AGGREGATE))
    try:

        async def under_way() -> bool:
            return len(await handled()) >= KILL_AFTER_EFFECTS

        await wait_until(under_way, f"{KILL_AFTER_EFFECTS} effects before the crash")
        await private_redis.kill()
        await asyncio.sleep(0.5)
        await private_redis.start()
        await writer

        async def all_handled() -> bool:
            return len(await handled()) >= AGGREGATES * PER_AGGREGATE

        await wait_until(all_handled, "every event handled after the restart")
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*running, writer, return_exceptions=True), 30)
        await redis.aclose()

    done = await handled()
    assert len(done) == len(set(done)) == AGGREGATES * PER_AGGREGATE
    for aggregate in range(AGGREGATES):
        seqs = [seq for agg, seq in done if agg == f"a{aggregate}"]
        assert seqs == list(range(PER_AGGREGATE))


async def test_a_redis_that_comes_back_without_its_last_writes_gets_them_again(
    outbox: Outbox, private_redis: PrivateRedis
) -> None:
    stream = streams.stream_name("users")
    redis = Redis.from_url(private_redis.url, socket_timeout=5)
    relay = Relay(SqlOutboxSource(outbox.engine, outbox.table, name="users"), redis, stream)
    try:
        events = await produce(outbox.engine, outbox.table, aggregates=2, per_aggregate=5)
        assert await relay.drain(max_batches=5) == 10
        # The worst case of `appendfsync everysec`: the crash takes the
        # unflushed tail of the AOF, here all of it.
        await private_redis.kill()
        shutil.rmtree(private_redis.workdir / "appendonlydir")
        await private_redis.start()
        # Pooled connections died with the server; Relay.run would retry past
        # them, drain() is one straight pass.
        await redis.connection_pool.disconnect()
        assert await redis.exists(stream) == 0

        assert await relay.drain(max_batches=5) == 10
        republished = await read_stream(redis, stream)
        assert [e.event_id for e in republished] == [e.event_id for e in events]
    finally:
        await redis.aclose()
