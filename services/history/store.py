"""The history service's storage port; adapters live in :mod:`services.history.stores`.

Both adapters (SQLite embedded, Cassandra real) pass one contract suite
(tests/history/test_store_contract.py). The store keeps four things, each
shaped for the query that reads it:

- **views**: every view of a profile, newest first (ListHistory);
- **bookmarks**: the latest position per (profile, title), last write wins on
  the view's ``watch_time`` (the client's clock), never on arrival order
  (ListContinueWatching);
- **the play log**: one row per view per (title, UTC day), the source that
  popularity is rolled up from; a view is in it once, keyed by its id, so
  recomputing a rollup from it any number of times gives the same figures;
- **popularity**: per (country, day) the figures of every title watched
  there that day, and the top titles of that (country, day), both written by
  the rollup (services/history/popularity.py), never incremented.

Times are timezone-aware UTC ``datetime`` values with millisecond precision
(what Cassandra's ``timestamp`` keeps); adapters return them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Protocol

from services.runtime.sagas import StepKey

# A view at or beyond this share of the title's duration counts as finished:
# it leaves continue watching.
COMPLETED_SHARE: Final = 0.95


@dataclass(frozen=True)
class ViewRecord:
    """One view as stored; ``view_id`` is unique per profile."""

    view_id: str
    profile_id: str
    account_id: str
    title_id: str
    watch_time: datetime
    position_seconds: int
    duration_seconds: int
    device_type: str
    country_code: str
    # The title's rating when the view was recorded (trending filters on it).
    maturity_rating: str

    @property
    def completed(self) -> bool:
        return (
            self.duration_seconds > 0
            and self.position_seconds >= COMPLETED_SHARE * self.duration_seconds
        )

    @property
    def watch_seconds(self) -> int:
        """What the view adds to a title's watch time: the position reached,
        at most the duration when it is known."""
        if self.duration_seconds > 0:
            return min(self.position_seconds, self.duration_seconds)
        return self.position_seconds

    @property
    def day(self) -> date:
        """The UTC day the view counts towards in popularity."""
        return self.watch_time.date()


@dataclass(frozen=True, order=True)
class HistoryCursor:
    """A position in a profile's history: the sort key of the last view returned
    (newest first: larger sorts first)."""

    watch_time_ms: int
    view_id: str


@dataclass(frozen=True)
class HistoryPage:
    views: list[ViewRecord]
    # Where the next page starts; None when the history is exhausted.
    next_cursor: HistoryCursor | None


@dataclass(frozen=True)
class Bookmark:
    """The latest position a profile reached in a title."""

    profile_id: str
    title_id: str
    position_seconds: int
    duration_seconds: int
    last_watch_time: datetime

    @property
    def completed(self) -> bool:
        return (
            self.duration_seconds > 0
            and self.position_seconds >= COMPLETED_SHARE * self.duration_seconds
        )


@dataclass(frozen=True)
class PlayRecord:
    """One row of the play log of a (title, day)."""

    view_id: str
    profile_id: str
    country_code: str
    watch_seconds: int
    maturity_rating: str


@dataclass(frozen=True)
class Popularity:
    """A title's figures in a country on a day."""

    title_id: str
    country_code: str
    day: date
    view_count: int
    watch_seconds: int
    unique_viewers: int
    maturity_rating: str


@dataclass(frozen=True)
class OutboxEvent:
    """One row of the outbox: a serialized ``streammesh.events.v1.Event``."""

    event_id: str
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: bytes
    created_at: datetime


class HistoryStore(Protocol):
    async def record_view(self, view: ViewRecord, event: OutboxEvent) -> tuple[ViewRecord, bool]:
        """Stores ``view``, its bookmark, its play-log row and ``event``, atomically.

        When ``(view.profile_id, view.view_id)`` is already recorded, stores
        nothing and returns the recorded view and False (a retried request);
        otherwise returns ``view`` and True. The bookmark of (profile, title)
        is replaced only when ``view.watch_time`` is not older than the one
        it holds.
        """
        ...

    async def get_view(self, profile_id: str, view_id: str) -> ViewRecord | None:
        """The recorded view, or None."""
        ...

    async def list_views(
        self, profile_id: str, limit: int, after: HistoryCursor | None
    ) -> HistoryPage:
        """Up to ``limit`` views of the profile strictly after ``after``, newest first
        (``watch_time`` descending, ties by ``view_id`` descending).

        A page may hold fewer views than asked for while ``next_cursor`` is
        set: a store bounds what it reads per call.
        """
        ...

    async def list_bookmarks(self, profile_id: str) -> list[Bookmark]:
        """Every bookmark of the profile, most recently watched first (bounded by
        the store's retention)."""
        ...

    async def play_log(self, title_id: str, day: date) -> list[PlayRecord]:
        """Every play-log row of the title on the UTC day, in any order."""
        ...

    async def save_popularity(self, rows: Sequence[Popularity]) -> None:
        """Writes each row as the figures of its (country, day, title), replacing
        what was there (a recomputed rollup)."""
        ...

    async def popularity(self, country_code: str, day: date) -> list[Popularity]:
        """The figures of every title watched in the country on the day, in any order."""
        ...

    async def save_top(self, country_code: str, day: date, ranked: Sequence[Popularity]) -> None:
        """Replaces the top titles of (country, day) with ``ranked`` (best first)."""
        ...

    async def top(self, country_code: str, day: date, limit: int) -> list[Popularity]:
        """Up to ``limit`` of the top titles of (country, day), best first."""
        ...

    async def purge_profiles(self, key: StepKey, profile_ids: Sequence[str]) -> tuple[int, bool]:
        """Deletes every view, bookmark and play-log row of the profiles (the
        account-deletion saga's step, idempotent on ``key``); (views deleted,
        replayed). The rolled-up popularity keeps its anonymous counts."""
        ...

    async def close(self) -> None: ...
