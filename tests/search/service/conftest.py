"""A mini-mesh for the search service's tests: real users, catalog and search
servers on port 0. The search index is the embedded one (a SQLite FTS5 file)
or the real one (an OpenSearch alias of the module's own under the run's
prefix, deleted with the run's indices); users and catalog are embedded in
both: they are not what these tests are about. The catalog is seeded from the
e2e sample, and its events reach search through the catalog's stream (the
"search-indexer" consumer group), as in a deployment.

One mesh per test module and backend, with a Redis prefix of its own (its
streams and consumer group too).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import grpc.aio
import pytest

from services import registry
from services.catalog.netflix_csv import parse
from services.search.config import Config as SearchConfig
from services.search.stores import open_index
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.search.v1 import search_pb2, search_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc
from tests.mesh import (
    SAMPLE_CATALOG,
    Backends,
    MeshAccounts,
    StorageFactory,
    catalog_config,
    search_config,
    start_mesh,
    users_config,
)

# Bound on a wait for the indexer (a failure, not a timing claim); the
# catalog-to-search test asserts its own 5 s.
SAMPLE_SIZE_WAIT_SECONDS = 60.0


def _sample() -> list[catalog_pb2.Title]:
    with SAMPLE_CATALOG.open(encoding="utf-8") as stream:
        return [row.title for row in parse(stream).accepted]


SAMPLE = _sample()


@pytest.fixture(scope="module", params=["embedded", "real"])
def search_backends(request: pytest.FixtureRequest) -> Iterator[Backends]:
    """Where the index lives (users and catalog are embedded in both); sync, so
    OpenSearch's fixtures are only set up (or skipped with a pointer to
    `make infra-up`) for the real run."""
    if request.param == "embedded":
        yield Backends("embedded")
        return
    prefix: str = request.getfixturevalue("opensearch_prefix")
    yield Backends(
        "real",
        opensearch_url=request.getfixturevalue("opensearch_url"),
        search_index_prefix=f"{prefix}{secrets.token_hex(4)}-",
    )


@dataclass
class SearchMesh(MeshAccounts):
    account_label: ClassVar[str] = "search"

    backend: str
    config: SearchConfig
    users: users_pb2_grpc.UserServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    search: search_pb2_grpc.SearchServiceStub
    addresses: dict[str, str] = field(default_factory=dict)

    def cli_environment(self) -> dict[str, str]:
        """The environment `streammesh search reindex` runs with against this mesh."""
        environ = dict(os.environ)
        environ.update(
            {
                registry.service("catalog").addr_env: self.addresses["catalog"],
                "STREAMMESH_SEARCH_BACKEND": self.config.backend,
                "STREAMMESH_SEARCH_SQLITE_PATH": str(self.config.sqlite_path),
                "STREAMMESH_SEARCH_OPENSEARCH_URL": self.config.opensearch_url,
                "STREAMMESH_SEARCH_INDEX_PREFIX": self.config.index_prefix,
                "STREAMMESH_SEARCH_REDIS_URL": self.config.redis_url,
                "STREAMMESH_SEARCH_REDIS_PREFIX": self.config.redis_prefix,
                # Rich wraps at the terminal's width: keep the summary on one line.
                "COLUMNS": "200",
            }
        )
        return environ

    async def find(self, q: str, **fields: Any) -> search_pb2.SearchResponse:
        answer: search_pb2.SearchResponse = await self.search.Search(
            search_pb2.SearchRequest(q=q, **fields), timeout=10
        )
        return answer


async def poll(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> float:
    """Polls ``check`` every 50 ms for at most ``seconds``; how long it took."""
    import asyncio

    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        if await check():
            return loop.time() - started
        if loop.time() - started > seconds:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def mesh(
    search_backends: Backends, mesh_storage: StorageFactory
) -> AsyncIterator[SearchMesh]:
    storage = mesh_storage(f"search-{search_backends.name}", search_backends)
    config = search_config(storage)
    async with (
        start_mesh(users_config(storage), catalog_config(storage), config) as running,
        grpc.aio.insecure_channel(running.address("users")) as users_channel,
        grpc.aio.insecure_channel(running.address("catalog")) as catalog_channel,
        grpc.aio.insecure_channel(running.address("search")) as search_channel,
    ):
        searched = SearchMesh(
            search_backends.name,
            config,
            users_pb2_grpc.UserServiceStub(users_channel),
            catalog_pb2_grpc.CatalogServiceStub(catalog_channel),
            search_pb2_grpc.SearchServiceStub(search_channel),
            running.addresses,
        )
        # The same index, opened beside the server, to see the seed land.
        index = await open_index(config)
        try:

            async def sample_indexed() -> bool:
                return await index.count() >= len(SAMPLE)

            await poll(sample_indexed, SAMPLE_SIZE_WAIT_SECONDS, "the sample indexed")
        finally:
            await index.close()
        yield searched
