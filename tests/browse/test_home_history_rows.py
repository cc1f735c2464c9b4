"""The home screen's history rows ("Continue watching", "Trending in <country>")
against real users, catalog, history, recommendations and browse servers
(tests/browse/conftest.py).

Refusals first; then a kids profile that never sees a title above its limit
in any row, even with adult titles trending in its country that day
(watched by the adult profile of the same account); browse's own maturity
filter, for a history answer computed from an older rating; and a history
(and recommendations) outage, which costs exactly their rows.
"""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from services import ratings
from streammesh.browse.v1 import browse_pb2
from streammesh.history.v1 import history_pb2
from tests.browse.conftest import TITLES, MiniMesh

KIDS_LIMIT = "TV-Y7"
ADULT_LIMIT = "TV-MA"

# Distinct titles per test: one module-scoped mesh, and the re-rating test
# changes a title in browse's catalog for good.
ADULT_A, ADULT_B = TITLES["TV-MA"][0], TITLES["TV-MA"][1]
ADULT_R = TITLES["R"][0]
TEEN = TITLES["TV-14"][0]
KIDS_A, KIDS_B = TITLES["TV-Y"][0], TITLES["TV-Y"][1]
KIDS_7 = TITLES["TV-Y7"][0]
RERATED = TITLES["TV-Y"][2]
STAYS = TITLES["TV-Y7"][1]

HOUR = 3600


def row(home: browse_pb2.Home, row_id: str) -> browse_pb2.Row | None:
    return next((r for r in home.rows if r.row_id == row_id), None)


def card_ids(home: browse_pb2.Home, row_id: str) -> list[str]:
    found = row(home, row_id)
    return [] if found is None else [card.title_id for card in found.cards]


def assert_within(home: browse_pb2.Home, limit: str) -> None:
    for each in home.rows:
        for card in each.cards:
            assert ratings.allows(limit, card.maturity_rating), (each.row_id, card)


# ------------------------------------------------------------ refusals


async def test_another_accounts_kids_profile_gets_no_rows(mesh: MiniMesh) -> None:
    alice = await mesh.signup("GB")
    kids = await mesh.add_profile(alice, kids=True, rating=KIDS_LIMIT)
    await mesh.view(alice, kids, KIDS_A, position=600)
    bob = await mesh.signup("GB")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.home(bob, kids)
    assert raised.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)


async def test_too_many_cards_per_row_is_the_callers_mistake(mesh: MiniMesh) -> None:
    alice = await mesh.signup("GB")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.browse.GetHome(
            browse_pb2.GetHomeRequest(profile_id=alice.primary_profile_id, cards_per_row=51),
            metadata=alice.caller,
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------ the kids rule


async def test_a_kids_profile_never_sees_a_title_above_its_limit_in_either_row(
    mesh: MiniMesh,
) -> None:
    country = "AU"  # this test's own: trending is per country
    family = await mesh.signup(country)
    adult = family.primary_profile_id
    await mesh.set_limit(family, adult, ADULT_LIMIT)
    kids = await mesh.add_profile(family, kids=True, rating=KIDS_LIMIT)

    # The adult profile watches adult titles the same day, in the same
    # country, more often than the kids watch theirs: they top trending.
    for title in (ADULT_A, ADULT_A, ADULT_A, ADULT_B, ADULT_B, ADULT_R, TEEN):
        await mesh.view(family, adult, title, position=20 * 60, duration=2 * HOUR)
    await mesh.view(family, kids, KIDS_A, position=10 * 60, duration=HOUR)
    await mesh.view(family, kids, KIDS_B, position=HOUR, duration=HOUR)  # finished
    await mesh.view(family, kids, KIDS_7, position=5 * 60, duration=HOUR // 2)
    await mesh.wait_for_trending(
        country,
        {
            ADULT_A.title_id: 3,
            ADULT_B.title_id: 2,
            ADULT_R.title_id: 1,
            TEEN.title_id: 1,
            KIDS_A.title_id: 1,
            KIDS_B.title_id: 1,
            KIDS_7.title_id: 1,
        },
    )

    home = await mesh.home(family, kids)
    assert not home.failed_rows, home.failed_rows
    assert_within(home, KIDS_LIMIT)
    # Screen order: continue watching, top picks, trending, then the catalog's
    # rows (after any "Because you watched" rows).
    row_ids = [r.row_id for r in home.rows]
    assert row_ids[:3] == ["continue-watching", "top-picks", "trending"]
    assert row_ids.index("new-in-country") > 2
    continuing = row(home, "continue-watching")
    assert continuing is not None
    assert continuing.kind == browse_pb2.ROW_KIND_CONTINUE_WATCHING
    assert continuing.heading == "Continue watching"
    # Most recent first, the finished title left out, each with its position.
    assert [(c.title_id, c.position_seconds, c.duration_seconds) for c in continuing.cards] == [
        (KIDS_7.title_id, 5 * 60, HOUR // 2),
        (KIDS_A.title_id, 10 * 60, HOUR),
    ]
    assert continuing.cards[0].title == KIDS_7.title
    trending = row(home, "trending")
    assert trending is not None
    assert trending.kind == browse_pb2.ROW_KIND_TRENDING
    assert trending.heading == f"Trending in {country}"
    assert sorted(card_ids(home, "trending")) == sorted(
        t.title_id for t in (KIDS_A, KIDS_B, KIDS_7)
    )

    # The same rows on the adult profile's screen: the adult titles were
    # there to be left out.
    adult_home = await mesh.home(family, adult)
    assert not adult_home.failed_rows, adult_home.failed_rows
    assert_within(adult_home, ADULT_LIMIT)
    assert card_ids(adult_home, "trending")[:2] == [ADULT_A.title_id, ADULT_B.title_id]
    assert {ADULT_A.title_id, ADULT_B.title_id, ADULT_R.title_id} <= set(
        card_ids(adult_home, "continue-watching")
    )
    assert not {t.title_id for t in (KIDS_A, KIDS_B, KIDS_7)} & set(
        card_ids(adult_home, "continue-watching")
    )


async def test_browse_drops_a_title_the_history_still_allows_on_an_older_rating(
    mesh: MiniMesh,
) -> None:
    country = "NZ"
    family = await mesh.signup(country)
    kids = await mesh.add_profile(family, kids=True, rating=KIDS_LIMIT)
    await mesh.view(family, kids, RERATED, position=10 * 60, duration=HOUR)
    await mesh.view(family, kids, STAYS, position=10 * 60, duration=HOUR)
    await mesh.wait_for_trending(country, {RERATED.title_id: 1, STAYS.title_id: 1})
    before = await mesh.home(family, kids)
    assert RERATED.title_id in card_ids(before, "continue-watching")
    assert RERATED.title_id in card_ids(before, "trending")

    await mesh.rerate_for_browse(RERATED, "TV-MA")

    # The history still answers with it: its catalog has the old rating,
    # and its trending figures carry the rating the views were recorded with.
    assert mesh.history is not None
    continuing = await mesh.history.ListContinueWatching(
        history_pb2.ListContinueWatchingRequest(profile_id=kids),
        metadata=family.caller,
        timeout=10,
    )
    assert RERATED.title_id in [item.title_id for item in continuing.items]
    trending = await mesh.history.ListTrending(
        history_pb2.ListTrendingRequest(country=country, max_maturity=KIDS_LIMIT), timeout=10
    )
    assert RERATED.title_id in [entry.title_id for entry in trending.titles]
    # Browse does not show it.
    home = await mesh.home(family, kids)
    assert not home.failed_rows, home.failed_rows
    assert_within(home, KIDS_LIMIT)
    assert card_ids(home, "continue-watching") == [STAYS.title_id]
    assert card_ids(home, "trending") == [STAYS.title_id]


# ------------------------------------------------------------ outages


async def test_history_and_recommendations_outages_cost_exactly_their_rows(
    mesh_without_history: MiniMesh,
) -> None:
    viewer = await mesh_without_history.signup("US")
    home = await mesh_without_history.home(viewer, viewer.primary_profile_id)
    failed = {(f.row_id, f.kind) for f in home.failed_rows}
    # The "Because you watched" rows come from the top picks: none is known.
    assert failed == {
        ("continue-watching", browse_pb2.ROW_KIND_CONTINUE_WATCHING),
        ("top-picks", browse_pb2.ROW_KIND_RECOMMENDED),
        ("trending", browse_pb2.ROW_KIND_TRENDING),
    }
    for failure in home.failed_rows:
        source = "recommendations" if failure.row_id == "top-picks" else "history"
        assert failure.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), failure
        assert failure.reason in (f"{source} failed ({failure.code})", "row timed out"), failure
    # The catalog's rows still render, in their order.
    assert [r.row_id for r in home.rows] == [
        "new-in-country",
        "genre:International TV Shows",
        "genre:Dramas",
        "genre:Comedies",
        "genre:Documentaries",
    ]
    assert all(r.cards for r in home.rows)
