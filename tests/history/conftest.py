"""History store fixtures: every contract test runs on SQLite and on Cassandra."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from services.events.outbox import OutboxSource, SqlOutboxSource, define_outbox_table
from services.history.migrations import CQL
from services.history.store import HistoryStore
from services.history.stores.cassandra import CassandraHistoryStore
from services.history.stores.sqlite import SqliteHistoryStore
from services.runtime.cassandra import CassandraSettings, open_migrated

# Month partitions one ListHistory call reads on Cassandra in these tests (25
# in production): small, so short pages and their cursors happen in every
# multi-month listing, not only for profiles with years of history.
SMALL_MONTH_BUDGET = 3


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "history" / "history.db"


@pytest_asyncio.fixture
async def sqlite_store(sqlite_path: Path) -> AsyncIterator[SqliteHistoryStore]:
    store = await SqliteHistoryStore.open(sqlite_path)
    yield store
    await store.close()


@pytest_asyncio.fixture(scope="session")
async def cassandra_store(
    cassandra_contact: tuple[str, int], cassandra_keyspace: str
) -> AsyncIterator[CassandraHistoryStore]:
    """One store on a keyspace of its own, migrated once and dropped at the end;
    tests keep apart by using their own profiles, titles and (country, day)s."""
    host, port = cassandra_contact
    settings = CassandraSettings(
        keyspace=f"{cassandra_keyspace}_history", contact_points=(host,), port=port
    )
    session = await open_migrated(settings, CQL, migrate=True)
    try:
        store = await CassandraHistoryStore.on_session(session, months_per_call=SMALL_MONTH_BUDGET)
    except BaseException:
        await session.close()
        raise
    try:
        yield store
    finally:
        await session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}")
        await store.close()


@pytest.fixture(params=["sqlite", "cassandra"])
def store(request: pytest.FixtureRequest) -> HistoryStore:
    backend: HistoryStore = request.getfixturevalue(f"{request.param}_store")
    return backend


@pytest_asyncio.fixture
async def outbox(
    store: HistoryStore, request: pytest.FixtureRequest
) -> AsyncIterator[OutboxSource]:
    """The relay's view of the store's outbox: what the relay would publish."""
    if isinstance(store, CassandraHistoryStore):
        yield store.outbox_source()
        return
    path: Path = request.getfixturevalue("sqlite_path")
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield SqlOutboxSource(engine, define_outbox_table(MetaData()), name="history")
    finally:
        await engine.dispose()
