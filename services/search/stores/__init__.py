"""Adapters of :class:`services.search.store.SearchIndex`: SQLite FTS5 (embedded,
:mod:`.sqlite`) and OpenSearch 2 (real, :mod:`.opensearch`). Both pass one contract
suite (tests/search/test_index_contract.py). :func:`open_index` is the one place
that picks one from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.search.store import SearchIndex
from services.search.stores.opensearch import OpenSearchIndex
from services.search.stores.sqlite import SqliteSearchIndex

if TYPE_CHECKING:
    from services.search.config import Config


async def open_index(config: Config) -> SearchIndex:
    """The index ``config`` names: the SQLite file or the OpenSearch
    alias ``<index_prefix>titles`` (created empty when missing)."""
    if config.backend == "real":
        return await OpenSearchIndex.open(
            config.opensearch_url,
            prefix=config.index_prefix,
            request_timeout=config.opensearch_timeout_seconds,
        )
    return await SqliteSearchIndex.open(config.sqlite_path, readers=config.sqlite_readers)
