"""Offline evaluation: leave the last view of each profile out, rank the full catalog.

For every profile with at least two titles watched, its most recent title is
held out; the models are trained on everything else (every profile's other
views), and each model ranks EVERY title of the catalog the profile may see
(its maturity limit, its country, minus the titles it kept) — no sampled
negatives. Reported per source and for the blend:

- HR@10: share of profiles whose held-out title is in the first 10;
- NDCG@10: ``1 / log2(rank + 1)`` for a hit at ``rank`` (1-based), else 0,
  averaged (one relevant title, so the ideal DCG is 1);
- coverage: distinct titles recommended in anyone's first 10, over the
  catalog's size.

Popularity alone is the baseline. With synthetic history (``streammesh
seed-views``) these figures measure how well the models recover the
generator's tastes (a Dirichlet draw over genres, newest titles favoured),
not how real people watch.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from services import ratings
from services.recommendations.models import (
    BECAUSE_YOU_WATCHED,
    MORE_LIKE_GENRE,
    POPULAR_IN_COUNTRY,
    BlendWeights,
    CatalogIndex,
    Context,
    Interaction,
    Recommender,
)

CUTOFF: Final = 10
BLEND: Final = "blend"
# Row order of the report: the baseline first.
MODELS: Final = (POPULAR_IN_COUNTRY, BECAUSE_YOU_WATCHED, MORE_LIKE_GENRE, BLEND)
LABELS: Final = {
    POPULAR_IN_COUNTRY: "popularity (baseline)",
    BECAUSE_YOU_WATCHED: "co-occurrence",
    MORE_LIKE_GENRE: "content (TF-IDF)",
    BLEND: "blend",
}


@dataclass(frozen=True)
class Metrics:
    model: str
    hit_rate: float
    ndcg: float
    coverage: float
    profiles: int


@dataclass(frozen=True)
class Split:
    train: list[Interaction]
    # profile -> (held-out title, the context it is ranked in)
    held_out: dict[str, tuple[str, Context]]


def limit_for(history: Iterable[Interaction], ratings_of: Callable[[str], str]) -> str:
    """The evaluated profile's limit: the adult default, or the highest rating it
    evidently watched when that is above it (the truth file has no limits)."""
    limit = ratings.DEFAULT_LIMIT
    for interaction in history:
        rating = ratings_of(interaction.title_id)
        if ratings.is_known(rating) and ratings.rank(rating) > ratings.rank(limit):
            limit = rating
    return limit


def leave_last_out(catalog: CatalogIndex, interactions: Sequence[Interaction]) -> Split:
    by_profile: dict[str, list[Interaction]] = defaultdict(list)
    for interaction in interactions:
        by_profile[interaction.profile_id].append(interaction)
    train: list[Interaction] = []
    held: dict[str, tuple[str, Context]] = {}

    def rating_of(title_id: str) -> str:
        title = catalog.title(title_id)
        return title.maturity_rating if title is not None else ""

    for profile_id, history in by_profile.items():
        ordered = sorted(history, key=lambda i: (i.watch_time_ms, i.title_id))
        if len(ordered) < 2 or ordered[-1].title_id not in catalog.position:
            train.extend(ordered)
            continue
        last = ordered[-1]
        train.extend(ordered[:-1])
        context = Context(limit_for(ordered, rating_of), last.country_code)
        held[profile_id] = (last.title_id, context)
    return Split(train, held)


def evaluate(
    catalog: CatalogIndex,
    interactions: Sequence[Interaction],
    *,
    weights: BlendWeights | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Metrics]:
    """HR@10, NDCG@10 and coverage of each source and of the blend (see the module)."""
    split = leave_last_out(catalog, interactions)
    recommender = Recommender(catalog, weights)
    recommender.fit(split.train)
    hits: dict[str, int] = defaultdict(int)
    gains: dict[str, float] = defaultdict(float)
    shown: dict[str, set[str]] = defaultdict(set)
    total = len(split.held_out)
    for done, (profile_id, (title_id, context)) in enumerate(split.held_out.items(), 1):
        history = recommender.history(profile_id)
        for model in MODELS:
            ranked = recommender.recommend(
                history, context, CUTOFF, only="" if model == BLEND else model
            )
            ids = [item.title_id for item in ranked]
            shown[model].update(ids)
            if title_id in ids:
                hits[model] += 1
                gains[model] += 1.0 / math.log2(ids.index(title_id) + 2)
        if progress is not None:
            progress(done, total)
    size = max(catalog.size, 1)
    return [
        Metrics(
            model=model,
            hit_rate=hits[model] / total if total else 0.0,
            ndcg=gains[model] / total if total else 0.0,
            coverage=len(shown[model]) / size,
            profiles=total,
        )
        for model in MODELS
    ]


def table(metrics: Sequence[Metrics]) -> str:
    """The report as a Markdown table, the baseline first."""
    lines = [
        f"| model | HR@{CUTOFF} | NDCG@{CUTOFF} | coverage |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {LABELS[m.model]} | {m.hit_rate:.3f} | {m.ndcg:.3f} | {m.coverage:.1%} |"
        for m in metrics
    ]
    return "\n".join(lines)
