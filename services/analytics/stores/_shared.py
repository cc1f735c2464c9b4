"""What both warehouse adapters share: the rows they stage, and how a batch is
deduplicated before it is staged."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Final, TypeVar

from services.analytics.store import (
    Batch,
    DayFigures,
    DeviceFigures,
    ProfileChangeFact,
    SignupFact,
    TitleDim,
    ViewFact,
)
from services.runtime.sagas import StepKey

T = TypeVar("T", ViewFact, SignupFact, ProfileChangeFact, TitleDim)

# Column order of each staging table (and of the fact it feeds).
VIEW_COLUMNS: Final = (
    "date_key",
    "event_id",
    "view_id",
    "profile_id",
    "account_id",
    "title_id",
    "watch_time",
    "country_code",
    "device_type",
    "watch_seconds",
    "position_seconds",
    "duration_seconds",
    "completed",
    "event_time",
)
SIGNUP_COLUMNS: Final = (
    "date_key",
    "event_id",
    "account_id",
    "profile_id",
    "country_code",
    "signup_time",
    "event_time",
)
PROFILE_CHANGE_COLUMNS: Final = (
    "date_key",
    "event_id",
    "profile_id",
    "account_id",
    "change_type",
    "changed_fields",
    "kids_profile",
    "maturity_rating",
    "change_time",
    "event_time",
)
# The genres travel as one text, unit-separator joined: both COPY and the
# DuckDB appender take it without an array type.
TITLE_COLUMNS: Final = (
    "event_id",
    "title_id",
    "title",
    "content_type",
    "release_year",
    "maturity_rating",
    "genres",
    "source_time",
)
GENRE_SEPARATOR: Final = "\x1f"


def unique(rows: Iterable[T]) -> list[T]:
    """``rows`` without a second row of one event (a redelivery inside one batch)."""
    seen: dict[str, T] = {}
    for row in rows:
        seen.setdefault(row.event_id, row)
    return list(seen.values())


def deduplicated(batch: Batch) -> Batch:
    return Batch(
        views=unique(batch.views),
        signups=unique(batch.signups),
        profile_changes=unique(batch.profile_changes),
        titles=unique(batch.titles),
    )


def view_row(v: ViewFact) -> tuple[Any, ...]:
    return (
        v.day,
        v.event_id,
        v.view_id,
        v.profile_id,
        v.account_id,
        v.title_id,
        v.watch_time,
        v.country_code,
        v.device_type,
        v.watch_seconds,
        v.position_seconds,
        v.duration_seconds,
        v.completed,
        v.event_time,
    )


def signup_row(s: SignupFact) -> tuple[Any, ...]:
    return (
        s.day,
        s.event_id,
        s.account_id,
        s.profile_id,
        s.country_code,
        s.signup_time,
        s.event_time,
    )


def profile_change_row(p: ProfileChangeFact) -> tuple[Any, ...]:
    return (
        p.day,
        p.event_id,
        p.profile_id,
        p.account_id,
        p.change_type,
        p.changed_fields,
        p.kids_profile,
        p.maturity_rating,
        p.change_time,
        p.event_time,
    )


def title_row(t: TitleDim) -> tuple[Any, ...]:
    return (
        t.event_id,
        t.title_id,
        t.title,
        t.content_type,
        t.release_year,
        t.maturity_rating,
        GENRE_SEPARATOR.join(t.genres),
        t.source_time,
    )


def days_of(batch: Batch) -> set[date]:
    days: set[date] = {v.day for v in batch.views}
    days.update(s.day for s in batch.signups)
    days.update(p.day for p in batch.profile_changes)
    return days


def date_row(day: date) -> tuple[date, int, int, int, int, int]:
    iso = day.isocalendar()
    return (day, day.year, day.month, day.day, iso.week, iso.weekday)


# Both adapters' report SQL: the same text, $n placeholders on PostgreSQL and
# ?-style on DuckDB would differ, so DuckDB runs it with $n too (it accepts them).
# They read ``view_days`` (migrations 0002): the daily rollups of days past the
# raw retention and the raw views of the rest, at one grain, so a figure is the
# same whether its days were rolled up or not.
TITLE_STATS_SQL: Final = """
SELECT coalesce(sum(view_count), 0), coalesce(sum(watch_seconds), 0),
       count(DISTINCT profile_id), coalesce(sum(completed_views), 0)
FROM view_days
WHERE title_id = $1 AND date_key BETWEEN $2 AND $3
"""

# Ranked by watch seconds, then title id; $3/$4 filter by country/genre when
# not empty; $5/$6 is the previous page's last (watch_seconds, title_id), or
# NULL/'' for the first page.
TOP_TITLES_SQL: Final = """
SELECT f.title_id, sum(f.view_count) AS views, sum(f.watch_seconds) AS seconds,
       count(DISTINCT f.profile_id), sum(f.completed_views)
FROM view_days f
WHERE f.date_key BETWEEN $1 AND $2
  AND ($3 = '' OR f.country_code = $3)
  AND ($4 = '' OR f.title_id IN (SELECT g.title_id FROM dim_title_genre g WHERE g.genre = $4))
GROUP BY f.title_id
HAVING $5::BIGINT IS NULL OR sum(f.watch_seconds) < $5
    OR (sum(f.watch_seconds) = $5 AND f.title_id > $6)
ORDER BY seconds DESC, f.title_id ASC
LIMIT $7
"""

# Per day and per (day, device) in one pass over the range's rows, for the
# first $3 days after $1 (the page): days come from the facts themselves.
DAILY_SQL: Final = """
WITH page AS (
  SELECT DISTINCT date_key FROM view_days WHERE date_key BETWEEN $1 AND $2
  ORDER BY date_key LIMIT $3
)
SELECT f.date_key, f.device_type, sum(f.view_count), sum(f.watch_seconds),
       count(DISTINCT f.profile_id)
FROM view_days f
WHERE f.date_key BETWEEN $1 AND $2 AND f.date_key IN (SELECT date_key FROM page)
GROUP BY GROUPING SETS ((f.date_key), (f.date_key, f.device_type))
"""

# A rollup of every raw day before $1 (both dialects; run in one transaction
# with the deletes below, after the watermark moved). Rows are added, never
# merged: a rollup row of a day counts whatever raw rows that day still had.
ROLLUP_SQL: Final = (
    """
INSERT INTO rollup_view_daily
SELECT date_key, title_id, profile_id, country_code, device_type, count(*),
       sum(watch_seconds), count(*) FILTER (WHERE completed)
FROM fact_view WHERE date_key < $1
GROUP BY date_key, title_id, profile_id, country_code, device_type
""",
    """
INSERT INTO rollup_signup_daily
SELECT date_key, country_code, count(*) FROM fact_signup WHERE date_key < $1
GROUP BY date_key, country_code
""",
    """
INSERT INTO rollup_profile_change_daily
SELECT date_key, change_type, kids_profile, count(*) FROM fact_profile_change
WHERE date_key < $1 GROUP BY date_key, change_type, kids_profile
""",
)
# The ledger rows of the rolled-up events go with them: a later copy of such
# an event is dropped by the watermark, not by the ledger.
FORGET_ROLLED_UP_SQL: Final = """
DELETE FROM loaded_events WHERE event_id IN (
  SELECT event_id FROM fact_view WHERE date_key < $1
  UNION ALL SELECT event_id FROM fact_signup WHERE date_key < $1
  UNION ALL SELECT event_id FROM fact_profile_change WHERE date_key < $1
)
"""
FACT_TABLES: Final = ("fact_view", "fact_signup", "fact_profile_change")


def days_of_rows(rows: Sequence[Sequence[Any]]) -> list[DayFigures]:
    """DAILY_SQL's rows as days, oldest first; each day's devices most watched first."""
    totals: dict[date, tuple[int, int, int]] = {}
    devices: dict[date, list[DeviceFigures]] = {}
    for day, device, views, seconds, profiles in rows:
        if device is None:
            totals[day] = (int(views), int(seconds), int(profiles))
        else:
            devices.setdefault(day, []).append(
                DeviceFigures(device, int(views), int(seconds), int(profiles))
            )
    return [
        DayFigures(
            day=day,
            view_count=totals[day][0],
            watch_seconds=totals[day][1],
            active_profiles=totals[day][2],
            devices=tuple(
                sorted(devices.get(day, []), key=lambda d: (-d.watch_seconds, d.device_type))
            ),
        )
        for day in sorted(totals)
    ]


# -- the account-deletion saga's anonymisation (services/users/sagas) ---------
# The ledger row of a saga command lives in loaded_events (target "saga"), in
# the transaction of its effect, so a repeated command changes nothing.
SAGA_TARGET: Final = "saga"


def saga_ledger_ids(key: StepKey) -> list[str]:
    """The ledger ids that make ``key`` a repeat: its own (an anonymisation has no
    compensation: it is a retriable step)."""
    return [f"saga:{key.saga_id}/{key.step}"]


# What anonymising an account rewrites, with {p} the driver's placeholder
# style: 1 = the account id, 2 = the anonymous account id, 3 = the salt of the
# anonymous profile ids, 4 = the account's profile ids. Identity goes; counts,
# days, titles, countries and devices stay, and distinct profiles stay
# distinct (unique viewers do not change). The salt is random and kept
# nowhere, so an anonymous id cannot be traced back.
ANONYMISE_FACTS: Final = (
    "UPDATE fact_view SET account_id = {p2}, profile_id = 'anon-' || md5({p3} || profile_id) "
    "WHERE account_id = {p1}",
    "UPDATE fact_signup SET account_id = {p2}, profile_id = 'anon-' || md5({p3} || profile_id) "
    "WHERE account_id = {p1}",
    "UPDATE fact_profile_change SET account_id = {p2}, "
    "profile_id = 'anon-' || md5({p3} || profile_id) WHERE account_id = {p1}",
)
# Rollups keep profiles (no account): by the account's profile ids.
ANONYMISE_ROLLUP: Final = (
    "UPDATE rollup_view_daily SET profile_id = 'anon-' || md5({p3} || profile_id) "
    "WHERE profile_id = {p4}"
)


# Fact rows naming an account ({p1}: the account id).
ACCOUNT_FACT_COUNT: Final = (
    "SELECT (SELECT count(*) FROM fact_view WHERE account_id = {p1}) "
    "+ (SELECT count(*) FROM fact_signup WHERE account_id = {p1}) "
    "+ (SELECT count(*) FROM fact_profile_change WHERE account_id = {p1})"
)


def anonymous_account(salt: str) -> str:
    return "anon-" + hashlib.md5(salt.encode(), usedforsecurity=False).hexdigest()
