"""The popularity rollup on its own: figures from the play log, the ranking, and the
per-(country, day) lock that keeps an older top from overwriting a newer one."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime

import pytest
import redis.asyncio as aioredis

from services.events.consumer import Delivery
from services.events.envelope import new_event
from services.history import popularity
from services.history.popularity import PopularityRollup, rank_key, ranked, rollup
from services.history.store import PlayRecord, Popularity
from streammesh.history.v1 import events_pb2, history_pb2
from streammesh.users.v1 import users_pb2

DAY = date(2026, 3, 14)
TITLE_A = str(uuid.UUID(int=1))
TITLE_B = str(uuid.UUID(int=2))
DELIVERY = Delivery("stream", popularity.GROUP, "1-0", 1)


class LogStore:
    """The part of the store the rollup uses, in memory; ``gate`` holds the first
    read of a (country, day)'s figures until it is set."""

    def __init__(self) -> None:
        self.log: dict[tuple[str, date], list[PlayRecord]] = {}
        self.figures: dict[tuple[str, date, str], Popularity] = {}
        self.tops: dict[tuple[str, date], list[Popularity]] = {}
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    def play(self, title_id: str, country: str, profile_id: str, seconds: int, rating: str) -> None:
        self.log.setdefault((title_id, DAY), []).append(
            PlayRecord(str(uuid.uuid4()), profile_id, country, seconds, rating)
        )

    async def play_log(self, title_id: str, day: date) -> list[PlayRecord]:
        return list(self.log.get((title_id, day), []))

    async def save_popularity(self, rows: Sequence[Popularity]) -> None:
        for row in rows:
            self.figures[(row.country_code, row.day, row.title_id)] = row

    async def popularity(self, country_code: str, day: date) -> list[Popularity]:
        rows = [row for (c, d, _), row in self.figures.items() if (c, d) == (country_code, day)]
        gate, self.gate = self.gate, None
        if gate is not None:
            self.reading.set()
            await gate.wait()
        return rows

    async def save_top(self, country_code: str, day: date, top: Sequence[Popularity]) -> None:
        self.tops[(country_code, day)] = list(top)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def rollup_of(store: LogStore, redis: aioredis.Redis, prefix: str) -> PopularityRollup:
    return PopularityRollup(store, redis, redis_prefix=prefix, top_titles=50)  # type: ignore[arg-type]


def test_figures_per_country_from_the_log() -> None:
    rows = [
        PlayRecord("v1", "1", "GB", 100, "PG"),
        PlayRecord("v2", "1", "GB", 50, "PG"),
        PlayRecord("v3", "2", "GB", 10, "TV-MA"),  # re-rated during the day: the stricter counts
        PlayRecord("v4", "3", "FR", 7, "PG"),
    ]
    assert rollup(TITLE_A, DAY, rows) == [
        Popularity(TITLE_A, "FR", DAY, 1, 7, 1, "PG"),
        Popularity(TITLE_A, "GB", DAY, 3, 160, 2, "TV-MA"),
    ]
    assert rollup(TITLE_A, DAY, []) == []


def test_ranking_is_views_then_watch_time_then_title_id() -> None:
    rows = [
        Popularity("c", "GB", DAY, 2, 10, 1, "PG"),
        Popularity("b", "GB", DAY, 2, 30, 1, "PG"),
        Popularity("a", "GB", DAY, 2, 10, 1, "PG"),
        Popularity("d", "GB", DAY, 5, 1, 1, "PG"),
    ]
    assert [row.title_id for row in ranked(rows)] == ["d", "b", "a", "c"]
    assert rank_key(rows[0]) == (-2, -10, "c")


async def test_two_titles_recomputed_at_once_leave_the_newest_top(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    store = LogStore()
    rollups = rollup_of(store, redis, redis_prefix)
    store.play(TITLE_A, "GB", "1", 100, "PG")
    store.play(TITLE_B, "GB", "2", 100, "PG")
    store.play(TITLE_B, "GB", "3", 100, "PG")
    # A reads the (country, day)'s figures first and is held there ...
    gate = store.gate = asyncio.Event()
    first = asyncio.create_task(rollups.recompute(TITLE_A, DAY, "GB"))
    await asyncio.wait_for(store.reading.wait(), 5)
    # ... B writes its figures meanwhile and wants the top too: it waits for
    # A's top to be written, then writes its own from what is there now.
    second = asyncio.create_task(rollups.recompute(TITLE_B, DAY, "GB"))
    await asyncio.sleep(0.05)
    assert ("GB", DAY, TITLE_B) in store.figures
    assert not first.done()
    assert not second.done()
    gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    top = store.tops[("GB", DAY)]
    assert [(row.title_id, row.view_count) for row in top] == [(TITLE_B, 2), (TITLE_A, 1)]
    # Nothing is kept once released.
    assert len(rollups._locks) == 0


async def test_an_event_rolled_up_twice_changes_nothing(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    store = LogStore()
    prefix = f"{redis_prefix}rollup-{secrets.token_hex(3)}:"
    rollups = rollup_of(store, redis, prefix)
    store.play(TITLE_A, "GB", "7", 100, "PG")
    view = history_pb2.View(
        view_id=str(uuid.uuid4()), profile_id="7", title_id=TITLE_A, country_code="GB"
    )
    view.watch_time.FromDatetime(datetime(2026, 3, 14, 12, tzinfo=UTC))
    event = new_event(
        event_type=popularity.VIEW_RECORDED,
        data=events_pb2.ViewRecordedEvent(view=view, account_id="3", maturity_rating="PG"),
        source=popularity.SOURCE,
        aggregate_type=popularity.AGGREGATE_TYPE,
        aggregate_id=TITLE_A,
    )
    await rollups.handle(event, DELIVERY)
    once = (dict(store.figures), dict(store.tops))
    await rollups.handle(event, DELIVERY)
    assert (store.figures, store.tops) == once
    assert store.figures[("GB", DAY, TITLE_A)].view_count == 1
    key = popularity.unique_viewers_key(prefix, "GB", DAY, TITLE_A)
    assert await redis.pfcount(key) == 1
    assert 0 < await redis.ttl(key) <= 8 * 86400


async def test_other_event_types_are_ignored(redis: aioredis.Redis, redis_prefix: str) -> None:
    store = LogStore()
    rollups = rollup_of(store, redis, redis_prefix)
    store.play(TITLE_A, "GB", "7", 100, "PG")
    event = new_event(
        event_type="user.profile.deleted",
        data=users_pb2.Profile(profile_id="7"),
        source="users",
        aggregate_type="account",
        aggregate_id="3",
    )
    await rollups.handle(event, DELIVERY)
    assert not store.figures
    assert not store.tops
