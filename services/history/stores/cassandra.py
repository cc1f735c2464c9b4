"""The history on Cassandra 5, through the DataStax driver.

The session (the asyncio bridge, the in-flight bound, driver outages as
UNAVAILABLE) is the runtime's (services/runtime/cassandra.py); every
statement is prepared once, when the store opens. The tables, their
partition bounds, TTLs and compaction are in migrations/0001_history_tables.cql.

RecordView reads ``view_ids`` for ``(profile_id, view_id)``; when the view is
there it returns the recorded view and writes nothing. Otherwise ONE logged
batch writes the view (``views_by_profile``), its id (``view_ids``), its
month (``view_months``), the bookmark, the play-log row and the outbox row.
A logged batch is atomic in the sense Cassandra offers: the coordinator
stores the whole batch in the batchlog first and replays it until every
statement is applied, so a view never exists without its bookmark, play-log
row or event. There is no isolation: a reader may briefly see some of the
rows before the others.

The bookmark statement carries ``USING TIMESTAMP <watch_time in µs>`` (each
statement of a batch may carry its own): Cassandra keeps the cell with the
highest write timestamp, so the bookmark is the latest *watch time's*
position whatever order views arrive in, with no read. (Two views of one
title at the same millisecond tie; Cassandra then keeps the cells that
expire later, i.e. the later arrival when they came at least a second apart,
else the larger values.)

ListHistory walks a profile's months newest first (``view_months`` says which
months hold views), reading each month's partition from the cursor on, and
stops after ``months_per_call`` months: a page may then be shorter than asked
for, with a cursor at the start of the last month read, so one call never
reads an unbounded history.

Whole-table reads (a profile's bookmarks, a title's play log of a day, a
(country, day)'s popularity) go in chunks of ``CHUNK`` rows keyed on the
clustering columns, so no read asks the driver for an unbounded page.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from cassandra import ConsistencyLevel
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from services.events.cassandra_outbox import CassandraOutboxSource
from services.history.store import (
    Bookmark,
    HistoryCursor,
    HistoryPage,
    OutboxEvent,
    PlayRecord,
    Popularity,
    ViewRecord,
)
from services.history.stores._rules import (
    check_limit,
    check_popularity,
    check_ranked,
    checked_view,
    clamped,
    from_driver,
    month_of,
    month_start_ms,
    start_of_month_cursor,
    to_ms,
)
from services.runtime.cassandra import CassandraSession
from services.runtime.locks import KeyedLocks
from services.runtime.sagas import CassandraLedger, StepKey

# Months (partitions of views_by_profile) one ListHistory call reads at most:
# a profile keeps about 25 (two years), so a call normally reaches the end.
MONTHS_PER_CALL: Final = 25
# Rows per read of a whole partition.
CHUNK: Final = 1_000
# Popularity rows per (single-partition, unlogged) batch.
POPULARITY_BATCH: Final = 100
# Sorts after every month bucket.
_LAST_MONTH: Final = "9999-99"

_VIEW_COLUMNS: Final = (
    "view_id, profile_id, account_id, title_id, watch_time, position_seconds, "
    "duration_seconds, device_type, country_code, maturity_rating"
)
_FIGURES: Final = "title_id, view_count, watch_seconds, unique_viewers, maturity_rating"


@dataclass(frozen=True)
class _Statements:
    find_view_id: PreparedStatement
    get_view: PreparedStatement
    months: PreparedStatement
    views_from: PreparedStatement
    views_after: PreparedStatement
    bookmarks_first: PreparedStatement
    bookmarks_next: PreparedStatement
    play_first: PreparedStatement
    play_next: PreparedStatement
    popularity_first: PreparedStatement
    popularity_next: PreparedStatement
    top: PreparedStatement
    insert_view: PreparedStatement
    insert_view_id: PreparedStatement
    insert_month: PreparedStatement
    insert_bookmark: PreparedStatement
    insert_play: PreparedStatement
    insert_outbox: PreparedStatement
    insert_popularity: PreparedStatement
    delete_top: PreparedStatement
    insert_top: PreparedStatement


async def _prepare_all(session: CassandraSession) -> _Statements:
    prepare = session.prepare
    return _Statements(
        find_view_id=await prepare(
            "SELECT month, watch_time FROM {ks}.view_ids WHERE profile_id = ? AND view_id = ?"
        ),
        get_view=await prepare(
            f"SELECT {_VIEW_COLUMNS} FROM {{ks}}.views_by_profile "
            "WHERE profile_id = ? AND month = ? AND watch_time = ? AND view_id = ?"
        ),
        months=await prepare(
            "SELECT month FROM {ks}.view_months WHERE profile_id = ? AND month <= ? LIMIT ?"
        ),
        views_from=await prepare(
            f"SELECT {_VIEW_COLUMNS} FROM {{ks}}.views_by_profile "
            "WHERE profile_id = ? AND month = ? LIMIT ?"
        ),
        views_after=await prepare(
            f"SELECT {_VIEW_COLUMNS} FROM {{ks}}.views_by_profile "
            "WHERE profile_id = ? AND month = ? AND (watch_time, view_id) < (?, ?) LIMIT ?"
        ),
        bookmarks_first=await prepare(
            "SELECT title_id, position_seconds, duration_seconds, last_watch_time "
            "FROM {ks}.bookmarks WHERE profile_id = ? LIMIT ?"
        ),
        bookmarks_next=await prepare(
            "SELECT title_id, position_seconds, duration_seconds, last_watch_time "
            "FROM {ks}.bookmarks WHERE profile_id = ? AND title_id > ? LIMIT ?"
        ),
        play_first=await prepare(
            "SELECT view_id, profile_id, country_code, watch_seconds, maturity_rating "
            "FROM {ks}.play_log WHERE title_id = ? AND day = ? LIMIT ?"
        ),
        play_next=await prepare(
            "SELECT view_id, profile_id, country_code, watch_seconds, maturity_rating "
            "FROM {ks}.play_log WHERE title_id = ? AND day = ? "
            "AND (profile_id, view_id) > (?, ?) LIMIT ?"
        ),
        popularity_first=await prepare(
            f"SELECT {_FIGURES} FROM {{ks}}.daily_popularity "
            "WHERE country_code = ? AND day = ? LIMIT ?"
        ),
        popularity_next=await prepare(
            f"SELECT {_FIGURES} FROM {{ks}}.daily_popularity "
            "WHERE country_code = ? AND day = ? AND title_id > ? LIMIT ?"
        ),
        top=await prepare(
            f"SELECT {_FIGURES} FROM {{ks}}.top_titles WHERE country_code = ? AND day = ? LIMIT ?"
        ),
        insert_view=await prepare(
            "INSERT INTO {ks}.views_by_profile (profile_id, month, watch_time, view_id, "
            "account_id, title_id, position_seconds, duration_seconds, device_type, "
            "country_code, maturity_rating) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "USING TIMESTAMP ?"
        ),
        insert_view_id=await prepare(
            "INSERT INTO {ks}.view_ids (profile_id, view_id, watch_time, month) "
            "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
        ),
        insert_month=await prepare(
            "INSERT INTO {ks}.view_months (profile_id, month) VALUES (?, ?) USING TIMESTAMP ?"
        ),
        insert_bookmark=await prepare(
            "INSERT INTO {ks}.bookmarks (profile_id, title_id, position_seconds, "
            "duration_seconds, last_watch_time) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"
        ),
        insert_play=await prepare(
            "INSERT INTO {ks}.play_log (title_id, day, profile_id, view_id, country_code, "
            "watch_seconds, maturity_rating) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
        ),
        insert_outbox=await prepare(
            "INSERT INTO {ks}.outbox (shard, created_at, event_id, aggregate_type, "
            "aggregate_id, event_type, payload) VALUES (0, ?, ?, ?, ?, ?, ?) "
            "USING TIMESTAMP ?"
        ),
        insert_popularity=await prepare(
            "INSERT INTO {ks}.daily_popularity (country_code, day, title_id, view_count, "
            "watch_seconds, unique_viewers, maturity_rating) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "USING TIMESTAMP ?"
        ),
        delete_top=await prepare(
            "DELETE FROM {ks}.top_titles USING TIMESTAMP ? WHERE country_code = ? AND day = ?"
        ),
        insert_top=await prepare(
            "INSERT INTO {ks}.top_titles (country_code, day, rank, title_id, view_count, "
            "watch_seconds, unique_viewers, maturity_rating) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "USING TIMESTAMP ?"
        ),
    )


class CassandraHistoryStore:
    def __init__(
        self,
        session: CassandraSession,
        statements: _Statements,
        *,
        months_per_call: int = MONTHS_PER_CALL,
    ) -> None:
        check_limit(months_per_call, "months_per_call")
        self._session = session
        self._q = statements
        self._consistency = ConsistencyLevel.name_to_value[session.settings.consistency]
        self._months_per_call = months_per_call
        # Serialises this process's RecordViews of one (profile_id, view_id).
        self._view_locks: KeyedLocks[tuple[str, str]] = KeyedLocks()
        self._last_write_us = 0
        self._ledger: CassandraLedger | None = None
        self._purge: dict[str, PreparedStatement] | None = None

    @classmethod
    async def on_session(
        cls, session: CassandraSession, *, months_per_call: int = MONTHS_PER_CALL
    ) -> CassandraHistoryStore:
        """The store on ``session``'s keyspace (migrated); closing the store closes the session.

        ``months_per_call`` bounds the month partitions one ListHistory call reads.
        """
        return cls(session, await _prepare_all(session), months_per_call=months_per_call)

    @property
    def session(self) -> CassandraSession:
        return self._session

    def outbox_source(self) -> CassandraOutboxSource:
        """The relay's view of this store's outbox (services/events/relay.py)."""
        return CassandraOutboxSource(self._session, name="history")

    async def close(self) -> None:
        await self._session.close()

    async def purge_profiles(self, key: StepKey, profile_ids: Sequence[str]) -> tuple[int, bool]:
        """Checks the ledger, deletes (idempotent), records the key."""
        ledger = await self._saga_ledger()
        if await ledger.already_applied(key):
            return 0, True
        q = await self._purge_statements()
        deleted = 0
        for profile_id in profile_ids:
            for month_row in await self._run(q["months"], (profile_id,)):
                month = month_row.month
                for view in await self._run(q["views"], (profile_id, month)):
                    deleted += 1
                    # The play log is keyed by title and UTC day: remove this
                    # profile's rows there before the views that name them.
                    await self._run(
                        q["play_log"], (view.title_id, _utc_day(view.watch_time), profile_id)
                    )
                await self._run(q["month"], (profile_id, month))
            for name in ("view_months", "view_ids", "bookmarks"):
                await self._run(q[name], (profile_id,))
        await ledger.record(key, int(time.time() * 1000))
        return deleted, False

    async def _purge_statements(self) -> dict[str, PreparedStatement]:
        if self._purge is None:
            prepare = self._session.prepare
            self._purge = {
                "months": await prepare("SELECT month FROM {ks}.view_months WHERE profile_id = ?"),
                "views": await prepare(
                    "SELECT title_id, watch_time FROM {ks}.views_by_profile "
                    "WHERE profile_id = ? AND month = ?"
                ),
                "play_log": await prepare(
                    "DELETE FROM {ks}.play_log WHERE title_id = ? AND day = ? AND profile_id = ?"
                ),
                "month": await prepare(
                    "DELETE FROM {ks}.views_by_profile WHERE profile_id = ? AND month = ?"
                ),
                **{
                    name: await prepare(f"DELETE FROM {{ks}}.{name} WHERE profile_id = ?")
                    for name in ("view_months", "view_ids", "bookmarks")
                },
            }
        return self._purge

    async def _saga_ledger(self) -> CassandraLedger:
        if self._ledger is None:
            self._ledger = await CassandraLedger(self._session).prepare()
        return self._ledger

    async def _run(self, statement: Any, parameters: Any = None) -> list[Any]:
        return await self._session.execute(statement, parameters)

    # ----------------------------------------------------------------- views
    async def record_view(self, view: ViewRecord, event: OutboxEvent) -> tuple[ViewRecord, bool]:
        """See the port. Two retries of one view in this process are serialised by a
        lock per (profile_id, view_id) around the read and the batch, so they record
        once. Two processes are not: retries that reach two processes within the
        few milliseconds between one's read and its batch both write. When they
        carry the same view they write the same rows, but the outbox gets two
        events (two event ids, so consumers' dedupe does not merge them; the
        popularity rollup recomputes from the play log, which holds the view
        once); when their watch times differ the history shows the view twice.
        A lightweight transaction on ``view_ids`` would close that window but
        cannot join a batch that spans partitions.
        """
        view = checked_view(view, event)
        async with self._view_locks.hold((view.profile_id, view.view_id)):
            recorded = await self.get_view(view.profile_id, view.view_id)
            if recorded is not None:
                return recorded, False
            await self._write_view(view, event)
        return view, True

    async def _write_view(self, view: ViewRecord, event: OutboxEvent) -> None:
        ts = self._write_timestamp()
        watch_ms = to_ms(view.watch_time)
        month = month_of(watch_ms)
        batch = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=self._consistency)
        batch.add(
            self._q.insert_view,
            (
                view.profile_id,
                month,
                watch_ms,
                view.view_id,
                view.account_id,
                view.title_id,
                view.position_seconds,
                view.duration_seconds,
                view.device_type,
                view.country_code,
                view.maturity_rating,
                ts,
            ),
        )
        batch.add(self._q.insert_view_id, (view.profile_id, view.view_id, watch_ms, month, ts))
        batch.add(self._q.insert_month, (view.profile_id, month, ts))
        # Last write wins on the watch time, not on arrival: see the module.
        batch.add(
            self._q.insert_bookmark,
            (
                view.profile_id,
                view.title_id,
                view.position_seconds,
                view.duration_seconds,
                watch_ms,
                watch_ms * 1000,
            ),
        )
        batch.add(
            self._q.insert_play,
            (
                view.title_id,
                view.day,
                view.profile_id,
                view.view_id,
                view.country_code,
                view.watch_seconds,
                view.maturity_rating,
                ts,
            ),
        )
        batch.add(
            self._q.insert_outbox,
            (
                to_ms(event.created_at),
                uuid.UUID(event.event_id),
                event.aggregate_type,
                event.aggregate_id,
                event.event_type,
                event.payload,
                ts,
            ),
        )
        await self._run(batch)

    async def get_view(self, profile_id: str, view_id: str) -> ViewRecord | None:
        found = await self._run(self._q.find_view_id, (profile_id, view_id))
        if not found:
            return None
        watch_ms = to_ms(from_driver(found[0].watch_time))
        rows = await self._run(self._q.get_view, (profile_id, found[0].month, watch_ms, view_id))
        return _view_of(rows[0]) if rows else None

    async def list_views(
        self, profile_id: str, limit: int, after: HistoryCursor | None
    ) -> HistoryPage:
        check_limit(limit)
        after = clamped(after)
        first_month = _LAST_MONTH if after is None else month_of(after.watch_time_ms)
        # One more month than the budget tells whether the history goes on.
        months = [
            row.month
            for row in await self._run(
                self._q.months, (profile_id, first_month, self._months_per_call + 2)
            )
        ]
        if (
            after is not None
            and months
            and months[0] == first_month
            and (after.watch_time_ms, after.view_id) <= (month_start_ms(first_month), "")
        ):
            months.pop(0)  # the cursor is this month's start: nothing left in it
        views: list[ViewRecord] = []
        for month in months[: self._months_per_call]:
            wanted = limit + 1 - len(views)
            if after is not None and month == first_month:
                rows = await self._run(
                    self._q.views_after,
                    (profile_id, month, after.watch_time_ms, after.view_id, wanted),
                )
            else:
                rows = await self._run(self._q.views_from, (profile_id, month, wanted))
            views += (_view_of(row) for row in rows)
            if len(views) > limit:
                page = views[:limit]
                last = page[-1]
                return HistoryPage(page, HistoryCursor(to_ms(last.watch_time), last.view_id))
        if len(months) > self._months_per_call:
            # The budget ran out before the history did: go on before the last month read.
            return HistoryPage(views, start_of_month_cursor(months[self._months_per_call - 1]))
        return HistoryPage(views, None)

    # ------------------------------------------------------------- bookmarks
    async def list_bookmarks(self, profile_id: str) -> list[Bookmark]:
        rows = await self._all(
            self._q.bookmarks_first,
            self._q.bookmarks_next,
            (profile_id,),
            lambda row: (row.title_id,),
        )
        bookmarks = [
            Bookmark(
                profile_id=profile_id,
                title_id=row.title_id,
                position_seconds=row.position_seconds,
                duration_seconds=row.duration_seconds,
                last_watch_time=from_driver(row.last_watch_time),
            )
            for row in rows
        ]
        # The SQLite store's order: most recent first, then title id descending.
        bookmarks.sort(key=lambda b: (b.last_watch_time, b.title_id), reverse=True)
        return bookmarks

    # ------------------------------------------------------------ popularity
    async def play_log(self, title_id: str, day: date) -> list[PlayRecord]:
        rows = await self._all(
            self._q.play_first,
            self._q.play_next,
            (title_id, day),
            lambda row: (row.profile_id, row.view_id),
        )
        return [
            PlayRecord(
                view_id=row.view_id,
                profile_id=row.profile_id,
                country_code=row.country_code,
                watch_seconds=row.watch_seconds,
                maturity_rating=row.maturity_rating,
            )
            for row in rows
        ]

    async def save_popularity(self, rows: Sequence[Popularity]) -> None:
        """One unlogged batch per (country, day) partition and POPULARITY_BATCH rows
        (a single-partition batch is one mutation), all sent at once."""
        check_popularity(rows)
        ts = self._write_timestamp()
        partitions: dict[tuple[str, date], list[Popularity]] = defaultdict(list)
        for row in rows:
            partitions[(row.country_code, row.day)].append(row)
        batches = []
        for members in partitions.values():
            for start in range(0, len(members), POPULARITY_BATCH):
                batch = BatchStatement(
                    batch_type=BatchType.UNLOGGED, consistency_level=self._consistency
                )
                for row in members[start : start + POPULARITY_BATCH]:
                    batch.add(
                        self._q.insert_popularity,
                        (
                            row.country_code,
                            row.day,
                            row.title_id,
                            row.view_count,
                            row.watch_seconds,
                            row.unique_viewers,
                            row.maturity_rating,
                            ts,
                        ),
                    )
                batches.append(batch)
        await asyncio.gather(*(self._run(batch) for batch in batches))

    async def popularity(self, country_code: str, day: date) -> list[Popularity]:
        rows = await self._all(
            self._q.popularity_first,
            self._q.popularity_next,
            (country_code, day),
            lambda row: (row.title_id,),
        )
        return [_popularity_of(row, country_code, day) for row in rows]

    async def save_top(self, country_code: str, day: date, ranked: Sequence[Popularity]) -> None:
        """One logged batch: the partition's delete at T, the ranked rows at T+1 (a
        tombstone wins a timestamp tie, so the new rows must be newer than it)."""
        check_ranked(country_code, day, ranked)
        ts = self._write_timestamp()
        batch = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=self._consistency)
        batch.add(self._q.delete_top, (ts, country_code, day))
        for rank, row in enumerate(ranked, start=1):
            batch.add(
                self._q.insert_top,
                (
                    country_code,
                    day,
                    rank,
                    row.title_id,
                    row.view_count,
                    row.watch_seconds,
                    row.unique_viewers,
                    row.maturity_rating,
                    ts + 1,
                ),
            )
        await self._run(batch)

    async def top(self, country_code: str, day: date, limit: int) -> list[Popularity]:
        check_limit(limit, minimum=0)
        if limit == 0:
            return []
        rows = await self._run(self._q.top, (country_code, day, limit))
        return [_popularity_of(row, country_code, day) for row in rows]

    # --------------------------------------------------------------- helpers
    async def _all(
        self,
        first: PreparedStatement,
        following: PreparedStatement,
        key: tuple[Any, ...],
        position: Callable[[Any], tuple[Any, ...]],
    ) -> list[Any]:
        """Every row of the partition ``key``, CHUNK rows per read, each read
        starting after the clustering ``position`` of the last row read."""
        rows = await self._run(first, (*key, CHUNK))
        found = list(rows)
        while len(rows) == CHUNK:
            rows = await self._run(following, (*key, *position(rows[-1]), CHUNK))
            found += rows
        return found

    def _write_timestamp(self) -> int:
        """Microseconds, strictly increasing by at least 2 in this process (so a
        quick second save_top never ties with the first's T+1)."""
        self._last_write_us = max(time.time_ns() // 1000, self._last_write_us + 2)
        return self._last_write_us


def _view_of(row: Any) -> ViewRecord:
    return ViewRecord(
        view_id=row.view_id,
        profile_id=row.profile_id,
        account_id=row.account_id or "",
        title_id=row.title_id or "",
        watch_time=from_driver(row.watch_time),
        position_seconds=row.position_seconds or 0,
        duration_seconds=row.duration_seconds or 0,
        device_type=row.device_type or "",
        country_code=row.country_code or "",
        maturity_rating=row.maturity_rating or "",
    )


def _popularity_of(row: Any, country_code: str, day: date) -> Popularity:
    return Popularity(
        title_id=row.title_id,
        country_code=country_code,
        day=day,
        view_count=row.view_count or 0,
        watch_seconds=row.watch_seconds or 0,
        unique_viewers=row.unique_viewers or 0,
        maturity_rating=row.maturity_rating or "",
    )


def _utc_day(watch_time: datetime) -> date:
    """The play log's day of a view (its watch time's UTC date)."""
    moment = watch_time if watch_time.tzinfo else watch_time.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()
