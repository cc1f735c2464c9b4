"""The relay's port on the catalog's Cassandra outbox (the SQLite outbox has the
shape services/events/outbox.py's SqlOutboxSource reads, tested there)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from services.catalog.stores.cassandra import CassandraCatalogStore
from services.catalog.stores.sqlite import SqliteCatalogStore
from services.events.cassandra_outbox import CassandraOutboxSource
from services.events.outbox import SqlOutboxSource, define_outbox_table
from streammesh.catalog.v1 import catalog_pb2
from streammesh.events.v1 import event_pb2
from tests.catalog.conftest import migrated_cassandra_store


def a_title() -> catalog_pb2.Title:
    return catalog_pb2.Title(
        title_id=str(uuid.uuid4()),
        title="Outboxed",
        release_year=2020,
        duration_minutes=90,
        content_type="MOVIE",
        maturity_rating="PG",
    )


@pytest_asyncio.fixture
async def outbox_store(
    cassandra_contact: tuple[str, int], cassandra_keyspace: str
) -> AsyncIterator[tuple[CassandraCatalogStore, CassandraOutboxSource]]:
    keyspace = f"{cassandra_keyspace}_outbox"
    store = await migrated_cassandra_store(cassandra_contact, keyspace)
    try:
        yield store, store.outbox_source()
    finally:
        await store.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        await store.close()


async def test_events_flow_through_the_outbox_port(
    outbox_store: tuple[CassandraCatalogStore, CassandraOutboxSource],
) -> None:
    store, source = outbox_store
    title = await store.create_title(a_title())
    patch = catalog_pb2.Title(title_id=title.title_id, title="Renamed")
    await store.update_title(patch, ["title"])
    pending = await source.fetch_unpublished(10)
    assert [row.event_type for row in pending] == ["catalog.title.created", "catalog.title.updated"]
    assert {row.aggregate_id for row in pending} == {title.title_id}
    event = event_pb2.Event.FromString(pending[0].payload)
    assert event.event_id == pending[0].event_id
    assert len(await source.fetch_unpublished(1)) == 1

    published = datetime.now(UTC)
    await source.mark_published([pending[0].event_id], published)
    assert [row.event_id for row in await source.fetch_unpublished(10)] == [pending[1].event_id]

    assert await source.unpublish_since(published - timedelta(seconds=1)) == 1
    assert len(await source.fetch_unpublished(10)) == 2

    await source.mark_published([row.event_id for row in pending], published)
    assert await source.fetch_unpublished(10) == []
    assert await source.purge_published(published - timedelta(seconds=1), 10) == 0
    assert await source.purge_published(published + timedelta(seconds=1), 1) == 1
    assert await source.purge_published(published + timedelta(seconds=1), 10) == 1


async def test_the_sqlite_outbox_is_readable_by_the_sql_outbox_source(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    store = await SqliteCatalogStore.open(path)
    title = await store.create_title(a_title())
    await store.close()
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        source = SqlOutboxSource(engine, define_outbox_table(MetaData()), name="catalog")
        [row] = await source.fetch_unpublished(10)
        assert (row.event_type, row.aggregate_id) == ("catalog.title.created", title.title_id)
        await source.mark_published([row.event_id], datetime.now(UTC))
        assert await source.fetch_unpublished(10) == []
    finally:
        await engine.dispose()
