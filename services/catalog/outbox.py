"""The catalog's outbox, as the events backbone's relay reads it.

Both stores write an ``outbox`` table atomically with each title change: the
SQLite store in the same transaction, the Cassandra store in the same logged
batch. The relay reads the SQLite file through its own SQLAlchemy engine (WAL
lets it read beside the store's connections), and the Cassandra outbox
through the store's session, polling it less often because each step scans
its partition (services/events/cassandra_outbox.py).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from services.catalog.config import SERVICE, Config
from services.catalog.store import CatalogStore
from services.catalog.stores import open_store
from services.catalog.stores.cassandra import CassandraCatalogStore
from services.events.sources import (
    ProducerOutbox,
    keyspace_store_outbox,
    outbox_of_opened_store,
)


def outbox_of(config: Config, store: CatalogStore) -> AbstractAsyncContextManager[ProducerOutbox]:
    """The outbox of ``store`` (opened with ``config``)."""
    cassandra = store.outbox_source() if isinstance(store, CassandraCatalogStore) else None
    return keyspace_store_outbox(SERVICE, cassandra=cassandra, sqlite_path=config.sqlite_path)


def open_outbox() -> AbstractAsyncContextManager[ProducerOutbox]:
    """The outbox of the catalog store the environment names (its schema must exist)."""
    config = Config.from_env()
    return outbox_of_opened_store(
        lambda: open_store(config, migrate=False), lambda store: outbox_of(config, store)
    )
