"""A mini-mesh for the home screen's history and recommendation rows: real users,
catalog, history, recommendations and browse servers on port 0, on the
embedded backends (SQLite files, the real Redis), pointed at each other with
``STREAMMESH_<SERVICE>_ADDR`` as ``streammesh up`` does.

Two catalog servers run, both seeded from the e2e sample
(tests/e2e/data/titles_sample.csv, so the same titles under the same ids):
the history and recommendations services read one, browse the other. They
agree until a test re-rates a title on browse's only, which is what an answer
computed from an older rating (a cache, a replica not caught up, a re-rating
after the views) looks like to browse: the case its own maturity filter is
there for. The mesh without a history runs no recommendations either.

One mesh per test module, with a Redis prefix of its own; the history's
trending cache is off so a poll sees the rollup as soon as it lands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import grpc.aio
import pytest
from google.protobuf import field_mask_pb2

from services.catalog.config import Config as CatalogConfig
from services.catalog.netflix_csv import parse
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc
from tests.mesh import (
    SAMPLE_CATALOG,
    Account,
    MeshAccounts,
    Node,
    ServiceConfig,
    Storage,
    StorageFactory,
    browse_config,
    catalog_config,
    history_config,
    recommendations_config,
    start_mesh,
    users_config,
    wait_until,
)

# Generous: these tests are about which cards a row holds, not about latency.
ROW_TIMEOUT_SECONDS = 5.0


def _sample_titles() -> dict[str, list[catalog_pb2.Title]]:
    """The sample catalog's titles by maturity rating, in file order."""
    with SAMPLE_CATALOG.open(encoding="utf-8") as stream:
        parsed = parse(stream)
    by_rating: dict[str, list[catalog_pb2.Title]] = {}
    for accepted in parsed.accepted:
        by_rating.setdefault(accepted.title.maturity_rating, []).append(accepted.title)
    return by_rating


TITLES = _sample_titles()


@dataclass
class MiniMesh(MeshAccounts):
    account_label: ClassVar[str] = "browse"
    # Its users calls are bounded like every other call of these tests.
    users_timeout: ClassVar[float | None] = 10

    users: users_pb2_grpc.UserServiceStub
    # The catalog browse reads (the history reads another, seeded alike).
    catalog: catalog_pb2_grpc.CatalogServiceStub
    # None when the mesh runs without a history server.
    history: history_pb2_grpc.HistoryServiceStub | None
    browse: browse_pb2_grpc.BrowseServiceStub
    # None when the mesh runs without a recommendations server.
    recommendations: recommendations_pb2_grpc.RecommendationServiceStub | None = None

    async def view(
        self,
        account: Account,
        profile_id: str,
        title: catalog_pb2.Title,
        *,
        position: int,
        duration: int = 3600,
    ) -> history_pb2.View:
        """A view of ``title`` by the profile, now, in the account's country."""
        assert self.history is not None
        view = history_pb2.View(
            title_id=title.title_id,
            position_seconds=position,
            duration_seconds=duration,
            device_type="tv",
        )
        view.watch_time.FromDatetime(datetime.now(UTC).replace(tzinfo=None))
        return await self.history.RecordView(
            history_pb2.RecordViewRequest(profile_id=profile_id, view=view),
            metadata=account.caller,
            timeout=10,
        )

    async def home(self, account: Account, profile_id: str) -> browse_pb2.Home:
        return await self.browse.GetHome(
            browse_pb2.GetHomeRequest(profile_id=profile_id, cards_per_row=50),
            metadata=account.caller,
            timeout=30,
        )

    async def rerate_for_browse(self, title: catalog_pb2.Title, rating: str) -> None:
        """Gives ``title`` another rating in browse's catalog only."""
        current = await self.catalog.GetTitle(
            catalog_pb2.GetTitleRequest(title_id=title.title_id), timeout=10
        )
        current.maturity_rating = rating
        await self.catalog.UpdateTitle(
            catalog_pb2.UpdateTitleRequest(
                title=current, update_mask=field_mask_pb2.FieldMask(paths=["maturity_rating"])
            ),
            timeout=10,
        )

    async def trending_views(self, country: str) -> dict[str, int]:
        """Today's view counts of the country's trending titles, unfiltered."""
        assert self.history is not None
        response = await self.history.ListTrending(
            history_pb2.ListTrendingRequest(country=country, page_size=100), timeout=10
        )
        return {entry.title_id: entry.view_count for entry in response.titles}

    async def wait_for_trending(self, country: str, expected: dict[str, int]) -> None:
        """Until today's trending of ``country`` shows exactly these view counts."""

        async def landed() -> bool:
            return await self.trending_views(country) == expected

        await wait_until(landed, f"trending {expected} in {country}")


def _catalog(storage: Storage, name: str) -> CatalogConfig:
    return catalog_config(
        storage,
        sqlite_path=storage.state / f"{name}.db",
        # A prefix per catalog: their title caches must not answer for each other.
        redis_prefix=f"{storage.redis_prefix}{name}:",
    )


async def _mesh(storage: Storage, *, with_history: bool) -> AsyncIterator[MiniMesh]:
    # Browse reads the node named "catalog"; the history, when it runs, its own.
    nodes: list[Node | ServiceConfig] = [users_config(storage), _catalog(storage, "catalog-browse")]
    if with_history:
        nodes += [
            Node(_catalog(storage, "catalog-history"), name="catalog-history"),
            Node(
                history_config(storage, trending_cache_ttl_seconds=0),
                reaches={"catalog": "catalog-history"},
            ),
            Node(
                # The personal models weigh 91 % from the first title watched, so
                # a title watched with another is "Because you watched" it, not
                # "Popular in <country>" (tests/browse/test_home_recommendation_rows.py).
                recommendations_config(storage, history_half_weight=0.1),
                reaches={"catalog": "catalog-history"},
            ),
        ]
    nodes.append(
        browse_config(
            row_timeout_seconds=ROW_TIMEOUT_SECONDS, profile_timeout_seconds=ROW_TIMEOUT_SECONDS
        )
    )
    async with (
        start_mesh(*nodes) as mesh,
        grpc.aio.insecure_channel(mesh.address("users")) as users_channel,
        grpc.aio.insecure_channel(mesh.address("catalog")) as catalog_channel,
        # Without a history server: where nothing listens.
        grpc.aio.insecure_channel(mesh.address("history")) as history_channel,
        grpc.aio.insecure_channel(mesh.address("browse")) as browse_channel,
        grpc.aio.insecure_channel(mesh.address("recommendations")) as recommendations_channel,
    ):
        yield MiniMesh(
            users_pb2_grpc.UserServiceStub(users_channel),
            catalog_pb2_grpc.CatalogServiceStub(catalog_channel),
            history_pb2_grpc.HistoryServiceStub(history_channel) if with_history else None,
            browse_pb2_grpc.BrowseServiceStub(browse_channel),
            recommendations_pb2_grpc.RecommendationServiceStub(recommendations_channel)
            if with_history
            else None,
        )


@pytest.fixture(scope="module")
async def mesh(mesh_storage: StorageFactory) -> AsyncIterator[MiniMesh]:
    async for mini in _mesh(mesh_storage("browse-mesh"), with_history=True):
        yield mini


@pytest.fixture(scope="module")
async def mesh_without_history(mesh_storage: StorageFactory) -> AsyncIterator[MiniMesh]:
    async for mini in _mesh(mesh_storage("browse-mesh-no-history"), with_history=False):
        yield mini
