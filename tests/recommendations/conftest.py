"""Recommendation store fixtures: every contract test runs on SQLite and on Cassandra."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.recommendations.migrations import CQL
from services.recommendations.store import RecommendationStore
from services.recommendations.stores.cassandra import CassandraRecommendationStore
from services.recommendations.stores.sqlite import SqliteRecommendationStore
from services.runtime.cassandra import CassandraSettings, open_migrated


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteRecommendationStore]:
    store = await SqliteRecommendationStore.open(tmp_path / "recs" / "recommendations.db")
    yield store
    await store.close()


@pytest_asyncio.fixture(scope="session")
async def cassandra_store(
    cassandra_contact: tuple[str, int], cassandra_keyspace: str
) -> AsyncIterator[CassandraRecommendationStore]:
    """One store on a keyspace of its own, dropped at the end; tests keep apart by
    using profiles and titles of their own."""
    host, port = cassandra_contact
    settings = CassandraSettings(
        keyspace=f"{cassandra_keyspace}_recs", contact_points=(host,), port=port
    )
    session = await open_migrated(settings, CQL, migrate=True)
    try:
        store = await CassandraRecommendationStore.on_session(session)
    except BaseException:
        await session.close()
        raise
    try:
        yield store
    finally:
        await session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}")
        await store.close()


@pytest.fixture(params=["sqlite", "cassandra"])
def store(request: pytest.FixtureRequest) -> RecommendationStore:
    backend: RecommendationStore = request.getfixturevalue(f"{request.param}_store")
    return backend
