"""How each database is dumped consistently and restored, as byte streams.

Every dump is a stream that the caller uploads part by part (a multipart
upload), and every restore reads a stream: no dump is ever held whole in
memory. Consistency, per backend:

* MariaDB: ``mariadb-dump --single-transaction`` (one REPEATABLE READ
  snapshot of InnoDB tables, no locks held on the writers).
* PostgreSQL: ``pg_dump --format=custom`` (one snapshot per database).
* Cassandra: ``nodetool snapshot``, which flushes the memtables and hard-links
  the SSTables at one instant, streamed as a tar; the keyspace's schema comes
  from the driver's metadata. Restored by recreating the schema and
  ``nodetool import`` of each table's SSTables. nodetool talks JMX on
  127.0.0.1:7199 (devtools/infra/backends/cassandra.py).
* Redis: ``redis-cli --rdb -``, the replication snapshot (a fork of the server
  at one instant, as RDB). Restored without touching any other key: the RDB
  is loaded into a scratch redis-server on a free port and only the keys
  under the scope's prefixes are moved over (MIGRATE, with their TTLs).

``restore`` refuses when the target already holds data unless ``overwrite``;
with it, the target's named data are dropped first (a database, a keyspace,
the keys under a prefix), never anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import redis.asyncio as aioredis

from devtools.infra import data, endpoints
from devtools.infra.backends.cassandra import CASSANDRA_VERSION, JMX_PORT, JPMS_FLAGS
from devtools.infra.settings import InfraSettings

# Bytes read from a dump process per chunk.
CHUNK_BYTES: Final = 1 << 20
# Bound on a nodetool call (a JVM start plus the operation).
NODETOOL_TIMEOUT_SECONDS: Final = 300.0
# Bound on a scratch redis-server coming up.
SCRATCH_REDIS_START_SECONDS: Final = 20.0
# Keys moved per MIGRATE when restoring Redis, and its bound per command.
REDIS_COPY_BATCH: Final = 1000
MIGRATE_TIMEOUT_MS: Final = 30_000
# Tail of a failing tool's stderr kept for the error.
STDERR_TAIL_BYTES: Final = 8192
REDIS_CLI: Final = "/usr/bin/redis-cli"
REDIS_SERVER: Final = "/usr/bin/redis-server"


class BackupError(Exception):
    """A dump or restore failed, or was refused; the message says why."""


class Refused(BackupError):
    """Restore would overwrite existing data and was not told to."""


@dataclass(frozen=True)
class Artifact:
    """One stream of a backup: a database's dump, a keyspace's tar, ..."""

    name: str
    chunks: AsyncIterator[bytes]


class Dumper(Protocol):
    backend: str

    async def version(self) -> str: ...

    def names(self, scope: data.DataScope) -> tuple[str, ...]: ...

    async def existing(self, name: str) -> bool:
        """Whether the target already holds data under this name."""
        ...

    def dump(self, name: str) -> AsyncIterator[Artifact]: ...

    async def restore(self, name: str, artifacts: dict[str, AsyncIterator[bytes]]) -> None: ...


# ------------------------------------------------------------ process pipes
async def _stderr_tail(stream: asyncio.StreamReader) -> bytes:
    tail = b""
    while chunk := await stream.read(CHUNK_BYTES):
        tail = (tail + chunk)[-STDERR_TAIL_BYTES:]
    return tail


async def stream_process(
    argv: Sequence[str], env: dict[str, str] | None = None
) -> AsyncIterator[bytes]:
    """The stdout of a process, chunk by chunk; raises BackupError if it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    assert process.stderr is not None
    errors = asyncio.create_task(_stderr_tail(process.stderr))
    try:
        while chunk := await process.stdout.read(CHUNK_BYTES):
            yield chunk
        code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    tail = await errors
    if code != 0:
        raise BackupError(f"{argv[0]} failed ({code}): {tail.decode(errors='replace').strip()}")


async def feed_process(
    argv: Sequence[str], chunks: AsyncIterator[bytes], env: dict[str, str] | None = None
) -> None:
    """Writes ``chunks`` to a process's stdin (with backpressure); raises if it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert process.stdin is not None
    assert process.stderr is not None
    errors = asyncio.create_task(_stderr_tail(process.stderr))
    try:
        async for chunk in chunks:
            process.stdin.write(chunk)
            await process.stdin.drain()
        process.stdin.close()
        code = await process.wait()
    except (BrokenPipeError, ConnectionResetError):
        code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    tail = await errors
    if code != 0:
        raise BackupError(f"{argv[0]} failed ({code}): {tail.decode(errors='replace').strip()}")


async def _run(argv: Sequence[str], limit_seconds: float, env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limit_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BackupError(f"{argv[0]} took longer than {limit_seconds:.0f}s") from None
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise BackupError(f"{' '.join(argv[:6])} failed: {text.strip()[-2000:]}")
    return text


# --------------------------------------------------------------- MariaDB
class MariaDBDumper:
    backend = "mariadb"

    def _env(self) -> dict[str, str]:
        # The password goes through the environment, never the argv (ps shows argv).
        return {"MYSQL_PWD": endpoints.MARIADB_ADMIN_PASSWORD}

    def _login(self) -> list[str]:
        return [
            f"--host={endpoints.HOST}",
            f"--port={endpoints.MARIADB_PORT}",
            f"--user={endpoints.MARIADB_ADMIN_USER}",
            "--protocol=tcp",
        ]

    async def version(self) -> str:
        connection = await data.mariadb_admin()
        try:
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT VERSION()")
                row = await cursor.fetchone()
        finally:
            connection.close()
        return str(row[0])

    def names(self, scope: data.DataScope) -> tuple[str, ...]:
        return scope.mariadb_databases

    async def existing(self, name: str) -> bool:
        connection = await data.mariadb_admin()
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = %s",
                    (name,),
                )
                row = await cursor.fetchone()
        finally:
            connection.close()
        return bool(row[0])

    async def dump(self, name: str) -> AsyncIterator[Artifact]:
        if not await self.existing(name):
            return
        argv = [
            "mariadb-dump",
            *self._login(),
            "--single-transaction",
            "--quick",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--databases",
            data.identifier(name),
        ]
        yield Artifact(f"{name}.sql", stream_process(argv, self._env()))

    async def restore(self, name: str, artifacts: dict[str, AsyncIterator[bytes]]) -> None:
        await data.drop_mariadb((name,))
        argv = ["mariadb", *self._login(), "--binary-mode"]
        await feed_process(argv, artifacts[f"{name}.sql"], self._env())


# ------------------------------------------------------------ PostgreSQL
class PostgresDumper:
    backend = "postgres"

    def _env(self) -> dict[str, str]:
        return {"PGPASSWORD": endpoints.POSTGRES_ADMIN_PASSWORD, "PGCONNECT_TIMEOUT": "5"}

    def _login(self, database: str) -> list[str]:
        return [
            f"--host={endpoints.HOST}",
            f"--port={endpoints.POSTGRES_PORT}",
            f"--username={endpoints.POSTGRES_ADMIN_USER}",
            f"--dbname={database}",
        ]

    async def version(self) -> str:
        connection = await data.postgres_admin()
        try:
            return str(await connection.fetchval("SHOW server_version")).split()[0]
        finally:
            await connection.close()

    def names(self, scope: data.DataScope) -> tuple[str, ...]:
        return scope.postgres_databases

    async def existing(self, name: str) -> bool:
        connection = await data.postgres_admin()
        try:
            return bool(
                await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            )
        finally:
            await connection.close()

    async def dump(self, name: str) -> AsyncIterator[Artifact]:
        if not await self.existing(name):
            return
        argv = ["pg_dump", *self._login(data.identifier(name)), "--format=custom", "--compress=0"]
        yield Artifact(f"{name}.pgdump", stream_process(argv, self._env()))

    async def restore(self, name: str, artifacts: dict[str, AsyncIterator[bytes]]) -> None:
        await data.drop_postgres((name,))
        connection = await data.postgres_admin()
        try:
            await connection.execute(f'CREATE DATABASE "{data.identifier(name)}"')
        finally:
            await connection.close()
        argv = ["pg_restore", *self._login(name), "--exit-on-error", "--single-transaction"]
        await feed_process(argv, artifacts[f"{name}.pgdump"], self._env())


# ------------------------------------------------------------- Cassandra
class CassandraDumper:
    backend = "cassandra"

    def __init__(self, settings: InfraSettings) -> None:
        self._jars = settings.cache_dir / f"cassandra-{CASSANDRA_VERSION}" / "jars"
        self._known_data_dir: Path | None = None

    async def _data_dir(self) -> Path:
        """Where the running node keeps its tables, as the node itself says: the node
        that answers may have been started by another checkout, whose state folder
        is not this one's."""
        if self._known_data_dir is None:
            self._known_data_dir = Path(await asyncio.to_thread(self._cluster_call, "data_dir"))
        return self._known_data_dir

    async def nodetool(self, *args: str) -> str:
        argv = [
            "java",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            *JPMS_FLAGS,
            "-cp",
            f"{self._jars}/*",
            "org.apache.cassandra.tools.NodeTool",
            "-h",
            endpoints.HOST,
            "-p",
            str(JMX_PORT),
            *args,
        ]
        return await _run(argv, NODETOOL_TIMEOUT_SECONDS)

    def _cluster_call(self, work: str, keyspace: str = "", statements: Sequence[str] = ()) -> str:
        from cassandra.cluster import Cluster

        host, port = endpoints.cassandra_contact()
        cluster = Cluster(
            [host], port=port, protocol_version=5, connect_timeout=data.CONNECT_TIMEOUT_SECONDS
        )
        try:
            session = cluster.connect()
            if work == "version":
                row = session.execute("SELECT release_version FROM system.local").one()
                return str(row.release_version)
            if work == "exists":
                return "yes" if keyspace in cluster.metadata.keyspaces else ""
            if work == "schema":
                return str(cluster.metadata.keyspaces[keyspace].export_as_string())
            if work == "data_dir":
                row = session.execute(
                    "SELECT value FROM system_views.settings WHERE name = 'data_file_directories'"
                ).one()
                # "[/a/b]" for one folder; StreamMesh's node has exactly one.
                return str(row.value).strip("[]").split(",")[0].strip()
            for statement in statements:
                session.execute(statement, timeout=data.CASSANDRA_SCHEMA_TIMEOUT_SECONDS)
            return ""
        finally:
            cluster.shutdown()

    async def version(self) -> str:
        return await asyncio.to_thread(self._cluster_call, "version")

    def names(self, scope: data.DataScope) -> tuple[str, ...]:
        return scope.cassandra_keyspaces

    async def existing(self, name: str) -> bool:
        return bool(await asyncio.to_thread(self._cluster_call, "exists", name))

    async def dump(self, name: str) -> AsyncIterator[Artifact]:
        keyspace = data.identifier(name)
        if not await self.existing(keyspace):
            return
        schema = await asyncio.to_thread(self._cluster_call, "schema", keyspace)
        yield Artifact(f"{keyspace}.schema.cql", _one(schema.encode()))
        tag = f"streammesh-backup-{int(time.time() * 1000)}"
        # snapshot flushes the memtables first (unless --skip-flush): one JVM start.
        data_dir = await self._data_dir()
        await self.nodetool("snapshot", "-t", tag, keyspace)
        try:
            folders = [
                path.relative_to(data_dir)
                for path in await asyncio.to_thread(_table_snapshots, data_dir / keyspace, tag)
            ]
            argv = ["tar", "-C", str(data_dir), "-cf", "-", *map(str, folders)]
            yield Artifact(f"{keyspace}.snapshot.tar", stream_process(argv))
        finally:
            await self.nodetool("clearsnapshot", "-t", tag, "--", keyspace)

    async def restore(self, name: str, artifacts: dict[str, AsyncIterator[bytes]]) -> None:
        keyspace = data.identifier(name)
        schema = b"".join([chunk async for chunk in artifacts[f"{keyspace}.schema.cql"]]).decode()
        await data.drop_cassandra((keyspace,))
        statements = [s.strip() for s in schema.split(";\n") if s.strip()]
        await asyncio.to_thread(self._cluster_call, "apply", keyspace, statements)
        # Beside the data folder (same file system): Cassandra reads the files itself.
        staging = Path(tempfile.mkdtemp(prefix="restore-", dir=(await self._data_dir()).parent))
        try:
            await feed_process(
                ["tar", "-C", str(staging), "-xf", "-"], artifacts[f"{keyspace}.snapshot.tar"]
            )
            for snapshot in await asyncio.to_thread(_table_snapshots, staging / keyspace):
                table = snapshot.parent.parent.name.rsplit("-", 1)[0]
                await self.nodetool("import", keyspace, table, str(snapshot))
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)


def _table_snapshots(keyspace_dir: Path, tag: str = "*") -> list[Path]:
    """The snapshot folders of a keyspace's tables that hold SSTables."""
    return sorted(
        path for path in keyspace_dir.glob(f"*/snapshots/{tag}") if any(path.glob("*-Data.db"))
    )


async def _one(payload: bytes) -> AsyncIterator[bytes]:
    yield payload


# ----------------------------------------------------------------- Redis
class RedisDumper:
    """One artifact, the RDB snapshot; restored by prefix (see the module)."""

    backend = "redis"

    def __init__(self, scope_prefixes: tuple[str, ...]) -> None:
        self._prefixes = scope_prefixes

    async def version(self) -> str:
        client = data.redis_client()
        try:
            return str((await client.info("server"))["redis_version"])
        finally:
            await client.aclose()

    def names(self, scope: data.DataScope) -> tuple[str, ...]:
        # One snapshot holds every prefix; it is named after them.
        return (",".join(scope.redis_prefixes),) if scope.redis_prefixes else ()

    async def existing(self, name: str) -> bool:
        for db in await data.redis_databases():
            client = data.redis_client(db)
            try:
                for prefix in name.split(","):
                    async for _ in client.scan_iter(match=f"{_glob(prefix)}*", count=1000):
                        return True
            finally:
                await client.aclose()
        return False

    async def dump(self, name: str) -> AsyncIterator[Artifact]:
        argv = [REDIS_CLI, "-h", endpoints.HOST, "-p", str(endpoints.REDIS_PORT), "--rdb", "-"]
        yield Artifact("dump.rdb", stream_process(argv))

    async def restore(self, name: str, artifacts: dict[str, AsyncIterator[bytes]]) -> None:
        prefixes = tuple(name.split(","))
        await data.delete_redis_prefixes(prefixes)
        folder = Path(tempfile.mkdtemp(prefix="streammesh-redis-restore-"))
        try:
            with (folder / "dump.rdb").open("wb") as handle:
                async for chunk in artifacts["dump.rdb"]:
                    await asyncio.to_thread(handle.write, chunk)
            async with _scratch_redis(folder) as port:
                await _copy_prefixes(port, prefixes)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)


def _glob(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((endpoints.HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def _scratch_redis(folder: Path) -> AsyncIterator[int]:
    """A redis-server of our own that loads ``folder/dump.rdb``; stopped on exit."""
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        REDIS_SERVER,
        "--bind",
        endpoints.HOST,
        "--port",
        str(port),
        "--dir",
        str(folder),
        "--dbfilename",
        "dump.rdb",
        "--appendonly",
        "no",
        "--save",
        "",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + SCRATCH_REDIS_START_SECONDS
        client = aioredis.Redis(host=endpoints.HOST, port=port)
        try:
            while True:
                try:
                    await client.ping()
                    if (await client.info("persistence"))["loading"] == 0:
                        break
                except (OSError, aioredis.ConnectionError, aioredis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline or process.returncode is not None:
                    raise BackupError("the scratch redis-server did not load the snapshot")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        yield port
    finally:
        process.terminate()
        await process.wait()


async def _copy_prefixes(port: int, prefixes: tuple[str, ...]) -> None:
    """Moves the keys under ``prefixes`` from the scratch server to ours, every logical db.

    MIGRATE does the copying server to server (values and TTLs, REPLACE), a
    batch of keys per command: no value passes through Python.
    """
    source = aioredis.Redis(host=endpoints.HOST, port=port)
    try:
        databases = sorted(int(name.removeprefix("db")) for name in await source.info("keyspace"))
    finally:
        await source.aclose()
    for db in databases:
        source = aioredis.Redis(host=endpoints.HOST, port=port, db=db)
        try:
            for prefix in prefixes:
                batch: list[bytes] = []
                async for key in source.scan_iter(match=f"{_glob(prefix)}*", count=1000):
                    batch.append(key)
                    if len(batch) >= REDIS_COPY_BATCH:
                        await _migrate(source, db, batch)
                        batch.clear()
                if batch:
                    await _migrate(source, db, batch)
        finally:
            await source.aclose()


async def _migrate(source: aioredis.Redis, db: int, keys: list[bytes]) -> None:
    await source.execute_command(
        "MIGRATE",
        endpoints.HOST,
        endpoints.REDIS_PORT,
        "",
        db,
        MIGRATE_TIMEOUT_MS,
        "REPLACE",
        "KEYS",
        *keys,
    )


def dumpers(settings: InfraSettings, scope: data.DataScope) -> dict[str, Dumper]:
    return {
        "mariadb": MariaDBDumper(),
        "postgres": PostgresDumper(),
        "cassandra": CassandraDumper(settings),
        "redis": RedisDumper(scope.redis_prefixes),
    }
