"""Adapters of :class:`services.analytics.store.WarehouseStore`: PostgreSQL (real,
:mod:`.postgres`) and DuckDB (embedded, :mod:`.duckdb_store`). Both pass one
contract suite (tests/analytics/test_store_contract.py). :func:`open_store` is
the one place that picks one from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.analytics.store import WarehouseStore
from services.analytics.stores.duckdb_store import DuckDbWarehouse
from services.analytics.stores.postgres import PostgresWarehouse

if TYPE_CHECKING:
    from services.analytics.config import Config


async def open_store(config: Config) -> WarehouseStore:
    """The warehouse ``config`` names, migrated first when ``migrate_on_start``."""
    if config.backend == "real":
        return await PostgresWarehouse.open(
            config.postgres_url,
            pool_size=config.postgres_pool_size,
            command_timeout_seconds=config.postgres_timeout_seconds,
            migrate=config.migrate_on_start,
        )
    return await DuckDbWarehouse.open(
        config.duckdb_path, max_pending=config.duckdb_max_pending, migrate=config.migrate_on_start
    )
