"""Settings of the history service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_HISTORY_X`` first, then
``STREAMMESH_X`` (the runtime's convention, see services/runtime/settings.py),
then the default below. ``STREAMMESH_BACKENDS`` (``embedded`` or ``real``,
set by ``streammesh up``; services/runtime/backends.py) picks the store:
SQLite or Cassandra. ``streammesh config history`` shows what is in effect.
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

SERVICE: Final = "history"
DEFAULT_SQLITE_PATH: Final = Path(".streammesh") / "history" / "history.db"
DEFAULT_KEYSPACE: Final = "streammesh_history"


@dataclass(frozen=True)
class Config:
    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(metadata=nested())
    # "embedded" (SQLite file) or "real" (Cassandra); STREAMMESH_BACKENDS by default.
    backend: str = field(default="embedded", metadata=backends.backend_choice())
    # The embedded store's file.
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    # Keyspace, contact points, consistency and the in-flight bound
    # (services/runtime/cassandra.py); STREAMMESH_[HISTORY_]CASSANDRA_<FIELD>.
    cassandra: CassandraSettings = field(
        default_factory=lambda: CassandraSettings(keyspace=DEFAULT_KEYSPACE),
        metadata=keyspace_settings("the history's tables"),
    )
    # Trending cache, unique-viewer sketches and the consumer group's state;
    # may hold a password: secret. Defaults to the backend's Redis.
    redis_url: str = field(
        default=backends.EMBEDDED_REDIS_URL, metadata=backends.backend_redis_url()
    )
    # Prefix of every Redis key this service writes.
    redis_prefix: str = "streammesh:"
    # Run the migrations when the server starts (idempotent). On for the
    # embedded file; with Cassandra `streammesh migrate` does it, so several
    # processes never race on schema changes.
    migrate_on_start: bool = field(
        default=True, metadata=setting(default_from=lambda c: c["backend"] == "embedded")
    )
    # Titles kept per (country, day) in the precomputed top list; the day
    # window of ListTrending reads at most these.
    top_titles: int = 50
    # Cache-aside TTL of ListTrending answers: how stale a trending page may be.
    trending_cache_ttl_seconds: float = 30.0
    # Page sizes of ListHistory, ListContinueWatching and ListTrending: the
    # default when a request says 0, and the most one page holds (larger
    # requests get this many, AIP-158).
    default_page_size: int = 20
    max_page_size: int = 100
    # How far ahead of the server's clock a view's watch_time may be.
    max_future_skew_seconds: float = 3600.0
    # RecordView requires a live stream slot: the caller's device session
    # must hold one for the profile (users' StartPlayback; checked with
    # users' CheckPlayback on every view). Off only for tools that import
    # past views, which no device is playing.
    require_stream_slot: bool = True
    # Per-call timeouts of the users and catalog calls a request makes
    # (within the caller's own deadline).
    dependency_timeout_seconds: float = 2.0
    # Run the popularity rollup (consumer group "history-popularity" on the
    # streammesh.history stream) beside the server. Every worker process
    # runs one; the group's lease makes one of them active.
    popularity_consumer: bool = True
    # Rollups of different titles at once in the active consumer (one
    # title's views are always rolled up in order).
    popularity_concurrency: int = 16

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, SERVICE, environ)
