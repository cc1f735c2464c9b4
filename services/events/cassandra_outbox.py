"""The relay's view of an outbox table in a Cassandra keyspace (services/events/outbox.py's
``OutboxSource``), for producers whose store is Cassandra (the catalog's).

The outbox is one partition (``shard`` 0) clustered by (created_at, event_id),
written by the producer in the same logged batch as the change it announces
(for the catalog: services/catalog/migrations/*.cql and its store). The relay's calls scan
that partition in clustering order, in chunks of ``CHUNK`` rows; published rows
are purged by the relay, which keeps the partition short.

Ordering, as far as Cassandra gives it: a title's writes are serialised in the
writing process (a lock per title), and ``created_at`` is that process's clock,
so one title's events sort in write order. Two processes writing one title
with skewed clocks could sort out of order; the catalog's writers are the
importer and the internal UpdateTitle RPC, so this is accepted and noted.

Scanning from the start of the partition on every step is why a Cassandra
outbox's relay polls less often and keeps fewer published rows
(:data:`RELAY_CONFIG`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from services.events.outbox import OutboxRow
from services.events.relay import RelayConfig
from services.runtime.cassandra import CassandraSession

# Rows read per query while scanning the outbox partition.
CHUNK: Final = 500
_FAR_PAST: Final = datetime(1970, 1, 1)
_MIN_UUID: Final = uuid.UUID(int=0)
RELAY_CONFIG: Final = RelayConfig(idle_poll_seconds=0.5, retention=timedelta(hours=1))


class CassandraOutboxSource:
    def __init__(self, session: CassandraSession, *, name: str) -> None:
        self._session = session
        self._keyspace = session.keyspace
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def _scan(self) -> Any:
        """Every row of the outbox, oldest first, read in bounded chunks."""
        after: tuple[datetime, uuid.UUID] = (_FAR_PAST, _MIN_UUID)
        while True:
            rows = await self._session.execute(
                "SELECT created_at, event_id, aggregate_type, aggregate_id, event_type, payload, "
                f"published_at FROM {self._keyspace}.outbox WHERE shard = 0 "
                "AND (created_at, event_id) > (%s, %s) LIMIT %s",
                (*after, CHUNK),
            )
            for row in rows:
                yield row
            if len(rows) < CHUNK:
                return
            after = (rows[-1].created_at, rows[-1].event_id)

    async def fetch_unpublished(self, limit: int) -> Sequence[OutboxRow]:
        found: list[OutboxRow] = []
        async for row in self._scan():
            if row.published_at is None:
                found.append(
                    OutboxRow(
                        event_id=str(row.event_id),
                        aggregate_type=row.aggregate_type,
                        aggregate_id=row.aggregate_id,
                        event_type=row.event_type,
                        payload=bytes(row.payload),
                        created_at=row.created_at,
                    )
                )
                if len(found) >= limit:
                    break
        return found

    async def mark_published(self, event_ids: Sequence[str], published_at: datetime) -> None:
        wanted = {uuid.UUID(event_id) for event_id in event_ids}
        if not wanted:
            return
        async for row in self._scan():
            if row.event_id in wanted:
                await self._set_published(row, published_at)
                wanted.discard(row.event_id)
                if not wanted:
                    return

    async def unpublish_since(self, since: datetime) -> int:
        threshold = _naive_utc(since)
        count = 0
        async for row in self._scan():
            if row.published_at is not None and row.published_at >= threshold:
                await self._set_published(row, None)
                count += 1
        return count

    async def purge_published(self, before: datetime, limit: int) -> int:
        threshold = _naive_utc(before)
        count = 0
        async for row in self._scan():
            if row.published_at is not None and row.published_at < threshold:
                await self._session.execute(
                    f"DELETE FROM {self._keyspace}.outbox "
                    "WHERE shard = 0 AND created_at = %s AND event_id = %s",
                    (row.created_at, row.event_id),
                )
                count += 1
                if count >= limit:
                    break
        return count

    async def _set_published(self, row: Any, published_at: datetime | None) -> None:
        await self._session.execute(
            f"UPDATE {self._keyspace}.outbox SET published_at = %s "
            "WHERE shard = 0 AND created_at = %s AND event_id = %s",
            (
                None if published_at is None else _naive_utc(published_at),
                row.created_at,
                row.event_id,
            ),
        )


def _naive_utc(moment: datetime) -> datetime:
    # The driver hands back naive UTC datetimes; compare like with like.
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
