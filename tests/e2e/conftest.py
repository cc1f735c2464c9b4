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
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest, backend_kind: str) -> Iterator[Backends]:
    """The backends of one module's mesh.

    On the real backends each module gets keyspaces and an index of its own: a
    mesh's search indexes the catalog from the events its own import emits, and
    an import into a keyspace an earlier module filled emits none.
    """
    # A sync fixture, so the real backends' (async) fixtures are only set up,
    # or skipped with a pointer to `make infra-up`, for the "real" run.
    if backend_kind == "embedded":
        yield Backends("embedded")
        return
    run_keyspace: str = request.getfixturevalue("cassandra_keyspace")
    contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    # Cassandra names keyspaces in at most 48 characters.
    keyspace = f"{run_keyspace}_e2e_{module}"[:40]
    real = Backends(
        "real",
        mariadb_url=request.getfixturevalue("mariadb_url"),
        cassandra_contact=contact,
        catalog_keyspace=keyspace,
        # The history's own keyspace: its tables (an `outbox` among them) must
        # not meet the catalog's. Its migrations create it, as the others'.
        history_keyspace=f"{keyspace}_h",
        # The recommendations' own keyspace too.
        recommendations_keyspace=f"{keyspace}_r",
        # An OpenSearch alias of the module's own (deleted with the run's indices).
        opensearch_url=request.getfixturevalue("opensearch_url"),
        search_index_prefix=f"{request.getfixturevalue('opensearch_prefix')}e2e-{module}-",
    )
    yield real
    for created in (real.catalog_keyspace, real.history_keyspace, real.recommendations_keyspace):
        drop_keyspace(contact, created)


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
