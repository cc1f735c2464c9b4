"""The history service's use cases: views, history, continue watching, trending.

Ownership is the users service's: every owner operation first reads the
profile from it WITH THE CALLER'S OWN TOKEN (services/runtime/callers.py), so
a profile of another account is refused there (PERMISSION_DENIED, or
NOT_FOUND for a profile that does not exist) and the refusal comes back to
our caller as it was. The profile's answer also carries its maturity limit,
read again on every call, so a lowered limit applies at once.

Maturity (services/ratings.py): a view of a title above the profile's limit is
refused with PERMISSION_DENIED, reason ``TITLE_ABOVE_PROFILE_LIMIT`` (403
through the edge). PERMISSION_DENIED rather than FAILED_PRECONDITION: the
contract lists it for RecordView, and it is what it is, this profile may not
watch that title; the reason tells it apart from a foreign profile.
Continue watching leaves out titles above the profile's current limit, and
trending's ``max_maturity`` leaves out titles whose recorded rating is above
it, before its answer is cached (the cache key holds ``max_maturity``).

Titles come from the catalog (GetTitle, BatchGetTitles: its Redis cache
answers most of them); a title the catalog does not know is NOT_FOUND on
RecordView and dropped from continue watching.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Final, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services import ratings
from services.events.envelope import new_event
from services.history import popularity
from services.history.store import (
    Bookmark,
    HistoryCursor,
    HistoryStore,
    OutboxEvent,
    Popularity,
    ViewRecord,
)
from services.runtime import callers, page_tokens
from services.runtime.cache import Cache
from services.runtime.errors import InvalidArgument, NotFound, PermissionDenied
from services.runtime.sagas import StepKey
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.history.v1 import events_pb2, history_pb2
from streammesh.users.v1 import users_pb2, users_pb2_grpc

if TYPE_CHECKING:
    from services.history.config import Config

T = TypeVar("T")

# Cache namespace of ListTrending answers.
TRENDING_NAMESPACE: Final = "history.trending"
# ErrorInfo reason of a view of a title above the profile's maturity limit.
ABOVE_LIMIT: Final = "TITLE_ABOVE_PROFILE_LIMIT"
# BatchGetTitles takes at most this many ids (catalog.proto).
CATALOG_BATCH: Final = 100
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)
# Kinds of page token, each bound to its own query.
_HISTORY: Final = "history"
_CONTINUE: Final = "continue-watching"
_TRENDING: Final = "trending"


@dataclass(frozen=True)
class Limits:
    """The bounds the domain applies (services/history/config.py)."""

    default_page_size: int = 20
    max_page_size: int = 100
    top_titles: int = 50
    max_future_skew: timedelta = timedelta(hours=1)
    dependency_timeout_seconds: float = 2.0
    require_stream_slot: bool = True

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(
            default_page_size=config.default_page_size,
            max_page_size=config.max_page_size,
            top_titles=config.top_titles,
            max_future_skew=timedelta(seconds=config.max_future_skew_seconds),
            dependency_timeout_seconds=config.dependency_timeout_seconds,
            require_stream_slot=config.require_stream_slot,
        )


class HistoryDomain:
    def __init__(
        self,
        store: HistoryStore,
        users: users_pb2_grpc.UserServiceStub,
        catalog: catalog_pb2_grpc.CatalogServiceStub,
        redis: Redis,
        *,
        trending_cache: Cache | None,
        redis_prefix: str,
        limits: Limits | None = None,
    ) -> None:
        self._store = store
        self._users = users
        self._catalog = catalog
        self._redis = redis
        # None: every ListTrending is computed (a TTL of 0).
        self._trending_cache = trending_cache
        self._redis_prefix = redis_prefix
        self._limits = limits or Limits()

    # ------------------------------------------------------------ RecordView
    async def record_view(
        self,
        account_id: str,
        profile_id: str,
        view: history_pb2.View,
        caller: callers.Metadata,
    ) -> history_pb2.View:
        """Stores one view of the caller's profile (once per ``view_id``).

        ``account_id`` is the verified caller's: its country is the view's when
        the view names none.
        """
        title_id = _canonical_uuid(view.title_id, "view.title_id")
        view_id = _canonical_uuid(view.view_id, "view.view_id") if view.view_id else ""
        watch_time = self._watch_time(view)
        profile, title, account, slot = await asyncio.gather(
            self._profile(profile_id, caller),
            self._title(title_id),
            self._account(account_id, caller) if not view.country_code else _nothing(),
            self._stream_slot(profile_id, caller)
            if self._limits.require_stream_slot
            else _nothing(),
            return_exceptions=True,
        )
        # One answer whatever finished first: the profile's refusal, then the
        # account's, then the stream slot's, then the title's.
        profile = _value(profile)
        account = _value(account)
        _value(slot)
        title = _value(title)
        limit = _limit_of(profile)
        if not ratings.allows(limit, title.maturity_rating):
            raise PermissionDenied(
                f"title {title_id} is rated {title.maturity_rating or 'unrated'}, above the "
                f"maturity limit {limit} of profile {profile.profile_id}",
                reason=ABOVE_LIMIT,
                metadata={
                    "title_id": title_id,
                    "maturity_rating": title.maturity_rating,
                    "profile_limit": limit,
                },
            )
        country = view.country_code or (account.country_code if account is not None else "")
        if not country:
            raise InvalidArgument.for_field(
                "view.country_code", "is required: the account has no country", reason="REQUIRED"
            )
        record = ViewRecord(
            view_id=view_id or str(uuid.uuid4()),
            profile_id=profile.profile_id,
            account_id=profile.account_id,
            title_id=title_id,
            watch_time=watch_time,
            position_seconds=view.position_seconds,
            duration_seconds=view.duration_seconds,
            device_type=view.device_type,
            country_code=country,
            maturity_rating=title.maturity_rating,
        )
        stored, _ = await self._store.record_view(record, _view_recorded(record))
        return view_message(stored)

    def _watch_time(self, view: history_pb2.View) -> datetime:
        now = _ms_precision(datetime.now(UTC))
        if not view.HasField("watch_time"):
            return now
        try:
            watch_time = _ms_precision(view.watch_time.ToDatetime(tzinfo=UTC))
        except (ValueError, OverflowError) as err:
            raise InvalidArgument.for_field(
                "view.watch_time", "is not a valid time", reason="INVALID_TIME"
            ) from err
        if watch_time - now > self._limits.max_future_skew:
            raise InvalidArgument.for_field(
                "view.watch_time",
                f"is more than {self._limits.max_future_skew.total_seconds():.0f} s "
                "ahead of the server's clock",
                reason="WATCH_TIME_IN_FUTURE",
            )
        return watch_time

    # ----------------------------------------------------------- ListHistory
    async def list_history(
        self, profile_id: str, page_size: int, page_token: str, caller: callers.Metadata
    ) -> history_pb2.ListHistoryResponse:
        """The profile's views, newest first."""
        profile = await self._profile(profile_id, caller)
        query = page_tokens.fingerprint(_HISTORY, profile.profile_id)
        position = page_tokens.decode(page_token, query)
        after = None if position is None else _history_cursor(position)
        page = await self._store.list_views(profile.profile_id, self._page_size(page_size), after)
        token = ""
        if page.next_cursor is not None:
            cursor = page.next_cursor
            token = page_tokens.encode(query, f"{cursor.watch_time_ms}:{cursor.view_id}".encode())
        return history_pb2.ListHistoryResponse(
            views=[view_message(view) for view in page.views], next_page_token=token
        )

    # -------------------------------------------------- ListContinueWatching
    async def list_continue_watching(
        self, profile_id: str, page_size: int, page_token: str, caller: callers.Metadata
    ) -> history_pb2.ListContinueWatchingResponse:
        """Titles the profile started and did not finish, most recent first, one entry
        per title, within the profile's CURRENT maturity limit."""
        profile = await self._profile(profile_id, caller)
        limit = _limit_of(profile)
        query = page_tokens.fingerprint(_CONTINUE, profile.profile_id)
        position = page_tokens.decode(page_token, query)
        after = None if position is None else _bookmark_position(position)
        size = self._page_size(page_size)
        candidates = sorted(
            (b for b in await self._store.list_bookmarks(profile.profile_id) if not b.completed),
            key=_bookmark_key,
            reverse=True,
        )
        if after is not None:
            candidates = [b for b in candidates if _bookmark_key(b) < after]
        items: list[Bookmark] = []
        more = False
        for start in range(0, len(candidates), CATALOG_BATCH):
            chunk = candidates[start : start + CATALOG_BATCH]
            titles = await self._titles([b.title_id for b in chunk])
            for bookmark in chunk:
                title = titles.get(bookmark.title_id)
                if title is None or not ratings.allows(limit, title.maturity_rating):
                    continue
                if len(items) == size:
                    more = True
                    break
                items.append(bookmark)
            if more:
                break
        token = ""
        if more:
            last_ms, last_title = _bookmark_key(items[-1])
            token = page_tokens.encode(query, f"{last_ms}:{last_title}".encode())
        return history_pb2.ListContinueWatchingResponse(
            items=[_continue_item(b) for b in items], next_page_token=token
        )

    # ---------------------------------------------------------- ListTrending
    async def list_trending(
        self,
        country: str,
        date_text: str,
        window: int,
        max_maturity: str,
        page_size: int,
        page_token: str,
    ) -> history_pb2.ListTrendingResponse:
        """The most watched titles of ``country`` on a day or in the 7 days ending with it."""
        day = _trending_day(date_text)
        week = window == history_pb2.TRENDING_WINDOW_WEEK
        if max_maturity and not ratings.is_known(max_maturity):
            raise InvalidArgument.for_field(
                "max_maturity", "is not a known rating", reason="UNKNOWN_RATING"
            )
        size = self._page_size(page_size)
        window_name = "week" if week else "day"
        query = page_tokens.fingerprint(
            _TRENDING, country, day.isoformat(), window_name, max_maturity
        )
        position = page_tokens.decode(page_token, query)
        after = None if position is None else _trending_position(position)

        async def load() -> bytes:
            response = await self._trending(country, day, week, max_maturity, size, after, query)
            return response.SerializeToString()

        if self._trending_cache is None:
            return history_pb2.ListTrendingResponse.FromString(await load())
        # Every field of the request, as resolved: an empty date is today's, so
        # the answer moves on at midnight; max_maturity is part of the key, so
        # a kids request is never served a list computed for an adult.
        key = "|".join((country, day.isoformat(), window_name, max_maturity, str(size), page_token))
        payload = await self._trending_cache.get_or_load(key, load)
        return history_pb2.ListTrendingResponse.FromString(payload or b"")

    async def _trending(
        self,
        country: str,
        day: date,
        week: bool,
        max_maturity: str,
        size: int,
        after: tuple[int, int, str] | None,
        query: bytes,
    ) -> history_pb2.ListTrendingResponse:
        if week:
            days = [day - timedelta(days=back) for back in range(popularity.WEEK_DAYS)]
            per_day = await asyncio.gather(*(self._store.popularity(country, d) for d in days))
            figures = popularity.ranked(_summed(country, day, per_day))
        else:
            figures = popularity.ranked(
                await self._store.top(country, day, self._limits.top_titles)
            )
        if max_maturity:
            figures = [f for f in figures if ratings.allows(max_maturity, f.maturity_rating)]
        start = 0
        if after is not None:
            start = next(
                (i for i, f in enumerate(figures) if popularity.rank_key(f) > after), len(figures)
            )
        page = figures[start : start + size]
        uniques = [f.unique_viewers for f in page]
        if week and page:
            uniques = await self._week_uniques(country, day, page)
        token = ""
        if start + size < len(figures) and page:
            last = page[-1]
            token = page_tokens.encode(
                query, f"{last.view_count}:{last.watch_seconds}:{last.title_id}".encode()
            )
        return history_pb2.ListTrendingResponse(
            titles=[
                history_pb2.TrendingTitle(
                    title_id=f.title_id,
                    view_count=f.view_count,
                    watch_seconds=f.watch_seconds,
                    unique_viewers=unique,
                    rank=start + index + 1,
                )
                for index, (f, unique) in enumerate(zip(page, uniques, strict=True))
            ],
            next_page_token=token,
        )

    async def _week_uniques(self, country: str, day: date, page: Sequence[Popularity]) -> list[int]:
        """Distinct viewers of each title over the week: the union of its 7 daily
        HyperLogLogs, never below the largest exact daily figure (a sketch lost
        with Redis would otherwise count nobody)."""
        days = [day - timedelta(days=back) for back in range(popularity.WEEK_DAYS)]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for figures in page:
                    pipe.pfcount(
                        *(
                            popularity.unique_viewers_key(
                                self._redis_prefix, country, d, figures.title_id
                            )
                            for d in days
                        )
                    )
                counts = await pipe.execute()
        except RedisError:
            counts = [0] * len(page)
        return [max(int(count), f.unique_viewers) for count, f in zip(counts, page, strict=True)]

    # ------------------------------------------------------------ helpers
    def _page_size(self, requested: int) -> int:
        if requested <= 0:
            return self._limits.default_page_size
        return min(requested, self._limits.max_page_size)

    async def _profile(self, profile_id: str, caller: callers.Metadata) -> users_pb2.Profile:
        """The profile, if the caller's account owns it (the users service decides)."""
        return await callers.call(
            self._users.GetProfile(
                users_pb2.GetProfileRequest(profile_id=profile_id),
                metadata=caller,
                timeout=self._limits.dependency_timeout_seconds,
            ),
            service="users",
        )

    async def _stream_slot(
        self, profile_id: str, caller: callers.Metadata
    ) -> users_pb2.CheckPlaybackResponse:
        """The live stream slot the caller's device session holds for the profile;
        FAILED_PRECONDITION NO_LIVE_STREAM from the users service when there is none."""
        return await callers.call(
            self._users.CheckPlayback(
                users_pb2.CheckPlaybackRequest(profile_id=profile_id),
                metadata=caller,
                timeout=self._limits.dependency_timeout_seconds,
            ),
            service="users",
        )

    async def _account(self, account_id: str, caller: callers.Metadata) -> users_pb2.Account:
        return await callers.call(
            self._users.GetAccount(
                users_pb2.GetAccountRequest(account_id=account_id),
                metadata=caller,
                timeout=self._limits.dependency_timeout_seconds,
            ),
            service="users",
        )

    async def _title(self, title_id: str) -> catalog_pb2.Title:
        try:
            return await callers.call(
                self._catalog.GetTitle(
                    catalog_pb2.GetTitleRequest(title_id=title_id),
                    timeout=self._limits.dependency_timeout_seconds,
                ),
                service="catalog",
            )
        except NotFound as err:
            raise NotFound(
                f"title {title_id} is not in the catalog",
                reason="TITLE_NOT_FOUND",
                metadata={"title_id": title_id},
            ) from err

    async def _titles(self, title_ids: Sequence[str]) -> dict[str, catalog_pb2.Title]:
        """The titles the catalog has, by id (BatchGetTitles, an internal RPC)."""
        if not title_ids:
            return {}
        response = await callers.call(
            self._catalog.BatchGetTitles(
                catalog_pb2.BatchGetTitlesRequest(title_ids=list(title_ids)),
                timeout=self._limits.dependency_timeout_seconds,
            ),
            service="catalog",
        )
        return {title.title_id: title for title in response.titles}

    # ---------------------------------------------------------------- mapping

    async def purge_account(
        self, key: StepKey, profile_ids: list[str]
    ) -> history_pb2.PurgeAccountDataResponse:
        """The account-deletion saga's step: every view of the profiles goes."""
        deleted, replayed = await self._store.purge_profiles(key, profile_ids)
        return history_pb2.PurgeAccountDataResponse(deleted_count=deleted, replayed=replayed)


def view_message(record: ViewRecord) -> history_pb2.View:
    view = history_pb2.View(
        view_id=record.view_id,
        profile_id=record.profile_id,
        title_id=record.title_id,
        position_seconds=record.position_seconds,
        duration_seconds=record.duration_seconds,
        device_type=record.device_type,
        country_code=record.country_code,
        completed=record.completed,
    )
    view.watch_time.FromMilliseconds(_epoch_ms(record.watch_time))
    return view


def _continue_item(bookmark: Bookmark) -> history_pb2.ContinueWatchingItem:
    item = history_pb2.ContinueWatchingItem(
        title_id=bookmark.title_id,
        position_seconds=bookmark.position_seconds,
        duration_seconds=bookmark.duration_seconds,
    )
    item.last_watch_time.FromMilliseconds(_epoch_ms(bookmark.last_watch_time))
    return item


def _view_recorded(record: ViewRecord) -> OutboxEvent:
    """The ``history.view.recorded`` event of ``record``: one title's events are one
    aggregate, so the rollup consumes them in order."""
    now = datetime.now(UTC)
    data = events_pb2.ViewRecordedEvent(
        view=view_message(record),
        account_id=record.account_id,
        maturity_rating=record.maturity_rating,
    )
    event = new_event(
        event_type=popularity.VIEW_RECORDED,
        data=data,
        source=popularity.SOURCE,
        aggregate_type=popularity.AGGREGATE_TYPE,
        aggregate_id=record.title_id,
        occurred_at=now,
    )
    return OutboxEvent(
        event_id=event.event_id,
        aggregate_type=popularity.AGGREGATE_TYPE,
        aggregate_id=record.title_id,
        event_type=popularity.VIEW_RECORDED,
        payload=event.SerializeToString(),
        created_at=_ms_precision(now),
    )


def _summed(country: str, day: date, per_day: Sequence[Sequence[Popularity]]) -> list[Popularity]:
    """Each title's figures summed over the days; unique viewers: the largest daily figure
    (replaced by the sketches' union for the titles shown); rating: the strictest."""
    totals: dict[str, Popularity] = {}
    for rows in per_day:
        for row in rows:
            seen = totals.get(row.title_id)
            if seen is None:
                totals[row.title_id] = Popularity(
                    title_id=row.title_id,
                    country_code=country,
                    day=day,
                    view_count=row.view_count,
                    watch_seconds=row.watch_seconds,
                    unique_viewers=row.unique_viewers,
                    maturity_rating=row.maturity_rating,
                )
                continue
            totals[row.title_id] = Popularity(
                title_id=row.title_id,
                country_code=country,
                day=day,
                view_count=seen.view_count + row.view_count,
                watch_seconds=seen.watch_seconds + row.watch_seconds,
                unique_viewers=max(seen.unique_viewers, row.unique_viewers),
                maturity_rating=popularity.strictest((seen.maturity_rating, row.maturity_rating)),
            )
    return list(totals.values())


# ---------------------------------------------------------------- parsing


def _canonical_uuid(value: str, field: str) -> str:
    """The lower-case hyphenated spelling, so stores and caches agree on one id."""
    try:
        return str(uuid.UUID(value))
    except ValueError as err:
        raise InvalidArgument.for_field(field, "is not a UUID", reason="INVALID_ID") from err


def _limit_of(profile: users_pb2.Profile) -> str:
    """The profile's maturity limit; the default of its kind when it has none."""
    if ratings.is_known(profile.maturity_rating):
        return str(profile.maturity_rating)
    return ratings.KIDS_LIMIT if profile.kids_profile else ratings.DEFAULT_LIMIT


def _trending_day(text: str) -> date:
    today = datetime.now(UTC).date()
    if not text:
        return today
    try:
        if len(text) != 10:
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError as err:
        raise InvalidArgument.for_field(
            "date", "is not a calendar date (YYYY-MM-DD)", reason="INVALID_DATE"
        ) from err
    if day > today + timedelta(days=1):
        raise InvalidArgument.for_field(
            "date", "is more than a day in the future", reason="DATE_IN_FUTURE"
        )
    return day


def _bad_token() -> InvalidArgument:
    return InvalidArgument.for_field(
        "page_token", "is not a token this service issued", reason="INVALID_PAGE_TOKEN"
    )


def _history_cursor(position: bytes) -> HistoryCursor:
    try:
        ms, view_id = position.decode("ascii").split(":", 1)
        return HistoryCursor(watch_time_ms=int(ms), view_id=view_id)
    except ValueError as err:
        raise _bad_token() from err


def _bookmark_key(bookmark: Bookmark) -> tuple[int, str]:
    """Continue-watching order (descending): last watched, then title id."""
    return (_epoch_ms(bookmark.last_watch_time), bookmark.title_id)


def _bookmark_position(position: bytes) -> tuple[int, str]:
    try:
        ms, title_id = position.decode("ascii").split(":", 1)
        return int(ms), title_id
    except ValueError as err:
        raise _bad_token() from err


def _trending_position(position: bytes) -> tuple[int, int, str]:
    """The rank key (popularity.rank_key) of the last title of the previous page."""
    try:
        views, seconds, title_id = position.decode("ascii").split(":", 2)
        return (-int(views), -int(seconds), title_id)
    except ValueError as err:
        raise _bad_token() from err


# ---------------------------------------------------------------- time


def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MILLISECOND


def _ms_precision(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# ---------------------------------------------------------------- gather


async def _nothing() -> None:
    return None


def _value(result: T | BaseException) -> T:
    if isinstance(result, BaseException):
        raise result
    return result
