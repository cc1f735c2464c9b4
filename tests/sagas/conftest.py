"""A mesh for the saga tests: real users (sagas on), catalog, history, recommendations and
search servers on port 0, and the saga orchestrator, on the embedded backends (SQLite
files, DuckDB) and on the real ones (MariaDB, Cassandra, OpenSearch, PostgreSQL).

One mesh per module and backend; the analytics server and the orchestrator are
started by each test that needs them (the embedded warehouse is a file only one
process may open, and a test reads it through its port once its server is gone).
Timeouts, backoff and the lease are short (SAGA_TEST_CONFIG): a fault costs the
test a second or two, not a deployment's minutes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final

import aiomysql
import grpc
import grpc.aio
import pytest

from devtools.infra import endpoints
from services.analytics.config import Config as AnalyticsConfig
from services.catalog.netflix_csv import parse
from services.runtime.object_store import ObjectStoreSettings
from services.users.config import Config as UsersConfig
from services.users.sagas.config import SagaConfig
from services.users.sagas.log import Saga, SagaLog
from services.users.sagas.orchestrator import Orchestrator
from services.users.sagas.process import orchestrator_for
from streammesh.catalog.v1 import catalog_pb2
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2_grpc
from streammesh.search.v1 import search_pb2, search_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc
from tests import conftest as root
from tests.analytics.conftest import drop_postgres_database, fresh_postgres_database
from tests.analytics.service.conftest import analytics_config, analytics_server
from tests.mesh import (
    SAMPLE_CATALOG,
    Account,
    Backends,
    MeshAccounts,
    RunningMesh,
    Storage,
    StorageFactory,
    catalog_config,
    drop_keyspace,
    history_config,
    recommendations_config,
    search_config,
    start_mesh,
    users_config,
    wait_until,
)
from tests.sagas import child

# The saga settings of every test: quick retries, a crashed orchestrator's
# sagas taken over after LEASE; the fault tests shorten the step timeout and the
# attempts (FAULT_TEST_OVERRIDES) so a hanging participant costs seconds.
SAGA_TEST_CONFIG: Final = SagaConfig(
    # OpenSearch's refresh=wait_for alone may take seconds on a loaded machine.
    step_timeout_seconds=10.0,
    max_attempts=5,
    backoff_initial_seconds=0.05,
    backoff_max_seconds=0.2,
    lease_seconds=1.0,
    poll_interval_seconds=0.05,
    stuck_after_seconds=30.0,
    orchestrator_metrics_port=0,
)
FAULT_TEST_OVERRIDES: Final = {"step_timeout_seconds": 2.0, "max_attempts": 2}
CALL_SECONDS: Final = 30.0
DEPENDENCY_SECONDS: Final = 10.0
PARTICIPANTS: Final = ("recommendations", "search", "history", "analytics")


def _sample() -> dict[str, catalog_pb2.Title]:
    with SAMPLE_CATALOG.open(encoding="utf-8") as stream:
        return {a.title.title_id: a.title for a in parse(stream).accepted}


TITLES: Final = _sample()


@dataclass(frozen=True)
class SagaBackends:
    name: str
    mesh: Backends
    mariadb_url: str = ""
    postgres_url: str = ""


async def _fresh_mariadb(run_id: str) -> str:
    database = f"test_{run_id}_sagas_{secrets.token_hex(2)}"
    try:
        admin = await root._mariadb_admin()
    except (OSError, aiomysql.OperationalError) as error:
        root.backend_unavailable("MariaDB", "127.0.0.1", error)
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(
                f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
    finally:
        admin.close()
    return endpoints.mariadb_admin_url(database)


async def _drop_mariadb(url: str) -> None:
    admin = await root._mariadb_admin()
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")
    finally:
        admin.close()


@pytest.fixture(scope="module", params=["embedded", pytest.param("real", marks=pytest.mark.real)])
def saga_backends(request: pytest.FixtureRequest, run_id: str) -> Iterator[SagaBackends]:
    # Synchronous, so it may ask for the async session fixtures of the real
    # backends (their loop is not running here); its own one-off database
    # work runs in a loop of its own.
    if request.param == "embedded":
        yield SagaBackends("embedded", Backends("embedded"))
        return
    contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
    opensearch: str = request.getfixturevalue("opensearch_url")
    prefix: str = request.getfixturevalue("opensearch_prefix")
    postgres: str = request.getfixturevalue("postgres_url")
    suffix = secrets.token_hex(2)
    mariadb = asyncio.run(_fresh_mariadb(run_id))
    warehouse = asyncio.run(fresh_postgres_database(postgres))
    backends = Backends(
        "real",
        mariadb_url=mariadb,
        cassandra_contact=contact,
        history_keyspace=f"test_{run_id}_sh{suffix}",
        recommendations_keyspace=f"test_{run_id}_sr{suffix}",
        opensearch_url=opensearch,
        search_index_prefix=f"{prefix}sagas-{suffix}-",
    )
    yield SagaBackends("real", backends, mariadb, warehouse)
    drop_keyspace(contact, backends.history_keyspace)
    drop_keyspace(contact, backends.recommendations_keyspace)
    asyncio.run(_drop_mariadb(mariadb))
    asyncio.run(drop_postgres_database(warehouse))


@dataclass
class SagaMesh(MeshAccounts):
    account_label: ClassVar[str] = "sagas"
    users_timeout: ClassVar[float | None] = CALL_SECONDS

    backends: SagaBackends
    storage: Storage
    running: RunningMesh
    users_config: UsersConfig
    users: users_pb2_grpc.UserServiceStub
    history: history_pb2_grpc.HistoryServiceStub
    recs: recommendations_pb2_grpc.RecommendationServiceStub
    search: search_pb2_grpc.SearchServiceStub

    @property
    def name(self) -> str:
        return self.backends.name

    def analytics_config(self, **overrides: Any) -> AnalyticsConfig:
        return analytics_config(self.storage, self.backends.postgres_url, **overrides)

    def saga_config(self, **overrides: Any) -> SagaConfig:
        objects = ObjectStoreSettings(root=self.storage.state / "objects")
        return replace(
            SAGA_TEST_CONFIG,
            objects=objects,
            object_store="real" if self.name == "real" else "embedded",
            **overrides,
        )

    def participant_env(self, **addresses: str) -> dict[str, str]:
        """STREAMMESH_<SERVICE>_ADDR of every participant: the mesh's servers, or
        the ``addresses`` given (a fake, a test's analytics server)."""
        found = {name: self.running.address(name) for name in PARTICIPANTS[:3]}
        found.update(addresses)
        return {f"STREAMMESH_{name.upper()}_ADDR": address for name, address in found.items()}

    @asynccontextmanager
    async def orchestrator(
        self, config: SagaConfig | None = None, **addresses: str
    ) -> AsyncIterator[tuple[Orchestrator, SagaLog]]:
        """An orchestrator in this process (not started: drive it with run/run_until_idle)."""
        with pytest.MonkeyPatch.context() as patch:
            for variable, value in self.participant_env(**addresses).items():
                patch.setenv(variable, value)
            async with orchestrator_for(self.users_config, config or self.saga_config()) as running:
                yield running

    @asynccontextmanager
    async def saga_log(self) -> AsyncIterator[SagaLog]:
        from services.users.stores.sql import create_engine

        sagas = SagaLog(create_engine(self.users_config.database_url))
        try:
            yield sagas
        finally:
            await sagas.close()

    async def update_settings(
        self, account: Account, profile_id: str, **fields: Any
    ) -> users_pb2.Profile:
        return await self.users.UpdateProfile(
            users_pb2.UpdateProfileRequest(
                profile=users_pb2.Profile(profile_id=profile_id, **fields),
                update_mask={"paths": list(fields)},
            ),
            metadata=account.caller,
            timeout=CALL_SECONDS,
        )

    async def profile(self, account: Account, profile_id: str) -> users_pb2.Profile:
        return await self.users.GetProfile(
            users_pb2.GetProfileRequest(profile_id=profile_id),
            metadata=account.caller,
            timeout=CALL_SECONDS,
        )

    async def searched_ratings(self, account: Account, profile_id: str) -> set[str]:
        """The ratings of what searching as the profile finds (broad queries)."""
        found: set[str] = set()
        for query in ("the", "love", "man", "life"):
            answer = await self.search.Search(
                search_pb2.SearchRequest(q=query, profile_id=profile_id, page_size=50),
                metadata=account.caller,
                timeout=CALL_SECONDS,
            )
            found.update(hit.maturity_rating for hit in answer.results)
        return found

    async def recommended_ratings(self, account: Account, profile_id: str) -> set[str]:
        from streammesh.recommendations.v1 import recommendations_pb2 as rpb

        answer = await self.recs.ListRecommendations(
            rpb.ListRecommendationsRequest(profile_id=profile_id, page_size=100),
            metadata=account.caller,
            timeout=CALL_SECONDS,
        )
        return {TITLES[r.title_id].maturity_rating for r in answer.recommendations}

    async def watch(self, account: Account, profile_id: str, title_id: str) -> None:
        await self.history.RecordView(
            history_pb2.RecordViewRequest(
                profile_id=profile_id,
                view=history_pb2.View(
                    title_id=title_id,
                    position_seconds=3000,
                    duration_seconds=3600,
                    device_type="tv",
                ),
            ),
            metadata=account.caller,
            timeout=CALL_SECONDS,
        )


@pytest.fixture(scope="module")
async def mesh(
    saga_backends: SagaBackends, mesh_storage: StorageFactory
) -> AsyncIterator[SagaMesh]:
    storage = mesh_storage(f"sagas-{saga_backends.name}", saga_backends.mesh)
    users = users_config(storage, profile_update_sagas=True, migrate_on_start=True)
    async with (
        start_mesh(
            users,
            catalog_config(storage),
            # Calls to users get longer than a deployment's 2 s: six servers,
            # an orchestrator and the real backends share a loaded test machine.
            history_config(storage, dependency_timeout_seconds=DEPENDENCY_SECONDS),
            recommendations_config(storage, dependency_timeout_seconds=DEPENDENCY_SECONDS),
            search_config(storage, dependency_timeout_seconds=DEPENDENCY_SECONDS),
        ) as running,
        grpc.aio.insecure_channel(running.address("users")) as users_channel,
        grpc.aio.insecure_channel(running.address("history")) as history_channel,
        grpc.aio.insecure_channel(running.address("recommendations")) as recs_channel,
        grpc.aio.insecure_channel(running.address("search")) as search_channel,
    ):
        built = SagaMesh(
            saga_backends,
            storage,
            running,
            users,
            users_pb2_grpc.UserServiceStub(users_channel),
            history_pb2_grpc.HistoryServiceStub(history_channel),
            recommendations_pb2_grpc.RecommendationServiceStub(recs_channel),
            search_pb2_grpc.SearchServiceStub(search_channel),
        )

        async def indexed() -> bool:
            answer = await built.search.Search(
                search_pb2.SearchRequest(q="the", page_size=1), timeout=CALL_SECONDS
            )
            return len(answer.results) > 0

        await wait_until(indexed, "the search index to hold the catalog")
        yield built


async def finished(sagas: SagaLog, saga_id: str) -> Saga:
    saga = await sagas.get(saga_id)
    assert saga is not None
    return saga


# ------------------------------------------------------------ fake participants


class FakeSearch(search_pb2_grpc.SearchServiceServicer):
    """A search service whose saga commands always fail (UNAVAILABLE) or hang."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.calls = 0

    async def ApplyProfileSettings(
        self, request: search_pb2.ApplyProfileSettingsRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.ApplyProfileSettingsResponse:
        self.calls += 1
        if self.mode == "hang":
            await asyncio.sleep(3600)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "search is down (fake)")
        raise AssertionError("abort raises")


@asynccontextmanager
async def fake_search(mode: str) -> AsyncIterator[tuple[FakeSearch, str]]:
    server = grpc.aio.server()
    fake = FakeSearch(mode)
    search_pb2_grpc.add_SearchServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


@asynccontextmanager
async def running_analytics(mesh: SagaMesh) -> AsyncIterator[tuple[Any, str]]:
    async with analytics_server(mesh.analytics_config()) as (stub, address):
        yield stub, address


# ------------------------------------------------------------ the orchestrator as a process

# Children are forked from a server process that imported the orchestrator
# once: a child starts in milliseconds, not the seconds a fresh interpreter
# takes to import the services on a loaded machine.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["tests.sagas.child"])


@contextmanager
def orchestrator_process(
    mesh: SagaMesh, config: SagaConfig, **addresses: str
) -> Iterator[multiprocessing.process.BaseProcess]:
    """``streammesh sagas orchestrate`` as its own process (SIGTERMed at the end if alive)."""
    process = _CONTEXT.Process(
        target=child.orchestrate,
        args=(mesh.users_config, config, mesh.participant_env(**addresses)),
        daemon=True,
    )
    process.start()
    try:
        yield process
    finally:
        if process.is_alive():
            process.terminate()
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)
