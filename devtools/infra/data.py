"""StreamMesh's own named data on the shared backends, and wiping only that.

The real backends of ``streammesh infra up`` are shared: by every clone's mesh,
by the test suite (each run in its own databases, keyspaces and key prefixes,
tests/conftest.py) and by the people working beside you. ``infra reset``
without options stops the servers and deletes their folders: everyone's data.
``infra reset --data`` instead keeps the servers running and drops only the
named data of a :class:`DataScope`: by default StreamMesh's own (the service
databases, the service keyspaces, the ``streammesh:`` keys), or exactly the
names given (``--mariadb-db``, ``--postgres-db``, ``--keyspace``,
``--redis-prefix``), which is how the backup tests reset what they wrote and
nothing else. ``streammesh backup`` (devtools/backup/) saves and restores the
same scope.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiomysql
import asyncpg
import redis.asyncio as aioredis

from devtools.infra import endpoints

# Bound on one connection attempt and one schema change.
CONNECT_TIMEOUT_SECONDS = 5.0
CASSANDRA_SCHEMA_TIMEOUT_SECONDS = 60.0
# Keys deleted per UNLINK (a bounded batch per round trip).
REDIS_DELETE_BATCH = 500

# The Cassandra keyspaces of the services (their configs' defaults).
SERVICE_KEYSPACES: tuple[str, ...] = ("streammesh_catalog", "streammesh_history")
# What every service's Redis keys start with (their configs' ``redis_prefix``).
SERVICE_REDIS_PREFIXES: tuple[str, ...] = ("streammesh:",)

Report = Callable[[str, str], None]
# The backends whose data a DataScope names.
DATA_BACKENDS: tuple[str, ...] = ("mariadb", "postgres", "cassandra", "redis")


@dataclass(frozen=True)
class DataScope:
    """Named data on each backend; a backend with no names is left alone."""

    mariadb_databases: tuple[str, ...] = ()
    postgres_databases: tuple[str, ...] = ()
    cassandra_keyspaces: tuple[str, ...] = ()
    redis_prefixes: tuple[str, ...] = ()

    @classmethod
    def streammesh(cls) -> DataScope:
        """What the services own under their default settings."""
        return cls(
            mariadb_databases=endpoints.MARIADB_SERVICE_DATABASES,
            postgres_databases=endpoints.POSTGRES_SERVICE_DATABASES,
            cassandra_keyspaces=SERVICE_KEYSPACES,
            redis_prefixes=SERVICE_REDIS_PREFIXES,
        )

    def names(self, backend: str) -> tuple[str, ...]:
        return {
            "mariadb": self.mariadb_databases,
            "postgres": self.postgres_databases,
            "cassandra": self.cassandra_keyspaces,
            "redis": self.redis_prefixes,
        }.get(backend, ())


def identifier(name: str) -> str:
    """A database or keyspace name we may splice into SQL/CQL (they cannot be parameters)."""
    if not name or not all(c.isalnum() or c == "_" for c in name) or len(name) > 48:
        raise ValueError(f"{name!r} is not a plain database name (letters, digits, _)")
    return name


async def mariadb_admin() -> aiomysql.Connection:
    return await aiomysql.connect(
        host=endpoints.HOST,
        port=endpoints.MARIADB_PORT,
        user=endpoints.MARIADB_ADMIN_USER,
        password=endpoints.MARIADB_ADMIN_PASSWORD,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        autocommit=True,
    )


async def postgres_admin() -> asyncpg.Connection:
    return await asyncpg.connect(endpoints.postgres_admin_url(), timeout=CONNECT_TIMEOUT_SECONDS)


def redis_client(db: int = 0) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        endpoints.redis_url(db), socket_connect_timeout=CONNECT_TIMEOUT_SECONDS
    )


async def drop_mariadb(databases: tuple[str, ...]) -> None:
    connection = await mariadb_admin()
    try:
        async with connection.cursor() as cursor:
            for name in databases:
                await cursor.execute(f"DROP DATABASE IF EXISTS `{identifier(name)}`")
    finally:
        connection.close()


async def drop_postgres(databases: tuple[str, ...]) -> None:
    connection = await postgres_admin()
    try:
        for name in databases:
            await connection.execute(f'DROP DATABASE IF EXISTS "{identifier(name)}" WITH (FORCE)')
    finally:
        await connection.close()


def _drop_keyspaces(keyspaces: tuple[str, ...]) -> None:
    from cassandra.cluster import Cluster

    host, port = endpoints.cassandra_contact()
    cluster = Cluster(
        [host], port=port, protocol_version=5, connect_timeout=CONNECT_TIMEOUT_SECONDS
    )
    try:
        session = cluster.connect()
        for name in keyspaces:
            session.execute(
                f"DROP KEYSPACE IF EXISTS {identifier(name)}",
                timeout=CASSANDRA_SCHEMA_TIMEOUT_SECONDS,
            )
    finally:
        cluster.shutdown()


async def drop_cassandra(keyspaces: tuple[str, ...]) -> None:
    # The driver blocks; keep it off the event loop.
    await asyncio.to_thread(_drop_keyspaces, keyspaces)


async def redis_databases() -> list[int]:
    """The logical databases that hold keys (INFO keyspace)."""
    client = redis_client()
    try:
        info = await client.info("keyspace")
    finally:
        await client.aclose()
    return sorted(int(name.removeprefix("db")) for name in info)


async def delete_redis_prefixes(prefixes: tuple[str, ...]) -> int:
    """Deletes every key under the prefixes in every logical database; returns how many."""
    deleted = 0
    for db in await redis_databases():
        client = redis_client(db)
        try:
            for prefix in prefixes:
                if not prefix:
                    raise ValueError("an empty Redis prefix would match every key")
                batch: list[bytes] = []
                async for key in client.scan_iter(match=f"{_glob_escape(prefix)}*", count=1000):
                    batch.append(key)
                    if len(batch) >= REDIS_DELETE_BATCH:
                        deleted += await client.unlink(*batch)
                        batch.clear()
                if batch:
                    deleted += await client.unlink(*batch)
        finally:
            await client.aclose()
    return deleted


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


async def reset_data(scope: DataScope, report: Report) -> None:
    """Drops the scope's databases, keyspaces and keys; the servers keep running."""
    if scope.mariadb_databases:
        await drop_mariadb(scope.mariadb_databases)
        report("mariadb", f"dropped databases {', '.join(scope.mariadb_databases)}")
    if scope.postgres_databases:
        await drop_postgres(scope.postgres_databases)
        report("postgres", f"dropped databases {', '.join(scope.postgres_databases)}")
    if scope.cassandra_keyspaces:
        await drop_cassandra(scope.cassandra_keyspaces)
        report("cassandra", f"dropped keyspaces {', '.join(scope.cassandra_keyspaces)}")
    if scope.redis_prefixes:
        count = await delete_redis_prefixes(scope.redis_prefixes)
        report("redis", f"deleted {count} keys under {', '.join(scope.redis_prefixes)}")


def add_scope_arguments(parser: argparse.ArgumentParser) -> None:
    """``--mariadb-db``, ``--postgres-db``, ``--keyspace``, ``--redis-prefix`` (repeatable)."""
    group = parser.add_argument_group(
        "scope", "named data to act on; none given: StreamMesh's own (the services' defaults)"
    )
    for flag, dest, what in (
        ("--mariadb-db", "mariadb_databases", "a MariaDB database"),
        ("--postgres-db", "postgres_databases", "a PostgreSQL database"),
        ("--keyspace", "cassandra_keyspaces", "a Cassandra keyspace"),
        ("--redis-prefix", "redis_prefixes", "a Redis key prefix (every logical database)"),
    ):
        group.add_argument(flag, dest=dest, action="append", default=[], metavar="NAME", help=what)


def scope_from_args(args: argparse.Namespace, backends: Sequence[str]) -> DataScope:
    """The names given on the command line, or StreamMesh's own when none is given,
    restricted to ``backends``."""
    given = DataScope(
        mariadb_databases=tuple(args.mariadb_databases),
        postgres_databases=tuple(args.postgres_databases),
        cassandra_keyspaces=tuple(args.cassandra_keyspaces),
        redis_prefixes=tuple(args.redis_prefixes),
    )
    scope = given if given != DataScope() else DataScope.streammesh()
    for name in (*scope.mariadb_databases, *scope.postgres_databases, *scope.cassandra_keyspaces):
        identifier(name)
    return DataScope(
        mariadb_databases=scope.mariadb_databases if "mariadb" in backends else (),
        postgres_databases=scope.postgres_databases if "postgres" in backends else (),
        cassandra_keyspaces=scope.cassandra_keyspaces if "cassandra" in backends else (),
        redis_prefixes=scope.redis_prefixes if "redis" in backends else (),
    )
