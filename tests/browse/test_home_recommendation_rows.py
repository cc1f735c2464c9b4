"""The home screen's recommendation rows ("Top picks for <profile>", "Because you
watched <title>") against real users, catalog, history, recommendations and
browse servers (tests/browse/conftest.py), the recommendations learning from
the history's events.

Another account's profile watches kids and adult titles together, so the
co-occurrence model links them: an adult profile that then watches one of the
kids titles is offered the adult ones "Because you watched" it, a kids
profile of the same account never, in any row. Browse drops a recommended
title re-rated above the limit since, and makes no "Because you watched" row
for a watched title re-rated above it.
"""

from __future__ import annotations

from services import ratings
from streammesh.browse.v1 import browse_pb2
from streammesh.catalog.v1 import catalog_pb2
from streammesh.recommendations.v1 import recommendations_pb2
from streammesh.users.v1 import users_pb2
from tests.browse.conftest import TITLES, MiniMesh
from tests.mesh import Account, wait_until

COUNTRY = "GB"
KIDS_LIMIT = "TV-Y7"
ADULT_LIMIT = "TV-MA"
HOUR = 3600


def _available(rating: str) -> list[catalog_pb2.Title]:
    return [t for t in TITLES[rating] if not t.country_codes or COUNTRY in t.country_codes]


KIDS = _available("TV-Y") + _available("TV-Y7")
ADULT = _available("TV-MA") + _available("R")
# Distinct titles per test (one module-scoped mesh; the second test re-rates).
KIDS_A, KIDS_B, KIDS_C = KIDS[0], KIDS[1], KIDS[2]
ADULT_A, ADULT_B, ADULT_R = ADULT[0], ADULT[1], ADULT[2]
RERATED_PICK_WATCHED, RERATED_PICK, RERATED_PICK_STAYS = KIDS[3], KIDS[4], KIDS[5]


def row(home: browse_pb2.Home, row_id: str) -> browse_pb2.Row | None:
    return next((r for r in home.rows if r.row_id == row_id), None)


def card_ids(home: browse_pb2.Home, row_id: str) -> list[str]:
    found = row(home, row_id)
    return [] if found is None else [card.title_id for card in found.cards]


def because(title: catalog_pb2.Title) -> str:
    return f"because-you-watched:{title.title_id}"


def assert_within(home: browse_pb2.Home, limit: str) -> None:
    assert home.rows
    for each in home.rows:
        for card in each.cards:
            assert ratings.allows(limit, card.maturity_rating), (each.row_id, card)


async def watch_together(mesh: MiniMesh, titles: list[catalog_pb2.Title]) -> None:
    """Another account's adult profile finishes every one of ``titles``."""
    others = await mesh.signup(COUNTRY)
    await mesh.set_limit(others, others.primary_profile_id, ADULT_LIMIT)
    for title in titles:
        await mesh.view(others, others.primary_profile_id, title, position=HOUR)


async def home_once_it_has(
    mesh: MiniMesh, account: Account, profile_id: str, row_id: str, limit: str
) -> browse_pb2.Home:
    """The profile's home as soon as it has row ``row_id``; every screen seen on
    the way is checked against ``limit``."""
    seen: list[browse_pb2.Home] = []

    async def has_row() -> bool:
        home = await mesh.home(account, profile_id)
        assert not home.failed_rows, home.failed_rows
        assert_within(home, limit)
        seen.append(home)
        return row(home, row_id) is not None

    await wait_until(has_row, f"row {row_id} on {profile_id}'s home")
    return seen[-1]


async def test_a_kids_profile_never_sees_a_title_above_its_limit_in_recommendation_rows(
    mesh: MiniMesh,
) -> None:
    await watch_together(mesh, [KIDS_A, KIDS_B, KIDS_C, ADULT_A, ADULT_B, ADULT_R])
    family = await mesh.signup(COUNTRY)
    adult = family.primary_profile_id
    await mesh.set_limit(family, adult, ADULT_LIMIT)
    kids = await mesh.add_profile(family, kids=True, rating=KIDS_LIMIT)
    await mesh.view(family, adult, KIDS_A, position=HOUR)
    await mesh.view(family, kids, KIDS_A, position=HOUR)

    # The adult profile is offered the adult titles watched with KIDS_A: they
    # were there to be left out of the kids' screen.
    adult_home = await home_once_it_has(mesh, family, adult, because(KIDS_A), ADULT_LIMIT)
    adult_rows = [r.row_id for r in adult_home.rows]
    # Screen order: (continue watching: the one title is finished), top
    # picks, trending, because you watched, then the catalog's rows.
    assert adult_rows[:3] == ["top-picks", "trending", because(KIDS_A)]
    assert adult_rows.index(because(KIDS_A)) < adult_rows.index("new-in-country")
    watched_with = {t.title_id for t in (ADULT_A, ADULT_B, ADULT_R)}
    assert watched_with & set(card_ids(adult_home, "top-picks"))
    assert watched_with & set(card_ids(adult_home, because(KIDS_A)))

    kids_home = await home_once_it_has(mesh, family, kids, because(KIDS_A), KIDS_LIMIT)
    top_picks = row(kids_home, "top-picks")
    assert top_picks is not None
    assert top_picks.kind == browse_pb2.ROW_KIND_RECOMMENDED
    profile = await mesh.users.GetProfile(
        users_pb2.GetProfileRequest(profile_id=kids), metadata=family.caller, timeout=10
    )
    assert top_picks.heading == f"Top picks for {profile.profile_name}"
    because_row = row(kids_home, because(KIDS_A))
    assert because_row is not None
    assert because_row.kind == browse_pb2.ROW_KIND_RECOMMENDED
    assert because_row.heading == f"Because you watched {KIDS_A.title}"
    kids_titles = {KIDS_B.title_id, KIDS_C.title_id}
    assert kids_titles <= set(card_ids(kids_home, because(KIDS_A)))
    assert kids_titles <= set(card_ids(kids_home, "top-picks"))
    for each in kids_home.rows:
        assert not watched_with & {card.title_id for card in each.cards}, each.row_id


async def test_browse_drops_recommended_titles_rerated_above_the_limit(mesh: MiniMesh) -> None:
    await watch_together(mesh, [RERATED_PICK_WATCHED, RERATED_PICK, RERATED_PICK_STAYS])
    family = await mesh.signup(COUNTRY)
    kids = await mesh.add_profile(family, kids=True, rating=KIDS_LIMIT)
    await mesh.view(family, kids, RERATED_PICK_WATCHED, position=HOUR)
    row_id = because(RERATED_PICK_WATCHED)
    before = await home_once_it_has(mesh, family, kids, row_id, KIDS_LIMIT)
    assert RERATED_PICK.title_id in card_ids(before, "top-picks")
    assert RERATED_PICK.title_id in card_ids(before, row_id)

    await mesh.rerate_for_browse(RERATED_PICK, "TV-MA")

    # The recommendations still answer with it: their catalog has the old rating.
    assert mesh.recommendations is not None
    listed = await mesh.recommendations.ListRecommendations(
        recommendations_pb2.ListRecommendationsRequest(profile_id=kids, page_size=50),
        metadata=family.caller,
        timeout=10,
    )
    assert RERATED_PICK.title_id in [r.title_id for r in listed.recommendations]
    home = await mesh.home(family, kids)
    assert not home.failed_rows, home.failed_rows
    assert_within(home, KIDS_LIMIT)
    assert RERATED_PICK.title_id not in card_ids(home, "top-picks")
    assert RERATED_PICK.title_id not in card_ids(home, row_id)
    assert RERATED_PICK_STAYS.title_id in card_ids(home, row_id)

    # A watched title re-rated above the limit names no row.
    await mesh.rerate_for_browse(RERATED_PICK_WATCHED, "TV-MA")
    home = await mesh.home(family, kids)
    assert not home.failed_rows, home.failed_rows
    assert_within(home, KIDS_LIMIT)
    assert row(home, row_id) is None
    assert row(home, "top-picks") is not None
