"""A mini-mesh for the recommendation service's tests: real users, catalog, history and
recommendations servers on port 0, on the embedded backends (SQLite files, the
real Redis) and on the real ones (history and recommendations each on a
Cassandra keyspace of its own). Users and the catalog stay embedded: their
stores are not what these tests are about. The catalog is the e2e sample.

One mesh per test module and backend, with a Redis prefix of its own (the
history stream and the freshness consumer's group too); tests keep apart
with accounts of their own.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import ClassVar

import grpc.aio
import pytest

from services.catalog.netflix_csv import parse
from streammesh.catalog.v1 import catalog_pb2
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2 as pb
from streammesh.recommendations.v1 import recommendations_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc
from tests.mesh import (
    SAMPLE_CATALOG,
    Account,
    Backends,
    MeshAccounts,
    RunningMesh,
    StorageFactory,
    catalog_config,
    drop_keyspace,
    history_config,
    recommendations_config,
    start_mesh,
    users_config,
)


def _sample() -> dict[str, catalog_pb2.Title]:
    with SAMPLE_CATALOG.open(encoding="utf-8") as stream:
        return {a.title.title_id: a.title for a in parse(stream).accepted}


TITLES = _sample()


@pytest.fixture(scope="module", params=["embedded", "real"])
def recs_backend(request: pytest.FixtureRequest, run_id: str) -> Iterator[Backends]:
    if request.param == "embedded":
        yield Backends("embedded")
        return
    contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
    suffix = secrets.token_hex(2)
    backends = Backends(
        "real",
        cassandra_contact=contact,
        history_keyspace=f"test_{run_id}_rh{suffix}",
        recommendations_keyspace=f"test_{run_id}_r{suffix}",
    )
    yield backends
    drop_keyspace(contact, backends.history_keyspace)
    drop_keyspace(contact, backends.recommendations_keyspace)


@dataclass
class RecsMesh(MeshAccounts):
    account_label: ClassVar[str] = "recs"

    backend: str
    running: RunningMesh
    users: users_pb2_grpc.UserServiceStub
    history: history_pb2_grpc.HistoryServiceStub
    recs: recommendations_pb2_grpc.RecommendationServiceStub

    async def watch(
        self, account: Account, profile_id: str, title_id: str, *, finished: bool = True
    ) -> None:
        await self.history.RecordView(
            history_pb2.RecordViewRequest(
                profile_id=profile_id,
                view=history_pb2.View(
                    title_id=title_id,
                    position_seconds=3600 if finished else 600,
                    duration_seconds=3600,
                    device_type="tv",
                ),
            ),
            metadata=account.caller,
            timeout=10,
        )

    async def recommendations(
        self, account: Account, profile_id: str, page_size: int = 10
    ) -> pb.ListRecommendationsResponse:
        return await self.recs.ListRecommendations(
            pb.ListRecommendationsRequest(profile_id=profile_id, page_size=page_size),
            metadata=account.caller,
            timeout=10,
        )


@pytest.fixture(scope="module")
async def mesh(recs_backend: Backends, mesh_storage: StorageFactory) -> AsyncIterator[RecsMesh]:
    storage = mesh_storage(f"recs-{recs_backend.name}", recs_backend)
    async with (
        start_mesh(
            users_config(storage),
            catalog_config(storage),
            history_config(storage),
            recommendations_config(storage),
        ) as running,
        grpc.aio.insecure_channel(running.address("users")) as users_channel,
        grpc.aio.insecure_channel(running.address("history")) as history_channel,
        grpc.aio.insecure_channel(running.address("recommendations")) as recs_channel,
    ):
        yield RecsMesh(
            recs_backend.name,
            running,
            users_pb2_grpc.UserServiceStub(users_channel),
            history_pb2_grpc.HistoryServiceStub(history_channel),
            recommendations_pb2_grpc.RecommendationServiceStub(recs_channel),
        )
