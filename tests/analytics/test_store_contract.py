"""The warehouse port's contract, run on DuckDB and on PostgreSQL alike.

Every figure is checked against tests/analytics/figures.py, which computes it
from the raw views in Python. Bad input first (reversed ranges, a bad limit),
then loads, replays, late events, title dimension updates and paging.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from services.analytics.store import Batch, SignupFact, TopCursor, WarehouseStore
from tests.analytics import figures
from tests.analytics.conftest import OpenStore

TODAY = date(2026, 11, 20)
START = TODAY - timedelta(days=13)
TITLES = figures.titles(12)
TITLE_IDS = [t.title_id for t in TITLES]
VIEWS = figures.views(TITLE_IDS, 400, today=TODAY)


async def everything(store: WarehouseStore, start: date = START, end: date = TODAY) -> object:
    """Every report over the range, in one comparable value."""
    top = await store.top_titles(start, end, country="", genre="", limit=1000, after=None)
    days = await store.daily_engagement(start, end, limit=1000, after=None)
    stats = [await store.title_stats(t, start, end) for t in TITLE_IDS]
    return top, days, stats


async def test_a_reversed_range_or_a_bad_limit_is_refused(store: WarehouseStore) -> None:
    with pytest.raises(ValueError, match="reversed"):
        await store.title_stats(TITLE_IDS[0], TODAY, START)
    with pytest.raises(ValueError, match="below 1"):
        await store.top_titles(START, TODAY, country="", genre="", limit=0, after=None)
    with pytest.raises(ValueError, match="below 1"):
        await store.daily_engagement(START, TODAY, limit=0, after=None)


async def test_an_empty_warehouse_answers_nothing(store: WarehouseStore) -> None:
    assert await store.title_stats(TITLE_IDS[0], START, TODAY) is None
    assert await store.top_titles(START, TODAY, country="", genre="", limit=5, after=None) == []
    assert await store.daily_engagement(START, TODAY, limit=5, after=None) == []
    assert (await store.load(Batch())).loaded == frozenset()


async def test_reports_equal_the_figures_of_the_raw_views(store: WarehouseStore) -> None:
    result = await store.load(Batch(views=VIEWS, titles=TITLES))
    assert result.loaded == {v.event_id for v in VIEWS} | {t.event_id for t in TITLES}
    assert result.skipped == 0
    raw = figures.in_range(figures.raw(VIEWS), START, TODAY)
    for title_id in TITLE_IDS:
        got = await store.title_stats(title_id, START, TODAY)
        want = figures.title_stats(raw, title_id)
        if want is None:
            assert got is None
            continue
        assert got is not None
        assert (got.view_count, got.watch_seconds, got.unique_profiles) == want[:3]
        assert got.completion_rate == pytest.approx(want[3])
    top = await store.top_titles(START, TODAY, country="", genre="", limit=1000, after=None)
    assert [(t.title_id, t.view_count, t.watch_seconds, t.unique_profiles) for t in top] == (
        figures.top_titles(raw)
    )
    for country in figures.COUNTRIES:
        top = await store.top_titles(
            START, TODAY, country=country, genre="", limit=1000, after=None
        )
        assert [(t.title_id, t.view_count, t.watch_seconds, t.unique_profiles) for t in top] == (
            figures.top_titles(raw, country=country)
        )
    for genre in figures.GENRES:
        in_genre = {t.title_id for t in TITLES if genre in t.genres}
        top = await store.top_titles(START, TODAY, country="", genre=genre, limit=1000, after=None)
        assert [(t.title_id, t.view_count, t.watch_seconds, t.unique_profiles) for t in top] == (
            figures.top_titles(raw, genre_titles=in_genre)
        )
    days = await store.daily_engagement(START, TODAY, limit=1000, after=None)
    assert [
        (
            d.day.isoformat(),
            d.view_count,
            d.watch_seconds,
            d.active_profiles,
            {x.device_type: (x.view_count, x.watch_seconds, x.active_profiles) for x in d.devices},
        )
        for d in days
    ] == figures.daily(raw)
    # A narrower range counts only its own days.
    week = TODAY - timedelta(days=6)
    narrow = await store.daily_engagement(week, TODAY, limit=1000, after=None)
    assert [d.day.isoformat() for d in narrow] == [
        row[0] for row in figures.daily(figures.in_range(raw, week, TODAY))
    ]
    assert all(d.day >= week for d in narrow)


async def test_replaying_every_event_changes_no_figure(store: WarehouseStore) -> None:
    await store.load(Batch(views=VIEWS, titles=TITLES))
    before = await everything(store)
    counts = await store.row_counts()
    # Again, in other batches, and with an event twice inside one batch.
    again = await store.load(Batch(views=[*VIEWS[:150], VIEWS[0]], titles=TITLES[:3]))
    assert again.loaded == frozenset()
    assert again.skipped == 153
    await store.load(Batch(views=VIEWS[150:]))
    assert await everything(store) == before
    assert await store.row_counts() == counts


async def test_a_late_event_lands_in_its_own_day_and_month(store: WarehouseStore) -> None:
    await store.load(Batch(views=VIEWS[:50]))
    late_day = TODAY - timedelta(days=70)  # two months back: a partition of its own
    late = dataclasses.replace(
        VIEWS[0],
        event_id="00000000-0000-4000-8000-00000000aaaa",
        view_id="00000000-0000-4000-8000-00000000bbbb",
        watch_time=datetime(late_day.year, late_day.month, late_day.day, 23, 59, tzinfo=UTC),
        event_time=datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC),
        device_type="web",
    )
    await store.load(Batch(views=[late]))
    days = await store.daily_engagement(late_day, late_day, limit=10, after=None)
    assert [(d.day, d.view_count, d.watch_seconds) for d in days] == [
        (late_day, 1, late.watch_seconds)
    ]
    stats = await store.title_stats(late.title_id, late_day, late_day)
    assert stats is not None
    assert stats.view_count == 1
    # ... and not in the day it arrived.
    recent = await store.daily_engagement(START, TODAY, limit=1000, after=None)
    assert all(d.day != late_day for d in recent)


async def test_a_title_keeps_its_newest_catalog_event(store: WarehouseStore) -> None:
    title = TITLES[0]
    await store.load(
        Batch(titles=[title], views=[v for v in VIEWS if v.title_id == title.title_id])
    )
    newer = dataclasses.replace(
        title,
        event_id="00000000-0000-4000-8000-00000000cccc",
        genres=("Thrillers",),
        source_time=title.source_time + timedelta(days=1),
    )
    older = dataclasses.replace(
        title,
        event_id="00000000-0000-4000-8000-00000000dddd",
        genres=("Westerns",),
        source_time=title.source_time - timedelta(days=1),
    )
    await store.load(Batch(titles=[newer]))
    await store.load(Batch(titles=[older]))  # arrives late: must not win

    async def in_genre(genre: str) -> list[str]:
        top = await store.top_titles(START, TODAY, country="", genre=genre, limit=100, after=None)
        return [t.title_id for t in top]

    assert await in_genre("Thrillers") == [title.title_id]
    assert await in_genre("Westerns") == []
    assert await in_genre(title.genres[0]) == []


async def test_pages_cover_every_title_and_day_once(store: WarehouseStore) -> None:
    await store.load(Batch(views=VIEWS, titles=TITLES))
    everything_top = await store.top_titles(
        START, TODAY, country="", genre="", limit=1000, after=None
    )
    paged = []
    after: TopCursor | None = None
    while True:
        page = await store.top_titles(START, TODAY, country="", genre="", limit=5, after=after)
        paged += page
        if len(page) < 5:
            break
        after = TopCursor(page[-1].watch_seconds, page[-1].title_id)
    assert paged == everything_top
    all_days = await store.daily_engagement(START, TODAY, limit=1000, after=None)
    days = []
    after_day: date | None = None
    while True:
        day_page = await store.daily_engagement(START, TODAY, limit=4, after=after_day)
        days += day_page
        if len(day_page) < 4:
            break
        after_day = day_page[-1].day
    assert days == all_days


async def test_reopening_migrates_nothing_and_keeps_the_rows(open_store: OpenStore) -> None:
    first = await open_store()
    await first.load(Batch(views=VIEWS[:20]))
    await first.close()
    again = await open_store()
    assert (await again.row_counts()).views == 20


async def every_report(store: WarehouseStore, start: date, end: date) -> object:
    """Every report over the range: all titles' stats, the top titles overall, by
    country and by genre, and the daily engagement."""
    by_country = [
        await store.top_titles(start, end, country=c, genre="", limit=1000, after=None)
        for c in figures.COUNTRIES
    ]
    by_genre = [
        await store.top_titles(start, end, country="", genre=g, limit=1000, after=None)
        for g in figures.GENRES
    ]
    return await everything(store, start, end), by_country, by_genre


async def test_rolling_up_old_days_changes_no_report(open_store: OpenStore) -> None:
    store = await open_store()
    keep_from = TODAY - timedelta(days=6)  # raw facts kept 7 days
    signups = [
        SignupFact(
            event_id=f"00000000-0000-4000-8000-0000000001{n:02d}",
            account_id=str(n),
            profile_id=str(n),
            country_code="US",
            signup_time=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
            event_time=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        )
        for n, day in enumerate([START, START, keep_from])
    ]
    # Two months back: on PostgreSQL a month wholly rolled up, whose partition goes.
    months_ago = TODAY - timedelta(days=70)
    views = [
        *VIEWS,
        dataclasses.replace(
            VIEWS[1],
            event_id="00000000-0000-4000-8000-00000000dddd",
            watch_time=datetime(months_ago.year, months_ago.month, months_ago.day, tzinfo=UTC),
        ),
    ]
    await store.load(Batch(views=views, titles=TITLES, signups=signups))
    ranges = [
        (months_ago, TODAY),
        (START, TODAY),
        (START, keep_from - timedelta(days=1)),
        (keep_from - timedelta(days=3), TODAY - timedelta(days=2)),
    ]
    before = [await every_report(store, start, end) for start, end in ranges]
    counts = await store.row_counts()
    old = [v for v in views if v.day < keep_from]
    assert old, "the data must have days to age out"

    rolled = await store.roll_up(keep_from)

    assert rolled.rolled_through == keep_from - timedelta(days=1)
    assert rolled.raw_rows == len(old)
    assert 0 < rolled.rollup_rows <= len(old)
    after = await store.row_counts()
    assert after.views == len(views) - len(old)
    assert after.rolled_up_views == rolled.rollup_rows
    assert after.signups == 1
    assert after.loaded_events == counts.loaded_events - len(old) - 2
    assert [await every_report(store, start, end) for start, end in ranges] == before
    # Nothing more to move with the same cutoff or an earlier one.
    assert (await store.roll_up(keep_from)).raw_rows == 0
    assert (await store.roll_up(START)).rolled_through == rolled.rolled_through

    # Reopened, a replay of every event changes nothing: the rolled-up days are
    # final (their events are dropped), the others are in the ledger ...
    await store.close()
    store = await open_store()
    replay = await store.load(Batch(views=views, titles=TITLES, signups=signups))
    assert replay.loaded == frozenset()
    assert replay.skipped == len(views) + len(TITLES) + len(signups)
    # ... and a late view of a rolled-up day is dropped, not added to its day.
    late = dataclasses.replace(
        VIEWS[0],
        event_id="00000000-0000-4000-8000-00000000eeee",
        watch_time=datetime(START.year, START.month, START.day, 8, tzinfo=UTC),
    )
    assert (await store.load(Batch(views=[late]))).loaded == frozenset()
    assert [await every_report(store, start, end) for start, end in ranges] == before
    # Days still raw keep loading.
    fresh = dataclasses.replace(
        late,
        event_id="00000000-0000-4000-8000-00000000ffff",
        watch_time=datetime(TODAY.year, TODAY.month, TODAY.day, 8, tzinfo=UTC),
    )
    assert (await store.load(Batch(views=[fresh]))).loaded == {fresh.event_id}
