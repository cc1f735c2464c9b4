"""Settings of the catalog service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_CATALOG_X`` first, then
``STREAMMESH_X`` (the runtime's convention, see services/runtime/settings.py),
then the default below. ``STREAMMESH_BACKENDS`` (``embedded`` or ``real``,
set by ``streammesh up``; services/runtime/backends.py) picks the store:
SQLite or Cassandra. ``streammesh config catalog`` shows what is in effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from services.runtime import backends, settings
from services.runtime.cassandra import CONSISTENCY_LEVELS, CassandraSettings
from services.runtime.config import ServerConfig
from services.runtime.settings import Context, Setting, nested, setting

SERVICE: Final = "catalog"
DEFAULT_SQLITE_PATH: Final = Path(".streammesh") / "catalog" / "catalog.db"
# The demo catalog the embedded server imports into an empty store.
DEMO_CATALOG: Final = Path(__file__).resolve().parent / "data" / "netflix_titles.csv"
DEFAULT_KEYSPACE: Final = "streammesh_catalog"


def _consistency(raw: str) -> str:
    """A consistency level's name, any case."""
    level = raw.strip().upper()
    if level not in CONSISTENCY_LEVELS:
        raise ValueError(f"expected one of {', '.join(CONSISTENCY_LEVELS)}")
    return level


def _backends_redis_url(context: Context) -> str:
    """The Redis of the catalog's own backend choice."""
    return context.shared(backends.BackendSettings).redis_url(context["backend"])


@dataclass(frozen=True)
class Config:
    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(metadata=nested())
    # "embedded" (SQLite file) or "real" (Cassandra); STREAMMESH_BACKENDS by default.
    backend: str = field(
        default="embedded",
        metadata=setting(
            parse=lambda raw: backends.Backends.parse(raw).value,
            default_from=lambda c: backends.chosen(c).value,
        ),
    )
    # The embedded store's file.
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    # Keyspace, contact points, consistency and the in-flight bound
    # (services/runtime/cassandra.py); STREAMMESH_[CATALOG_]CASSANDRA_<FIELD>.
    cassandra: CassandraSettings = field(
        default_factory=lambda: CassandraSettings(keyspace=DEFAULT_KEYSPACE),
        metadata=nested(
            "CASSANDRA_",
            fields={
                "keyspace": Setting(doc="Keyspace of the catalog's tables."),
                "contact_points": Setting(doc="Cassandra nodes to reach the cluster by."),
                "port": Setting(doc="Their CQL native transport port."),
                # Any case; a name Cassandra does not know names its variable.
                "consistency": Setting(parse=_consistency),
            },
        ),
    )
    # Cache of titles; may hold a password: secret. Defaults to the backend's Redis.
    redis_url: str = field(
        default=backends.EMBEDDED_REDIS_URL,
        metadata=setting(secret=True, default_from=_backends_redis_url),
    )
    # Prefix of every Redis key this service writes.
    redis_prefix: str = "streammesh:"
    # Cache-aside TTL of titles (the case study's 300 s).
    cache_ttl_seconds: float = 300.0
    # Run the migrations when the server starts (idempotent). On for the
    # embedded file; with Cassandra `streammesh migrate` does it, so several
    # processes never race on schema changes.
    migrate_on_start: bool = field(
        default=True, metadata=setting(default_from=lambda c: c["backend"] == "embedded")
    )
    # A catalog file imported (idempotently) when the server starts: small
    # files for tests and demos; empty: nothing. `streammesh up` imports DEMO_CATALOG
    # itself on first run, through `streammesh import-catalog`.
    seed_catalog: str = ""
    # Writes the importer keeps in flight at once.
    import_concurrency: int = 32

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, SERVICE, environ)
