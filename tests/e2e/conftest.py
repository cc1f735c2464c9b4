"""The whole mesh for end-to-end tests: users, catalog, history, search,
recommendations and browse servers on port 0, the edge's reflection server,
and the real Envoy in front, on the embedded backends (SQLite + Redis) and on
the real ones (MariaDB, Cassandra, Redis, OpenSearch). The catalog is seeded
with a real slice of the Netflix catalog; the history starts empty, with its
popularity rollup running; search indexes the catalog from its events, and
recommendations learns from the history's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime.telemetry import setup_tracing
from services.users.config import PasswordHashing
from tests.mesh import (
    LOOPBACK,
    Backends,
    StorageFactory,
    browse_config,
    catalog_config,
    drop_keyspace,
    edge_in_front,
    history_config,
    recommendations_config,
    search_config,
    start_mesh,
    unused_port,
    users_config,
)

# How long a ListTrending answer is cached in the e2e mesh: short, so a test
# polling trending sees the rollup within seconds (the cache is still used).
TRENDING_CACHE_TTL_SECONDS = 1.0
# Each home-screen row's budget (the default is 0.5 s).
BROWSE_ROW_TIMEOUT_SECONDS = 5.0


@dataclass
class Mesh:
    backend: str
    http: httpx.AsyncClient
    edge_port: int
    ports: dict[str, int]
    edge_log: Path

    @property
    def edge_target(self) -> str:
        return f"127.0.0.1:{self.edge_port}"


@pytest.fixture(scope="session", params=["embedded", "real"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backends]:
    # A sync fixture, so the real backends' (async) fixtures are only set up,
    # or skipped with a pointer to `make infra-up`, for the "real" run.
    if request.param == "embedded":
        yield Backends("embedded")
        return
    keyspace: str = request.getfixturevalue("cassandra_keyspace")
    contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
    real = Backends(
        "real",
        mariadb_url=request.getfixturevalue("mariadb_url"),
        cassandra_contact=contact,
        catalog_keyspace=keyspace,
        # The history's own keyspace: its tables (an `outbox` among them) must
        # not meet the catalog's. Its migrations create it; dropped after the run.
        history_keyspace=f"{keyspace}_e2ehistory",
        # The recommendations' own keyspace too (its migrations create it).
        recommendations_keyspace=f"{keyspace}_e2erecs",
        # An OpenSearch alias of the run's own (deleted with the run's indices).
        opensearch_url=request.getfixturevalue("opensearch_url"),
        search_index_prefix=f"{request.getfixturevalue('opensearch_prefix')}e2e-",
    )
    yield real
    drop_keyspace(contact, real.history_keyspace)
    drop_keyspace(contact, real.recommendations_keyspace)


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span of the run. Recording starts before the mesh is built, so the
    store clients' spans (SQL, Redis, Cassandra) are in the traces too."""
    exporter = InMemorySpanExporter()
    setup_tracing("e2e").add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


# Module scope: the mesh's servers relay their outboxes while they run, and the
# run's database and keyspace are shared with other suites (tests/events),
# whose own relays must not find these still polling the same outbox.
@pytest.fixture(scope="module")
async def mesh(
    backend: Backends,
    spans: InMemorySpanExporter,
    mesh_storage: StorageFactory,
) -> AsyncIterator[Mesh]:
    storage = mesh_storage(f"mesh-{backend.name}", backend)
    state = storage.state
    async with (
        start_mesh(
            # Not CHEAP_HASHING: end to end, sign-ins pay the Argon2id cost a deployment pays.
            users_config(storage, passwords=PasswordHashing()),
            catalog_config(storage),
            history_config(storage, trending_cache_ttl_seconds=TRENDING_CACHE_TTL_SECONDS),
            search_config(storage),
            recommendations_config(storage),
            # These tests are about what a row holds, not its latency: a loaded
            # test machine must not drop a row (tests/browse does the same).
            browse_config(row_timeout_seconds=BROWSE_ROW_TIMEOUT_SECONDS),
        ) as servers,
        # Envoy traces as it does in production; nothing collects its spans here.
        edge_in_front(
            servers.addresses, state, otlp_collector=f"{LOOPBACK}:{unused_port()}"
        ) as edge_port,
        httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{edge_port}", timeout=15) as http,
    ):
        yield Mesh(backend.name, http, edge_port, servers.ports, state / "envoy.log")
