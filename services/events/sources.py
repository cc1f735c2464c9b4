"""Where ``streammesh events relay`` finds an outbox: a producing service's, or any SQL table.

The events backbone imports no producer. A producing service is marked
``produces_events`` in services/registry.py and exposes, in its own
``services.<name>.outbox`` module, ``open_outbox()``: an async context
manager yielding its :class:`ProducerOutbox` from its own configuration in
the environment. This module finds that module by the registry's name, so
adding a producer touches the producer and the registry only. Any other SQL
outbox is reachable by URL and table name (the table is reflected, so it only
needs the standard columns).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from services import registry
from services.events import cassandra_outbox
from services.events.cassandra_outbox import CassandraOutboxSource
from services.events.outbox import OutboxSource, SqlOutboxSource, define_outbox_table
from services.events.relay import RelayConfig


@dataclass(frozen=True)
class ProducerOutbox:
    """A producer's outbox and how its relay should poll it."""

    source: OutboxSource
    relay: RelayConfig = field(default_factory=RelayConfig)


OpenOutbox = Callable[[], AbstractAsyncContextManager[ProducerOutbox]]


def producers() -> tuple[str, ...]:
    """The services whose events the backbone relays, by registry name."""
    return tuple(spec.name for spec in registry.SERVICES if spec.produces_events)


def open_producer_outbox(name: str) -> AbstractAsyncContextManager[ProducerOutbox]:
    """The outbox of producer ``name``, opened from its configuration in the environment."""
    spec = registry.service(name)
    if not spec.produces_events:
        raise KeyError(f"{name} produces no events (producers: {', '.join(producers())})")
    module = importlib.import_module(f"{spec.package}.outbox")
    return cast(OpenOutbox, module.open_outbox)()


@contextlib.asynccontextmanager
async def sql_source(url: str, table_name: str, name: str) -> AsyncIterator[OutboxSource]:
    """An outbox table reached by URL; the engine is closed on exit."""
    # The relay needs one connection at a time; pre-ping survives a database restart.
    engine = create_async_engine(url, pool_pre_ping=True)
    try:
        async with engine.connect() as conn:
            table = await conn.run_sync(
                lambda sync: sa.Table(table_name, sa.MetaData(), autoload_with=sync)
            )
        yield SqlOutboxSource(engine, table, name=name)
    finally:
        await engine.dispose()


# The relay's wait on an embedded store file's lock while the store writes.
SQLITE_LOCK_TIMEOUT_SECONDS = 5.0


@contextlib.asynccontextmanager
async def keyspace_store_outbox(
    name: str, *, cassandra: CassandraOutboxSource | None, sqlite_path: Path
) -> AsyncIterator[ProducerOutbox]:
    """The outbox of a producer whose store is a Cassandra keyspace or an embedded SQLite file.

    With Cassandra, the store's own outbox source (its session; polled less
    often, services/events/cassandra_outbox.py). Otherwise the file's
    ``outbox`` table through an engine of the relay's own (WAL lets it read
    beside the store's connections), closed on exit.
    """
    if cassandra is not None:
        yield ProducerOutbox(cassandra, cassandra_outbox.RELAY_CONFIG)
        return
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{sqlite_path}",
        connect_args={"timeout": SQLITE_LOCK_TIMEOUT_SECONDS},
    )
    try:
        # The stores' DDL has the standard outbox shape.
        yield ProducerOutbox(SqlOutboxSource(engine, define_outbox_table(sa.MetaData()), name=name))
    finally:
        await engine.dispose()


S = TypeVar("S", bound="_Closable")


class _Closable(Protocol):
    async def close(self) -> None: ...


@contextlib.asynccontextmanager
async def outbox_of_opened_store(
    open_store: Callable[[], Awaitable[S]],
    outbox_of: Callable[[S], AbstractAsyncContextManager[ProducerOutbox]],
) -> AsyncIterator[ProducerOutbox]:
    """For ``streammesh events relay``: opens a producer's store, yields its outbox, closes both."""
    store = await open_store()
    try:
        async with outbox_of(store) as outbox:
            yield outbox
    finally:
        await store.close()
