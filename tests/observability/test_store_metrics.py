"""The services' client-side store metrics move on real store calls.

Each test reads the process's own registry (what /metrics serves) before and
after one call on a real store: an embedded SQLite catalog, the users store
on the real MariaDB (SQLAlchemy + aiomysql), the real Cassandra node and the
real Redis. Prometheus adds the ``service`` label when it scrapes; the
Cassandra alert test (test_cassandra_latency_alert.py) sees that end to end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.runtime import store_metrics
from services.runtime.cassandra import CassandraSession, CassandraSettings
from services.runtime.errors import Unavailable
from services.runtime.redis import redis_client
from services.runtime.stores import unavailable_on

QUERIES = f"{store_metrics.QUERY_SECONDS_NAME}_count"
NO_SUCH_ACCOUNT = 9_000_000_000


def _count(store: str, operation: str, outcome: str = "ok") -> float:
    labels = {"store": store, "operation": operation, "outcome": outcome}
    return REGISTRY.get_sample_value(QUERIES, labels) or 0.0


def _pool(store: str, state: str) -> float | None:
    return REGISTRY.get_sample_value(
        store_metrics.POOL_CONNECTIONS_NAME, {"store": store, "state": state}
    )


async def test_an_outage_is_counted_as_unavailable_and_a_bug_as_error() -> None:
    guard = unavailable_on(ConnectionError, what="the probe store")

    @guard
    async def read_outage() -> None:
        raise ConnectionError("refused")

    @guard
    async def read_bug() -> None:
        raise KeyError("a bug")

    with pytest.raises(Unavailable):
        await read_outage()
    with pytest.raises(KeyError):
        await read_bug()
    assert _count("probe", "read_outage", "unavailable") == 1
    assert _count("probe", "read_bug", "error") == 1
    assert _count("probe", "read_outage") == 0


def test_statement_labels_name_the_verb_and_table_only() -> None:
    operation = store_metrics.statement_operation
    assert operation("SELECT a, b FROM ks.views WHERE profile_id = ?") == "select views"
    assert operation("INSERT INTO `accounts` (email) VALUES (%s)") == "insert accounts"
    assert operation("UPDATE profiles SET name = %s WHERE id = %s") == "update profiles"
    assert operation("DELETE FROM sessions WHERE id = %s") == "delete sessions"
    assert operation("BEGIN IMMEDIATE") == "begin"
    assert operation("CREATE KEYSPACE IF NOT EXISTS x") == "create"


async def test_a_sqlite_store_call_moves_latency_and_reports_its_connections(
    tmp_path: Path,
) -> None:
    from services.catalog.stores.sqlite import SqliteCatalogStore

    store = await SqliteCatalogStore.open(tmp_path / "catalog.db", readers=2)
    try:
        before = _count("catalog", "get_title")
        assert await store.get_title("no-such-title") is None
        assert _count("catalog", "get_title") == before + 1
        # Two readers and the writer, none busy between calls.
        assert _pool("catalog", "idle") == 3
        assert _pool("catalog", "in_use") == 0
    finally:
        await store.close()
    assert _pool("catalog", "idle") is None


async def test_a_mariadb_store_call_moves_latency_per_statement(mariadb_url: str) -> None:
    from services.users import migrations
    from services.users.stores.sql import SqlUserStore

    await migrations.apply_url(mariadb_url)
    database = mariadb_url.rsplit("/", 1)[-1].split("?")[0]
    store = SqlUserStore.from_url(mariadb_url)
    try:
        before = _count(database, "select users")
        # An id no test creates: the run's database is shared with other suites.
        assert await store.get_account(NO_SUCH_ACCOUNT) is None
        assert _count(database, "select users") == before + 1
        # The aiomysql connection went back to SQLAlchemy's pool.
        assert (_pool(database, "idle") or 0) >= 1
        assert _pool(database, "in_use") == 0
    finally:
        await store.close()


async def test_a_cassandra_statement_moves_latency_and_the_session_reports_its_pool(
    cassandra_contact: tuple[str, int],
) -> None:
    host, port = cassandra_contact
    settings = CassandraSettings(keyspace="metrics_probe", contact_points=(host,), port=port)
    session = await CassandraSession.connect(settings)
    try:
        before = _count("metrics_probe", "select local")
        rows = await session.execute("SELECT release_version FROM system.local")
        assert rows
        assert _count("metrics_probe", "select local") == before + 1
        assert (_pool("metrics_probe", "idle") or 0) >= 1
    finally:
        await session.close()
    assert _pool("metrics_probe", "idle") is None


async def test_the_redis_pool_reports_connections_in_use_and_idle(redis_url: str) -> None:
    client = redis_client(redis_url)
    try:
        idle_before = _pool("redis", "idle") or 0
        assert await client.ping()
        # The connection the ping opened waits in the pool.
        assert (_pool("redis", "idle") or 0) == idle_before + 1
    finally:
        await client.aclose()


async def test_the_postgresql_warehouse_pool_reports_its_connections(postgres_url: str) -> None:
    # asyncpg's Pool cannot be weakly referenced: it is watched until the
    # warehouse closes it, and the analytics server must start all the same.
    from services.analytics.stores.postgres import PostgresWarehouse

    warehouse = await PostgresWarehouse.open(postgres_url, pool_size=2)
    try:
        assert (_pool("analytics", "idle") or 0) + (_pool("analytics", "in_use") or 0) >= 1
    finally:
        await warehouse.close()
    assert _pool("analytics", "idle") is None
