"""Adapters of :class:`services.catalog.store.CatalogStore`, and the one place
that picks one from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.catalog.config import Config
    from services.catalog.store import CatalogStore


async def open_store(config: Config, *, migrate: bool | None = None) -> CatalogStore:
    """The store ``config`` names, its schema brought up to date first when
    ``migrate`` (default: ``config.migrate_on_start``)."""
    if config.backend == "embedded":
        from services.catalog.stores.sqlite import SqliteCatalogStore

        # The SQLite store creates its schema when it opens.
        return await SqliteCatalogStore.open(config.sqlite_path)
    from services.catalog.migrations import CQL
    from services.catalog.stores.cassandra import CassandraCatalogStore
    from services.runtime.cassandra import open_migrated

    session = await open_migrated(
        config.cassandra, CQL, migrate=config.migrate_on_start if migrate is None else migrate
    )
    try:
        return await CassandraCatalogStore.on_session(session)
    except BaseException:
        await session.close()
        raise
