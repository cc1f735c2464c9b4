"""Settings of the analytics service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_ANALYTICS_X`` first, then
``STREAMMESH_X`` (the runtime's convention, see services/runtime/settings.py),
then the default below. ``STREAMMESH_BACKENDS`` (``embedded`` or ``real``,
set by ``streammesh up``; services/runtime/backends.py) picks the warehouse:
DuckDB or PostgreSQL. ``streammesh config analytics`` shows what is in effect.
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

SERVICE: Final = "analytics"
DEFAULT_DUCKDB_PATH: Final = Path(".streammesh") / "analytics" / "analytics.duckdb"
# The service's own database and account under `streammesh infra up`
# (devtools/infra/endpoints.py provisions them).
DEFAULT_POSTGRES_URL: Final = "postgresql://analytics:analytics@127.0.0.1:5432/analytics"


@dataclass(frozen=True)
class Config:
    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(metadata=nested())
    # "embedded" (DuckDB file) or "real" (PostgreSQL); STREAMMESH_BACKENDS by default.
    backend: str = field(default="embedded", metadata=backends.backend_choice())
    # The embedded warehouse's file (one process opens it at a time).
    duckdb_path: Path = DEFAULT_DUCKDB_PATH
    # Calls waiting for the embedded warehouse's one connection thread; more
    # callers wait on the event loop instead of in the executor's queue.
    duckdb_max_pending: int = 64
    # The real warehouse; holds a password: secret.
    postgres_url: str = field(default=DEFAULT_POSTGRES_URL, metadata=setting(secret=True))
    # Connections in the PostgreSQL pool (the three loaders and the reports share it).
    postgres_pool_size: int = 4
    # Bound on connecting and on each statement.
    postgres_timeout_seconds: float = 60.0
    # Apply the warehouse's migrations when the server starts (versioned,
    # idempotent; on PostgreSQL under an advisory lock, so processes never race).
    migrate_on_start: bool = True
    # The consumer groups' state; may hold a password: secret. Defaults to the
    # backend's Redis.
    redis_url: str = field(
        default=backends.EMBEDDED_REDIS_URL, metadata=backends.backend_redis_url()
    )
    # Prefix of every Redis key this service uses (and of the streams it reads).
    redis_prefix: str = "streammesh:"
    # Run the loaders (one consumer group per stream: users, catalog, history)
    # beside the server. Every worker process runs them; each group's lease
    # makes one of them active.
    ingest_consumers: bool = True
    # A micro-batch is loaded when it holds this many events, or when its
    # oldest event has waited batch_max_wait_seconds. Also the events each
    # consumer has in hand at once.
    batch_max_events: int = 500
    batch_max_wait_seconds: float = 0.2
    # How long a loader retries a batch while the warehouse is unavailable
    # before failing its events back to the stream (which retries them and,
    # after 5 deliveries, dead-letters them).
    outage_retry_seconds: float = 120.0
    # Retention: raw facts are kept for this many UTC days (today included);
    # older days are rolled up into daily rollups, kept for ever, which the
    # reports read instead (same figures). Also the bound on how late an event
    # may arrive: rows of a rolled-up day are dropped. 0 keeps raw facts for ever.
    raw_retention_days: int = 90
    # How often the rollup runs (and once at start).
    retention_interval_seconds: float = 3600.0
    # Reports: the range when a request names none (ending today, UTC), the
    # longest range one call may ask for, and page sizes (the default when a
    # request says 0, and the most one page holds).
    default_range_days: int = 30
    max_range_days: int = 1_000
    default_page_size: int = 20
    max_page_size: int = 100

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, SERVICE, environ)
