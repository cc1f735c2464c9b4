"""``streammesh events tail|replay|dlq`` against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from google.protobuf import wrappers_pb2
from redis.asyncio import Redis

from services import cli
from services.events import streams
from services.events.consumer import ConsumerRunner, Delivery
from streammesh.events.v1 import event_pb2
from tests.events.helpers import entries, item_event, seq_of, wait_until
from tests.events.test_consumer import FAST, publish, running

Streammesh = Callable[..., Coroutine[Any, Any, int]]


@pytest.fixture
def streammesh(redis_url: str, redis_prefix: str) -> Streammesh:
    """Runs ``streammesh events ...`` as an operator would (its own event loop, in a thread)."""

    async def run(*args: str) -> int:
        argv = ["events", "--redis-url", redis_url, "--prefix", redis_prefix, *args]
        return await asyncio.to_thread(cli.main, argv)

    return run


async def test_tail_prints_decoded_events(
    redis: Redis,
    streammesh: Streammesh,
    domain: str,
    stream: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await publish(redis, stream, [item_event("a0", 41), item_event("a1", 42)])

    assert await streammesh("tail", domain, "--from", "-", "--no-follow") == 0

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "test.item.changed item/a0" in lines[0]
    assert '"value": "41"' in lines[0]
    assert "item/a1" in lines[1]


async def test_tail_follows_new_events_until_its_limit(
    redis: Redis,
    streammesh: Streammesh,
    domain: str,
    stream: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await publish(redis, stream, [item_event("old", 0)])
    tail = asyncio.create_task(streammesh("tail", f"streammesh.{domain}", "--limit", "1"))

    # '$' means "after whatever is there when tail starts": publish until it sees one.
    async def printed() -> bool:
        await publish(redis, stream, [item_event("new", 1)])
        return tail.done()

    await wait_until(printed, "tail to print a new event")
    assert await tail == 0
    out = capsys.readouterr().out
    assert "item/new" in out
    assert "item/old" not in out


async def test_a_dead_letter_is_listed_shown_and_replayed(
    redis: Redis,
    streammesh: Streammesh,
    domain: str,
    stream: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fixed = False
    handled: list[int] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        if not fixed:
            raise LookupError("title 7 is not in the catalog yet")
        handled.append(seq_of(event))

    await publish(redis, stream, [item_event("a0", 7)])
    dlq = streams.dlq_name(stream)
    async with running(redis, stream, handler):

        async def dead() -> bool:
            return await redis.xlen(dlq) == 1

        await wait_until(dead, "the event to be dead-lettered")

    assert await streammesh("dlq", "list", domain) == 0
    listing = capsys.readouterr().out
    assert f"{dlq}: 1 entries" in listing
    assert "group=g tries=3 test.item.changed item/a0" in listing
    assert "LookupError: title 7 is not in the catalog yet" in listing

    ((entry_id, _fields),) = await entries(redis, dlq)
    assert await streammesh("dlq", "show", domain, entry_id.decode()) == 0
    shown = capsys.readouterr().out
    assert "error: LookupError: title 7 is not in the catalog yet" in shown
    assert "deliveries: 3" in shown

    assert await streammesh("dlq", "replay", domain, "9-9") == 2
    assert "has no entry 9-9; nothing replayed" in capsys.readouterr().out
    assert await redis.xlen(dlq) == 1

    fixed = True
    assert await streammesh("dlq", "replay", domain, "--all") == 0
    assert await redis.xlen(dlq) == 0
    async with running(redis, stream, handler):

        async def replayed() -> bool:
            return handled == [7]

        await wait_until(replayed, "the replayed event to be handled")


async def test_replay_redelivers_a_range_to_one_group(
    redis: Redis,
    streammesh: Streammesh,
    domain: str,
    stream: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handled: list[int] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        handled.append(seq_of(event))

    await publish(redis, stream, [item_event("a0", n) for n in range(5)])
    async with running(redis, stream, handler):

        async def done() -> bool:
            return len(handled) == 5

        await wait_until(done, "five events")
    third = (await entries(redis, stream))[2][0].decode()

    args = ("replay", domain, "--group", "g", "--from", third, "--forget-dedupe")
    assert await streammesh(*args) == 0
    assert "will receive 3 entries again" in capsys.readouterr().out
    async with running(redis, stream, handler):

        async def again() -> bool:
            return len(handled) == 8

        await wait_until(again, "three events handled again")
    assert handled == [0, 1, 2, 3, 4, 2, 3, 4]


async def test_replay_to_an_unknown_group_is_refused(
    redis: Redis,
    streammesh: Streammesh,
    domain: str,
    stream: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await ConsumerRunner(redis, stream, "g", _unused, config=FAST).ensure_group()
    assert await streammesh("replay", domain, "--group", "nope", "--from", "0") == 2
    assert "has no group 'nope'" in capsys.readouterr().out


async def _unused(event: event_pb2.Event, delivery: Delivery) -> None:
    raise AssertionError(wrappers_pb2.StringValue(value="never called"))
