"""Adapters of :class:`services.recommendations.store.RecommendationStore`, and the one place
that picks one from the configuration (services/runtime/keyspace_store.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.recommendations.migrations import CQL
from services.recommendations.store import RecommendationStore
from services.recommendations.stores.cassandra import CassandraRecommendationStore
from services.recommendations.stores.sqlite import SqliteRecommendationStore
from services.runtime.keyspace_store import KeyspaceStore

if TYPE_CHECKING:
    from services.recommendations.config import Config

STORE: KeyspaceStore[RecommendationStore] = KeyspaceStore(
    SqliteRecommendationStore.open, CassandraRecommendationStore.on_session, CQL
)


async def open_store(config: Config, *, migrate: bool | None = None) -> RecommendationStore:
    """The store ``config`` names, its schema brought up to date first when ``migrate``."""
    return await STORE.open(config, migrate=migrate)
