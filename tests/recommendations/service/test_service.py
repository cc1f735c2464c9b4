"""RecommendationService against real users, catalog and history servers, on both backends."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from services import ratings
from streammesh.recommendations.v1 import recommendations_pb2 as pb
from tests.recommendations.service.conftest import TITLES, RecsMesh

pytestmark = pytest.mark.asyncio

# The bound: a view changes the profile's list within this.
FRESHNESS_SECONDS = 5.0


def _in_gb(limit: str) -> list[str]:
    return [
        t.title_id
        for t in TITLES.values()
        if ratings.allows(limit, t.maturity_rating)
        and (not t.country_codes or "GB" in t.country_codes)
    ]


def _of_genre(genre: str, limit: str = ratings.DEFAULT_LIMIT) -> list[str]:
    return [i for i in _in_gb(limit) if genre in TITLES[i].genres]


async def test_bad_requests_are_refused_first(mesh: RecsMesh) -> None:
    account = await mesh.signup()
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await mesh.recs.ListRecommendations(
            pb.ListRecommendationsRequest(profile_id="not-a-number"), metadata=account.caller
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await mesh.recs.ListRecommendations(
            pb.ListRecommendationsRequest(profile_id=account.primary_profile_id)
        )
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as token:
        await mesh.recs.ListRecommendations(
            pb.ListRecommendationsRequest(profile_id="1", page_token="garbage"),
            metadata=account.caller,
        )
    assert token.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as unknown_title:
        await mesh.recs.ListSimilarTitles(
            pb.ListSimilarTitlesRequest(
                profile_id=account.primary_profile_id, title_id=str(uuid.uuid4())
            ),
            metadata=account.caller,
        )
    assert unknown_title.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_foreign_profile_is_refused_on_the_service_port(mesh: RecsMesh) -> None:
    owner, stranger = await mesh.signup(), await mesh.signup()
    for call in (
        lambda: mesh.recs.ListRecommendations(
            pb.ListRecommendationsRequest(profile_id=owner.primary_profile_id),
            metadata=stranger.caller,
        ),
        lambda: mesh.recs.ListSimilarTitles(
            pb.ListSimilarTitlesRequest(
                profile_id=owner.primary_profile_id, title_id=next(iter(TITLES))
            ),
            metadata=stranger.caller,
        ),
        lambda: mesh.recs.RefreshRecommendations(
            pb.RefreshRecommendationsRequest(profile_id=owner.primary_profile_id),
            metadata=stranger.caller,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call()
        assert refused.value.code() in (
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.NOT_FOUND,
        )


async def test_a_new_profile_gets_explained_popular_titles_it_may_see(mesh: RecsMesh) -> None:
    account = await mesh.signup("GB")
    page = await mesh.recommendations(account, account.primary_profile_id, page_size=10)
    assert len(page.recommendations) == 10
    allowed = set(_in_gb(ratings.DEFAULT_LIMIT))
    for item in page.recommendations:
        assert item.title_id in allowed
        assert item.reason_kind == pb.REASON_KIND_POPULAR_IN_COUNTRY
        assert item.reason == "Popular in GB"
    following = await mesh.recs.ListRecommendations(
        pb.ListRecommendationsRequest(
            profile_id=account.primary_profile_id,
            page_size=10,
            page_token=page.next_page_token,
        ),
        metadata=account.caller,
    )
    first = {i.title_id for i in page.recommendations}
    assert following.recommendations
    assert not first & {i.title_id for i in following.recommendations}


async def test_views_of_one_genre_shift_the_list_toward_it_within_seconds(
    mesh: RecsMesh,
) -> None:
    genre = "Documentaries"
    docs = _of_genre(genre)
    account = await mesh.signup("GB")
    profile = account.primary_profile_id

    def share(page: pb.ListRecommendationsResponse) -> int:
        return sum(genre in TITLES[i.title_id].genres for i in page.recommendations)

    before = share(await mesh.recommendations(account, profile))
    watched = docs[:3]
    for title_id in watched:
        await mesh.watch(account, profile, title_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FRESHNESS_SECONDS
    page = await mesh.recommendations(account, profile)
    # At least the rest of the genre's titles the profile may see, in its first 10.
    wanted = max(before + 1, len(docs) - len(watched))

    def shifted(page: pb.ListRecommendationsResponse) -> bool:
        ids = {i.title_id for i in page.recommendations}
        return share(page) >= wanted and not ids & set(watched)

    while not shifted(page) and loop.time() < deadline:
        await asyncio.sleep(0.1)
        page = await mesh.recommendations(account, profile)
    assert share(page) >= wanted, [
        (TITLES[i.title_id].title, i.reason) for i in page.recommendations
    ]
    ids = [i.title_id for i in page.recommendations]
    # Finished titles are left out; every item says why it is there.
    assert not set(watched) & set(ids)
    assert all(i.reason for i in page.recommendations)
    reasons = {i.reason for i in page.recommendations if genre in TITLES[i.title_id].genres}
    assert reasons & (
        {f"More like {genre}"} | {f"Because you watched {TITLES[w].title}" for w in watched}
    ), reasons
    similar = await mesh.recs.ListSimilarTitles(
        pb.ListSimilarTitlesRequest(profile_id=profile, title_id=watched[0], page_size=5),
        metadata=account.caller,
    )
    assert similar.similar_titles
    assert all(
        s.reason == f"Because you watched {TITLES[watched[0]].title}"
        and s.source_title_id == watched[0]
        and s.title_id not in watched
        for s in similar.similar_titles
    )
    refreshed = await mesh.recs.RefreshRecommendations(
        pb.RefreshRecommendationsRequest(profile_id=profile), metadata=account.caller
    )
    assert refreshed.recommendation_count > 0


async def test_a_kids_profile_never_gets_a_title_above_its_limit(mesh: RecsMesh) -> None:
    adult_titles = [
        i for i in _in_gb("TV-MA") if not ratings.allows("PG", TITLES[i].maturity_rating)
    ]
    kids_titles = _in_gb("PG")
    families = []
    for n in range(3):
        account = await mesh.signup("GB")
        await mesh.set_limit(account, account.primary_profile_id, "TV-MA")
        kid = await mesh.add_profile(account, kids=True)
        families.append((account, kid))
        # The adults watch adult titles together with the kids' titles, so
        # co-occurrence and popularity both pull adult titles toward them.
        for title_id in adult_titles[n * 3 : n * 3 + 6] + kids_titles[:2]:
            await mesh.watch(account, account.primary_profile_id, title_id)
        await mesh.watch(account, kid, kids_titles[n])
    for account, kid in families:
        await mesh.recs.RefreshRecommendations(
            pb.RefreshRecommendationsRequest(profile_id=kid), metadata=account.caller
        )
        page = await mesh.recommendations(account, kid, page_size=100)
        assert page.recommendations
        for item in page.recommendations:
            assert ratings.allows("PG", TITLES[item.title_id].maturity_rating), item
        for anchor in adult_titles[:3] + kids_titles[:3]:
            similar = await mesh.recs.ListSimilarTitles(
                pb.ListSimilarTitlesRequest(profile_id=kid, title_id=anchor, page_size=100),
                metadata=account.caller,
            )
            for item in similar.similar_titles:
                assert ratings.allows("PG", TITLES[item.title_id].maturity_rating), item
