"""One contract for both recommendation stores (SQLite embedded, Cassandra real)."""

from __future__ import annotations

import secrets
import uuid

import pytest

from services.recommendations.models import (
    BECAUSE_YOU_WATCHED,
    POPULAR_IN_COUNTRY,
    Context,
    Interaction,
    Scored,
)
from services.recommendations.store import (
    MAX_LIST_SIZE,
    RecommendationStore,
    StoredList,
    bucket_of,
)

pytestmark = pytest.mark.asyncio


def _profile() -> str:
    return str(10**12 + secrets.randbelow(10**12))


def _title() -> str:
    return str(uuid.uuid4())


def _item(title_id: str, score: float, kind: str = POPULAR_IN_COUNTRY) -> Scored:
    return Scored(title_id, score, kind, "", "GB", "Popular in GB")


async def test_a_list_longer_than_the_bound_is_refused(store: RecommendationStore) -> None:
    items = tuple(_item(_title(), 1.0) for _ in range(MAX_LIST_SIZE + 1))
    with pytest.raises(ValueError, match="at most"):
        await store.save_list(StoredList(_profile(), Context("PG", "GB"), 1, items))
    with pytest.raises(ValueError, match="at most"):
        await store.save_similar(_title(), list(items))


async def test_unknown_profile_and_title_have_nothing(store: RecommendationStore) -> None:
    assert await store.get_list(_profile()) is None
    assert await store.similar(_title()) is None
    assert await store.interactions(_profile()) == []


async def test_interactions_keep_the_furthest_completion_and_latest_view(
    store: RecommendationStore,
) -> None:
    profile, title = _profile(), _title()
    await store.record_interaction(Interaction(profile, title, 0.9, 2_000, "GB"))
    # An older, shorter view (a late event) keeps the completion, not its time.
    stored = await store.record_interaction(Interaction(profile, title, 0.2, 1_000, "FR"))
    assert stored == Interaction(profile, title, 0.9, 2_000, "GB")
    # A newer view moves the time and the country, never the completion back.
    stored = await store.record_interaction(Interaction(profile, title, 0.5, 3_000, "DE"))
    assert stored == Interaction(profile, title, 0.9, 3_000, "DE")
    other = _title()
    await store.record_interaction(Interaction(profile, other, 1.0, 4_000, "DE"))
    assert sorted(await store.interactions(profile), key=lambda i: i.watch_time_ms) == [
        Interaction(profile, title, 0.9, 3_000, "DE"),
        Interaction(profile, other, 1.0, 4_000, "DE"),
    ]
    assert profile in await store.profile_ids(bucket_of(profile))


async def test_a_list_is_replaced_whole_with_its_context(store: RecommendationStore) -> None:
    profile = _profile()
    first = tuple(_item(_title(), 1.0 - n / 10) for n in range(5))
    await store.save_list(StoredList(profile, Context("PG-13", "GB"), 1_000, first))
    second = (
        Scored(_title(), 0.9, BECAUSE_YOU_WATCHED, _title(), "Dark", "Because you watched Dark"),
        _item(_title(), 0.5),
    )
    await store.save_list(StoredList(profile, Context("PG", "FR"), 2_000, second))
    stored = await store.get_list(profile)
    assert stored == StoredList(profile, Context("PG", "FR"), 2_000, second)
    # An empty list is a list (nothing to recommend), not "never computed".
    await store.save_list(StoredList(profile, Context("PG", "FR"), 3_000, ()))
    assert await store.get_list(profile) == StoredList(profile, Context("PG", "FR"), 3_000, ())


async def test_similar_titles_are_replaced_whole(store: RecommendationStore) -> None:
    title = _title()
    items = [
        Scored(
            _title(), 1.0 - n / 10, BECAUSE_YOU_WATCHED, title, "Dark", "Because you watched Dark"
        )
        for n in range(3)
    ]
    await store.save_similar(title, items)
    assert await store.similar(title) == items
    await store.save_similar(title, items[:1])
    assert await store.similar(title) == items[:1]
    await store.save_similar(title, [])
    assert await store.similar(title) == []
