"""The history service's outbox, as the events backbone's relay reads it.

Both stores write an ``outbox`` table atomically with each view: the SQLite
store in the same transaction, the Cassandra store in the same logged batch.
The relay reads the SQLite file through its own SQLAlchemy engine (WAL lets
it read beside the store's connections), and the Cassandra outbox through the
store's session, polling it less often because each step scans its partition
(services/events/cassandra_outbox.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from services.events import cassandra_outbox
from services.events.outbox import SqlOutboxSource, define_outbox_table
from services.events.sources import ProducerOutbox
from services.history.config import Config
from services.history.store import HistoryStore
from services.history.stores import open_store
from services.history.stores.cassandra import CassandraHistoryStore

# The relay's wait on the SQLite file's lock, while the store writes.
SQLITE_LOCK_TIMEOUT_SECONDS = 5.0


@contextlib.asynccontextmanager
async def outbox_of(config: Config, store: HistoryStore) -> AsyncIterator[ProducerOutbox]:
    """The outbox of ``store`` (opened with ``config``); what only the relay opened closes
    on exit."""
    if isinstance(store, CassandraHistoryStore):
        yield ProducerOutbox(store.outbox_source(), cassandra_outbox.RELAY_CONFIG)
        return
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{config.sqlite_path}",
        connect_args={"timeout": SQLITE_LOCK_TIMEOUT_SECONDS},
    )
    try:
        # The store's DDL has the standard outbox shape.
        table = define_outbox_table(sa.MetaData())
        yield ProducerOutbox(SqlOutboxSource(engine, table, name="history"))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def open_outbox() -> AsyncIterator[ProducerOutbox]:
    """The outbox of the history store the environment names (its schema must exist)."""
    config = Config.from_env()
    store = await open_store(config, migrate=False)
    try:
        async with outbox_of(config, store) as outbox:
            yield outbox
    finally:
        await store.close()
