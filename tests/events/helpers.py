"""Producing test events into an outbox and reading them back from a stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from google.protobuf import wrappers_pb2
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.events import streams
from services.events.consumer import ConsumerConfig, ConsumerRunner, Delivery
from services.events.envelope import new_event
from services.events.outbox import outbox_values
from streammesh.events.v1 import event_pb2

# Bound on every "wait until" in these tests (a failure, not a timing claim).
WAIT_SECONDS = 60.0


def item_event(aggregate: str, seq: int) -> event_pb2.Event:
    """Event number ``seq`` of aggregate ``aggregate``; the data is the number."""
    return new_event(
        event_type="test.item.changed",
        data=wrappers_pb2.Int64Value(value=seq),
        source="test",
        aggregate_type="item",
        aggregate_id=aggregate,
    )


def seq_of(event: event_pb2.Event) -> int:
    value = wrappers_pb2.Int64Value()
    event.data.Unpack(value)
    return int(value.value)


async def produce(
    engine: AsyncEngine, table: sa.Table, aggregates: int, per_aggregate: int, start: int = 0
) -> list[event_pb2.Event]:
    """Writes events round-robin over aggregates, one transaction each, as a producer would."""
    events = []
    for seq in range(start, start + per_aggregate):
        for aggregate in range(aggregates):
            event = item_event(f"a{aggregate}", seq)
            async with engine.begin() as conn:
                await conn.execute(sa.insert(table).values(**outbox_values(event)))
            events.append(event)
    return events


async def entries(redis: Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of the stream as (id, fields), oldest first."""
    reply: Any = await redis.xrange(stream, "-", "+")
    return [(entry_id, fields) for entry_id, fields in reply]


async def read_stream(redis: Redis, stream: str) -> list[event_pb2.Event]:
    """Every event in the stream, in stream order (duplicates included)."""
    return [
        event_pb2.Event.FromString(fields[streams.PAYLOAD.encode()])
        for _id, fields in await entries(redis, stream)
    ]


def first_occurrences(events: list[event_pb2.Event]) -> list[event_pb2.Event]:
    """What a deduplicating consumer sees: each event_id once, at its first position."""
    seen: set[str] = set()
    kept = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            kept.append(event)
    return kept


def per_aggregate(events: list[event_pb2.Event]) -> dict[str, list[int]]:
    order: dict[str, list[int]] = {}
    for event in events:
        order.setdefault(event.aggregate_id, []).append(seq_of(event))
    return order


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls ``condition`` for at most WAIT_SECONDS; fails naming ``what``."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up after {WAIT_SECONDS}s waiting for {what}")
        await asyncio.sleep(0.05)


async def consume_aggregate(
    redis: Redis, stream: str, aggregate_id: str, count: int, what: str
) -> list[event_pb2.Event]:
    """The first ``count`` events of one aggregate that a consumer group receives."""
    received: list[event_pb2.Event] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        if event.aggregate_id == aggregate_id:
            received.append(event)

    runner = ConsumerRunner(
        redis, stream, "search", handler, config=ConsumerConfig(block_ms=100, lease_ttl_ms=2_000)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:

        async def enough() -> bool:
            return len(received) >= count

        await wait_until(enough, what)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return received
