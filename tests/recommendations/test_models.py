"""The models on the history `streammesh seed-views` generates over the full catalog."""

from __future__ import annotations

from functools import cache

from services import ratings
from services.recommendations.evaluation import BLEND, evaluate
from services.recommendations.models import (
    BECAUSE_YOU_WATCHED,
    MORE_LIKE_GENRE,
    POPULAR_IN_COUNTRY,
    CatalogIndex,
    Context,
    Recommender,
)
from tests.recommendations import synthetic

# The seeded mesh's size (streammesh up: 30 viewers x 15 views) would be too
# few profiles to tell models apart; 200 x 20 is the generator at a size where
# the figures are stable.
VIEWERS = 200
VIEWS = 20


@cache
def _catalog() -> CatalogIndex:
    return CatalogIndex(synthetic.models_catalog())


def test_the_blend_beats_popularity_on_ndcg() -> None:
    metrics = {m.model: m for m in evaluate(_catalog(), synthetic.history(VIEWERS, VIEWS))}
    blend, baseline = metrics[BLEND], metrics[POPULAR_IN_COUNTRY]
    assert blend.profiles == VIEWERS
    assert blend.ndcg > baseline.ndcg, metrics
    assert blend.hit_rate > baseline.hit_rate, metrics


KIDS_LIMITS = ("TV-Y", "TV-Y7", "G", "PG")


def test_a_kids_limit_holds_for_every_source_and_every_seeded_profile() -> None:
    """Every seeded profile as a kids profile (limits in turn), every source alone
    and blended, and the similar titles of what it watched."""
    catalog = _catalog()
    recommender = Recommender(catalog)
    recommender.fit(synthetic.history(VIEWERS, VIEWS))
    for n, profile_id in enumerate(recommender.profile_ids):
        limit = KIDS_LIMITS[n % len(KIDS_LIMITS)]
        history = recommender.history(profile_id)
        context = Context(limit, history[0].country_code)
        for only in ("", BECAUSE_YOU_WATCHED, MORE_LIKE_GENRE, POPULAR_IN_COUNTRY):
            for item in recommender.recommend(history, context, 50, only=only):
                title = catalog.title(item.title_id)
                assert title is not None
                assert ratings.allows(limit, title.maturity_rating), (profile_id, only, title)
                assert not title.country_codes or context.country_code in title.country_codes
                assert item.reason
        for watched in history[:2]:
            for item in recommender.similar(watched.title_id, 20, context):
                title = catalog.title(item.title_id)
                assert title is not None
                assert ratings.allows(limit, title.maturity_rating)
