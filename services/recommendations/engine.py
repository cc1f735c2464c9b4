"""The trained models in a running process, and how a profile's list is (re)computed.

:class:`Engine` holds one :class:`~services.recommendations.models.Recommender`
over the catalog and every interaction in the store, learned when the process
starts (:meth:`Engine.load`) and updated one view at a time by the freshness
consumer (services/recommendations/freshness.py). Scoring a profile is a few
milliseconds of numpy over the catalog, run on the event loop between awaits,
so the model is never read while it changes.

A list is computed for a :class:`~services.recommendations.models.Context`
(the profile's maturity limit and its account's country) and stored with it.
The consumer does not know a profile's limit (the users service tells it only
to the profile's owner), so it recomputes with the context stored beside the
profile's last list, or, for a profile that has none yet, the adult default
limit and the view's country; every read compares the stored context with the
profile's current one and recomputes when they differ, so the answer is always
for the current limit and country.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Final

from services import ratings
from services.recommendations.models import (
    BlendWeights,
    CatalogIndex,
    CatalogTitle,
    Context,
    Interaction,
    Recommender,
    Scored,
)
from services.recommendations.store import (
    PROFILE_BUCKETS,
    RecommendationStore,
    StoredList,
)

# Profiles whose interactions are read at once while the engine loads or trains.
LOAD_CONCURRENCY: Final = 16


class Engine:
    def __init__(
        self,
        store: RecommendationStore,
        catalog: Sequence[CatalogTitle],
        *,
        weights: BlendWeights | None = None,
        list_size: int = 100,
    ) -> None:
        self.store = store
        self.catalog = CatalogIndex(catalog)
        self.recommender = Recommender(self.catalog, weights)
        self.list_size = list_size

    async def load(self, on_profiles: Callable[[int], None] | None = None) -> int:
        """Learns every interaction in the store; returns how many profiles."""
        profiles: list[str] = []
        for bucket in range(PROFILE_BUCKETS):
            profiles.extend(await self.store.profile_ids(bucket))
        slots = asyncio.Semaphore(LOAD_CONCURRENCY)

        async def read(profile_id: str) -> list[Interaction]:
            async with slots:
                return await self.store.interactions(profile_id)

        done = 0
        for start in range(0, len(profiles), LOAD_CONCURRENCY * 4):
            chunk = profiles[start : start + LOAD_CONCURRENCY * 4]
            for rows in await asyncio.gather(*(read(p) for p in chunk)):
                self.recommender.fit(rows)
            done += len(chunk)
            if on_profiles is not None:
                on_profiles(done)
        return len(profiles)

    def default_context(self, profile_id: str, country: str = "") -> Context:
        """The context of a profile whose limit is not known here (see the module)."""
        if not country:
            history = self.recommender.history(profile_id)
            latest = max(history, key=lambda i: i.watch_time_ms, default=None)
            country = latest.country_code if latest is not None else ""
        return Context(ratings.DEFAULT_LIMIT, country)

    def compute(self, profile_id: str, context: Context) -> StoredList:
        items = self.recommender.recommend(
            self.recommender.history(profile_id), context, self.list_size
        )
        return StoredList(profile_id, context, int(time.time() * 1000), tuple(items))

    async def refresh(self, profile_id: str, context: Context) -> StoredList:
        """Recomputes and stores the profile's list for ``context``."""
        stored = self.compute(profile_id, context)
        await self.store.save_list(stored)
        return stored

    async def observe(self, interaction: Interaction) -> Interaction:
        """Stores one view's interaction and learns it; returns what is stored."""
        stored = await self.store.record_interaction(interaction)
        self.recommender.observe(stored)
        return stored

    async def similar(self, title_id: str) -> list[Scored]:
        """The title's similar titles (unfiltered), from the store or computed and stored."""
        stored = await self.store.similar(title_id)
        if stored is not None:
            return stored
        computed = self.recommender.similar(title_id, self.list_size)
        await self.store.save_similar(title_id, computed)
        return computed

    def visible(self, item_title_id: str, context: Context) -> bool:
        """Whether a stored item may be shown in ``context`` by the CURRENT catalog:
        rated within the limit (unknown titles fail closed) and available there."""
        title = self.catalog.title(item_title_id)
        if title is None or not ratings.allows(context.max_maturity, title.maturity_rating):
            return False
        return not title.country_codes or context.country_code in title.country_codes
