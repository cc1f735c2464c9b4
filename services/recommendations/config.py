"""Settings of the recommendations service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_RECOMMENDATIONS_X`` first, then
``STREAMMESH_X`` (services/runtime/settings.py), then the default below.
``STREAMMESH_BACKENDS`` picks the store: SQLite or Cassandra.
``streammesh config recommendations`` shows what is in effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from services.runtime import backends, settings
from services.runtime.cassandra import CassandraSettings, keyspace_settings
from services.runtime.config import ServerConfig
from services.runtime.settings import nested, setting

SERVICE: Final = "recommendations"
DEFAULT_SQLITE_PATH: Final = Path(".streammesh") / "recommendations" / "recommendations.db"
DEFAULT_KEYSPACE: Final = "streammesh_recommendations"


@dataclass(frozen=True)
class Config:
    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(metadata=nested())
    # "embedded" (SQLite file) or "real" (Cassandra); STREAMMESH_BACKENDS by default.
    backend: str = field(default="embedded", metadata=backends.backend_choice())
    # The embedded store's file.
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    # STREAMMESH_[RECOMMENDATIONS_]CASSANDRA_<FIELD> (services/runtime/cassandra.py).
    cassandra: CassandraSettings = field(
        default_factory=lambda: CassandraSettings(keyspace=DEFAULT_KEYSPACE),
        metadata=keyspace_settings("the recommendations' tables"),
    )
    # The consumer group's state; may hold a password: secret.
    redis_url: str = field(
        default=backends.EMBEDDED_REDIS_URL, metadata=backends.backend_redis_url()
    )
    # Prefix of every Redis key this service writes (and of the streams it reads).
    redis_prefix: str = "streammesh:"
    # Run the migrations when the server starts (on for the embedded file).
    migrate_on_start: bool = field(
        default=True, metadata=setting(default_from=lambda c: c["backend"] == "embedded")
    )
    # Titles kept in a profile's precomputed list and in a title's similar titles.
    list_size: int = 100
    # ListRecommendations / ListSimilarTitles page sizes: default and most.
    default_page_size: int = 20
    max_page_size: int = 100
    # Distinct titles watched at which the personal models weigh half of the
    # blend (popularity the other half); see services/recommendations/models.py.
    history_half_weight: float = 3.0
    # The co-occurrence share of the personal weight (content gets the rest).
    co_share: float = 0.7
    # Per-call timeout of the users and catalog calls.
    dependency_timeout_seconds: float = 2.0
    # Bound of the whole catalog read at start-up (ListTitles pages).
    catalog_load_timeout_seconds: float = 120.0
    # Run the freshness consumer (group "recommendations-freshness" on
    # streammesh.history) beside the server; the group's lease makes one
    # process active.
    freshness_consumer: bool = True
    # Views handled at once by the active consumer (one profile's in order).
    freshness_concurrency: int = 8

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, SERVICE, environ)
