"""Events end to end: outbox write -> relay -> Redis stream -> consumer effect.

    python bench/events_bench.py [--events 3000] [--aggregates 50] [--writers 4]
                                 [--backends sqlite,mariadb] [--max-seconds 120]

Needs the real Redis (and MariaDB for the mariadb run): ``streammesh infra up``.
For each outbox backend it runs, in one process and event loop:

  writers   ``--writers`` tasks, each committing one event per transaction
            into an outbox table (``new_event`` + ``outbox_values``), as a
            service's store does
  relay     the production Relay with its default RelayConfig (batches of
            200, 50 ms idle poll, lease, Lua XADD batch)
  consumer  the production ConsumerRunner with its default ConsumerConfig
            (Redis dedupe marker, ack after the handler), whose handler's
            effect is an INCR per aggregate

and prints events/s (first commit to last effect) and the delay from each
event's commit to its effect (p50/p99/max). A bare baseline measured in the
same run, XADD -> XREADGROUP -> XACK with nothing else, shows what Redis
Streams alone give this machine, and the ratio.

Every run is bounded by ``--events`` and ``--max-seconds``; loopback only.
It creates a throw-away MariaDB database and a Redis key prefix, and removes
both at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomysql
import sqlalchemy as sa
from google.protobuf import wrappers_pb2
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra import endpoints
from services.events import streams
from services.events.consumer import ConsumerRunner, Delivery
from services.events.envelope import new_event
from services.events.outbox import SqlOutboxSource, define_outbox_table, outbox_values
from services.events.relay import Relay
from services.users.stores.sql import create_engine, for_writing
from streammesh.events.v1 import event_pb2


@dataclass
class Figures:
    name: str
    events: int
    seconds: float
    delays_ms: list[float]
    # The relay's share of each delay (commit -> entry in the stream).
    relay_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def quantile(self, q: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.delays_ms if values is None else values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def line_rate_only(self) -> str:
        return f"{self.name:<28} {self.events:>6} events  {self.rate:>8.0f} events/s"

    def line(self) -> str:
        return (
            f"{self.name:<28} {self.events:>6} events  {self.rate:>8.0f} events/s  "
            f"delay p50 {self.quantile(0.5):7.1f} ms  p99 {self.quantile(0.99):7.1f} ms  "
            f"max {max(self.delays_ms, default=float('nan')):7.1f} ms"
            + (
                f"\n{'':<28} of which commit -> stream p50 "
                f"{self.quantile(0.5, self.relay_ms):7.1f} ms  p99 "
                f"{self.quantile(0.99, self.relay_ms):7.1f} ms"
                if self.relay_ms
                else ""
            )
        )


async def _wait_for(condition: Any, max_seconds: float, what: str) -> None:
    deadline = time.perf_counter() + max_seconds
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"gave up after {max_seconds}s waiting for {what}")
        await asyncio.sleep(0.01)


async def bare_streams(redis: Redis, prefix: str, events: int, max_seconds: float) -> Figures:
    """XADD -> XREADGROUP (COUNT 100, BLOCK) -> XACK: Redis Streams and nothing else."""
    stream = f"{prefix}bare"
    await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    sent: dict[bytes, float] = {}
    delays: list[float] = []

    async def consume() -> None:
        while len(delays) < events:
            reply: Any = await redis.xreadgroup("g", "c", {stream: ">"}, count=100, block=100)
            for _stream, entries in reply or ():
                now = time.perf_counter()
                ids = []
                for entry_id, fields in entries:
                    delays.append((now - sent[fields[b"n"]]) * 1000)
                    ids.append(entry_id)
                await redis.xack(stream, "g", *ids)

    async def produce(writer: int, count: int) -> None:
        for n in range(count):
            key = f"{writer}-{n}".encode()
            sent[key] = time.perf_counter()
            await redis.xadd(stream, {"n": key, "payload": b"x" * 200})

    started = time.perf_counter()
    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(
        asyncio.gather(*(produce(w, events // 4) for w in range(4)), consumer), max_seconds
    )
    return Figures("bare XADD/XREADGROUP/XACK", len(delays), time.perf_counter() - started, delays)


async def pipeline(
    name: str,
    engine: AsyncEngine,
    redis: Redis,
    prefix: str,
    *,
    events: int,
    aggregates: int,
    writers: int,
    max_seconds: float,
    with_backbone: bool = True,
    rate: float | None = None,
) -> Figures:
    """Writers commit events; with the backbone, a relay and a consumer carry them on.

    ``rate`` (events/s over all writers) paces the writers open-loop; None
    writes as fast as the database commits.
    """
    metadata = sa.MetaData()
    table = define_outbox_table(metadata, f"bench_outbox_{secrets.token_hex(3)}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    stream = streams.stream_name(f"bench{secrets.token_hex(3)}", prefix)
    committed: dict[str, float] = {}
    committed_wall: dict[str, float] = {}
    delays: list[float] = []
    # Commit -> XADD, from the entry id's millisecond clock (same machine).
    to_stream: list[float] = []

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        await redis.incr(f"{prefix}effect:{event.aggregate_id}")
        delays.append((time.perf_counter() - committed[event.event_id]) * 1000)
        added_ms = int(delivery.entry_id.split("-")[0])
        to_stream.append(added_ms - committed_wall[event.event_id] * 1000)

    async def write(writer: int, count: int) -> None:
        for n in range(count):
            if rate is not None:
                due = started + (n * writers + writer) / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            event = new_event(
                event_type="bench.item.changed",
                data=wrappers_pb2.Int64Value(value=n),
                source="bench",
                aggregate_type="item",
                aggregate_id=str((writer * count + n) % aggregates),
            )
            async with writing.begin() as conn:
                await conn.execute(sa.insert(table).values(**outbox_values(event)))
            committed[event.event_id] = time.perf_counter()
            committed_wall[event.event_id] = time.time()

    writing = for_writing(engine)
    per_writer = events // writers
    if not with_backbone:
        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(write(w, per_writer) for w in range(writers))), max_seconds
        )
        elapsed = time.perf_counter() - started
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        return Figures(name, per_writer * writers, elapsed, [])

    source = SqlOutboxSource(engine, table, name="bench", write_engine=writing)
    relay = Relay(source, redis, stream)
    consumer = ConsumerRunner(redis, stream, "bench", handler)
    stop = asyncio.Event()
    await consumer.ensure_group()
    background = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    started = time.perf_counter()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(write(w, per_writer) for w in range(writers))), max_seconds
        )
        await _wait_for(lambda: len(delays) >= per_writer * writers, max_seconds, "every effect")
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
    return Figures(name, len(delays), elapsed, delays, to_stream)


@asynccontextmanager
async def mariadb_database() -> AsyncIterator[str]:
    name = f"bench_events_{secrets.token_hex(3)}"
    admin = await aiomysql.connect(
        host=endpoints.HOST,
        port=endpoints.MARIADB_PORT,
        user=endpoints.MARIADB_ADMIN_USER,
        password=endpoints.MARIADB_ADMIN_PASSWORD,
        autocommit=True,
    )
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE `{name}`")
        yield endpoints.mariadb_admin_url(name)
    finally:
        async with admin.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


async def main(args: argparse.Namespace) -> None:
    redis = Redis.from_url(endpoints.redis_url())
    prefix = f"bench:{secrets.token_hex(4)}:"
    bare: Figures | None = None
    pairs: list[tuple[Figures, Figures, Figures]] = []
    try:
        bare = await bare_streams(redis, prefix, args.events, args.max_seconds)
        for backend in args.backends.split(","):
            async with _database(backend, args.tmp) as (label, url):
                # The users store's engine: the production settings of an outbox
                # producer (SQLite: WAL, BEGIN IMMEDIATE for writes).
                engine = create_engine(url)
                try:
                    alone = await pipeline(
                        f"{label}: writes only",
                        engine,
                        redis,
                        prefix,
                        **_load(args),
                        with_backbone=False,
                    )
                    carried = await pipeline(
                        f"{label}: end to end", engine, redis, prefix, **_load(args)
                    )
                    half = await pipeline(
                        f"{label}: at half that rate",
                        engine,
                        redis,
                        prefix,
                        **_load(args),
                        rate=carried.rate / 2,
                    )
                    pairs.append((alone, carried, half))
                finally:
                    await engine.dispose()
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=500)]
        for start in range(0, len(keys), 500):
            await redis.unlink(*keys[start : start + 500])
        await redis.aclose()

    print(
        f"events end to end ({args.events} events, {args.aggregates} aggregates, "
        f"{args.writers} writers, one process)"
    )
    print(bare.line())
    for alone, carried, half in pairs:
        print(alone.line_rate_only())
        print(carried.line())
        print(half.line())
        print(
            f"  -> {carried.rate / alone.rate:.2f}x the outbox writes alone, "
            f"{carried.rate / bare.rate:.3f}x the bare stream"
        )


@asynccontextmanager
async def _database(backend: str, tmp: str) -> AsyncIterator[tuple[str, str]]:
    if backend == "sqlite":
        path = Path(tmp) / f"events-bench-{secrets.token_hex(3)}.db"
        try:
            yield "SQLite outbox", f"sqlite+aiosqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                await asyncio.to_thread(Path(f"{path}{suffix}").unlink, missing_ok=True)
    elif backend == "mariadb":
        async with mariadb_database() as url:
            yield "MariaDB outbox", url
    else:
        raise SystemExit(f"unknown backend {backend!r}: sqlite or mariadb")


def _load(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "events": args.events,
        "aggregates": args.aggregates,
        "writers": args.writers,
        "max_seconds": args.max_seconds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--aggregates", type=int, default=50)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,mariadb")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--tmp", default="/tmp")
    asyncio.run(main(parser.parse_args()))
