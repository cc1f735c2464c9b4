"""Dedupe on ``event_id``: how at-least-once delivery becomes exactly-once effects.

The consumer runner asks a :class:`Deduplicator` whether an event was already
handled before calling the handler, and marks it after the handler succeeded.
Where the marker lives decides the guarantee:

* :class:`RedisDedupe` (the default): a ``SET NX`` key per group and event
  with a TTL. Cheap and shared by every consumer of the group, but the marker
  is written AFTER the handler's effect, in another system: a consumer killed
  between the two, or a Redis crash that loses the marker, lets the effect
  happen twice. Right for idempotent effects (cache invalidation, upserts).
* :class:`SqlProcessedEvents`: the marker is a row the handler inserts in the
  SAME transaction as its effect (:meth:`SqlProcessedEvents.record`), so the
  effect and the marker commit together or not at all: effects are
  exactly-once. The runner only reads it (to skip early); ``mark_processed`` is
  a no-op because the handler already committed the marker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.events import streams

DEFAULT_DEDUPE_TTL: Final = timedelta(days=7)


class Deduplicator(Protocol):
    """Remembers which events a consumer group has handled."""

    async def is_processed(self, event_id: str) -> bool: ...

    async def mark_processed(self, event_id: str) -> None: ...


class RedisDedupe:
    """Markers in Redis, one key per (group, event), expiring after ``ttl``.

    The TTL must outlast every redelivery: the relay's re-publication window
    and the stream's retention (an operator replay older than the TTL is
    handled again, which is usually what a replay is for).
    """

    def __init__(
        self, redis: Redis, stream: str, group: str, ttl: timedelta = DEFAULT_DEDUPE_TTL
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        self._ttl_seconds = int(ttl.total_seconds())

    async def is_processed(self, event_id: str) -> bool:
        key = streams.dedupe_key(self._stream, self._group, event_id)
        return bool(await self._redis.exists(key))

    async def mark_processed(self, event_id: str) -> None:
        key = streams.dedupe_key(self._stream, self._group, event_id)
        await self._redis.set(key, b"1", nx=True, ex=self._ttl_seconds)


def define_processed_events_table(
    metadata: sa.MetaData, name: str = "processed_events"
) -> sa.Table:
    """The consumer-side marker table: one row per (group, event) handled."""
    return sa.Table(
        name,
        metadata,
        sa.Column("consumer_group", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("processed_at", sa.DateTime(), nullable=False),
    )


class SqlProcessedEvents:
    """Markers committed with the effect, in the consumer's own SQL store."""

    def __init__(self, engine: AsyncEngine, table: sa.Table, group: str) -> None:
        self._engine = engine
        self._table = table
        self._group = group

    async def record(self, conn: AsyncConnection, event_id: str) -> bool:
        """Inserts the marker inside the caller's transaction.

        Returns False when the event was already handled: the caller then
        skips its effect. No savepoint: pysqlite commits the whole
        transaction when a savepoint opened it is released (SQLAlchemy's
        "Serializable isolation / Savepoints" notes for SQLite), which would
        commit the marker apart from the effect. A concurrent duplicate
        insert instead fails the caller's transaction, so the entry is
        retried and then found here.
        """
        table = self._table
        found = await conn.scalar(
            sa.select(sa.literal(1)).where(
                table.c.consumer_group == self._group, table.c.event_id == event_id
            )
        )
        if found is not None:
            return False
        await conn.execute(
            sa.insert(table).values(
                consumer_group=self._group,
                event_id=event_id,
                processed_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
        return True

    async def is_processed(self, event_id: str) -> bool:
        table = self._table
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                sa.select(sa.literal(1)).where(
                    table.c.consumer_group == self._group, table.c.event_id == event_id
                )
            )
        return found is not None

    async def mark_processed(self, event_id: str) -> None:
        """Nothing to do: the handler committed the marker with its effect."""
