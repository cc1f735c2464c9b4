"""Adapters of :class:`services.search.store.SearchIndex`: SQLite FTS5 (embedded,
:mod:`.sqlite`) and OpenSearch 2 (real, :mod:`.opensearch`). Both pass one contract
suite (tests/search/test_index_contract.py)."""
