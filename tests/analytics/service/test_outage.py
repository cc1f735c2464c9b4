"""PostgreSQL stopped during ingestion and started again: no event lost, none twice.

Runs on a private PostgreSQL server (tests/analytics/conftest.py), since
stopping the shared one would break every other test running at the time.
View events are written straight to the history stream (the relay's entry
format) before, during and after the outage; the loader keeps retrying its
batch while the server is down (``outage_retry_seconds``), and the entries
stay unacked until their rows are committed.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from redis.asyncio import Redis

from services.events import streams
from services.events.config import stream_prefix_for
from services.events.envelope import new_event
from streammesh.history.v1 import events_pb2, history_pb2
from tests.analytics.conftest import PrivatePostgres
from tests.analytics.service.conftest import analytics_config, analytics_server
from tests.mesh import StorageFactory, wait_until

BEFORE = 300
DURING = 300
AFTER = 100
# How long the server stays down (a failure bound elsewhere, not a timing claim).
DOWN_SECONDS = 3.0


def view_event(rng: random.Random, n: int) -> tuple[str, str, bytes]:
    """(event id, aggregate id: the title, as the history's relay writes it, payload)."""
    watched = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(24 * 60))
    view = history_pb2.View(
        view_id=str(uuid.UUID(int=rng.getrandbits(128))),
        profile_id=str(n % 37 + 1),
        title_id=str(uuid.UUID(int=rng.randrange(40))),
        position_seconds=rng.randrange(1, 3_000),
        duration_seconds=3_000,
        device_type="tv",
        country_code="US",
    )
    view.watch_time.FromDatetime(watched)
    event = new_event(
        event_type="history.view.recorded",
        data=events_pb2.ViewRecordedEvent(view=view, account_id="1"),
        source="history",
        aggregate_type="title",
        aggregate_id=view.title_id,
    )
    return event.event_id, view.title_id, event.SerializeToString()


async def test_no_event_is_lost_or_doubled_when_postgres_stops_during_ingestion(
    private_postgres: PrivatePostgres, mesh_storage: StorageFactory
) -> None:
    storage = mesh_storage("analytics-outage")
    stream = streams.stream_name("history", stream_prefix_for(storage.redis_prefix))
    rng = random.Random(5)
    events = [view_event(rng, n) for n in range(BEFORE + DURING + AFTER)]
    redis = Redis.from_url(storage.redis_url)

    async def publish(chunk: list[tuple[str, str, bytes]]) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for event_id, title_id, payload in chunk:
                pipe.xadd(
                    stream,
                    {
                        streams.EVENT_ID: event_id,
                        streams.EVENT_TYPE: "history.view.recorded",
                        streams.AGGREGATE_TYPE: "title",
                        streams.AGGREGATE_ID: title_id,
                        streams.PAYLOAD: payload,
                    },
                )
            await pipe.execute()

    async def count() -> tuple[int, int]:
        conn = await asyncpg.connect(private_postgres.url, timeout=5)
        try:
            row = await conn.fetchrow("SELECT count(*), count(DISTINCT event_id) FROM fact_view")
            assert row is not None
            return row[0], row[1]
        finally:
            await conn.close()

    config = analytics_config(
        storage, private_postgres.url, batch_max_events=50, outage_retry_seconds=60
    )
    try:
        async with analytics_server(config):
            await publish(events[:BEFORE])

            async def some_loaded() -> bool:
                return (await count())[0] > 0

            await wait_until(some_loaded, "the first rows")
            await private_postgres.stop()
            await publish(events[BEFORE : BEFORE + DURING])
            await asyncio.sleep(DOWN_SECONDS)
            await private_postgres.start()
            await publish(events[BEFORE + DURING :])

            async def all_loaded() -> bool:
                return (await count())[0] >= len(events)

            await wait_until(all_loaded, "every event after the restart")
            # A moment for any duplicate to show up, were there one.
            await asyncio.sleep(0.5)
            total, distinct = await count()
            assert (total, distinct) == (len(events), len(events))
            conn = await asyncpg.connect(private_postgres.url, timeout=5)
            try:
                ids = {r[0] for r in await conn.fetch("SELECT event_id FROM fact_view")}
            finally:
                await conn.close()
            assert ids == {event_id for event_id, _, _ in events}
    finally:
        await redis.aclose()
