"""The outbox of each producing service, opened by name for ``streammesh events relay``.

A producing service registers here how to reach its outbox from its own
config; the relay command, ``streammesh up`` and tests then need only the
name. Any other SQL outbox is reachable by URL and table name (the table is
reflected, so it only needs the standard columns).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from services.events import streams
from services.events.config import stream_prefix_for
from services.events.outbox import OutboxSource, SqlOutboxSource, define_outbox_table
from services.events.relay import BackgroundRelay, Relay, RelayConfig

if TYPE_CHECKING:
    from services.catalog.config import Config as CatalogConfig
    from services.catalog.store import CatalogStore


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


@contextlib.asynccontextmanager
async def _users() -> AsyncIterator[OutboxSource]:
    from services.users.config import Config

    config = Config.from_env()
    async with sql_source(config.database_url, "outbox", "users") as source:
        yield source


# Producing service -> its outbox. The stream is `streammesh.<name>`.
SOURCES: dict[str, Callable[[], AbstractAsyncContextManager[OutboxSource]]] = {
    "users": _users,
}


# The Cassandra outbox is scanned from the start of its partition on every
# step (services/catalog/stores/cassandra_outbox.py), so its relay polls less
# often and keeps fewer published rows than a SQL outbox's.
CASSANDRA_RELAY = RelayConfig(idle_poll_seconds=0.5, retention=timedelta(hours=1))


async def catalog_relay(
    config: CatalogConfig, store: CatalogStore, redis: Redis
) -> BackgroundRelay:
    """The catalog's relay, for its server: its SQLite outbox, or its Cassandra outbox."""
    stream = streams.stream_name("catalog", stream_prefix_for(config.redis_prefix))
    if config.backend == "embedded":
        # The SQLite store writes with its own aiosqlite connections; the relay
        # reads the same file (WAL) through SQLAlchemy, waiting on its lock.
        engine = create_async_engine(
            f"sqlite+aiosqlite:///{config.sqlite_path}", connect_args={"timeout": 5.0}
        )
        table = define_outbox_table(sa.MetaData())  # the store's DDL has this shape
        source: OutboxSource = SqlOutboxSource(engine, table, name="catalog")
        return BackgroundRelay(Relay(source, redis, stream), close=engine.dispose)
    from services.catalog.stores.cassandra import CassandraCatalogStore

    if not isinstance(store, CassandraCatalogStore):
        raise TypeError(f"catalog backend {config.backend!r} with a {type(store).__name__}")
    return BackgroundRelay(Relay(store.outbox_source(), redis, stream, CASSANDRA_RELAY))


@contextlib.asynccontextmanager
async def _catalog() -> AsyncIterator[OutboxSource]:
    from services.catalog.config import Config
    from services.catalog.stores import open_store
    from services.catalog.stores.cassandra import CassandraCatalogStore

    config = Config.from_env()
    if config.backend == "embedded":
        async with sql_source(
            f"sqlite+aiosqlite:///{config.sqlite_path}", "outbox", "catalog"
        ) as s:
            yield s
        return
    store = await open_store(config, migrate=False)
    try:
        if not isinstance(store, CassandraCatalogStore):
            raise TypeError(f"catalog backend {config.backend!r} with a {type(store).__name__}")
        yield store.outbox_source()
    finally:
        await store.close()


SOURCES["catalog"] = _catalog
