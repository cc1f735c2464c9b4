"""Search index fixtures: every contract test runs on SQLite FTS5 and on OpenSearch.

The real sample of the catalog (tests/e2e/data/titles_sample.csv, parsed by
the catalog's importer) is indexed once per adapter per session in
``loaded_index``; tests that write (delete, reindex) get a ``fresh_index`` of
their own, loaded with the same sample.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from services.catalog.importer import parse_file
from services.search.indexing import doc_of
from services.search.store import SearchIndex, TitleDoc
from services.search.stores.opensearch import OpenSearchIndex
from services.search.stores.sqlite import SqliteSearchIndex

SAMPLE = Path(__file__).resolve().parents[1] / "e2e" / "data" / "titles_sample.csv"
BACKENDS = ("sqlite", "opensearch")

Opener = Callable[[], Coroutine[Any, Any, SearchIndex]]


@pytest.fixture(scope="session")
def sample() -> list[TitleDoc]:
    parsed = parse_file(SAMPLE)
    assert not parsed.rejected, parsed.rejected
    return [doc_of(row.title) for row in parsed.accepted]


@pytest.fixture(scope="session")
def sqlite_opener(tmp_path_factory: pytest.TempPathFactory) -> Opener:
    async def open_index() -> SearchIndex:
        folder = tmp_path_factory.mktemp("search")
        return await SqliteSearchIndex.open(folder / "search.db")

    return open_index


@pytest.fixture(scope="session")
def opensearch_opener(opensearch_url: str, opensearch_prefix: str) -> Opener:
    async def open_index() -> SearchIndex:
        # A prefix of its own under the run's: deleted with the run's indices.
        return await OpenSearchIndex.open(
            opensearch_url, prefix=f"{opensearch_prefix}{secrets.token_hex(4)}-"
        )

    return open_index


async def _loaded(opener: Opener, sample: list[TitleDoc]) -> SearchIndex:
    index = await opener()
    try:
        await index.upsert(sample)
    except BaseException:
        await index.close()
        raise
    return index


@pytest_asyncio.fixture(scope="session")
async def sqlite_loaded(
    sqlite_opener: Opener, sample: list[TitleDoc]
) -> AsyncIterator[SearchIndex]:
    index = await _loaded(sqlite_opener, sample)
    yield index
    await index.close()


@pytest_asyncio.fixture(scope="session")
async def opensearch_loaded(
    opensearch_opener: Opener, sample: list[TitleDoc]
) -> AsyncIterator[SearchIndex]:
    index = await _loaded(opensearch_opener, sample)
    yield index
    await index.close()


@pytest.fixture(params=BACKENDS)
def index(request: pytest.FixtureRequest) -> SearchIndex:
    """The sample, indexed once per adapter for the session: tests only read it."""
    loaded: SearchIndex = request.getfixturevalue(f"{request.param}_loaded")
    return loaded


@pytest_asyncio.fixture(params=BACKENDS)
async def fresh_index(
    request: pytest.FixtureRequest, sample: list[TitleDoc]
) -> AsyncIterator[SearchIndex]:
    """An index of the test's own, loaded with the sample: tests may write it."""
    opener: Opener = request.getfixturevalue(f"{request.param}_opener")
    index = await _loaded(opener, sample)
    yield index
    await index.close()
