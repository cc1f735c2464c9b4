"""ListTitles, property style: for many filters and page sizes, paging returns
exactly the titles a brute-force filter of the data set returns, in order,
each once; nothing outside the country, maturity, type or genre ever shows.

The data set is drawn from a seeded generator: countries with windows that
are open, expired or not yet open, titles available everywhere, ties on
add_time, every rating. Each run uses genres of its own, so the titles of
other tests sharing the Cassandra keyspace never match.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from dataclasses import dataclass

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.catalog.listing import Cursor, TitleFilter
from services.catalog.store import CatalogStore
from services.ratings import KIDS_LIMIT, RATINGS, allows, rank
from streammesh.catalog.v1 import catalog_pb2

DAY_MS = 86_400_000
COUNTRIES = ("US", "FR", "JP", "BR")
LIMITS = ("", "TV-Y", KIDS_LIMIT, "TV-14", "R", "NR")
TYPES = ("", "MOVIE", "TV_SHOW")
# Pages are bounded: a listing of N titles takes at most this many pages per title.
MAX_PAGES_PER_TITLE = 3


@dataclass(frozen=True)
class Stored:
    title: catalog_pb2.Title
    # country -> (from_ms, until_ms), None = open
    windows: dict[str, tuple[int | None, int | None]]


def _ts(ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def generate(rng: random.Random, genres: tuple[str, str], now_ms: int, count: int) -> list[Stored]:
    stored = []
    base = now_ms - 400 * DAY_MS
    for index in range(count):
        # Few distinct days, so many titles tie on add_time.
        add_time = base + rng.randrange(12) * DAY_MS
        countries = rng.sample(COUNTRIES, rng.choice((0, 0, 1, 2, 3)))
        windows: dict[str, tuple[int | None, int | None]] = {}
        for country in countries:
            kind = rng.choice(("open", "open", "bounded", "expired", "future"))
            windows[country] = {
                "open": (None, None),
                "bounded": (now_ms - DAY_MS, now_ms + DAY_MS),
                "expired": (now_ms - 10 * DAY_MS, now_ms - DAY_MS),
                "future": (now_ms + DAY_MS, None),
            }[kind]
        content_type = rng.choice(("MOVIE", "TV_SHOW"))
        title = catalog_pb2.Title(
            title_id=str(uuid.uuid4()),
            title=f"Title {index}",
            release_year=2000 + index % 20,
            content_type=content_type,
            genres=[genres[0]] + ([genres[1]] if rng.random() < 0.4 else []),
            maturity_rating=rng.choice(RATINGS),
            country_codes=countries,
            add_time=_ts(add_time),
        )
        if content_type == "MOVIE":
            title.duration_minutes = 90
        else:
            title.seasons = 2
        stored.append(Stored(title, windows))
    return stored


def availability(stored: Stored) -> list[catalog_pb2.Availability]:
    entries = []
    for country, (start, end) in stored.windows.items():
        entry = catalog_pb2.Availability(country_code=country)
        if start is not None:
            entry.available_from.CopyFrom(_ts(start))
        if end is not None:
            entry.available_until.CopyFrom(_ts(end))
        entries.append(entry)
    return entries


def expected(data: list[Stored], title_filter: TitleFilter, now_ms: int) -> list[str]:
    """The brute-force answer, written independently of the stores."""
    matching = []
    for item in data:
        title = item.title
        if title_filter.genre not in title.genres:
            continue
        if title_filter.content_type and title.content_type != title_filter.content_type:
            continue
        if title_filter.max_maturity and not allows(
            title_filter.max_maturity, title.maturity_rating
        ):
            continue
        if title_filter.country and title.country_codes:
            window = item.windows.get(title_filter.country)
            if window is None:
                continue
            start, end = window
            if (start is not None and now_ms < start) or (end is not None and now_ms >= end):
                continue
        matching.append(title)
    matching.sort(key=lambda t: (t.add_time.ToMilliseconds(), t.title_id), reverse=True)
    return [t.title_id for t in matching]


async def page_through(
    store: CatalogStore, title_filter: TitleFilter, page_size: int, now_ms: int, bound: int
) -> list[catalog_pb2.Title]:
    seen: list[catalog_pb2.Title] = []
    after: Cursor | None = None
    for _ in range(bound):
        page = await store.list_titles(title_filter, page_size, after, now_ms)
        assert len(page.titles) <= page_size
        seen.extend(page.titles)
        if page.next_cursor is None:
            return seen
        assert after is None or page.next_cursor < after, "the cursor must move forward"
        after = page.next_cursor
    pytest.fail(f"paging {title_filter} did not end within {bound} pages")


@pytest.fixture
async def data_set(store: CatalogStore) -> tuple[list[Stored], tuple[str, str], int]:
    rng = random.Random(20260601)
    genres = (f"g-{uuid.uuid4().hex[:8]}", f"h-{uuid.uuid4().hex[:8]}")
    now_ms = time.time_ns() // 1_000_000
    data = generate(rng, genres, now_ms, 70)
    for item in data:
        await store.create_title(item.title, availability(item))
    return data, genres, now_ms


async def test_paging_returns_each_matching_title_once_in_order(
    store: CatalogStore, data_set: tuple[list[Stored], tuple[str, str], int]
) -> None:
    data, genres, now_ms = data_set
    rng = random.Random(7)
    combinations = list(itertools.product(("", *COUNTRIES), LIMITS, TYPES, genres))
    # A fixed sample keeps the run short; every country, limit and type occurs.
    sample = [*rng.sample(combinations, 40), ("US", KIDS_LIMIT, "", genres[0])]
    for country, limit, content_type, genre in sample:
        title_filter = TitleFilter(country, limit, content_type, genre)
        want = expected(data, title_filter, now_ms)
        page_size = rng.choice((1, 3, 7, 50))
        bound = MAX_PAGES_PER_TITLE * (len(data) + 1)
        got = await page_through(store, title_filter, page_size, now_ms, bound)
        ids = [t.title_id for t in got]
        assert len(ids) == len(set(ids)), f"a title came twice for {title_filter}"
        assert ids == want, f"{title_filter}, pages of {page_size}"


async def test_no_title_outside_the_filter_is_ever_returned(
    store: CatalogStore, data_set: tuple[list[Stored], tuple[str, str], int]
) -> None:
    data, genres, now_ms = data_set
    windows = {item.title.title_id: item.windows for item in data}
    for limit, country, content_type in itertools.product(
        ("TV-Y", KIDS_LIMIT, "R"), ("US", "JP"), ("MOVIE", "TV_SHOW")
    ):
        title_filter = TitleFilter(country, limit, content_type, genres[0])
        got = await page_through(store, title_filter, 5, now_ms, 3 * len(data))
        assert got, f"the data set should have titles for {title_filter}"
        for title in got:
            assert rank(title.maturity_rating) <= rank(limit), (title.maturity_rating, limit)
            assert title.content_type == content_type
            assert genres[0] in title.genres
            assert not title.country_codes or country in title.country_codes
            if title.country_codes:
                start, end = windows[title.title_id][country]
                assert start is None or start <= now_ms
                assert end is None or now_ms < end


async def test_a_kids_limit_never_lets_an_r_title_through(store: CatalogStore) -> None:
    genre = f"k-{uuid.uuid4().hex[:8]}"
    now_ms = time.time_ns() // 1_000_000
    for rating in ("R", "TV-MA", "NC-17", "NR", "UR", "PG-13", "PG", "TV-Y"):
        await store.create_title(
            catalog_pb2.Title(
                title_id=str(uuid.uuid4()),
                title=rating,
                release_year=2020,
                duration_minutes=90,
                content_type="MOVIE",
                genres=[genre],
                maturity_rating=rating,
                add_time=_ts(now_ms - DAY_MS),
            )
        )
    got = await page_through(store, TitleFilter("US", KIDS_LIMIT, "", genre), 2, now_ms, 20)
    assert sorted(t.maturity_rating for t in got) == ["PG", "TV-Y"]
