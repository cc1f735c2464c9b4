"""The analytics reports: ranges, paging and the mapping of figures to messages.

Ranges are inclusive UTC days ``YYYY-MM-DD``; an empty bound defaults to the
``default_range_days`` ending today (an empty end: today; an empty start:
``default_range_days - 1`` days before the end). A date that is not a day of
the calendar, a start after the end or a range longer than
``max_range_days`` is INVALID_ARGUMENT naming the field. Page tokens are
bound to their query (services/runtime/page_tokens.py).

The service is internal and reads no profile: no title is shown to a
viewer from here, so the kids-profile maturity rule has no path through it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Final

from services.analytics.store import DayFigures, TitleFigures, TopCursor, WarehouseStore
from services.runtime import page_tokens
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.sagas import StepKey
from streammesh.analytics.v1 import analytics_pb2

if TYPE_CHECKING:
    from collections.abc import Callable

    from services.analytics.config import Config

_TOP: Final = "top-titles"
_DAILY: Final = "daily-engagement"


@dataclass(frozen=True)
class Limits:
    default_range_days: int = 30
    max_range_days: int = 1_000
    default_page_size: int = 20
    max_page_size: int = 100

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(
            default_range_days=config.default_range_days,
            max_range_days=config.max_range_days,
            default_page_size=config.default_page_size,
            max_page_size=config.max_page_size,
        )


class AnalyticsDomain:
    def __init__(
        self,
        store: WarehouseStore,
        limits: Limits | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self._store = store
        self._limits = limits or Limits()
        self._today = today or (lambda: datetime.now(UTC).date())

    async def title_stats(
        self, title_id: str, start_text: str, end_text: str
    ) -> analytics_pb2.TitleStats:
        start, end = self._range(start_text, end_text)
        figures = await self._store.title_stats(title_id.lower(), start, end)
        if figures is None:
            raise NotFound(
                f"title {title_id} has no view from {start} to {end}",
                reason="NO_VIEWS_IN_RANGE",
                metadata={"title_id": title_id, "start_date": str(start), "end_date": str(end)},
            )
        return title_stats_message(figures)

    async def top_titles(
        self,
        country: str,
        genre: str,
        start_text: str,
        end_text: str,
        page_size: int,
        page_token: str,
    ) -> analytics_pb2.ListTopTitlesResponse:
        start, end = self._range(start_text, end_text)
        query = page_tokens.fingerprint(_TOP, country, genre, str(start), str(end))
        position = page_tokens.decode(page_token, query)
        after = None if position is None else _top_cursor(position)
        size = self._page_size(page_size)
        rows = await self._store.top_titles(
            start, end, country=country, genre=genre, limit=size + 1, after=after
        )
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            last = rows[-1]
            token = page_tokens.encode(query, f"{last.watch_seconds}:{last.title_id}".encode())
        return analytics_pb2.ListTopTitlesResponse(
            titles=[title_stats_message(r) for r in rows], next_page_token=token
        )

    async def daily_engagement(
        self, start_text: str, end_text: str, page_size: int, page_token: str
    ) -> analytics_pb2.ListDailyEngagementResponse:
        start, end = self._range(start_text, end_text)
        query = page_tokens.fingerprint(_DAILY, str(start), str(end))
        position = page_tokens.decode(page_token, query)
        after = None if position is None else _day_cursor(position)
        size = self._page_size(page_size)
        days = await self._store.daily_engagement(start, end, limit=size + 1, after=after)
        token = ""
        if len(days) > size:
            days = days[:size]
            token = page_tokens.encode(query, days[-1].day.isoformat().encode())
        return analytics_pb2.ListDailyEngagementResponse(
            days=[day_message(d) for d in days], next_page_token=token
        )

    def _range(self, start_text: str, end_text: str) -> tuple[date, date]:
        end = _day(end_text, "end_date") if end_text else self._today()
        start = (
            _day(start_text, "start_date")
            if start_text
            else end - timedelta(days=self._limits.default_range_days - 1)
        )
        if start > end:
            raise InvalidArgument.for_field(
                "start_date", f"{start} is after end_date {end}", reason="RANGE_REVERSED"
            )
        if (end - start).days + 1 > self._limits.max_range_days:
            raise InvalidArgument.for_field(
                "start_date",
                f"the range {start}..{end} is longer than {self._limits.max_range_days} days",
                reason="RANGE_TOO_LONG",
            )
        return start, end

    def _page_size(self, requested: int) -> int:
        if requested <= 0:
            return self._limits.default_page_size
        return min(requested, self._limits.max_page_size)

    async def anonymise_account(
        self, key: StepKey, account_id: str, profile_ids: list[str]
    ) -> analytics_pb2.AnonymiseAccountDataResponse:
        """The account-deletion saga's step: counts stay, identity goes."""
        changed, replayed = await self._store.anonymise_account(
            key, account_id, profile_ids, secrets.token_hex(16)
        )
        return analytics_pb2.AnonymiseAccountDataResponse(
            anonymised_count=changed, replayed=replayed
        )


def title_stats_message(figures: TitleFigures) -> analytics_pb2.TitleStats:
    return analytics_pb2.TitleStats(
        title_id=figures.title_id,
        view_count=figures.view_count,
        watch_seconds=figures.watch_seconds,
        unique_profiles=figures.unique_profiles,
        completion_rate=figures.completion_rate,
    )


def day_message(figures: DayFigures) -> analytics_pb2.DailyEngagement:
    return analytics_pb2.DailyEngagement(
        date=figures.day.isoformat(),
        view_count=figures.view_count,
        watch_seconds=figures.watch_seconds,
        active_profiles=figures.active_profiles,
        devices=[
            analytics_pb2.DeviceEngagement(
                device_type=d.device_type,
                view_count=d.view_count,
                watch_seconds=d.watch_seconds,
                active_profiles=d.active_profiles,
            )
            for d in figures.devices
        ],
    )


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise InvalidArgument.for_field(
            field, f"{text!r} is not a calendar day (YYYY-MM-DD)", reason="INVALID_DATE"
        ) from err


def _top_cursor(position: bytes) -> TopCursor:
    seconds, _, title_id = position.decode("utf-8", "replace").partition(":")
    if not seconds.isdigit() or not title_id:
        raise InvalidArgument.for_field(
            "page_token", "is not a token this service issued", reason="INVALID_PAGE_TOKEN"
        )
    return TopCursor(int(seconds), title_id)


def _day_cursor(position: bytes) -> date:
    try:
        return date.fromisoformat(position.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidArgument.for_field(
            "page_token", "is not a token this service issued", reason="INVALID_PAGE_TOKEN"
        ) from err
