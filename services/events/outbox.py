"""The transactional outbox: the rows producers write and the port the relay reads.

A producer inserts :func:`outbox_values` of an event into its ``outbox`` table
in the SAME transaction as the state change, so the event exists if and only
if the change committed. The relay (:mod:`services.events.relay`) reads the
table through the :class:`OutboxSource` port and publishes the rows.

Ordering: rows are read oldest first by ``(created_at, seq)``. Two events of
one aggregate come from transactions that both write that aggregate's row, so
the database serialises them: the later transaction inserts its outbox row
only after the earlier one committed, so whenever the relay can see the later
row it also sees the earlier one, with an earlier position.

SQL adapter: :class:`SqlOutboxSource` works on any table with the standard
columns (``event_id``, ``aggregate_type``, ``aggregate_id``, ``event_type``,
``payload``, ``created_at``, ``published_at``), for example the one
:func:`define_outbox_table` declares; it orders by ``created_at`` and then by
an auto-increment ``seq``/``id`` column when the table has one, which breaks
ties between rows written in the same clock tick.

Cassandra: a source must implement the same five methods. The catalog
service's adapter lives beside its store (it knows its schema); see
:class:`OutboxSource` for the contract each method must keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncEngine

from streammesh.events.v1 import event_pb2


@dataclass(frozen=True)
class OutboxRow:
    """One event waiting in (or relayed from) a producer's outbox."""

    event_id: str
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: bytes
    created_at: datetime


def outbox_values(event: event_pb2.Event) -> dict[str, Any]:
    """The outbox row of ``event``, to insert in the producer's own transaction.

    ``created_at`` is the event's timestamp (UTC, naive: MariaDB's DATETIME and
    SQLite keep no zone), ``published_at`` stays NULL until relayed.
    """
    created = event.timestamp.ToDatetime()  # naive UTC
    return {
        "event_id": event.event_id,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "event_type": event.event_type,
        "payload": event.SerializeToString(),
        "created_at": created,
        "published_at": None,
    }


class OutboxSource(Protocol):
    """What the relay needs from a producer's outbox.

    Only one relay works a source at a time (a Redis lease, see the relay), so
    methods need no locking between relays.
    """

    @property
    def name(self) -> str:
        """Names the source in lease keys, metrics and logs (``users``)."""
        ...

    async def fetch_unpublished(self, limit: int) -> Sequence[OutboxRow]:
        """Up to ``limit`` rows with no ``published_at``, oldest first.

        "Oldest first" must hold per aggregate: a row is never returned before
        an unpublished row of the same aggregate that was written earlier.
        """
        ...

    async def mark_published(self, event_ids: Sequence[str], published_at: datetime) -> None:
        """Stamps ``published_at`` on these rows (durably, before returning)."""
        ...

    async def unpublish_since(self, since: datetime) -> int:
        """Clears ``published_at`` of rows stamped at or after ``since``; returns how many.

        The relay calls this when Redis restarted and may have lost the last
        second of writes that its AOF had not yet flushed.
        """
        ...

    async def purge_published(self, before: datetime, limit: int) -> int:
        """Deletes at most ``limit`` rows published before ``before``; returns how many."""
        ...


_ORDER_COLUMNS = ("seq", "id")

# Microseconds on MariaDB too (its DATETIME defaults to whole seconds), so the
# relay's "published since" window is exact.
_TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def define_outbox_table(metadata: sa.MetaData, name: str = "outbox") -> sa.Table:
    """The recommended outbox table: the standard columns plus an ordering ``seq``.

    The index on ``(published_at, seq)`` serves the relay's "oldest
    unpublished" scan and the purge of old published rows.
    """
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("aggregate_type", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("payload", sa.LargeBinary().with_variant(sa.LargeBinary(2**24), "mysql")),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("published_at", _TIMESTAMP, nullable=True),
        sa.Index(f"ix_{name}_unpublished", "published_at", "seq"),
    )


class SqlOutboxSource:
    """An outbox table in MariaDB/MySQL or SQLite, through SQLAlchemy async."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: sa.Table,
        *,
        name: str,
        write_engine: AsyncEngine | None = None,
    ) -> None:
        """``write_engine``: the producer's engine for writes when it has a special
        one (the users store's takes SQLite's write lock up front)."""
        self._engine = engine
        self._write_engine = write_engine or engine
        self._table = table
        self._name = name
        order: list[sa.ColumnElement[Any]] = [table.c.created_at]
        order += [table.c[column] for column in _ORDER_COLUMNS if column in table.c]
        # Rows of one clock tick in a table without a sequence: any fixed order.
        order.append(table.c.event_id)
        self._order = order

    @property
    def name(self) -> str:
        return self._name

    async def fetch_unpublished(self, limit: int) -> Sequence[OutboxRow]:
        table = self._table
        query = (
            sa.select(
                table.c.event_id,
                table.c.aggregate_type,
                table.c.aggregate_id,
                table.c.event_type,
                table.c.payload,
                table.c.created_at,
            )
            .where(table.c.published_at.is_(None))
            .order_by(*self._order)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return [
                OutboxRow(
                    event_id=row.event_id,
                    aggregate_type=row.aggregate_type,
                    aggregate_id=row.aggregate_id,
                    event_type=row.event_type,
                    payload=bytes(row.payload),
                    created_at=row.created_at,
                )
                for row in result
            ]

    async def mark_published(self, event_ids: Sequence[str], published_at: datetime) -> None:
        if not event_ids:
            return
        table = self._table
        async with self._write_engine.begin() as conn:
            await conn.execute(
                sa.update(table)
                .where(table.c.event_id.in_(list(event_ids)))
                .values(published_at=_naive_utc(published_at))
            )

    async def unpublish_since(self, since: datetime) -> int:
        table = self._table
        async with self._write_engine.begin() as conn:
            result = await conn.execute(
                sa.update(table)
                .where(table.c.published_at >= _naive_utc(since))
                .values(published_at=None)
            )
            return int(result.rowcount)

    async def purge_published(self, before: datetime, limit: int) -> int:
        table = self._table
        key = table.c[next(c for c in (*_ORDER_COLUMNS, "event_id") if c in table.c)]
        # MariaDB cannot DELETE ... WHERE x IN (SELECT ... LIMIT) from the same
        # table, so the ids are read first; the batch is bounded by `limit`.
        async with self._write_engine.begin() as conn:
            keys = (
                await conn.execute(
                    sa.select(key)
                    .where(table.c.published_at < _naive_utc(before))
                    .order_by(key)
                    .limit(limit)
                )
            ).scalars()
            batch = list(keys)
            if not batch:
                return 0
            await conn.execute(sa.delete(table).where(key.in_(batch)))
            return len(batch)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
