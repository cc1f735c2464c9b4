"""The embedded catalog's file failing: every operation is Unavailable, then works again.

SQLite only (the Cassandra store maps its driver's errors in its own bridge),
so not part of the store contract suite. Real files, real locks: another
connection holds the write lock the way a second process would, and the
file's bytes are replaced by garbage and put back.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import pytest_asyncio

from services.catalog.listing import TitleFilter
from services.catalog.stores.sqlite import SqliteCatalogStore
from services.runtime.errors import Unavailable
from streammesh.catalog.v1 import catalog_pb2
from tests.catalog.test_store_contract import NOW_MS, a_title, outbox_events

UNAVAILABLE = "the catalog store is unavailable; retry later"
# How long the store waits for a lock before it gives up (the production wait is 5 s).
BUSY_TIMEOUT_MS = 100


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "catalog.db"


@pytest_asyncio.fixture
async def store(path: Path) -> AsyncIterator[SqliteCatalogStore]:
    opened = await SqliteCatalogStore.open(path, busy_timeout_ms=BUSY_TIMEOUT_MS)
    yield opened
    await opened.close()  # a second close (after a test's own) does nothing


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another connection (as another process would) holds the write lock."""
    with closing(sqlite3.connect(path, isolation_level=None, timeout=1)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


@contextmanager
def not_a_database(path: Path) -> Iterator[None]:
    """The file's bytes are garbage until the block ends; then they are back as they were."""
    with closing(sqlite3.connect(path, isolation_level=None, timeout=1)) as other:
        # Everything committed moves into the file, and the store's connections
        # see that the file changed, so they read it again instead of a cache.
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    good = path.read_bytes()
    with path.open("r+b") as file:
        file.write(b"\xde\xad\xbe\xef not a database " * (len(good) // 24 + 1))
    try:
        yield
    finally:
        with path.open("r+b") as file:
            file.write(good)
            file.truncate(len(good))


async def test_writes_wait_out_a_lock_then_are_unavailable_and_work_once_it_is_gone(
    store: SqliteCatalogStore, path: Path
) -> None:
    first = await store.create_title(a_title())
    second = a_title()
    with write_lock_held(path):
        with pytest.raises(Unavailable) as raised:
            await store.create_title(second)
        assert raised.value.message == UNAVAILABLE
        with pytest.raises(Unavailable):
            await store.put_metadata(catalog_pb2.TitleMetadata(title_id=first.title_id))
        # Readers are not blocked by a writer (WAL): the catalog still browses.
        assert await store.get_title(first.title_id) == first
    created = await store.create_title(second)
    assert await store.get_title(second.title_id) == created
    assert await store.get_title(first.title_id) == first
    # One event per title: the refused write left nothing behind.
    assert len(await outbox_events(store, first.title_id)) == 1
    assert len(await outbox_events(store, second.title_id)) == 1


async def test_a_file_that_is_not_a_database_is_unavailable_and_loses_nothing(
    store: SqliteCatalogStore, path: Path
) -> None:
    genre = f"Outage {uuid.uuid4()}"
    first = await store.create_title(a_title(genres=[genre]))
    second = a_title(genres=[genre])
    listing = TitleFilter(genre=genre)
    with not_a_database(path):
        for operation in (
            store.get_title(first.title_id),
            store.list_titles(listing, 10, None, NOW_MS),
            store.create_title(second),
        ):
            with pytest.raises(Unavailable) as raised:
                await operation
            assert raised.value.message == UNAVAILABLE
    # SQLite keeps the garbage first page cached on the open connections until
    # the file changes through the WAL, so a corrupted file needs what a
    # corruption gets anyway: the good file back and the service restarted.
    await store.close()
    reopened = await SqliteCatalogStore.open(path, busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        assert await reopened.get_title(first.title_id) == first
        created = await reopened.create_title(second)
        page = await reopened.list_titles(listing, 10, None, NOW_MS)
        assert sorted(t.title_id for t in page.titles) == sorted([first.title_id, created.title_id])
        assert len(await outbox_events(reopened, first.title_id)) == 1
        assert len(await outbox_events(reopened, second.title_id)) == 1
    finally:
        await reopened.close()


async def test_opening_a_file_that_is_not_a_database_is_unavailable(path: Path) -> None:
    store = await SqliteCatalogStore.open(path)
    title = await store.create_title(a_title())
    await store.close()
    with not_a_database(path), pytest.raises(Unavailable, match="retry later"):
        await SqliteCatalogStore.open(path)
    store = await SqliteCatalogStore.open(path)
    try:
        assert await store.get_title(title.title_id) == title
    finally:
        await store.close()
