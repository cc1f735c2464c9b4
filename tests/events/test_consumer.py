"""Consumer groups against a real Redis: order per aggregate, retries, dead letters, dedupe, lag."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from services.events import streams
from services.events.consumer import ConsumerConfig, ConsumerRunner, Delivery, update_lag_metrics
from services.events.envelope import InvalidEvent
from services.runtime.errors import Unavailable
from streammesh.events.v1 import event_pb2
from tests.events.helpers import entries, item_event, seq_of, wait_until

FAST = ConsumerConfig(
    read_count=10,
    block_ms=100,
    max_concurrency=8,
    max_deliveries=3,
    retry_backoff_seconds=0.01,
    max_retry_backoff_seconds=0.05,
    claim_idle_ms=200,
    lease_ttl_ms=1_000,
    metrics_interval_seconds=0.1,
)

Handler = Callable[[event_pb2.Event, Delivery], Awaitable[None]]


async def publish(redis: Redis, stream: str, events: list[event_pb2.Event]) -> None:
    """Appends entries as the relay does."""
    for event in events:
        await redis.xadd(
            stream,
            {
                streams.EVENT_ID: event.event_id,
                streams.EVENT_TYPE: event.event_type,
                streams.AGGREGATE_TYPE: event.aggregate_type,
                streams.AGGREGATE_ID: event.aggregate_id,
                streams.PAYLOAD: event.SerializeToString(),
            },
        )


@contextlib.asynccontextmanager
async def running(
    redis: Redis, stream: str, handler: Handler, config: ConsumerConfig = FAST, group: str = "g"
) -> AsyncIterator[ConsumerRunner]:
    runner = ConsumerRunner(redis, stream, group, handler, config=config)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def interleaved(aggregates: int, per_aggregate: int) -> list[event_pb2.Event]:
    return [
        item_event(f"a{aggregate}", seq)
        for seq in range(per_aggregate)
        for aggregate in range(aggregates)
    ]


async def test_events_of_one_aggregate_are_handled_in_order_while_aggregates_overlap(
    redis: Redis, stream: str
) -> None:
    seen: dict[str, list[int]] = {}
    running_now: Counter[str] = Counter()
    overlap = {"aggregates": 0, "same_aggregate": 0}

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        running_now[event.aggregate_id] += 1
        overlap["same_aggregate"] = max(overlap["same_aggregate"], running_now[event.aggregate_id])
        busy = sum(1 for n in running_now.values() if n)
        overlap["aggregates"] = max(overlap["aggregates"], busy)
        await asyncio.sleep(random.uniform(0, 0.003))
        seen.setdefault(event.aggregate_id, []).append(seq_of(event))
        running_now[event.aggregate_id] -= 1

    await publish(redis, stream, interleaved(aggregates=6, per_aggregate=25))
    async with running(redis, stream, handler):

        async def all_seen() -> bool:
            return sum(len(v) for v in seen.values()) == 150

        await wait_until(all_seen, "150 events handled")

    assert seen == {f"a{n}": list(range(25)) for n in range(6)}
    assert overlap["same_aggregate"] == 1
    assert overlap["aggregates"] > 1  # the order is kept without serialising everything


async def test_a_poison_event_is_dead_lettered_after_n_tries_and_later_events_flow(
    redis: Redis, stream: str
) -> None:
    handled: list[tuple[str, int]] = []
    tries: list[int] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        if (event.aggregate_id, seq_of(event)) == ("a0", 3):
            tries.append(delivery.deliveries)
            raise InvalidEvent("profile 3 does not exist")
        handled.append((event.aggregate_id, seq_of(event)))

    events = interleaved(aggregates=2, per_aggregate=10)
    poison = next(e for e in events if (e.aggregate_id, seq_of(e)) == ("a0", 3))
    await publish(redis, stream, events)
    async with running(redis, stream, handler):

        async def done() -> bool:
            return len(handled) == 19 and await redis.xlen(streams.dlq_name(stream)) == 1

        await wait_until(done, "19 events handled and one dead-lettered")

    assert tries == [1, 2, 3]
    assert [seq for agg, seq in handled if agg == "a0"] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert [seq for agg, seq in handled if agg == "a1"] == list(range(10))
    ((_dead_id, dead),) = await entries(redis, streams.dlq_name(stream))
    assert dead[b"event_id"] == poison.event_id.encode()
    assert dead[b"payload"] == poison.SerializeToString()
    assert b"InvalidEvent: profile 3 does not exist" in dead[b"error"]
    assert dead[b"deliveries"] == b"3"
    assert dead[b"group"] == b"g"
    assert dead[b"source_stream"] == stream.encode()
    assert (await redis.xpending(stream, "g"))["pending"] == 0


async def test_a_transient_failure_is_retried_and_counted_by_redis(
    redis: Redis, stream: str
) -> None:
    deliveries: list[int] = []
    done = asyncio.Event()

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        deliveries.append(delivery.deliveries)
        if len(deliveries) < 3:
            # What Redis counted so far, as an operator would see it.
            (pending,) = await redis.xpending_range(stream, "g", "-", "+", 1)
            assert pending["times_delivered"] == delivery.deliveries
            raise ConnectionError("search is down")
        done.set()

    await publish(redis, stream, [item_event("a0", 0)])
    async with running(redis, stream, handler):
        await asyncio.wait_for(done.wait(), 30)

    assert deliveries == [1, 2, 3]
    assert await redis.xlen(streams.dlq_name(stream)) == 0


async def test_a_store_outage_longer_than_the_tries_dead_letters_nothing(
    redis: Redis, stream: str
) -> None:
    # FAST allows 3 tries; the store is down for 8. Unavailable says the store,
    # not the entry, failed: those tries count no delivery, and nothing is lost.
    outage_tries = 8
    deliveries: list[int] = []
    done = asyncio.Event()

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        deliveries.append(delivery.deliveries)
        if len(deliveries) <= outage_tries:
            raise Unavailable("the history store is unavailable; retry later")
        done.set()

    await publish(redis, stream, [item_event("a0", 0)])
    async with running(redis, stream, handler):
        await asyncio.wait_for(done.wait(), 30)

    assert deliveries == [1] * (outage_tries + 1)
    assert await redis.xlen(streams.dlq_name(stream)) == 0
    assert (await redis.xpending(stream, "g"))["pending"] == 0


async def test_an_outage_past_its_bound_counts_tries_again_and_dead_letters(
    redis: Redis, stream: str
) -> None:
    deliveries: list[int] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        deliveries.append(delivery.deliveries)
        raise Unavailable("the history store is unavailable; retry later")

    await publish(redis, stream, [item_event("a0", 0)])
    bounded = dataclasses.replace(FAST, max_outage_seconds=0.3)
    async with running(redis, stream, handler, config=bounded):

        async def dead_lettered() -> bool:
            return await redis.xlen(streams.dlq_name(stream)) == 1

        await wait_until(dead_lettered, "the entry dead-lettered once the outage bound passed")

    # Uncounted tries while the bound lasted (each saw delivery 1), then FAST's
    # three counted ones: 1 (the first), 2, 3.
    assert len(deliveries) > 3
    assert set(deliveries[:-2]) == {1}
    assert deliveries[-2:] == [2, 3]
    ((_dead_id, dead),) = await entries(redis, streams.dlq_name(stream))
    assert b"Unavailable: the history store is unavailable" in dead[b"error"]


async def test_an_undecodable_entry_is_dead_lettered_at_once(redis: Redis, stream: str) -> None:
    handled: list[int] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        handled.append(seq_of(event))

    await redis.xadd(stream, {streams.EVENT_ID: "junk", streams.PAYLOAD: b"\xff\xfe not proto"})
    await publish(redis, stream, [item_event("a0", 1)])
    async with running(redis, stream, handler):

        async def done() -> bool:
            return handled == [1] and await redis.xlen(streams.dlq_name(stream)) == 1

        await wait_until(done, "the good event handled and the junk dead-lettered")

    ((_id, dead),) = await entries(redis, streams.dlq_name(stream))
    assert dead[b"error"].startswith(b"undecodable entry: DecodeError")
    assert dead[b"deliveries"] == b"1"


async def test_a_republished_event_is_handled_once(redis: Redis, stream: str) -> None:
    handled: list[str] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        handled.append(event.event_id)

    first, second = item_event("a0", 0), item_event("a0", 1)
    # What a relay killed between XADD and its stamp leaves behind.
    await publish(redis, stream, [first, second, first, second])
    async with running(redis, stream, handler) as runner:
        await wait_until(_any_active(runner), "the consumer to start")

        async def done() -> bool:
            return (await redis.xpending(stream, "g"))["pending"] == 0 and (
                await _group(redis, stream)
            )["entries-read"] == 4

        await wait_until(done, "all four entries acked")

    assert handled == [first.event_id, second.event_id]


async def _group(redis: Redis, stream: str, name: str = "g") -> dict[str, object]:
    groups = await redis.xinfo_groups(stream)
    (group,) = [g for g in groups if g["name"] in (name, name.encode())]
    return dict(group)


async def test_consumer_lag_is_exported_per_group(redis: Redis, stream: str) -> None:
    runner = ConsumerRunner(redis, stream, "lagging", _never_called, config=FAST)
    await runner.ensure_group()
    await publish(redis, stream, interleaved(aggregates=1, per_aggregate=7))

    await update_lag_metrics(redis, stream)

    labels = {"stream": stream, "group": "lagging"}
    assert REGISTRY.get_sample_value("streammesh_events_consumer_lag", labels) == 7
    assert REGISTRY.get_sample_value("streammesh_events_consumer_pending", labels) == 0


async def _never_called(event: event_pb2.Event, delivery: Delivery) -> None:
    raise AssertionError("no consumer runs in this test")


async def test_only_one_consumer_of_a_group_is_active(redis: Redis, stream: str) -> None:
    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        return None

    async with (
        running(redis, stream, handler) as first,
        running(redis, stream, handler) as second,
    ):
        await wait_until(_any_active(first, second), "a consumer to become active")
        await asyncio.sleep(0.3)  # give the standby every chance to (wrongly) start
        assert first.active.is_set() != second.active.is_set()


def _any_active(*runners: ConsumerRunner) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(runner.active.is_set() for runner in runners)

    return check


@pytest.mark.parametrize("group", ["billing", "search"])
async def test_every_group_gets_every_event(redis: Redis, stream: str, group: str) -> None:
    handled: list[int] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        handled.append(seq_of(event))

    await publish(redis, stream, interleaved(aggregates=1, per_aggregate=5))
    async with running(redis, stream, handler, group=group):

        async def done() -> bool:
            return len(handled) == 5

        await wait_until(done, "five events")
    assert handled == [0, 1, 2, 3, 4]
