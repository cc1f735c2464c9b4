"""Session fixtures for the real backends that ``make infra-up`` starts.

Each test run gets its own namespace on every backend (a MariaDB database, a
Cassandra keyspace, a Redis key prefix, an OpenSearch index prefix, a
PostgreSQL database) and drops it at the end, so runs never see each other's
data. A backend that does not answer skips its tests with one line naming
``make infra-up``; with ``CI=true`` it fails the run instead, so CI never
passes by skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, NoReturn

import aiomysql
import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import redis.exceptions
from opensearchpy import AsyncOpenSearch
from opensearchpy import exceptions as opensearch_errors

from devtools.infra import endpoints

if TYPE_CHECKING:
    from tests.mesh import Backends, Storage, StorageFactory

# Bound on each connection attempt a fixture makes.
CONNECT_TIMEOUT_SECONDS = 5.0
# Bound on a Cassandra schema change (the single node agrees with itself quickly).
CASSANDRA_SCHEMA_TIMEOUT_SECONDS = 60.0


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def backend_unavailable(name: str, address: str, error: BaseException) -> NoReturn:
    """Skips (or, under CI, fails) because a real backend does not answer."""
    message = f"{name} at {address} is not reachable ({type(error).__name__}); run `make infra-up`"
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def run_id() -> str:
    """Lowercase letters, digits and underscores: valid in every backend's names."""
    return f"t{os.getpid()}_{secrets.token_hex(3)}"


# ---------------------------------------------------------------- MariaDB


async def _mariadb_admin() -> aiomysql.Connection:
    return await aiomysql.connect(
        host=endpoints.HOST,
        port=endpoints.MARIADB_PORT,
        user=endpoints.MARIADB_ADMIN_USER,
        password=endpoints.MARIADB_ADMIN_PASSWORD,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        autocommit=True,
    )


@pytest_asyncio.fixture(scope="session")
async def mariadb_url(run_id: str) -> AsyncIterator[str]:
    """SQLAlchemy URL (``mysql+aiomysql://``) of a fresh database, dropped afterwards."""
    database = f"test_{run_id}"
    try:
        admin = await _mariadb_admin()
    except (OSError, aiomysql.OperationalError) as error:
        backend_unavailable("MariaDB", f"{endpoints.HOST}:{endpoints.MARIADB_PORT}", error)
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(
                f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
    finally:
        admin.close()
    yield endpoints.mariadb_admin_url(database)
    admin = await _mariadb_admin()
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        admin.close()


# ---------------------------------------------------------------- Redis


@pytest.fixture(scope="session")
def redis_prefix(run_id: str) -> str:
    """Every key a test writes to the real Redis starts with this."""
    return f"test:{run_id}:"


@pytest_asyncio.fixture(scope="session")
async def redis_url(redis_prefix: str) -> AsyncIterator[str]:
    """``redis://127.0.0.1:6379/0``; the run's keys (``redis_prefix``) are deleted afterwards."""
    url = endpoints.redis_url()
    client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await client.ping()
    except (OSError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        await client.aclose()
        backend_unavailable("Redis", url, error)
    yield url
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{redis_prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def mesh_storage(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, redis_prefix: str
) -> StorageFactory:
    """Storage for one mini-mesh (tests/mesh.py): a folder and a Redis prefix of its own."""
    # Here, not at the top: tests/mesh.py imports every service's server, which
    # the other suites need not load.
    from tests.mesh import Backends, Storage

    def storage(folder: str, backends: Backends | None = None) -> Storage:
        state = tmp_path_factory.mktemp(folder)
        return Storage(state, redis_url, f"{redis_prefix}{state.name}:", backends or Backends())

    return storage


# ---------------------------------------------------------------- Cassandra


@pytest.fixture(scope="session")
def cassandra_contact() -> tuple[str, int]:
    """(host, port) of the Cassandra node; skips when it does not answer."""
    from cassandra.cluster import Cluster, NoHostAvailable

    host, port = endpoints.cassandra_contact()
    cluster = Cluster(
        [host], port=port, connect_timeout=CONNECT_TIMEOUT_SECONDS, protocol_version=5
    )
    try:
        cluster.connect()
    except (NoHostAvailable, OSError) as error:
        backend_unavailable("Cassandra", f"{host}:{port}", error)
    finally:
        cluster.shutdown()
    return host, port


@pytest.fixture(scope="session")
def cassandra_keyspace(cassandra_contact: tuple[str, int], run_id: str) -> Iterator[str]:
    """A fresh keyspace (replication factor 1) for this run, dropped afterwards.

    The driver's own reactor is libev (its wheel ships it compiled for 3.11);
    the driver is blocking, so async code calls it through ``asyncio.to_thread``
    or its ``execute_async`` futures.
    """
    from tests.mesh import cassandra_cluster

    keyspace = f"test_{run_id}"
    cluster = cassandra_cluster(cassandra_contact)
    session = cluster.connect()
    try:
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            timeout=CASSANDRA_SCHEMA_TIMEOUT_SECONDS,
        )
        yield keyspace
        session.execute(
            f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=CASSANDRA_SCHEMA_TIMEOUT_SECONDS
        )
    finally:
        cluster.shutdown()


# ---------------------------------------------------------------- OpenSearch


@pytest.fixture(scope="session")
def opensearch_prefix(run_id: str) -> str:
    """Every index a test creates starts with this (OpenSearch index names are lowercase)."""
    return f"test-{run_id.replace('_', '-')}-"


@pytest_asyncio.fixture(scope="session")
async def opensearch_url(opensearch_prefix: str) -> AsyncIterator[str]:
    """``http://127.0.0.1:9200``; the run's indices (``opensearch_prefix``) are deleted after."""
    url = endpoints.opensearch_url()
    client = AsyncOpenSearch(hosts=[url], timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await client.info()
    except (OSError, opensearch_errors.ConnectionError) as error:
        await client.close()
        backend_unavailable("OpenSearch", url, error)
    yield url
    try:
        await client.indices.delete(
            index=f"{opensearch_prefix}*", ignore_unavailable=True, expand_wildcards="all"
        )
    finally:
        await client.close()


# ---------------------------------------------------------------- PostgreSQL


@pytest_asyncio.fixture(scope="session")
async def postgres_url(run_id: str) -> AsyncIterator[str]:
    """libpq URL (``postgresql://``) of a fresh database, dropped afterwards."""
    database = f"test_{run_id}"
    admin_url = endpoints.postgres_admin_url()
    try:
        admin = await asyncpg.connect(admin_url, timeout=CONNECT_TIMEOUT_SECONDS)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        backend_unavailable("PostgreSQL", f"{endpoints.HOST}:{endpoints.POSTGRES_PORT}", error)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    yield endpoints.postgres_admin_url(database)
    admin = await asyncpg.connect(admin_url, timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()
