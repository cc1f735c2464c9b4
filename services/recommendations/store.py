"""The recommendations service's storage port; adapters live in :mod:`.stores`.

Both adapters (SQLite embedded, Cassandra real) pass one contract suite
(tests/recommendations/test_store_contract.py). The store keeps, each shaped
for the query that reads it:

- **interactions**: per profile, one row per title it watched (the furthest
  completion, the latest watch time, the country), fed by the consumer of
  ``streammesh.history``; what the models learn from;
- **the profiles with interactions**, in a fixed number of buckets, so the
  batch training can list them without a full-table scan;
- **a profile's list**: its precomputed recommendations, best first, with the
  context (maturity limit, country) they were computed for, replaced whole;
- **similar titles per title**, best first, replaced whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from services.recommendations.models import Context, Interaction, Scored
from services.runtime.sagas import ProfileSettings, StepKey

# Buckets of the profile index (a profile's bucket: a stable hash of its id).
PROFILE_BUCKETS: Final = 16
# Rows one list (a profile's, or a title's similar titles) may hold.
MAX_LIST_SIZE: Final = 1_000


def bucket_of(profile_id: str) -> int:
    """The profile index bucket of ``profile_id`` (stable across processes)."""
    return sum(profile_id.encode()) % PROFILE_BUCKETS


@dataclass(frozen=True)
class StoredList:
    """A profile's precomputed recommendations."""

    profile_id: str
    context: Context
    compute_time_ms: int
    items: tuple[Scored, ...]


def check_items(items: Sequence[Scored]) -> None:
    if len(items) > MAX_LIST_SIZE:
        raise ValueError(f"a list holds at most {MAX_LIST_SIZE} items, got {len(items)}")


def merged(stored: Interaction | None, new: Interaction) -> Interaction:
    """What the store keeps of two interactions with one title: the furthest
    completion, the latest watch time, and that latest view's country."""
    if stored is None:
        return new
    latest = new if new.watch_time_ms >= stored.watch_time_ms else stored
    return Interaction(
        profile_id=new.profile_id,
        title_id=new.title_id,
        completion=max(stored.completion, new.completion),
        watch_time_ms=latest.watch_time_ms,
        country_code=latest.country_code,
    )


class RecommendationStore(Protocol):
    async def record_interaction(self, interaction: Interaction) -> Interaction:
        """Merges ``interaction`` into the profile's row for the title (:func:`merged`)
        and indexes the profile; returns what is stored."""
        ...

    async def interactions(self, profile_id: str) -> list[Interaction]:
        """Every interaction of the profile, in any order."""
        ...

    async def profile_ids(self, bucket: int) -> list[str]:
        """Every profile with interactions in ``bucket`` (0..PROFILE_BUCKETS-1), ascending."""
        ...

    async def save_list(self, stored: StoredList) -> None:
        """Replaces the profile's list with ``stored``."""
        ...

    async def get_list(self, profile_id: str) -> StoredList | None:
        """The profile's list, or None when none was computed."""
        ...

    async def save_similar(self, title_id: str, items: Sequence[Scored]) -> None:
        """Replaces the title's similar titles with ``items`` (best first)."""
        ...

    async def similar(self, title_id: str) -> list[Scored] | None:
        """The title's similar titles, best first; None when none were computed."""
        ...

    # -- saga participant (services/users/sagas): idempotent on the StepKey --

    async def apply_profile_settings(
        self, key: StepKey, profile_id: str, settings: ProfileSettings
    ) -> bool:
        """Keeps ``settings`` as the profile's copy, unless ``key`` was applied
        already (or, for a forward step, its compensation arrived first): then
        nothing changes and the answer is True (replayed). (The domain drops
        the titles above the new limit from the stored list: an idempotent
        filter.)"""
        ...

    async def profile_settings(self, profile_id: str) -> ProfileSettings | None:
        """The profile's settings copy, None when it has none."""
        ...

    async def purge_profiles(self, key: StepKey, profile_ids: Sequence[str]) -> tuple[int, bool]:
        """Deletes the profiles' interactions, index entries, lists and settings
        copies; (rows deleted, replayed)."""
        ...

    async def close(self) -> None: ...
