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
from services.runtime.cassandra import CassandraSettings, keyspace_settings
from services.runtime.config import ServerConfig
from services.runtime.object_store import ObjectStoreSettings
from services.runtime.settings import nested, setting

SERVICE: Final = "catalog"
DEFAULT_SQLITE_PATH: Final = Path(".streammesh") / "catalog" / "catalog.db"
# The demo catalog the embedded server imports into an empty store.
DEMO_CATALOG: Final = Path(__file__).resolve().parent / "data" / "netflix_titles.csv"
DEFAULT_KEYSPACE: Final = "streammesh_catalog"


@dataclass(frozen=True)
class Config:
    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(metadata=nested())
    # "embedded" (SQLite file) or "real" (Cassandra); STREAMMESH_BACKENDS by default.
    backend: str = field(default="embedded", metadata=backends.backend_choice())
    # The embedded store's file.
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    # Keyspace, contact points, consistency and the in-flight bound
    # (services/runtime/cassandra.py); STREAMMESH_[CATALOG_]CASSANDRA_<FIELD>.
    cassandra: CassandraSettings = field(
        default_factory=lambda: CassandraSettings(keyspace=DEFAULT_KEYSPACE),
        metadata=keyspace_settings("the catalog's tables"),
    )
    # Cache of titles; may hold a password: secret. Defaults to the backend's Redis.
    redis_url: str = field(
        default=backends.EMBEDDED_REDIS_URL, metadata=backends.backend_redis_url()
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
    # Where artwork objects live: "embedded" (files under OBJECTS_ROOT) or
    # "real" (s3proxy); STREAMMESH_BACKENDS by default.
    media_store: str = field(
        default="embedded",
        metadata=setting(default_from=lambda context: backends.chosen(context).value),
    )
    # The object store's folder, S3 endpoint and account (OBJECTS_*).
    objects: ObjectStoreSettings = field(
        default_factory=ObjectStoreSettings, metadata=nested("OBJECTS_")
    )
    # The bucket of title artwork (services/catalog/artwork.py has its layout).
    media_bucket: str = "media"
    # The edge's /media prefix as devices reach it: the base of artwork URLs.
    media_base: str = "http://127.0.0.1:8080/media"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, SERVICE, environ)
