"""The popularity rollup: per (country, day) figures and top titles, recomputed from the play log.

A consumer group ("history-popularity") on the history service's own stream
(``streammesh.history``) runs :meth:`PopularityRollup.handle` for every
``history.view.recorded`` event; other event types are ignored. For the
view's title and UTC day it:

1. reads the title's whole play log of that day (``store.play_log``), groups
   it by country and writes each country's figures (``save_popularity``):
   views = rows, watch seconds = their sum, unique viewers = distinct
   profiles, maturity rating = the most restrictive one the rows carry (a
   title re-rated during the day counts under its stricter rating, so a
   kids list fails closed);
2. recomputes the top titles of the view's (country, day) from every title's
   figures there (``store.popularity``), ranked by views, then watch time,
   then title id, and keeps the first ``top_titles`` (``save_top``). Read and
   write run under one asyncio lock per (country, day): rollups of two titles
   run concurrently (different aggregates), and without the lock the one that
   read first could write its older top over the newer one;
3. adds the profile to the HyperLogLog of (country, day, title)
   (:func:`unique_viewers_key`, kept 8 days), whose union over 7 days is the
   week window's unique-viewer estimate.

Every step recomputes or is idempotent (a PFADD of a profile already there
changes nothing), so an event delivered twice, replayed, or re-published by
the relay changes no figure; the consumer also skips events whose id it has
already handled. The events of one title are consumed in order (the
aggregate is the title), so rollups of one title never race each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, timedelta
from typing import Final

from redis.asyncio import Redis

from services import ratings
from services.events.consumer import Delivery
from services.events.envelope import unpack
from services.history.store import HistoryStore, PlayRecord, Popularity
from services.runtime.locks import KeyedLocks
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import events_pb2

# The history domain's events (services/history/domain.py writes them).
SOURCE: Final = "history"
AGGREGATE_TYPE: Final = "title"
VIEW_RECORDED: Final = "history.view.recorded"

# The consumer group of the rollup on the streammesh.history stream.
GROUP: Final = "history-popularity"
# How long a day's unique-viewer sketch is kept: the week window reads 7 days.
UNIQUE_VIEWERS_TTL: Final = timedelta(days=8)
WEEK_DAYS: Final = 7


def unique_viewers_key(redis_prefix: str, country: str, day: date, title_id: str) -> str:
    """The HyperLogLog of the profiles that watched ``title_id`` in ``country`` on ``day``."""
    return f"{redis_prefix}history:uv:{country}:{day.isoformat()}:{title_id}"


def rank_key(figures: Popularity) -> tuple[int, int, str]:
    """Trending order: most views first, then most watch time, then title id ascending."""
    return (-figures.view_count, -figures.watch_seconds, figures.title_id)


def ranked(rows: Iterable[Popularity]) -> list[Popularity]:
    """``rows`` best first (:func:`rank_key`)."""
    return sorted(rows, key=rank_key)


def strictest(rating_values: Iterable[str]) -> str:
    """The most restrictive of ``rating_values`` (unknown ones rank as NR)."""
    return max(rating_values, key=ratings.rank, default="")


def rollup(title_id: str, day: date, log_rows: Sequence[PlayRecord]) -> list[Popularity]:
    """The title's figures per country on ``day``, from its play log (sorted by country)."""
    by_country: dict[str, list[PlayRecord]] = {}
    for row in log_rows:
        by_country.setdefault(row.country_code, []).append(row)
    return [
        Popularity(
            title_id=title_id,
            country_code=country,
            day=day,
            view_count=len(rows),
            watch_seconds=sum(row.watch_seconds for row in rows),
            unique_viewers=len({row.profile_id for row in rows}),
            maturity_rating=strictest(row.maturity_rating for row in rows),
        )
        for country, rows in sorted(by_country.items())
    ]


class PopularityRollup:
    """The handler of the "history-popularity" consumer group."""

    def __init__(
        self,
        store: HistoryStore,
        redis: Redis,
        *,
        redis_prefix: str,
        top_titles: int,
    ) -> None:
        self._store = store
        self._redis = redis
        self._redis_prefix = redis_prefix
        self._top_titles = top_titles
        self._locks: KeyedLocks[tuple[str, date]] = KeyedLocks()

    async def handle(self, event: event_pb2.Event, delivery: Delivery) -> None:
        """Rolls up the view an event records; ignores every other event type."""
        if event.event_type != VIEW_RECORDED:
            return
        recorded = unpack(event, events_pb2.ViewRecordedEvent)
        assert isinstance(recorded, events_pb2.ViewRecordedEvent)
        view = recorded.view
        day = view.watch_time.ToDatetime(tzinfo=UTC).date()
        await self.recompute(view.title_id, day, view.country_code)
        await self._count_viewer(view.country_code, day, view.title_id, view.profile_id)

    async def recompute(self, title_id: str, day: date, country: str) -> list[Popularity]:
        """Rewrites the title's figures on ``day`` from its play log, then the top of
        (``country``, ``day``); returns the figures written."""
        rows = rollup(title_id, day, await self._store.play_log(title_id, day))
        if rows:
            await self._store.save_popularity(rows)
        await self.recompute_top(country, day)
        return rows

    async def recompute_top(self, country: str, day: date) -> list[Popularity]:
        """Rewrites the top titles of (``country``, ``day``) from their figures."""
        async with self._locks.hold((country, day)):
            top = ranked(await self._store.popularity(country, day))[: self._top_titles]
            await self._store.save_top(country, day, top)
        return top

    async def _count_viewer(self, country: str, day: date, title_id: str, profile_id: str) -> None:
        key = unique_viewers_key(self._redis_prefix, country, day, title_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.pfadd(key, profile_id)
            pipe.expire(key, int(UNIQUE_VIEWERS_TTL.total_seconds()))
            await pipe.execute()
