"""The viewing history `streammesh seed-views` generates, planned offline.

The same plan as the seeder (devtools/seed_views.py: each viewer's identity,
country and Dirichlet taste, its views drawn from the newest titles of its
country within its limit), without a running mesh: pools are built from the
catalog file the way the seeder reads them from ListTitles (available in the
country, within the limit, newest first, the first ``catalog_pages`` pages of
100, titles with genres only). The evaluation floor test and the benchmark
run the models on it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Final

from devtools import seed_views
from services import ratings
from services.catalog.netflix_csv import parse
from services.recommendations.catalog import title_of
from services.recommendations.models import CatalogTitle, Interaction
from streammesh.catalog.v1 import catalog_pb2

FULL_CATALOG: Final = (
    Path(__file__).resolve().parents[2] / "services" / "catalog" / "data" / "netflix_titles.csv"
)
# A fixed "now", so the plan (and the figures) are the same on every run.
NOW: Final = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@cache
def catalog_titles(path: Path = FULL_CATALOG) -> tuple[catalog_pb2.Title, ...]:
    with path.open(encoding="utf-8") as stream:
        parsed = parse(stream)
    return tuple(row.title for row in parsed.accepted)


def models_catalog(path: Path = FULL_CATALOG) -> list[CatalogTitle]:
    return [title_of(t) for t in catalog_titles(path)]


def _pool(
    titles: tuple[catalog_pb2.Title, ...], country: str, limit: str, pages: int
) -> seed_views.Pool:
    newest = sorted(
        (
            t
            for t in titles
            if (not t.country_codes or country in t.country_codes)
            and ratings.allows(limit, t.maturity_rating)
        ),
        key=lambda t: (t.add_time.ToMilliseconds(), t.title_id),
        reverse=True,
    )[: pages * seed_views.CATALOG_PAGE_SIZE]
    return seed_views.Pool(tuple(seed_views._pool_title(t) for t in newest if t.genres))


def history(
    viewers: int,
    views_per_viewer: int,
    *,
    seed: int = 1,
    catalog_pages: int = 3,
    path: Path = FULL_CATALOG,
) -> list[Interaction]:
    """One interaction per (viewer, title): the furthest completion, the latest view.
    Profile ids are the viewer numbers."""
    titles = catalog_titles(path)
    pools: dict[str, seed_views.Pool] = {}
    by_key: dict[tuple[str, str], Interaction] = {}
    for number in range(1, viewers + 1):
        who = seed_views.viewer(seed, number)
        pool = pools.get(who.country)
        if pool is None:
            pool = pools[who.country] = _pool(
                titles, who.country, ratings.DEFAULT_LIMIT, catalog_pages
            )
        for view in seed_views.plan(seed, number, pool, views_per_viewer, NOW):
            completion = (
                min(view.position_seconds / view.duration_seconds, 1.0)
                if view.duration_seconds
                else 0.0
            )
            key = (str(number), view.title.title_id)
            interaction = Interaction(
                profile_id=str(number),
                title_id=view.title.title_id,
                completion=completion,
                watch_time_ms=int(view.watch_time.timestamp() * 1000),
                country_code=who.country,
            )
            seen = by_key.get(key)
            if seen is not None:
                interaction = Interaction(
                    interaction.profile_id,
                    interaction.title_id,
                    max(seen.completion, completion),
                    max(seen.watch_time_ms, interaction.watch_time_ms),
                    who.country,
                )
            by_key[key] = interaction
    return list(by_key.values())
