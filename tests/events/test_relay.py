"""The relay against real Redis and real outbox tables (SQLite and MariaDB)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from redis.asyncio import Redis

from services.events import streams
from services.events.outbox import OutboxRow, SqlOutboxSource
from services.events.relay import Relay, RelayConfig
from tests.events.conftest import Outbox
from tests.events.helpers import (
    entries,
    first_occurrences,
    per_aggregate,
    produce,
    read_stream,
    wait_until,
)


async def _unpublished(outbox: Outbox) -> int:
    async with outbox.engine.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).where(outbox.table.c.published_at.is_(None))
        )
    return int(count or 0)


async def test_rows_are_published_in_outbox_order_and_stamped(
    outbox: Outbox, redis: Redis, stream: str
) -> None:
    events = await produce(outbox.engine, outbox.table, aggregates=3, per_aggregate=10)
    source = SqlOutboxSource(outbox.engine, outbox.table, name="test")
    relay = Relay(source, redis, stream, RelayConfig(batch_size=7))

    assert await relay.drain(max_batches=100) == 30

    published = await read_stream(redis, stream)
    assert [event.event_id for event in published] == [event.event_id for event in events]
    assert await _unpublished(outbox) == 0
    (_entry_id, fields), *_ = await entries(redis, stream)
    assert fields[b"event_id"] == events[0].event_id.encode()
    assert fields[b"aggregate_id"] == b"a0"
    assert fields[b"event_type"] == b"test.item.changed"


async def test_only_the_lease_holder_publishes(outbox: Outbox, redis: Redis, stream: str) -> None:
    await produce(outbox.engine, outbox.table, aggregates=1, per_aggregate=5)
    source = SqlOutboxSource(outbox.engine, outbox.table, name="test")
    leader = Relay(source, redis, stream)
    standby = Relay(source, redis, stream)

    assert await leader.step() == 5
    await produce(outbox.engine, outbox.table, aggregates=1, per_aggregate=5, start=5)
    assert await standby.step() == 0
    assert not standby.is_leader
    assert await _unpublished(outbox) == 5

    # A released lease (the leader stopped) is taken over at once.
    await redis.delete(streams.relay_lease_key(stream, "test"))
    assert await standby.step() == 5
    order = per_aggregate(first_occurrences(await read_stream(redis, stream)))
    assert order == {"a0": list(range(10))}


async def test_a_relay_that_lost_its_lease_writes_nothing(
    outbox: Outbox, redis: Redis, stream: str
) -> None:
    await produce(outbox.engine, outbox.table, aggregates=1, per_aggregate=3)
    source = SqlOutboxSource(outbox.engine, outbox.table, name="test")
    stale = Relay(source, redis, stream)
    assert await stale.step() == 3
    await produce(outbox.engine, outbox.table, aggregates=1, per_aggregate=3, start=3)
    # Another relay took the lease while this one was paused.
    await redis.set(streams.relay_lease_key(stream, "test"), "someone-else")

    assert await stale.step() == 0
    assert not stale.is_leader
    assert await redis.xlen(stream) == 3
    assert await _unpublished(outbox) == 3


async def test_the_stream_is_trimmed_to_its_retention(
    outbox: Outbox, redis: Redis, stream: str
) -> None:
    await produce(outbox.engine, outbox.table, aggregates=1, per_aggregate=300)
    source = SqlOutboxSource(outbox.engine, outbox.table, name="test")
    relay = Relay(source, redis, stream, RelayConfig(batch_size=100, stream_maxlen=50))
    await relay.drain(max_batches=10)
    # MAXLEN ~ trims whole macro nodes (100 entries by default), so "about 50".
    assert await redis.xlen(stream) < 300
    assert await redis.xlen(stream) >= 50


async def test_rows_published_since_a_moment_can_be_requeued_and_old_ones_purged(
    outbox: Outbox, redis: Redis, stream: str
) -> None:
    await produce(outbox.engine, outbox.table, aggregates=2, per_aggregate=3)
    source = SqlOutboxSource(outbox.engine, outbox.table, name="test")
    before = datetime.now(UTC)
    await Relay(source, redis, stream).drain(max_batches=5)

    assert await source.unpublish_since(before) == 6
    assert await _unpublished(outbox) == 6
    rows = await source.fetch_unpublished(100)
    assert [(row.aggregate_id, row.event_type) for row in rows[:2]] == [
        ("a0", "test.item.changed"),
        ("a1", "test.item.changed"),
    ]

    await source.mark_published([row.event_id for row in rows], before - timedelta(days=8))
    assert await source.purge_published(datetime.now(UTC) - timedelta(days=7), limit=4) == 4
    assert await source.purge_published(datetime.now(UTC) - timedelta(days=7), limit=4) == 2
    assert await source.fetch_unpublished(100) == []


class FlakySource:
    """The real outbox source, failing its first read the way a driver would."""

    def __init__(self, source: SqlOutboxSource, error: Exception) -> None:
        self._source = source
        self._error: Exception | None = error
        self.name = source.name

    async def fetch_unpublished(self, limit: int) -> Sequence[OutboxRow]:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return await self._source.fetch_unpublished(limit)

    async def mark_published(self, event_ids: Sequence[str], published_at: datetime) -> None:
        await self._source.mark_published(event_ids, published_at)

    async def unpublish_since(self, since: datetime) -> int:
        return await self._source.unpublish_since(since)

    async def purge_published(self, before: datetime, limit: int) -> int:
        return await self._source.purge_published(before, limit)


async def test_the_relay_outlives_an_outage_of_its_source(
    outbox: Outbox, redis: Redis, stream: str
) -> None:
    await produce(outbox.engine, outbox.table, aggregates=1, per_aggregate=4)
    # What the Cassandra driver raises when the node is down: not an SQL error.
    flaky = FlakySource(
        SqlOutboxSource(outbox.engine, outbox.table, name="test"),
        RuntimeError("NoHostAvailable: 127.0.0.1:9042 refused"),
    )
    relay = Relay(flaky, redis, stream, RelayConfig(idle_poll_seconds=0.01))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:

        async def published() -> bool:
            return await redis.exists(stream) > 0 and await redis.xlen(stream) == 4

        await wait_until(published, "the relay to publish after the outage")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert await _unpublished(outbox) == 0
