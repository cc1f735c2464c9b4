"""What both history store adapters check and compute the same way.

Bad input is refused with ValueError before anything is read or written:
the service validates requests first, so reaching a store with it is a bug
(INTERNAL), never something to store half of.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Final

from services.history.store import HistoryCursor, OutboxEvent, Popularity, ViewRecord

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = datetime(1970, 1, 1)
_MS: Final = timedelta(milliseconds=1)
# The watch times a datetime (and so a view) can have.
MIN_MS: Final = (datetime.min.replace(tzinfo=UTC) - EPOCH) // _MS
MAX_MS: Final = (datetime.max.replace(tzinfo=UTC) - EPOCH) // _MS
# Cassandra `int` columns (positions, durations, the play log's watch seconds).
MAX_INT32: Final = 2**31 - 1
# save_top writes its list in one batch; Cassandra refuses batches past 50 KiB.
MAX_RANKED: Final = 200


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (truncated) of a timezone-aware ``moment``."""
    return (moment - EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    """The UTC datetime ``ms`` milliseconds after the epoch."""
    return EPOCH + timedelta(milliseconds=ms)


def from_driver(moment: datetime) -> datetime:
    """A naive UTC datetime from a database driver, as the port's aware UTC one
    (rounded to the millisecond the database kept)."""
    micros = (moment.replace(tzinfo=None) - _NAIVE_EPOCH) // timedelta(microseconds=1)
    return from_ms((micros + 500) // 1000)


def month_of(ms: int) -> str:
    """The month bucket ('YYYY-MM', UTC) of a watch time."""
    moment = from_ms(ms)
    return f"{moment.year:04d}-{moment.month:02d}"


def month_start_ms(month: str) -> int:
    """The first millisecond of a month bucket."""
    year, number = month.split("-")
    return to_ms(datetime(int(year), int(number), 1, tzinfo=UTC))


def clamped(after: HistoryCursor | None) -> HistoryCursor | None:
    """``after`` with the same meaning and a watch time a datetime can hold.

    Cursors come back from clients (page tokens are opaque, not signed), so
    any integer may arrive: one past the last representable time lists from
    the start; one before the first lists nothing.
    """
    if after is None or MIN_MS <= after.watch_time_ms <= MAX_MS:
        return after
    if after.watch_time_ms > MAX_MS:
        return None
    return HistoryCursor(MIN_MS, "")


def start_of_month_cursor(month: str) -> HistoryCursor:
    """The cursor after which come exactly the views older than ``month``."""
    return HistoryCursor(month_start_ms(month), "")


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got a naive datetime")


def _present(value: str, name: str) -> None:
    if not value:
        raise ValueError(f"{name} is empty")


def _seconds(value: int, name: str, maximum: int = MAX_INT32) -> None:
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} must be within 0..{maximum}, got {value}")


def checked_view(view: ViewRecord, event: OutboxEvent) -> ViewRecord:
    """``view`` as a store keeps it (watch time in UTC, whole milliseconds), once
    it and its event are known to be storable; ValueError otherwise."""
    _present(view.view_id, "view.view_id")
    _present(view.profile_id, "view.profile_id")
    _present(view.title_id, "view.title_id")
    _aware(view.watch_time, "view.watch_time")
    _seconds(view.position_seconds, "view.position_seconds")
    _seconds(view.duration_seconds, "view.duration_seconds")
    try:
        canonical = str(uuid.UUID(event.event_id))
    except ValueError:
        canonical = ""
    if canonical != event.event_id:
        raise ValueError(f"event.event_id {event.event_id!r} is not a lowercase UUID")
    _present(event.aggregate_type, "event.aggregate_type")
    _present(event.event_type, "event.event_type")
    _aware(event.created_at, "event.created_at")
    return dataclasses.replace(view, watch_time=from_ms(to_ms(view.watch_time)))


def check_limit(limit: int, name: str = "limit", minimum: int = 1) -> None:
    if limit < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {limit}")


def _check_figures(row: Popularity) -> None:
    _present(row.title_id, "title_id")
    for name in ("view_count", "watch_seconds", "unique_viewers"):
        value = getattr(row, name)
        if value < 0:
            raise ValueError(f"{name} of {row.title_id} is negative ({value})")


def check_popularity(rows: Sequence[Popularity]) -> None:
    """Each (country, day, title) at most once, with figures that can be stored."""
    seen: set[tuple[str, date, str]] = set()
    for row in rows:
        _check_figures(row)
        key = (row.country_code, row.day, row.title_id)
        if key in seen:
            raise ValueError(f"popularity of {key} given twice")
        seen.add(key)


def check_ranked(country_code: str, day: date, ranked: Sequence[Popularity]) -> None:
    """Rows of this (country, day) only, each title once, at most MAX_RANKED."""
    if len(ranked) > MAX_RANKED:
        raise ValueError(f"at most {MAX_RANKED} ranked titles, got {len(ranked)}")
    titles: set[str] = set()
    for row in ranked:
        _check_figures(row)
        if (row.country_code, row.day) != (country_code, day):
            raise ValueError(
                f"{row.title_id} is ranked for {row.country_code} {row.day}, "
                f"not {country_code} {day}"
            )
        if row.title_id in titles:
            raise ValueError(f"{row.title_id} is ranked twice")
        titles.add(row.title_id)
