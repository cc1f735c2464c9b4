"""The importer on both stores: a fixture file with every defect kind, a
re-import that changes nothing, a changed row that is updated, and (slower,
still part of `make test`) the real 8,807-row catalog."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.catalog import netflix_csv
from services.catalog.importer import import_parsed, parse_file
from services.catalog.store import CatalogStore
from services.catalog.stores.cassandra import CassandraCatalogStore
from services.catalog.stores.sqlite import SqliteCatalogStore
from tests.catalog.conftest import DATA, REAL_CATALOG, migrated_cassandra_store


def own_copy(tmp_path: Path, text: str) -> Path:
    """The file with show ids of this test's own, so the shared keyspace's
    titles from other tests never collide with these."""
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "catalog.csv"
    path.write_text(re.sub(r"^(s\d+),", rf"{tag}-\1,", text, flags=re.MULTILINE))
    return path


async def test_the_defects_file_imports_its_good_rows(store: CatalogStore, tmp_path: Path) -> None:
    path = own_copy(tmp_path, (DATA / "defects.csv").read_text())
    progress: list[int] = []
    report = await import_parsed(
        store, parse_file(path), concurrency=3, on_progress=progress.append
    )
    assert report.rows == 19  # 20 lines, one record spans two
    assert dict(report.outcomes) == {"created": 5}
    assert len(report.rejected) == 14
    assert [r.line for r in report.rejected] == sorted(r.line for r in report.rejected)
    assert progress[-1] == 5
    first = parse_file(path).accepted[0]
    stored = await store.get_title(first.title.title_id)
    assert stored is not None
    assert stored.title == "Dick Johnson Is Dead"


async def test_a_second_import_changes_nothing(store: CatalogStore, tmp_path: Path) -> None:
    path = own_copy(tmp_path, (DATA / "defects.csv").read_text())
    await import_parsed(store, parse_file(path), concurrency=4)
    before = {
        a.title.title_id: await store.get_title(a.title.title_id) for a in parse_file(path).accepted
    }
    again = await import_parsed(store, parse_file(path), concurrency=4)
    assert dict(again.outcomes) == {"unchanged": 5}
    for title_id, title in before.items():
        assert await store.get_title(title_id) == title  # not even update_time moved


async def test_a_changed_row_is_updated(store: CatalogStore, tmp_path: Path) -> None:
    path = own_copy(tmp_path, (DATA / "defects.csv").read_text())
    await import_parsed(store, parse_file(path), concurrency=2)
    path.write_text(path.read_text().replace("Dick Johnson Is Dead", "Dick Johnson Lives"))
    report = await import_parsed(store, parse_file(path), concurrency=2)
    assert dict(report.outcomes) == {"updated": 1, "unchanged": 4}
    changed = parse_file(path).accepted[0].title
    stored = await store.get_title(changed.title_id)
    assert stored is not None
    assert stored.title == "Dick Johnson Lives"


# ------------------------------------------------------------- the real file


@pytest_asyncio.fixture
async def empty_cassandra_store(
    cassandra_contact: tuple[str, int], cassandra_keyspace: str
) -> AsyncIterator[CassandraCatalogStore]:
    """A keyspace of its own: the whole catalog would crowd the shared one."""
    keyspace = f"{cassandra_keyspace}_full"
    store = await migrated_cassandra_store(cassandra_contact, keyspace)
    try:
        yield store
    finally:
        await store.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        await store.close()


@pytest_asyncio.fixture
async def empty_sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteCatalogStore]:
    store = await SqliteCatalogStore.open(tmp_path / "full.db")
    yield store
    await store.close()


@pytest.fixture(params=["sqlite", "cassandra"])
def empty_store(request: pytest.FixtureRequest) -> CatalogStore:
    store: CatalogStore = request.getfixturevalue(f"empty_{request.param}_store")
    return store


@pytest.mark.real
async def test_the_real_catalog_imports_and_reimports_as_no_change(
    empty_store: CatalogStore,
) -> None:
    store = empty_store
    parsed = parse_file(REAL_CATALOG / "netflix_titles.csv")
    first = await import_parsed(store, parsed, concurrency=64)
    assert first.rows == 8807
    assert dict(first.outcomes) == {"created": 8790}
    reasons = sorted(r.reason for r in first.rejected)
    assert len(reasons) == 17
    assert reasons.count("date_added is empty") == 10
    assert reasons.count("rating is empty") == 4
    assert sum("rating column holds a duration" in r for r in reasons) == 3
    assert [(r.line, r.show_id) for r in first.rejected][:3] == [
        (5543, "s5542"),
        (5796, "s5795"),
        (5815, "s5814"),
    ]
    second = await import_parsed(store, parse_file(REAL_CATALOG / "netflix_titles.csv"), 64)
    assert dict(second.outcomes) == {"unchanged": 8790}
    assert netflix_csv.title_id_for("s1") in await store.batch_get_titles(
        [netflix_csv.title_id_for("s1")]
    )
