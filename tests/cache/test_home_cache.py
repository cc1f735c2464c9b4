"""GetHome as a cached, composed page: rows are reused across requests, and a
profile's lowered maturity limit holds on the very next page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import grpc.aio
import pytest
from prometheus_client import REGISTRY

from services import ratings
from services.browse.rows import CATALOG_LISTINGS, PROFILE_ROWS
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc
from tests.mesh import (
    Account,
    Caller,
    MeshAccounts,
    StorageFactory,
    browse_config,
    catalog_config,
    history_config,
    recommendations_config,
    start_mesh,
    users_config,
    wait_until,
)

ADULT_LIMIT = "TV-MA"
KIDS_LIMIT = "TV-Y7"


@dataclass
class HomeMesh(MeshAccounts):
    account_label: ClassVar[str] = "home-cache"
    users_timeout: ClassVar[float | None] = 10
    users: users_pb2_grpc.UserServiceStub
    history: history_pb2_grpc.HistoryServiceStub
    browse: browse_pb2_grpc.BrowseServiceStub

    async def home(self, caller: Caller, profile_id: str) -> browse_pb2.Home:
        return await self.browse.GetHome(
            browse_pb2.GetHomeRequest(profile_id=profile_id, cards_per_row=50),
            metadata=caller,
            timeout=30,
        )


@pytest.fixture(scope="module")
async def mesh(mesh_storage: StorageFactory) -> AsyncIterator[HomeMesh]:
    storage = mesh_storage("home-cache")
    async with (
        start_mesh(
            users_config(storage),
            catalog_config(storage),
            history_config(storage),
            recommendations_config(storage),
            # The row cache on, with TTLs far longer than the test: only
            # invalidation and the keys can make it right.
            browse_config(
                storage,
                row_timeout_seconds=5.0,
                profile_timeout_seconds=5.0,
                profile_rows_ttl_seconds=60.0,
            ),
        ) as servers,
        grpc.aio.insecure_channel(servers.address("users")) as users,
        grpc.aio.insecure_channel(servers.address("history")) as history,
        grpc.aio.insecure_channel(servers.address("browse")) as browse,
    ):
        yield HomeMesh(
            users_pb2_grpc.UserServiceStub(users),
            history_pb2_grpc.HistoryServiceStub(history),
            browse_pb2_grpc.BrowseServiceStub(browse),
        )


async def limit_applied(mesh: HomeMesh, account: Account, profile_id: str, rating: str) -> None:
    """Sets the profile's limit and waits until the users service applied it (a
    settings change may run as a saga); the home page must honour it from then on."""
    await mesh.set_limit(account, profile_id, rating)

    async def applied() -> bool:
        profile = await mesh.users.GetProfile(
            users_pb2.GetProfileRequest(profile_id=profile_id), metadata=account.caller, timeout=10
        )
        return profile.maturity_rating == rating

    await wait_until(applied, f"the limit {rating} applied")


def l1_hits(namespace: str) -> float:
    value = REGISTRY.get_sample_value(
        "streammesh_cache_layer_requests_total",
        {"namespace": namespace, "layer": "l1", "result": "hit"},
    )
    return value or 0.0


def ratings_on(home: browse_pb2.Home) -> set[str]:
    return {card.maturity_rating for row in home.rows for card in row.cards}


async def warm(mesh: HomeMesh, caller: Caller, profile_id: str) -> browse_pb2.Home:
    """The profile's page once its rows come from the row cache."""
    pages: list[browse_pb2.Home] = []

    async def served_from_cache() -> bool:
        before = l1_hits(CATALOG_LISTINGS) + l1_hits(PROFILE_ROWS)
        pages.append(await mesh.home(caller, profile_id))
        return l1_hits(CATALOG_LISTINGS) + l1_hits(PROFILE_ROWS) > before

    await wait_until(served_from_cache, "GetHome rows from the row cache")
    return pages[-1]


async def test_a_lowered_limit_takes_effect_on_the_very_next_home_page(mesh: HomeMesh) -> None:
    family = await mesh.signup("US")
    profile = family.primary_profile_id
    await limit_applied(mesh, family, profile, ADULT_LIMIT)
    cached = await warm(mesh, family.caller, profile)
    assert not cached.failed_rows, cached.failed_rows
    # The adult page had titles the kids limit excludes, from cached rows.
    assert any(not ratings.allows(KIDS_LIMIT, rating) for rating in ratings_on(cached))

    await limit_applied(mesh, family, profile, KIDS_LIMIT)
    lowered = await mesh.home(family.caller, profile)
    assert not lowered.failed_rows, lowered.failed_rows
    assert lowered.rows, "the lowered page still has rows"
    assert all(ratings.allows(KIDS_LIMIT, rating) for rating in ratings_on(lowered))


async def test_a_recorded_view_drops_the_profiles_cached_rows(mesh: HomeMesh) -> None:
    family = await mesh.signup("US")
    profile = family.primary_profile_id
    await limit_applied(mesh, family, profile, ADULT_LIMIT)
    page = await warm(mesh, family.caller, profile)
    assert not [r for r in page.rows if r.row_id == "continue-watching"]
    title_id = next(card.title_id for row in page.rows for card in row.cards)
    view = history_pb2.View(
        title_id=title_id, position_seconds=600, duration_seconds=3600, device_type="tv"
    )
    view.watch_time.FromDatetime(datetime.now(UTC).replace(tzinfo=None))
    await mesh.history.RecordView(
        history_pb2.RecordViewRequest(profile_id=profile, view=view),
        metadata=family.caller,
        timeout=10,
    )

    async def continuing() -> bool:
        home = await mesh.home(family.caller, profile)
        return any(
            card.title_id == title_id
            for row in home.rows
            if row.row_id == "continue-watching"
            for card in row.cards
        )

    # Well inside the 60 s the profile's rows would otherwise be kept.
    await wait_until(continuing, "the new view in Continue watching")
