"""The search service: full-text title search, facets and suggestions (port 50055).

The storage port is :mod:`services.search.store`; its adapters (SQLite FTS5
embedded, OpenSearch real) are in :mod:`services.search.stores`.
"""
