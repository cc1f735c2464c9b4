"""Catalog store fixtures: every contract test runs on SQLite and on Cassandra."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.catalog.config import Config
from services.catalog.migrations import apply_cql
from services.catalog.store import CatalogStore
from services.catalog.stores.cassandra import CassandraCatalogStore, connect
from services.catalog.stores.sqlite import SqliteCatalogStore
from services.runtime.config import ServerConfig

SMALL_SCAN_BUDGET = 25
DATA = Path(__file__).resolve().parent / "data"
REAL_CATALOG = Path(__file__).resolve().parents[2] / "services" / "catalog" / "data"


def cassandra_config(contact: tuple[str, int], keyspace: str) -> Config:
    host, port = contact
    return Config(
        server=ServerConfig(service="catalog", port=0),
        backend="real",
        cassandra_contact_points=(host,),
        cassandra_port=port,
        cassandra_keyspace=keyspace,
        migrate_on_start=False,
        seed_catalog="",
    )


@pytest_asyncio.fixture(scope="session")
async def cassandra_store(
    cassandra_contact: tuple[str, int], cassandra_keyspace: str
) -> AsyncIterator[CassandraCatalogStore]:
    """One store on the run's keyspace, migrated once; tests keep apart by
    using their own ids and a genre of their own."""
    cluster, session = await connect(cassandra_config(cassandra_contact, cassandra_keyspace))
    await apply_cql(session, cassandra_keyspace)
    store = await CassandraCatalogStore.on_session(session, cassandra_keyspace, cluster=cluster)
    yield store
    await store.close()


@pytest_asyncio.fixture(scope="session")
async def cassandra_scan_store(
    cassandra_store: CassandraCatalogStore,
) -> CassandraCatalogStore:
    """The same keyspace listed by scanning instead of SAI (the benchmark's
    alternative). A small scan budget makes short pages (and their tokens)
    happen in every listing test, not only on catalogs of thousands of titles."""
    return await CassandraCatalogStore.on_session(
        cassandra_store._session,
        cassandra_store._keyspace,
        listing="scan",
        scan_budget=SMALL_SCAN_BUDGET,
    )


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteCatalogStore]:
    store = await SqliteCatalogStore.open(tmp_path / "catalog.db")
    yield store
    await store.close()


@pytest.fixture(params=["sqlite", "cassandra", "cassandra_scan"])
def store(request: pytest.FixtureRequest) -> CatalogStore:
    backend: CatalogStore = request.getfixturevalue(f"{request.param}_store")
    return backend
