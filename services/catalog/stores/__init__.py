"""Adapters of :class:`services.catalog.store.CatalogStore`, and the one place that picks one
from the configuration (services/runtime/keyspace_store.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.catalog.migrations import CQL
from services.catalog.store import CatalogStore
from services.catalog.stores.cassandra import CassandraCatalogStore
from services.catalog.stores.sqlite import SqliteCatalogStore
from services.runtime.keyspace_store import KeyspaceStore

if TYPE_CHECKING:
    from services.catalog.config import Config

STORE: KeyspaceStore[CatalogStore] = KeyspaceStore(
    SqliteCatalogStore.open, CassandraCatalogStore.on_session, CQL
)


async def open_store(config: Config, *, migrate: bool | None = None) -> CatalogStore:
    """The store ``config`` names, its schema brought up to date first when
    ``migrate`` (default: ``config.migrate_on_start``)."""
    return await STORE.open(config, migrate=migrate)
