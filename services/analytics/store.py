"""The warehouse port: what the ingestion loads and what the reports read.

Two adapters implement :class:`WarehouseStore` (services/analytics/stores/):
PostgreSQL (the real backend; Redshift speaks its protocol) and DuckDB (the
embedded one, columnar, no server). One contract suite
(tests/analytics/test_store_contract.py) runs on both.

The schema is a star (the migrations in services/analytics/migrations/ say
it table by table):

* facts: ``fact_view`` (one row per recorded view, on the UTC day it
  HAPPENED, however late its event arrives), ``fact_signup`` (one per
  account created), ``fact_profile_change`` (one per profile created,
  updated or deleted);
* dimensions: ``dim_title`` (+ ``dim_title_genre``, the title-genre bridge),
  ``dim_date``, ``dim_country``, ``dim_device``. Their keys are the natural
  keys (title UUID, day, ISO country code, device name): a fact row needs no
  key lookup at load time, and a replay cannot mint a second key.

Retention (migrations 0002): raw facts are kept for N days and daily rollups
for ever. :meth:`WarehouseStore.roll_up` moves every day before a cutoff from
the raw facts into the rollups in one transaction (rows summed at the grain
the reports slice by, profile included, so unique viewers stay exact) and
forgets their ledger rows; the reports read rollups and raw rows through one
view, so no figure changes when raw rows age out. A day once rolled up is
final: a load drops rows of such days (counted as skipped), which makes N
days the bound on how late an event may arrive.

Exactly-once effect: :meth:`WarehouseStore.load` commits a batch's rows and
their event ids (``loaded_events``) in ONE transaction and skips every event
whose id is already there, so a redelivered, re-published or replayed event
changes no figure. A title's dimension row keeps the newest catalog event
(``source_time``), so replaying older title events changes nothing either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, Protocol

from services.runtime.sagas import StepKey

# What a view with no device type counts under.
UNKNOWN_DEVICE: Final = "unknown"
# Profile change kinds (fact_profile_change.change_type).
PROFILE_CREATED: Final = "created"
PROFILE_UPDATED: Final = "updated"
PROFILE_DELETED: Final = "deleted"


@dataclass(frozen=True)
class ViewFact:
    event_id: str
    view_id: str
    profile_id: str
    account_id: str
    title_id: str
    # When the viewing happened (UTC); its date is the fact's day.
    watch_time: datetime
    country_code: str
    device_type: str
    watch_seconds: int
    position_seconds: int
    duration_seconds: int
    completed: bool
    # When the producer wrote the event (the lag metric's start).
    event_time: datetime

    @property
    def day(self) -> date:
        return self.watch_time.date()


@dataclass(frozen=True)
class SignupFact:
    event_id: str
    account_id: str
    profile_id: str
    country_code: str
    signup_time: datetime
    event_time: datetime

    @property
    def day(self) -> date:
        return self.signup_time.date()


@dataclass(frozen=True)
class ProfileChangeFact:
    event_id: str
    profile_id: str
    account_id: str
    # PROFILE_CREATED, PROFILE_UPDATED or PROFILE_DELETED.
    change_type: str
    # The update mask's paths, comma-separated ('' for created/deleted).
    changed_fields: str
    kids_profile: bool
    maturity_rating: str
    change_time: datetime
    event_time: datetime

    @property
    def day(self) -> date:
        return self.change_time.date()


@dataclass(frozen=True)
class TitleDim:
    """A title as its newest catalog event describes it."""

    event_id: str
    title_id: str
    title: str
    content_type: str
    release_year: int
    maturity_rating: str
    genres: tuple[str, ...]
    # The catalog event's timestamp: a row is replaced only by a newer one.
    source_time: datetime
    event_time: datetime


@dataclass(frozen=True)
class Batch:
    """One micro-batch: the rows of the events of one stream read together."""

    views: Sequence[ViewFact] = ()
    signups: Sequence[SignupFact] = ()
    profile_changes: Sequence[ProfileChangeFact] = ()
    titles: Sequence[TitleDim] = ()

    def __len__(self) -> int:
        return len(self.views) + len(self.signups) + len(self.profile_changes) + len(self.titles)

    def rows(self) -> list[ViewFact | SignupFact | ProfileChangeFact | TitleDim]:
        return [*self.views, *self.signups, *self.profile_changes, *self.titles]


@dataclass(frozen=True)
class LoadResult:
    # Event ids whose rows this load committed.
    loaded: frozenset[str] = field(default_factory=frozenset)
    # Events already in the warehouse (skipped).
    skipped: int = 0


@dataclass(frozen=True)
class TitleFigures:
    title_id: str
    view_count: int
    watch_seconds: int
    unique_profiles: int
    completed_views: int

    @property
    def completion_rate(self) -> float:
        return self.completed_views / self.view_count if self.view_count else 0.0


@dataclass(frozen=True)
class DeviceFigures:
    device_type: str
    view_count: int
    watch_seconds: int
    active_profiles: int


@dataclass(frozen=True)
class DayFigures:
    day: date
    view_count: int
    watch_seconds: int
    active_profiles: int
    # Most watched first, then by name.
    devices: tuple[DeviceFigures, ...]


@dataclass(frozen=True)
class TopCursor:
    """Where a top-titles page ended: ranks are (watch_seconds DESC, title_id ASC)."""

    watch_seconds: int
    title_id: str


@dataclass(frozen=True)
class RowCounts:
    views: int
    signups: int
    profile_changes: int
    titles: int
    loaded_events: int
    # Rows of rollup_view_daily (days past the raw retention).
    rolled_up_views: int = 0


@dataclass(frozen=True)
class RollupResult:
    # Every day up to this one is in the rollups only (moved now or before).
    rolled_through: date
    # Raw rows moved into rollups by this call, and the rollup rows they made.
    raw_rows: int = 0
    rollup_rows: int = 0


class WarehouseStore(Protocol):
    """The warehouse. Outages raise ``Unavailable``; ranges are inclusive UTC days."""

    async def load(self, batch: Batch) -> LoadResult:
        """Loads the batch's rows whose events are not loaded yet, atomically."""
        ...

    async def title_stats(self, title_id: str, start: date, end: date) -> TitleFigures | None:
        """The title's figures over the range; None when it has no view there."""
        ...

    async def top_titles(
        self,
        start: date,
        end: date,
        *,
        country: str,
        genre: str,
        limit: int,
        after: TopCursor | None,
    ) -> list[TitleFigures]:
        """Titles by watch seconds (then title id), after ``after``; '' filters nothing."""
        ...

    async def daily_engagement(
        self, start: date, end: date, *, limit: int, after: date | None
    ) -> list[DayFigures]:
        """Days with at least one view, oldest first, after ``after``."""
        ...

    async def roll_up(self, before: date) -> RollupResult:
        """Rolls every raw day before ``before`` up and deletes its raw rows, atomically.

        Idempotent; a cutoff at or before the last one moves nothing."""
        ...

    async def row_counts(self) -> RowCounts: ...

    async def account_fact_count(self, account_id: str) -> int:
        """Fact rows (views, sign-ups, profile changes) that still name the account."""
        ...

    async def anonymise_account(
        self, key: StepKey, account_id: str, profile_ids: Sequence[str], salt: str
    ) -> tuple[int, bool]:
        """Drops the account's identity from every fact and rollup (the ids become
        anonymous ones derived with ``salt``, which is kept nowhere) and keeps
        every count, in one transaction with the ledger row of ``key``; (view
        rows anonymised, replayed)."""
        ...

    async def close(self) -> None: ...


def check_range(start: date, end: date) -> None:
    """Adapters' guard: the domain validates ranges; a reversed one here is a bug."""
    if start > end:
        raise ValueError(f"range {start}..{end} is reversed")


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit {limit} is below 1")
