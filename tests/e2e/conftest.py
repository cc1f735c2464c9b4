"""The whole mesh for end-to-end tests: users, catalog, history and browse
servers on port 0, the edge's reflection server, and the real Envoy in front,
on the embedded backends (SQLite + Redis) and on the real ones (MariaDB,
Cassandra, Redis). The catalog is seeded with a real slice of the Netflix
catalog; the history starts empty, with its popularity rollup running.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import grpc.aio
import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.browse.config import Config as BrowseConfig
from services.browse.server import create_server as create_browse
from services.catalog.config import Config as CatalogConfig
from services.catalog.server import create_server as create_catalog
from services.edge import envoy
from services.edge.reflection import create_server as create_reflection
from services.edge.render import EdgeConfig, render
from services.history.config import Config as HistoryConfig
from services.history.server import create_server as create_history
from services.kit import server as runtime
from services.runtime.config import ServerConfig
from services.runtime.telemetry import setup_tracing
from services.users.config import Config as UsersConfig
from services.users.server import create_server as create_users

SAMPLE_CATALOG = Path(__file__).parent / "data" / "titles_sample.csv"
# How long a ListTrending answer is cached in the e2e mesh: short, so a test
# polling trending sees the rollup within seconds (the cache is still used).
TRENDING_CACHE_TTL_SECONDS = 1.0


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Addresses for the clients created inside, as ``streammesh up`` would set them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _server(service: str) -> ServerConfig:
    return ServerConfig(service=service, port=0, access_log=False)


@dataclass(frozen=True)
class Backend:
    name: str
    mariadb_url: str = ""
    cassandra_keyspace: str = ""
    cassandra_contact: tuple[str, int] = ("", 0)
    # The history's own keyspace: its tables (an `outbox` among them) must not
    # meet the catalog's. Its migrations create it; dropped after the run.
    history_keyspace: str = ""


@pytest.fixture(scope="session", params=["embedded", "real"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    # A sync fixture, so the real backends' (async) fixtures are only set up,
    # or skipped with a pointer to `make infra-up`, for the "real" run.
    if request.param == "embedded":
        yield Backend("embedded")
        return
    keyspace: str = request.getfixturevalue("cassandra_keyspace")
    contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
    real = Backend(
        "real",
        mariadb_url=request.getfixturevalue("mariadb_url"),
        cassandra_keyspace=keyspace,
        cassandra_contact=contact,
        history_keyspace=f"{keyspace}_e2ehistory",
    )
    yield real
    _drop_keyspace(contact, real.history_keyspace)


def _drop_keyspace(contact: tuple[str, int], keyspace: str) -> None:
    from cassandra.cluster import Cluster

    host, port = contact
    cluster = Cluster([host], port=port, protocol_version=5)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
    finally:
        cluster.shutdown()


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
    backend: Backend,
    spans: InMemorySpanExporter,
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    redis_prefix: str,
) -> AsyncIterator[Mesh]:
    state = tmp_path_factory.mktemp(f"mesh-{backend.name}")
    # A prefix per mesh: each embedded mesh numbers its accounts from 1 again,
    # so a previous mesh's cached profiles must never be found.
    prefix = f"{redis_prefix}e2e-{state.name}:"
    users_config = UsersConfig(
        server=_server("users"),
        database_url=f"sqlite+aiosqlite:///{state / 'users.db'}",
        redis_url=redis_url,
        redis_prefix=prefix,
        data_dir=state / "users",
        key_dir=state / "users" / "keys",
    )
    catalog_config = CatalogConfig(
        server=_server("catalog"),
        backend="embedded",
        sqlite_path=state / "catalog.db",
        redis_url=redis_url,
        redis_prefix=prefix,
        seed_catalog=str(SAMPLE_CATALOG),
    )
    history_config = HistoryConfig(
        server=_server("history"),
        backend="embedded",
        sqlite_path=state / "history.db",
        redis_url=redis_url,
        redis_prefix=prefix,
        trending_cache_ttl_seconds=TRENDING_CACHE_TTL_SECONDS,
    )
    if backend.name == "real":
        users_config = replace(users_config, database_url=backend.mariadb_url)
        catalog_config = replace(
            catalog_config,
            backend="real",
            cassandra=replace(catalog_config.cassandra, keyspace=backend.cassandra_keyspace),
            migrate_on_start=True,
        )
        host, port = backend.cassandra_contact
        history_config = replace(
            history_config,
            backend="real",
            cassandra=replace(
                history_config.cassandra,
                keyspace=backend.history_keyspace,
                contact_points=(host,),
                port=port,
            ),
            migrate_on_start=True,
        )

    servers: list[grpc.aio.Server] = []
    users_server, users_port = await create_users(users_config)
    servers.append(users_server)
    catalog_server, catalog_port = await create_catalog(catalog_config)
    servers.append(catalog_server)
    with _environment(
        STREAMMESH_USERS_ADDR=f"127.0.0.1:{users_port}",
        STREAMMESH_CATALOG_ADDR=f"127.0.0.1:{catalog_port}",
    ):
        history_server, history_port = await create_history(history_config)
        servers.append(history_server)
        with _environment(STREAMMESH_HISTORY_ADDR=f"127.0.0.1:{history_port}"):
            browse_server, browse_port = await create_browse(BrowseConfig(server=_server("browse")))
    servers.append(browse_server)
    reflection_server, reflection_port = await create_reflection("127.0.0.1:0")

    ports = {
        "users": users_port,
        "catalog": catalog_port,
        "history": history_port,
        "browse": browse_port,
    }
    edge_port = _free_port()
    edge_config = EdgeConfig(
        port=edge_port,
        admin_port=0,
        upstreams={name: f"127.0.0.1:{port}" for name, port in ports.items()},
        reflection_upstream=f"127.0.0.1:{reflection_port}",
        # Envoy traces as it does in production; nothing collects its spans here.
        otlp_collector=f"127.0.0.1:{_free_port()}",
    )
    path = envoy.write_config(render(edge_config), state / "envoy.json")
    edge = await envoy.start(path, state, state / "envoy.log")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_port}", timeout=15) as http:
        yield Mesh(backend.name, http, edge_port, ports, state / "envoy.log")
    await edge.stop()
    await reflection_server.stop(0)
    for server in reversed(servers):
        await runtime.stop(server, 0)
