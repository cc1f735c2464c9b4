"""The reports computed straight from raw views, independently of the warehouse's SQL:
what every analytics test compares the warehouse's answers with."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.analytics.store import TitleDim, ViewFact

COUNTRIES = ("US", "GB", "DE", "IN", "BR")
DEVICES = ("tv", "mobile", "web", "tablet", "unknown")
GENRES = ("Dramas", "Comedies", "Documentaries", "Kids' TV")


@dataclass(frozen=True)
class RawView:
    """One recorded view as the history keeps it."""

    profile_id: str
    title_id: str
    day: date
    country_code: str
    device_type: str
    watch_seconds: int
    completed: bool


def raw(views: Iterable[ViewFact]) -> list[RawView]:
    return [
        RawView(
            v.profile_id,
            v.title_id,
            v.day,
            v.country_code,
            v.device_type,
            v.watch_seconds,
            v.completed,
        )
        for v in views
    ]


def in_range(views: Iterable[RawView], start: date, end: date) -> list[RawView]:
    return [v for v in views if start <= v.day <= end]


def title_stats(views: Sequence[RawView], title_id: str) -> tuple[int, int, int, float] | None:
    """(views, watch seconds, unique profiles, completion rate) of one title."""
    mine = [v for v in views if v.title_id == title_id]
    if not mine:
        return None
    completed = sum(1 for v in mine if v.completed)
    return (
        len(mine),
        sum(v.watch_seconds for v in mine),
        len({v.profile_id for v in mine}),
        completed / len(mine),
    )


def top_titles(
    views: Sequence[RawView], *, country: str = "", genre_titles: set[str] | None = None
) -> list[tuple[str, int, int, int]]:
    """(title, views, watch seconds, unique profiles), most watched first, then title id."""
    chosen = [
        v
        for v in views
        if (not country or v.country_code == country)
        and (genre_titles is None or v.title_id in genre_titles)
    ]
    titles = {v.title_id for v in chosen}
    rows = []
    for title in titles:
        stats = title_stats(chosen, title)
        assert stats is not None
        rows.append((title, stats[0], stats[1], stats[2]))
    return sorted(rows, key=lambda r: (-r[2], r[0]))


def daily(
    views: Sequence[RawView],
) -> list[tuple[str, int, int, int, dict[str, tuple[int, int, int]]]]:
    """Per day: (day, views, watch seconds, active profiles, {device: same three})."""
    by_day: dict[date, list[RawView]] = defaultdict(list)
    for v in views:
        by_day[v.day].append(v)
    out = []
    for day in sorted(by_day):
        rows = by_day[day]
        devices: dict[str, list[RawView]] = defaultdict(list)
        for v in rows:
            devices[v.device_type].append(v)
        out.append(
            (
                day.isoformat(),
                len(rows),
                sum(v.watch_seconds for v in rows),
                len({v.profile_id for v in rows}),
                {
                    device: (
                        len(d),
                        sum(v.watch_seconds for v in d),
                        len({v.profile_id for v in d}),
                    )
                    for device, d in devices.items()
                },
            )
        )
    return out


# ---------------------------------------------------------------- generated data


def titles(count: int, seed: int = 1) -> list[TitleDim]:
    rng = random.Random(seed)
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        TitleDim(
            event_id=str(uuid.UUID(int=rng.getrandbits(128))),
            title_id=str(uuid.UUID(int=rng.getrandbits(128))),
            title=f"Title {n}",
            content_type=rng.choice(("MOVIE", "TV_SHOW")),
            release_year=rng.randint(1990, 2025),
            maturity_rating=rng.choice(("TV-Y", "PG", "TV-MA")),
            genres=tuple(rng.sample(GENRES, rng.randint(1, 2))),
            source_time=stamp,
            event_time=stamp,
        )
        for n in range(count)
    ]


def views(
    title_ids: Sequence[str],
    count: int,
    *,
    seed: int = 2,
    today: date,
    days: int = 14,
    profiles: int = 40,
) -> list[ViewFact]:
    """``count`` views over ``days`` days ending ``today``, skewed to some titles."""
    rng = random.Random(seed)
    out = []
    weights = [1.0 / (rank + 1) for rank in range(len(title_ids))]
    for _ in range(count):
        profile = rng.randrange(profiles)
        day = today - timedelta(days=rng.randrange(days))
        watch_time = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(86_400)
        )
        duration = rng.choice((0, 1_800, 5_400))
        position = rng.randrange(1, 6_000)
        completed = duration > 0 and position >= 0.95 * duration
        out.append(
            ViewFact(
                event_id=str(uuid.UUID(int=rng.getrandbits(128))),
                view_id=str(uuid.UUID(int=rng.getrandbits(128))),
                profile_id=str(profile + 1),
                account_id=str(profile // 2 + 1),
                title_id=rng.choices(title_ids, weights)[0],
                watch_time=watch_time,
                country_code=COUNTRIES[profile % len(COUNTRIES)],
                device_type=rng.choice(DEVICES),
                watch_seconds=min(position, duration) if duration else position,
                position_seconds=position,
                duration_seconds=duration,
                completed=completed,
                event_time=watch_time + timedelta(seconds=rng.randrange(5)),
            )
        )
    return out
