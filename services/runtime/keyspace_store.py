"""A store that lives in an embedded SQLite file or in a Cassandra keyspace, opened one way.

The catalog and the history keep their data in a Cassandra keyspace with the
real backends and in a SQLite file with the embedded ones. What differs is
only their two adapters and their CQL migrations; choosing between them,
migrating, and closing the session when an adapter cannot be built is written
here once::

    STORE = KeyspaceStore(SqliteCatalogStore.open, CassandraCatalogStore.on_session, CQL)
    store = await STORE.open(config)      # migrated first when config.migrate_on_start
    await STORE.migrate(config)           # what `streammesh migrate` runs
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from services.runtime.cassandra import (
    CassandraSession,
    CassandraSettings,
    CqlMigrations,
    open_migrated,
)

S = TypeVar("S", bound="ClosableStore")


class ClosableStore(Protocol):
    async def close(self) -> None: ...


class KeyspaceStoreConfig(Protocol):
    """The fields a store-owning config declares (services/catalog/config.py)."""

    @property
    def backend(self) -> str: ...

    @property
    def sqlite_path(self) -> Path: ...

    @property
    def cassandra(self) -> CassandraSettings: ...

    @property
    def migrate_on_start(self) -> bool: ...


@dataclass(frozen=True)
class KeyspaceStore(Generic[S]):
    """How one service opens its store: its SQLite adapter, its Cassandra adapter, its CQL."""

    # Opens the embedded file, creating or upgrading its schema.
    open_sqlite: Callable[[Path], Awaitable[S]]
    # Builds the Cassandra adapter on a connected, migrated session it then owns.
    on_cassandra: Callable[[CassandraSession], Awaitable[S]]
    migrations: CqlMigrations

    async def open(self, config: KeyspaceStoreConfig, *, migrate: bool | None = None) -> S:
        """The store ``config`` names, its schema brought up to date first when
        ``migrate`` (default: ``config.migrate_on_start``)."""
        if config.backend == "embedded":
            return await self.open_sqlite(config.sqlite_path)
        session = await open_migrated(
            config.cassandra,
            self.migrations,
            migrate=config.migrate_on_start if migrate is None else migrate,
        )
        try:
            return await self.on_cassandra(session)
        except BaseException:
            await session.close()
            raise

    async def migrate(self, config: KeyspaceStoreConfig) -> None:
        """Brings the store of ``config`` to the newest schema (idempotent)."""
        store = await self.open(config, migrate=True)
        await store.close()
