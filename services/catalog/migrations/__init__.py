"""Versioned CQL migrations of the catalog keyspace, applied by ``streammesh migrate``.

Files ``NNNN_<name>.cql`` in this folder run in order, each once: the
``schema_migrations`` table records the version with a checksum of the file,
and a recorded file whose text has changed stops the run (write a new
migration instead of editing an applied one). Statements are separated by
``;`` at the end of a line and use unqualified table names (they run in the
catalog keyspace, which the first step creates when missing).

The embedded SQLite store keeps its own schema (``CREATE TABLE IF NOT
EXISTS`` when it opens), so for it :func:`apply` only opens the file once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from cassandra.cluster import Session

    from services.catalog.config import Config

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent
_FILE_NAME: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.cql$")
_KEYSPACE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
INDEX_BUILD_TIMEOUT_SECONDS: Final = 120.0
INDEX_POLL_SECONDS: Final = 0.5


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    statements: tuple[str, ...]
    checksum: str


def migrations() -> list[Migration]:
    """Every migration file, in version order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.cql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise RuntimeError(f"{path.name}: migration files are named NNNN_name.cql")
        text = path.read_text(encoding="utf-8")
        found.append(
            Migration(
                version=match[1],
                name=path.stem,
                statements=split_statements(text),
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return found


def split_statements(text: str) -> tuple[str, ...]:
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return tuple(s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";"))


async def apply(config: Config) -> list[str]:
    """Brings the store of ``config`` to the newest schema; returns the versions applied."""
    if config.backend == "embedded":
        from services.catalog.stores.sqlite import SqliteCatalogStore

        store = await SqliteCatalogStore.open(config.sqlite_path)
        await store.close()
        return []
    from services.catalog.stores.cassandra import connect

    cluster, session = await connect(config)
    try:
        return await apply_cql(
            session, config.cassandra_keyspace, config.cassandra_replication_factor
        )
    finally:
        from services.catalog.stores.cassandra import shutdown

        await shutdown(cluster)


async def apply_cql(session: Session, keyspace: str, replication_factor: int = 1) -> list[str]:
    """Applies the pending migrations to ``keyspace`` (created when missing)."""
    from services.catalog.stores.cassandra import execute

    if not _KEYSPACE_NAME.match(keyspace):
        raise ValueError(f"{keyspace!r} is not a keyspace name this service creates")
    await execute(
        session,
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {int(replication_factor)}}}",
    )
    await execute(
        session,
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations ("
        "version text PRIMARY KEY, name text, checksum text, applied_at timestamp)",
    )
    rows = await execute(session, f"SELECT version, checksum FROM {keyspace}.schema_migrations")
    recorded = {row.version: row.checksum for row in rows}
    applied = []
    for migration in migrations():
        if migration.version in recorded:
            if recorded[migration.version] != migration.checksum:
                raise RuntimeError(
                    f"migration {migration.name} changed after it was applied; "
                    "add a new migration instead"
                )
            continue
        await execute(session, f"USE {keyspace}")
        for statement in migration.statements:
            await execute(session, statement)
        await execute(
            session,
            f"INSERT INTO {keyspace}.schema_migrations (version, name, checksum, applied_at) "
            "VALUES (%s, %s, %s, toTimestamp(now()))",
            (migration.version, migration.name, migration.checksum),
        )
        applied.append(migration.name)
    await wait_for_indexes(session, keyspace)
    return applied


async def wait_for_indexes(session: Session, keyspace: str) -> None:
    """Waits until every storage-attached index of ``keyspace`` answers queries.

    A new index on a table that holds rows builds in the background; queries
    that need it fail until then. Bounded by INDEX_BUILD_TIMEOUT_SECONDS.
    """
    from services.catalog.stores.cassandra import execute

    deadline = time.monotonic() + INDEX_BUILD_TIMEOUT_SECONDS
    while True:
        rows = await execute(
            session,
            "SELECT index_name, is_queryable FROM system_views.sai_column_indexes "
            "WHERE keyspace_name = %s",
            (keyspace,),
        )
        building = sorted(row.index_name for row in rows if not row.is_queryable)
        if not building:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"indexes {building} of {keyspace} still building after "
                f"{INDEX_BUILD_TIMEOUT_SECONDS:.0f} s"
            )
        await asyncio.sleep(INDEX_POLL_SECONDS)
