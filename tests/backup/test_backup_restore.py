"""`streammesh backup` round trip on the shared real backends, isolated by name.

The backends are shared (other suites hold imported data in them), so this
suite never resets a server: it writes into databases, a keyspace and a key
prefix of its own, backs up exactly those, and resets them with
``streammesh infra reset --data`` and the same names (devtools/infra/data.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from devtools.backup import jobs
from devtools.backup.dumpers import BackupError, Dumper, Refused, dumpers
from devtools.infra import data, endpoints
from devtools.infra.settings import InfraSettings
from services.runtime.object_store import S3ObjectStore
from tests.media.conftest import empty_and_forget, s3_settings
from tests.mesh import cassandra_cluster

pytestmark = pytest.mark.real

# Bound on one CLI run (a backup of small data, nodetool JVMs included).
CLI_TIMEOUT_SECONDS = 240.0
BACKENDS = ("mariadb", "postgres", "cassandra", "redis")


@dataclass(frozen=True)
class Names:
    scope: data.DataScope
    bucket: str

    def flags(self) -> list[str]:
        return [
            "--mariadb-db",
            self.scope.mariadb_databases[0],
            "--postgres-db",
            self.scope.postgres_databases[0],
            "--keyspace",
            self.scope.cassandra_keyspaces[0],
            "--redis-prefix",
            self.scope.redis_prefixes[0],
        ]


async def _cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT_SECONDS)
    assert process.returncode is not None
    return process.returncode, output.decode()


# ------------------------------------------------------------------ the data
MARIADB_ROWS = [(1, "Ünïcode ☃", b"\x00\x01\xff", None), (2, "plain", b"", 3.5)]
POSTGRES_ROWS = [(1, "Ünïcode ☃", b"\x00\xff", {"a": [1, 2]}), (2, "", None, None)]
CASSANDRA_ROWS = [(i, f"title {i}", [f"g{i}", "drama"]) for i in range(50)]


async def _write_all(names: Names) -> None:
    scope = names.scope
    maria_db = scope.mariadb_databases[0]
    connection = await data.mariadb_admin()
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE `{maria_db}` CHARACTER SET utf8mb4")
            await cursor.execute(
                f"CREATE TABLE `{maria_db}`.items (id INT PRIMARY KEY, name VARCHAR(50), "
                "payload VARBINARY(50), score DOUBLE NULL) ENGINE=InnoDB"
            )
            await cursor.executemany(
                f"INSERT INTO `{maria_db}`.items VALUES (%s, %s, %s, %s)", MARIADB_ROWS
            )
    finally:
        connection.close()

    pg_db = scope.postgres_databases[0]
    admin = await data.postgres_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{pg_db}"')
    finally:
        await admin.close()
    pg = await asyncpg.connect(endpoints.postgres_admin_url(pg_db))
    try:
        await pg.execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text, payload bytea, doc jsonb)"
        )
        await pg.set_type_codec(
            "jsonb", encoder=_json_dumps, decoder=_json_loads, schema="pg_catalog"
        )
        await pg.executemany("INSERT INTO items VALUES ($1, $2, $3, $4)", POSTGRES_ROWS)
    finally:
        await pg.close()

    keyspace = scope.cassandra_keyspaces[0]
    await asyncio.to_thread(
        _cql,
        [
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            f"CREATE TABLE {keyspace}.titles (id int PRIMARY KEY, title text, genres list<text>)",
            f"CREATE TABLE {keyspace}.empty_table (id int PRIMARY KEY)",
        ],
    )
    await asyncio.to_thread(
        _cql_many,
        f"INSERT INTO {keyspace}.titles (id, title, genres) VALUES (?, ?, ?)",
        CASSANDRA_ROWS,
    )

    prefix = scope.redis_prefixes[0]
    client = data.redis_client()
    try:
        await client.set(f"{prefix}string", "v☃")
        await client.hset(f"{prefix}hash", mapping={"a": "1", "b": "2"})
        await client.rpush(f"{prefix}list", "x", "y", "z")
        await client.set(f"{prefix}expiring", "soon", ex=3600)
    finally:
        await client.aclose()
    other = data.redis_client(3)
    try:
        await other.set(f"{prefix}in-db3", "three")
    finally:
        await other.aclose()


def _json_dumps(value: Any) -> str:
    return json.dumps(value)


def _json_loads(value: str) -> Any:
    return json.loads(value)


def _cluster() -> Any:
    return cassandra_cluster(endpoints.cassandra_contact())


def _cql(statements: list[str]) -> list[Any]:
    cluster = _cluster()
    try:
        session = cluster.connect()
        rows: list[Any] = []
        for statement in statements:
            rows = list(session.execute(statement, timeout=60))
        return rows
    finally:
        cluster.shutdown()


def _cql_many(statement: str, rows: list[tuple[Any, ...]]) -> None:
    cluster = _cluster()
    try:
        session = cluster.connect()
        prepared = session.prepare(statement)
        for row in rows:
            session.execute(prepared, row)
    finally:
        cluster.shutdown()


async def _read_all(names: Names) -> dict[str, Any]:
    """Every row and key the test wrote, in a comparable form (None where missing)."""
    scope = names.scope
    found: dict[str, Any] = {}
    connection = await data.mariadb_admin()
    try:
        async with connection.cursor() as cursor:
            try:
                await cursor.execute(
                    f"SELECT id, name, payload, score FROM `{scope.mariadb_databases[0]}`.items "
                    "ORDER BY id"
                )
                found["mariadb"] = [tuple(row) for row in await cursor.fetchall()]
            except Exception:  # noqa: BLE001 - a dropped database reads as missing
                found["mariadb"] = None
    finally:
        connection.close()

    try:
        pg = await asyncpg.connect(endpoints.postgres_admin_url(scope.postgres_databases[0]))
    except asyncpg.InvalidCatalogNameError:
        found["postgres"] = None
    else:
        try:
            await pg.set_type_codec(
                "jsonb", encoder=_json_dumps, decoder=_json_loads, schema="pg_catalog"
            )
            rows = await pg.fetch("SELECT id, name, payload, doc FROM items ORDER BY id")
            found["postgres"] = [tuple(row) for row in rows]
        finally:
            await pg.close()

    keyspace = scope.cassandra_keyspaces[0]
    exists = await asyncio.to_thread(
        _cql,
        [f"SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '{keyspace}'"],
    )
    if exists:
        rows = await asyncio.to_thread(_cql, [f"SELECT id, title, genres FROM {keyspace}.titles"])
        found["cassandra"] = sorted((row.id, row.title, list(row.genres)) for row in rows)
    else:
        found["cassandra"] = None

    prefix = scope.redis_prefixes[0]
    client = data.redis_client()
    other = data.redis_client(3)
    try:
        found["redis"] = {
            "string": await client.get(f"{prefix}string"),
            "hash": await client.hgetall(f"{prefix}hash"),
            "list": await client.lrange(f"{prefix}list", 0, -1),
            "expiring": await client.get(f"{prefix}expiring"),
            "expiring_has_ttl": 0 < await client.ttl(f"{prefix}expiring") <= 3600,
            "db3": await other.get(f"{prefix}in-db3"),
        }
    finally:
        await client.aclose()
        await other.aclose()
    return found


def _dumpers(names: Names) -> dict[str, Dumper]:
    return dumpers(InfraSettings.from_env(), names.scope)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def names(run_id: str, s3_endpoint: str, bucket_prefix: str) -> Names:
    scope = data.DataScope(
        mariadb_databases=(f"bk_{run_id}",),
        postgres_databases=(f"bk_{run_id}",),
        cassandra_keyspaces=(f"bk_{run_id}",),
        redis_prefixes=(f"test:bk:{run_id}:",),
    )
    return Names(scope, f"{bucket_prefix}backups")


@pytest_asyncio.fixture(scope="module")
async def written(
    names: Names, cassandra_contact: Any, postgres_url: str
) -> AsyncIterator[dict[str, Any]]:
    await _write_all(names)
    expected = await _read_all(names)
    yield expected
    await data.reset_data(names.scope, lambda backend, text: None)
    store = await S3ObjectStore.open(s3_settings())
    try:
        await empty_and_forget(store, names.bucket)
    finally:
        await store.close()


# --------------------------------------------------------------------- tests
async def test_an_unknown_backend_is_refused_naming_how_opensearch_is_rebuilt() -> None:
    code, output = await _cli("backup", "create", "opensearch")
    assert code == 2
    assert "reindex" in output


async def test_backup_reset_restore_gives_back_every_row(
    names: Names, written: dict[str, Any]
) -> None:
    assert written["mariadb"] == [tuple(row) for row in MARIADB_ROWS]
    assert written["cassandra"] == sorted((i, t, g) for i, t, g in CASSANDRA_ROWS)

    code, output = await _cli(
        "backup", "create", *BACKENDS, *names.flags(), "--bucket", names.bucket
    )
    assert code == 0, output
    assert "MB/s" in output  # progress, per artifact

    # In process from here where the CLI adds nothing but a ~5-10 s start.
    store = await S3ObjectStore.open(s3_settings())
    try:
        (manifest,) = await jobs.list_backups(store, names.bucket)
        assert {entry.backend for entry in manifest.entries} == set(BACKENDS)
        for entry in manifest.entries:
            assert entry.version
            for artifact in entry.artifacts:
                assert artifact.size > 0
                assert len(artifact.sha256) == 64
        # The data are still there: restore refuses to overwrite them.
        with pytest.raises(Refused, match="--overwrite"):
            await jobs.restore(
                store, _dumpers(names), manifest, BACKENDS, overwrite=False, bucket=names.bucket
            )
    finally:
        await store.close()

    code, output = await _cli("infra", "reset", "--data", *BACKENDS, *names.flags())
    assert code == 0, output
    gone = await _read_all(names)
    assert gone["mariadb"] is None
    assert gone["postgres"] is None
    assert gone["cassandra"] is None
    assert gone["redis"]["string"] is None
    assert gone["redis"]["db3"] is None

    code, output = await _cli(
        "backup", "restore", "latest", *BACKENDS, *names.flags(), "--bucket", names.bucket
    )
    assert code == 0, output
    assert await _read_all(names) == written


async def test_a_corrupted_backup_fails_verify_and_restore_refuses_it(
    names: Names, written: dict[str, Any]
) -> None:
    store = await S3ObjectStore.open(s3_settings())
    try:
        manifest = await jobs.create(
            store,
            _dumpers(names),
            ["mariadb", "redis"],
            names.scope,
            bucket=names.bucket,
        )
        assert await jobs.verify(store, manifest, bucket=names.bucket) == []

        victim = manifest.entries[0].artifacts[0]
        original, info = await store.get(names.bucket, victim.key)
        damaged = bytearray(original)
        damaged[len(damaged) // 2] ^= 0xFF
        await store.put(names.bucket, victim.key, bytes(damaged), info.content_type)
    finally:
        await store.close()

    code, output = await _cli("backup", "verify", manifest.backup_id, "--bucket", names.bucket)
    assert code == 1, output
    assert victim.key in output
    assert "SHA-256" in output

    store = await S3ObjectStore.open(s3_settings())
    try:
        with pytest.raises(BackupError, match="damaged"):
            await jobs.restore(
                store,
                _dumpers(names),
                manifest,
                ["mariadb", "redis"],
                overwrite=True,
                bucket=names.bucket,
            )
    finally:
        await store.close()
    # Refused before touching anything: the data are as written.
    assert await _read_all(names) == written
