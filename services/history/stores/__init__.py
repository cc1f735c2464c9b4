"""Adapters of :class:`services.history.store.HistoryStore`, and the one place that picks one
from the configuration (services/runtime/keyspace_store.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.history.migrations import CQL
from services.history.store import HistoryStore
from services.history.stores.cassandra import CassandraHistoryStore
from services.history.stores.sqlite import SqliteHistoryStore
from services.runtime.keyspace_store import KeyspaceStore

if TYPE_CHECKING:
    from services.history.config import Config

STORE: KeyspaceStore[HistoryStore] = KeyspaceStore(
    SqliteHistoryStore.open, CassandraHistoryStore.on_session, CQL
)


async def open_store(config: Config, *, migrate: bool | None = None) -> HistoryStore:
    """The store ``config`` names, its schema brought up to date first when
    ``migrate`` (default: ``config.migrate_on_start``)."""
    return await STORE.open(config, migrate=migrate)
