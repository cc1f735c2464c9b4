"""Adapters of :class:`services.history.store.HistoryStore`, and the one place
that picks one from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.history.config import Config
    from services.history.store import HistoryStore


async def open_store(config: Config, *, migrate: bool | None = None) -> HistoryStore:
    """The store ``config`` names, its schema brought up to date first when
    ``migrate`` (default: ``config.migrate_on_start``)."""
    if config.backend == "embedded":
        from services.history.stores.sqlite import SqliteHistoryStore

        # The SQLite store creates its schema when it opens.
        return await SqliteHistoryStore.open(config.sqlite_path)
    from services.history.migrations import CQL
    from services.history.stores.cassandra import CassandraHistoryStore
    from services.runtime.cassandra import open_migrated

    session = await open_migrated(
        config.cassandra, CQL, migrate=config.migrate_on_start if migrate is None else migrate
    )
    try:
        return await CassandraHistoryStore.on_session(session)
    except BaseException:
        await session.close()
        raise
