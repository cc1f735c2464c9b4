"""Catalog store fixtures: every contract test runs on SQLite and on Cassandra."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.catalog.config import Config
from services.catalog.migrations import CQL
from services.catalog.store import CatalogStore
from services.catalog.stores.cassandra import CassandraCatalogStore
from services.catalog.stores.sqlite import SqliteCatalogStore
from services.runtime.cassandra import CassandraSettings, open_migrated
from services.runtime.config import ServerConfig
from tests.mesh import Backends

SMALL_SCAN_BUDGET = 25
DATA = Path(__file__).resolve().parent / "data"
REAL_CATALOG = Path(__file__).resolve().parents[2] / "services" / "catalog" / "data"


def cassandra_config(contact: tuple[str, int], keyspace: str) -> Config:
    host, port = contact
    return Config(
        server=ServerConfig(service="catalog", port=0),
        backend="real",
        cassandra=CassandraSettings(keyspace=keyspace, contact_points=(host,), port=port),
        migrate_on_start=False,
        seed_catalog="",
    )


def catalog_backends(request: pytest.FixtureRequest) -> Backends:
    """By the fixture's param: the catalog on a SQLite file ("embedded") or on the
    run's Cassandra keyspace ("real", whose fixtures only the real run sets up)."""
    if request.param == "embedded":
        return Backends("embedded")
    return Backends(
        "real",
        cassandra_contact=request.getfixturevalue("cassandra_contact"),
        catalog_keyspace=request.getfixturevalue("cassandra_keyspace"),
    )


async def migrated_cassandra_store(
    contact: tuple[str, int], keyspace: str
) -> CassandraCatalogStore:
    """A store on ``keyspace``, created and migrated; closing the store closes its session."""
    session = await open_migrated(cassandra_config(contact, keyspace).cassandra, CQL, migrate=True)
    return await CassandraCatalogStore.on_session(session)


@pytest_asyncio.fixture(scope="session")
async def cassandra_store(
    cassandra_contact: tuple[str, int], cassandra_keyspace: str
) -> AsyncIterator[CassandraCatalogStore]:
    """One store on the run's keyspace, migrated once; tests keep apart by
    using their own ids and a genre of their own."""
    store = await migrated_cassandra_store(cassandra_contact, cassandra_keyspace)
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
        cassandra_store.session,
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
