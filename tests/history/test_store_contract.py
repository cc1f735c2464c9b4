"""The history store contract: one suite, run on SQLite and on Cassandra.

Only the port is used (services/history/store.py), plus the relay's view of
the outbox (the ``outbox`` fixture). The Cassandra store shares one keyspace
across the run, so every test works on profiles, titles and (country, day)s
of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import secrets
import socket
import string
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.timestamp_pb2 import Timestamp

from services.events.outbox import OutboxRow, OutboxSource
from services.history.config import Config
from services.history.store import (
    Bookmark,
    HistoryCursor,
    HistoryStore,
    OutboxEvent,
    PlayRecord,
    Popularity,
    ViewRecord,
)
from services.history.stores import open_store
from services.history.stores.cassandra import CassandraHistoryStore
from services.history.stores.sqlite import SqliteHistoryStore
from services.runtime.cassandra import CassandraSettings
from services.runtime.config import ServerConfig
from services.runtime.errors import Unavailable
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import events_pb2, history_pb2

T0 = datetime(2024, 3, 14, 20, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# Paging in these tests ends within this many extra pages (a bound, not a target).
SPARE_PAGES = 2


# ------------------------------------------------------------------ data


def a_profile() -> str:
    """A profile id as the API has them: up to 19 digits, unique to the test."""
    return str(10**18 + secrets.randbelow(8 * 10**18))


def a_title() -> str:
    return str(uuid.uuid4())


def a_view(profile_id: str, **fields: object) -> ViewRecord:
    values: dict[str, object] = {
        "view_id": str(uuid.uuid4()),
        "profile_id": profile_id,
        "account_id": "42",
        "title_id": a_title(),
        "watch_time": T0,
        "position_seconds": 600,
        "duration_seconds": 3600,
        "device_type": "tv",
        "country_code": "US",
        "maturity_rating": "PG-13",
    }
    values.update(fields)
    return ViewRecord(**values)  # type: ignore[arg-type]


def event_for(view: ViewRecord) -> OutboxEvent:
    """The ViewRecorded event the service would write for ``view``."""
    event_id = str(uuid.uuid4())
    created = datetime.now(UTC).replace(microsecond=123_000)
    timestamp = Timestamp()
    timestamp.FromDatetime(created)
    data = AnyMessage()
    data.Pack(
        events_pb2.ViewRecordedEvent(
            view=history_pb2.View(
                view_id=view.view_id,
                profile_id=view.profile_id,
                title_id=view.title_id,
                position_seconds=view.position_seconds,
            ),
            account_id=view.account_id,
            maturity_rating=view.maturity_rating,
        )
    )
    payload = event_pb2.Event(
        event_id=event_id,
        event_type="history.view.recorded",
        event_version=1,
        timestamp=timestamp,
        source="history",
        aggregate_type="profile",
        aggregate_id=view.profile_id,
        data=data,
    ).SerializeToString()
    return OutboxEvent(
        event_id=event_id,
        aggregate_type="profile",
        aggregate_id=view.profile_id,
        event_type="history.view.recorded",
        payload=payload,
        created_at=created,
    )


async def record(store: HistoryStore, view: ViewRecord) -> tuple[ViewRecord, bool]:
    return await store.record_view(view, event_for(view))


async def outbox_rows(outbox: OutboxSource, profile_id: str) -> list[OutboxRow]:
    """The events waiting in the outbox for one profile."""
    rows = await outbox.fetch_unpublished(1_000_000)
    return [row for row in rows if row.aggregate_id == profile_id]


async def whole_history(store: HistoryStore, profile_id: str, page_size: int) -> list[ViewRecord]:
    """Every view, following cursors; checks each page's bound and that cursors progress."""
    views: list[ViewRecord] = []
    cursor: HistoryCursor | None = None
    for _ in range(10_000):
        page = await store.list_views(profile_id, page_size, cursor)
        assert len(page.views) <= page_size
        views += page.views
        if page.next_cursor is None:
            return views
        assert page.next_cursor != cursor
        cursor = page.next_cursor
    raise AssertionError("history paging did not end")


def newest_first(views: list[ViewRecord]) -> list[ViewRecord]:
    return sorted(views, key=lambda v: (v.watch_time, v.view_id), reverse=True)


def a_partition() -> tuple[str, date]:
    """A (country, day) no other test uses."""
    country = "".join(secrets.choice(string.ascii_uppercase) for _ in range(2))
    return country, date(2001, 1, 1) + timedelta(days=secrets.randbelow(7_000))


def figures(title_id: str, country: str, day: date, views: int) -> Popularity:
    return Popularity(
        title_id=title_id,
        country_code=country,
        day=day,
        view_count=views,
        watch_seconds=views * 1_800,
        unique_viewers=max(1, views // 2),
        maturity_rating="TV-14",
    )


def by_title(rows: list[Popularity]) -> list[Popularity]:
    return sorted(rows, key=lambda row: row.title_id)


# ------------------------------------------------------------- bad input


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


Mutation = Callable[[ViewRecord, OutboxEvent], tuple[ViewRecord, OutboxEvent]]
# case -> (what makes the view or its event bad, what the refusal says)
BAD_VIEWS: dict[str, tuple[Mutation, str]] = {
    "naive watch_time": (
        lambda v, e: (dataclasses.replace(v, watch_time=_naive(T0)), e),
        "view.watch_time must be timezone-aware",
    ),
    "empty view_id": (
        lambda v, e: (dataclasses.replace(v, view_id=""), e),
        "view.view_id is empty",
    ),
    "empty profile_id": (
        lambda v, e: (dataclasses.replace(v, profile_id=""), e),
        "view.profile_id is empty",
    ),
    "empty title_id": (
        lambda v, e: (dataclasses.replace(v, title_id=""), e),
        "view.title_id is empty",
    ),
    "negative position": (
        lambda v, e: (dataclasses.replace(v, position_seconds=-1), e),
        "view.position_seconds must be within",
    ),
    "negative duration": (
        lambda v, e: (dataclasses.replace(v, duration_seconds=-5), e),
        "view.duration_seconds must be within",
    ),
    "event_id not a UUID": (
        lambda v, e: (v, dataclasses.replace(e, event_id="view-1")),
        "is not a lowercase UUID",
    ),
    "naive created_at": (
        lambda v, e: (v, dataclasses.replace(e, created_at=_naive(T0))),
        "event.created_at must be timezone-aware",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VIEWS))
async def test_a_bad_view_is_refused_and_nothing_is_stored(
    store: HistoryStore, outbox: OutboxSource, case: str
) -> None:
    profile = a_profile()
    good = a_view(profile)
    mutation, refusal = BAD_VIEWS[case]
    view, event = mutation(good, event_for(good))
    with pytest.raises(ValueError, match=refusal):
        await store.record_view(view, event)
    assert await store.get_view(profile, good.view_id) is None
    assert (await store.list_views(profile, 10, None)).views == []
    assert await store.list_bookmarks(profile) == []
    assert await store.play_log(good.title_id, good.day) == []
    assert await outbox_rows(outbox, profile) == []


async def test_bad_reads_are_refused(store: HistoryStore) -> None:
    profile = a_profile()
    for limit in (0, -1):
        with pytest.raises(ValueError, match="limit must be at least 1"):
            await store.list_views(profile, limit, None)
    with pytest.raises(ValueError, match="limit must be at least 0"):
        await store.top("US", T0.date(), -1)


async def test_bad_rollups_are_refused_and_change_nothing(store: HistoryStore) -> None:
    country, day = a_partition()
    kept = [figures(a_title(), country, day, 9)]
    await store.save_top(country, day, kept)
    title = a_title()
    bad_tops = [
        ([figures(title, country, day + timedelta(days=1), 5)], "is ranked for"),
        ([figures(title, "ZZ" if country != "ZZ" else "ZY", day, 5)], "is ranked for"),
        ([figures(title, country, day, 5), figures(title, country, day, 4)], "ranked twice"),
        ([figures(title, country, day, -1)], "is negative"),
        ([figures(a_title(), country, day, 1) for _ in range(201)], "at most 200"),
    ]
    for ranked, refusal in bad_tops:
        with pytest.raises(ValueError, match=refusal):
            await store.save_top(country, day, ranked)
    assert await store.top(country, day, 10) == kept

    twice = [figures(title, country, day, 5), figures(title, country, day, 6)]
    with pytest.raises(ValueError, match="given twice"):
        await store.save_popularity(twice)
    assert await store.popularity(country, day) == []


# ---------------------------------------------------------------- views


async def test_a_missing_view_is_none(store: HistoryStore) -> None:
    assert await store.get_view(a_profile(), str(uuid.uuid4())) is None
    page = await store.list_views(a_profile(), 10, None)
    assert page.views == []
    assert page.next_cursor is None


async def test_a_recorded_view_reads_back_whole(store: HistoryStore) -> None:
    profile = a_profile()
    view = a_view(profile)
    assert await record(store, view) == (view, True)
    assert await store.get_view(profile, view.view_id) == view
    # view_id is unique per profile: another profile does not see it.
    assert await store.get_view(a_profile(), view.view_id) is None


async def test_times_come_back_in_utc_to_the_millisecond(store: HistoryStore) -> None:
    profile = a_profile()
    # 00:30:00.123456 on 1 March at UTC+2 is 22:30:00.123 on 29 February, UTC.
    local = datetime(2024, 3, 1, 0, 30, 0, 123_456, tzinfo=timezone(timedelta(hours=2)))
    recorded, created = await record(store, a_view(profile, watch_time=local))
    assert created
    expected = datetime(2024, 2, 29, 22, 30, 0, 123_000, tzinfo=UTC)
    fetched = await store.get_view(profile, recorded.view_id)
    assert fetched == recorded
    assert fetched.watch_time == expected
    assert fetched.watch_time.utcoffset() == timedelta(0)
    [bookmark] = await store.list_bookmarks(profile)
    assert bookmark.last_watch_time == expected
    assert bookmark.last_watch_time.utcoffset() == timedelta(0)
    [play] = await store.play_log(recorded.title_id, date(2024, 2, 29))
    assert play.view_id == recorded.view_id
    assert await store.play_log(recorded.title_id, date(2024, 3, 1)) == []


async def test_the_same_view_id_twice_records_once(
    store: HistoryStore, outbox: OutboxSource
) -> None:
    profile = a_profile()
    first = a_view(profile, position_seconds=300)
    first_event = event_for(first)
    assert await store.record_view(first, first_event) == (first, True)
    # The retry carries other values (a new server clock, a new position, even
    # another title): the first recording stands.
    retry = dataclasses.replace(
        first,
        title_id=a_title(),
        watch_time=first.watch_time + timedelta(days=40),
        position_seconds=900,
        device_type="web",
    )
    assert await record(store, retry) == (first, False)

    assert await store.get_view(profile, first.view_id) == first
    assert await whole_history(store, profile, 10) == [first]
    assert [b.title_id for b in await store.list_bookmarks(profile)] == [first.title_id]
    assert [p.view_id for p in await store.play_log(first.title_id, first.day)] == [first.view_id]
    assert await store.play_log(retry.title_id, retry.day) == []
    rows = await outbox_rows(outbox, profile)
    assert [row.event_id for row in rows] == [first_event.event_id]


async def test_concurrent_retries_record_once(store: HistoryStore, outbox: OutboxSource) -> None:
    profile = a_profile()
    view = a_view(profile)
    results = await asyncio.gather(*(record(store, view) for _ in range(8)))
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert {recorded for recorded, _ in results} == {view}
    assert await whole_history(store, profile, 10) == [view]
    assert len(await outbox_rows(outbox, profile)) == 1


async def test_a_view_id_is_unique_per_profile_only(store: HistoryStore) -> None:
    title = a_title()
    view_id = str(uuid.uuid4())
    first = a_view(a_profile(), view_id=view_id, title_id=title)
    second = a_view(a_profile(), view_id=view_id, title_id=title, watch_time=T0 + MINUTE)
    assert (await record(store, first))[1]
    assert (await record(store, second))[1]
    assert await store.get_view(first.profile_id, view_id) == first
    assert await store.get_view(second.profile_id, view_id) == second
    plays = await store.play_log(title, T0.date())
    assert sorted(p.profile_id for p in plays) == sorted([first.profile_id, second.profile_id])


async def test_history_is_newest_first_across_a_month_boundary(store: HistoryStore) -> None:
    profile = a_profile()
    end_of_january = datetime(2024, 1, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    times = [
        end_of_january - timedelta(days=3),
        end_of_january,
        end_of_january + timedelta(milliseconds=1),  # 1 February, 00:00:00.000
        end_of_january + timedelta(days=2),
    ]
    views = [a_view(profile, watch_time=moment) for moment in times]
    for view in reversed(views):  # arrival order does not matter
        await record(store, view)
    expected = list(reversed(views))
    assert (await store.list_views(profile, 10, None)).views == expected
    for page_size in (1, 2, 3):
        assert await whole_history(store, profile, page_size) == expected


async def test_ties_on_watch_time_are_ordered_by_view_id(store: HistoryStore) -> None:
    profile = a_profile()
    views = [a_view(profile) for _ in range(5)]  # all at T0
    await asyncio.gather(*(record(store, view) for view in views))
    expected = sorted(views, key=lambda v: v.view_id, reverse=True)
    assert await whole_history(store, profile, 2) == expected


async def test_a_history_of_many_months_pages_completely(store: HistoryStore) -> None:
    """Months apart, a device clock years ahead and an import of old views: a
    page may be shorter than asked while a cursor is set, and following the
    cursors still returns every view once, in order."""
    profile = a_profile()
    moments = [datetime(2019 + i // 7, 1 + (i * 5) % 12, 1 + i, 12, tzinfo=UTC) for i in range(20)]
    moments += [
        datetime(2099, 5, 1, tzinfo=UTC),
        datetime(1999, 5, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
    ]
    views = [a_view(profile, watch_time=moment) for moment in moments]
    await asyncio.gather(*(record(store, view) for view in views))
    expected = newest_first(views)
    assert expected[0].watch_time.year == 2099
    assert expected[-1].watch_time.year == 1

    pages = 0
    collected: list[ViewRecord] = []
    cursor: HistoryCursor | None = None
    while True:
        page = await store.list_views(profile, 50, cursor)
        pages += 1
        assert len(page.views) <= 50
        collected += page.views
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert collected == expected
    assert pages <= len(expected) + SPARE_PAGES


@pytest.mark.parametrize("seed", range(4))
async def test_paging_returns_every_view_once_newest_first(store: HistoryStore, seed: int) -> None:
    """Property style: random watch times over about four years (ties, month
    starts and the millisecond before them included), page sizes 1..7; the
    pages put together are the sorted list of views, each once."""
    rng = random.Random(seed)
    profile = a_profile()
    start = datetime(2021, 1, 1, tzinfo=UTC)
    moments: list[datetime] = []
    for _ in range(rng.randrange(15, 40)):
        kind = rng.random()
        if kind < 0.2 and moments:
            moments.append(rng.choice(moments))  # a tie
        elif kind < 0.4:
            month_start = datetime(2021 + rng.randrange(4), rng.randrange(1, 13), 1, tzinfo=UTC)
            moments.append(month_start - timedelta(milliseconds=rng.choice((0, 1))))
        else:
            offset = rng.randrange(4 * 365 * 86_400_000)
            moments.append(start + timedelta(milliseconds=offset))
    recorded = await asyncio.gather(
        *(record(store, a_view(profile, watch_time=moment)) for moment in moments)
    )
    expected = newest_first([view for view, _ in recorded])
    months = {(v.watch_time.year, v.watch_time.month) for v in expected}
    for page_size in rng.sample(range(1, 8), 3):
        views: list[ViewRecord] = []
        cursor: HistoryCursor | None = None
        pages = 0
        while True:
            page = await store.list_views(profile, page_size, cursor)
            pages += 1
            assert len(page.views) <= page_size
            views += page.views
            if page.next_cursor is None:
                break
            assert page.next_cursor != cursor
            cursor = page.next_cursor
        assert views == expected, f"page size {page_size}"
        assert pages <= math.ceil(len(expected) / page_size) + len(months) + SPARE_PAGES


async def test_a_cursor_keeps_its_place_while_views_arrive(store: HistoryStore) -> None:
    profile = a_profile()
    views = [a_view(profile, watch_time=T0 - i * timedelta(days=20)) for i in range(6)]
    for view in views:
        await record(store, view)
    first = await store.list_views(profile, 3, None)
    assert first.views == views[:3]
    assert first.next_cursor is not None
    newer = a_view(profile, watch_time=T0 + MINUTE)
    older = a_view(profile, watch_time=T0 - timedelta(days=200))
    await record(store, newer)
    await record(store, older)
    rest: list[ViewRecord] = []
    cursor: HistoryCursor | None = first.next_cursor
    while cursor is not None:
        page = await store.list_views(profile, 3, cursor)
        rest += page.views
        cursor = page.next_cursor
    # Nothing repeats, nothing older is skipped; the newer view is on page one now.
    assert rest == [*views[3:], older]


async def test_a_forged_cursor_out_of_time_pages_sensibly(store: HistoryStore) -> None:
    """Page tokens are opaque, not signed: any number may come back as a cursor."""
    profile = a_profile()
    views = [a_view(profile, watch_time=T0 - i * timedelta(days=50)) for i in range(3)]
    for view in views:
        await record(store, view)
    beyond = await store.list_views(profile, 10, HistoryCursor(2**63 - 1, "z"))
    assert beyond.views == views
    assert beyond.next_cursor is None
    before = await store.list_views(profile, 10, HistoryCursor(-(2**63), ""))
    assert before.views == []
    assert before.next_cursor is None


# ------------------------------------------------------------ bookmarks


async def test_a_late_older_view_does_not_move_the_bookmark_back(store: HistoryStore) -> None:
    profile = a_profile()
    title = a_title()
    latest = a_view(profile, title_id=title, watch_time=T0, position_seconds=1_200)
    late = a_view(profile, title_id=title, watch_time=T0 - MINUTE, position_seconds=300)
    await record(store, latest)
    await record(store, late)  # arrives after, watched before
    assert await store.list_bookmarks(profile) == [
        Bookmark(profile, title, 1_200, 3_600, latest.watch_time)
    ]
    # Both views are in the history all the same.
    assert await whole_history(store, profile, 10) == [latest, late]


async def test_a_newer_view_moves_the_bookmark(store: HistoryStore) -> None:
    profile = a_profile()
    title = a_title()
    await record(store, a_view(profile, title_id=title, watch_time=T0, position_seconds=1_200))
    newer = a_view(
        profile,
        title_id=title,
        watch_time=T0 + MINUTE,
        position_seconds=3_500,
        duration_seconds=3_600,
    )
    await record(store, newer)
    [bookmark] = await store.list_bookmarks(profile)
    assert bookmark == Bookmark(profile, title, 3_500, 3_600, newer.watch_time)
    assert bookmark.completed


async def test_bookmarks_are_one_per_title_most_recent_first(store: HistoryStore) -> None:
    """Ties on the watch time are ordered by title id, descending (as history's view ids)."""
    profile = a_profile()
    first, second, third, fourth = sorted((a_title() for _ in range(4)), reverse=True)
    plan = [
        (first, T0, 100),
        (second, T0 + 3 * MINUTE, 200),
        (fourth, T0 + 2 * MINUTE, 600),
        (third, T0 + 2 * MINUTE, 300),
        (first, T0 + MINUTE, 400),
        (second, T0 - MINUTE, 500),  # older: ignored
    ]
    for title, moment, position in plan:
        await record(
            store, a_view(profile, title_id=title, watch_time=moment, position_seconds=position)
        )
    assert await store.list_bookmarks(profile) == [
        Bookmark(profile, second, 200, 3_600, T0 + 3 * MINUTE),
        Bookmark(profile, third, 300, 3_600, T0 + 2 * MINUTE),
        Bookmark(profile, fourth, 600, 3_600, T0 + 2 * MINUTE),
        Bookmark(profile, first, 400, 3_600, T0 + MINUTE),
    ]
    assert await store.list_bookmarks(a_profile()) == []


# ------------------------------------------------------------- play log


async def test_the_play_log_holds_each_view_once_under_its_utc_day(store: HistoryStore) -> None:
    title = a_title()
    late = datetime(2024, 6, 30, 23, 59, 59, 999_000, tzinfo=UTC)
    evening = a_view(
        a_profile(), title_id=title, watch_time=late, position_seconds=9_000, duration_seconds=5_400
    )
    midnight = a_view(
        a_profile(),
        title_id=title,
        watch_time=late + timedelta(milliseconds=1),
        country_code="BR",
        maturity_rating="R",
        position_seconds=120,
        duration_seconds=0,
    )
    for view in (evening, midnight, evening):  # a retry too
        await record(store, view)
    assert await store.play_log(title, date(2024, 6, 30)) == [
        # The watch time counted is at most the title's length.
        PlayRecord(evening.view_id, evening.profile_id, "US", 5_400, "PG-13")
    ]
    assert await store.play_log(title, date(2024, 7, 1)) == [
        PlayRecord(midnight.view_id, midnight.profile_id, "BR", 120, "R")
    ]
    assert await store.play_log(a_title(), date(2024, 6, 30)) == []


async def test_the_play_log_reads_a_busy_day_whole(store: HistoryStore) -> None:
    title = a_title()
    views = [
        a_view(a_profile(), title_id=title, watch_time=T0 + i * timedelta(seconds=7))
        for i in range(60)
    ]
    await asyncio.gather(*(record(store, view) for view in views))
    plays = await store.play_log(title, T0.date())
    assert sorted(p.view_id for p in plays) == sorted(v.view_id for v in views)


async def test_a_view_is_in_the_play_log_once_recorded_while_reads_keep_the_store_busy(
    store: HistoryStore,
) -> None:
    # The rollup reads the play log right after a view commits, while
    # ListTrending and history reads overlap it. On one shared SQLite reader a
    # half-read cursor kept the file's old snapshot for every query that ran
    # meanwhile: the rollup missed the view and saved an empty top for good.
    busy_title = a_title()
    await asyncio.gather(
        *(
            record(store, a_view(a_profile(), title_id=busy_title, watch_time=T0 + i * MINUTE))
            for i in range(40)
        )
    )
    reading = True

    async def keep_reading() -> None:
        while reading:
            await store.play_log(busy_title, T0.date())

    readers = [asyncio.create_task(keep_reading()) for _ in range(8)]
    try:
        for _ in range(20):
            view = a_view(a_profile(), title_id=a_title(), watch_time=T0)
            await record(store, view)
            plays = await store.play_log(view.title_id, T0.date())
            assert [play.view_id for play in plays] == [view.view_id]
    finally:
        reading = False
        await asyncio.gather(*readers)


# ----------------------------------------------------------- popularity


async def test_popularity_is_replaced_and_read_per_country_and_day(store: HistoryStore) -> None:
    country, day = a_partition()
    titles = [a_title() for _ in range(4)]
    mine = [figures(title, country, day, 10 + i) for i, title in enumerate(titles)]
    other_country = figures(titles[0], "AA" if country != "AA" else "AB", day, 99)
    other_day = figures(titles[0], country, day + timedelta(days=1), 77)
    await store.save_popularity([*mine, other_country, other_day])
    assert by_title(await store.popularity(country, day)) == by_title(mine)

    # A recomputed rollup replaces the figures of the titles it carries.
    recomputed = dataclasses.replace(
        mine[1], view_count=3, watch_seconds=60, unique_viewers=2, maturity_rating="TV-MA"
    )
    await store.save_popularity([recomputed])
    assert by_title(await store.popularity(country, day)) == by_title(
        [mine[0], recomputed, *mine[2:]]
    )
    assert await store.popularity(other_day.country_code, other_day.day) == [other_day]
    await store.save_popularity([])
    assert len(await store.popularity(country, day)) == 4


async def test_top_titles_are_replaced_whole_best_first(store: HistoryStore) -> None:
    country, day = a_partition()
    ranked = [figures(a_title(), country, day, views) for views in (50, 40, 30, 20)]
    await store.save_top(country, day, ranked)
    assert await store.top(country, day, 10) == ranked
    assert await store.top(country, day, 2) == ranked[:2]
    assert await store.top(country, day, 0) == []

    # A shorter list leaves no stale rank behind, however soon it follows.
    shorter = [figures(a_title(), country, day, 60), ranked[0]]
    await store.save_top(country, day, shorter)
    assert await store.top(country, day, 10) == shorter

    next_day = day + timedelta(days=1)
    other = [figures(a_title(), country, next_day, 5)]
    await store.save_top(country, next_day, other)
    await store.save_top(country, day, [])
    assert await store.top(country, day, 10) == []
    assert await store.top(country, next_day, 10) == other


# --------------------------------------------------------------- outbox


async def test_the_outbox_row_is_the_event_passed_in(
    store: HistoryStore, outbox: OutboxSource
) -> None:
    profile = a_profile()
    view = a_view(profile)
    event = event_for(view)
    await store.record_view(view, event)
    [row] = await outbox_rows(outbox, profile)
    assert row.payload == event.payload
    assert (row.event_id, row.aggregate_type, row.aggregate_id, row.event_type) == (
        event.event_id,
        event.aggregate_type,
        event.aggregate_id,
        event.event_type,
    )
    assert row.created_at.replace(tzinfo=UTC) == event.created_at
    published = event_pb2.Event.FromString(row.payload)
    recorded = events_pb2.ViewRecordedEvent()
    assert published.data.Unpack(recorded)
    assert recorded.view.view_id == view.view_id


# ---------------------------------------------------- opening the store


def _config(**fields: object) -> Config:
    return Config(server=ServerConfig(service="history", port=0), **fields)  # type: ignore[arg-type]


async def test_open_store_opens_the_configured_adapter(
    tmp_path: Path, cassandra_store: CassandraHistoryStore
) -> None:
    embedded = await open_store(_config(backend="embedded", sqlite_path=tmp_path / "h.db"))
    try:
        assert isinstance(embedded, SqliteHistoryStore)
    finally:
        await embedded.close()
    settings = cassandra_store.session.settings
    real = await open_store(_config(backend="real", cassandra=settings), migrate=True)
    try:
        assert isinstance(real, CassandraHistoryStore)
        view = a_view(a_profile())
        await record(real, view)
        assert await cassandra_store.get_view(view.profile_id, view.view_id) == view
    finally:
        await real.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_unreachable_cassandra_is_unavailable() -> None:
    settings = CassandraSettings(keyspace="history_nowhere", port=_closed_port())
    with pytest.raises(Unavailable):
        await open_store(_config(backend="real", cassandra=settings, migrate_on_start=False))


async def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable):
        await open_store(_config(backend="embedded", sqlite_path=tmp_path))  # a directory
