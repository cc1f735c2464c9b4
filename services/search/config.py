"""Settings of the search service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_SEARCH_X`` first, then
``STREAMMESH_X`` (the runtime's convention, see services/runtime/settings.py),
then the default below. ``STREAMMESH_BACKENDS`` (``embedded`` or ``real``,
set by ``streammesh up``; services/runtime/backends.py) picks the index:
SQLite FTS5 or OpenSearch. ``streammesh config search`` shows what is in effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from services.runtime import backends, settings
from services.runtime.config import ServerConfig
from services.runtime.settings import nested, setting

SERVICE: Final = "search"
DEFAULT_SQLITE_PATH: Final = Path(".streammesh") / "search" / "search.db"
DEFAULT_OPENSEARCH_URL: Final = "http://127.0.0.1:9200"


@dataclass(frozen=True)
class Config:
    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(metadata=nested())
    # "embedded" (SQLite FTS5 file) or "real" (OpenSearch); STREAMMESH_BACKENDS by default.
    backend: str = field(default="embedded", metadata=backends.backend_choice())
    # The embedded index's file.
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    # Reader connections of the embedded index: searches at once, each on a
    # thread of its own (SQLite runs queries without the GIL).
    sqlite_readers: int = 4
    # The OpenSearch cluster of the real backend; may hold a password: secret.
    opensearch_url: str = field(default=DEFAULT_OPENSEARCH_URL, metadata=setting(secret=True))
    # Prefix of the index names: the alias is <prefix>titles, each generation
    # <prefix>titles-<generation>.
    index_prefix: str = "streammesh-"
    # Per-request timeout of OpenSearch calls.
    opensearch_timeout_seconds: float = 10.0
    # The consumer group's state; may hold a password: secret. Defaults to the
    # backend's Redis.
    redis_url: str = field(
        default=backends.EMBEDDED_REDIS_URL, metadata=backends.backend_redis_url()
    )
    # Prefix of every Redis key this service uses (and of the streams it reads).
    redis_prefix: str = "streammesh:"
    # Run the indexer (consumer group "search-indexer" on the catalog's stream)
    # beside the server. Every worker process runs one; the group's lease makes
    # one of them active.
    indexer_consumer: bool = True
    # Titles indexed at once by the active consumer (one title's events are
    # always indexed in order), and so the most documents in one index write.
    indexer_concurrency: int = 256
    # How long the first document of a write waits for others to join it.
    indexer_linger_ms: float = 5.0
    # Page sizes of Search and Suggest: the default when a request says 0, and
    # the most one page holds (larger requests get this many).
    default_page_size: int = 20
    max_page_size: int = 100
    default_suggestions: int = 10
    max_suggestions: int = 20
    # Per-call timeout of the users call a request with a profile_id makes
    # (within the caller's own deadline).
    dependency_timeout_seconds: float = 2.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, SERVICE, environ)
