"""A consumer process for the crash tests: its effect and dedupe marker commit together.

    python -m tests.events.consumer_proc REDIS_URL STREAM GROUP SQLITE_PATH
        [--kill-at AGGREGATE:SEQ --kill-when before_effect|after_effect]

It SIGKILLs itself while handling the named event (before its effect, or
after the effect committed but before the ack), as a crash would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from dataclasses import replace

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from services.events.consumer import ConsumerConfig, ConsumerRunner, Delivery
from services.events.dedupe import SqlProcessedEvents, define_processed_events_table
from streammesh.events.v1 import event_pb2
from tests.events.helpers import seq_of

CONFIG = ConsumerConfig(
    read_count=10, block_ms=200, claim_idle_ms=500, lease_ttl_ms=1_000, max_deliveries=5
)


def tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    effects = sa.Table(
        "effects",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    return effects, define_processed_events_table(metadata)


async def main(args: argparse.Namespace) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{args.db}")
    effects, processed_table = tables(sa.MetaData())
    processed = SqlProcessedEvents(engine, processed_table, args.group)
    kill_at = tuple(args.kill_at.split(":")) if args.kill_at else None

    def crash_if(when: str, event: event_pb2.Event) -> None:
        if kill_at == (event.aggregate_id, str(seq_of(event))) and args.kill_when == when:
            os.kill(os.getpid(), signal.SIGKILL)

    async def handler(event: event_pb2.Event, delivery: Delivery) -> None:
        crash_if("before_effect", event)
        async with engine.begin() as conn:
            if await processed.record(conn, event.event_id):
                await conn.execute(
                    sa.insert(effects).values(
                        event_id=event.event_id,
                        aggregate_id=event.aggregate_id,
                        seq=seq_of(event),
                    )
                )
        crash_if("after_effect", event)

    redis = Redis.from_url(args.redis_url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    config = replace(CONFIG, max_deliveries=args.max_deliveries)
    runner = ConsumerRunner(
        redis, args.stream, args.group, handler, config=config, dedupe=processed
    )
    await runner.run(stop)
    await redis.aclose()
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("redis_url")
    parser.add_argument("stream")
    parser.add_argument("group")
    parser.add_argument("db")
    parser.add_argument("--kill-at")
    parser.add_argument("--kill-when", default="after_effect")
    parser.add_argument("--max-deliveries", type=int, default=CONFIG.max_deliveries)
    asyncio.run(main(parser.parse_args()))
