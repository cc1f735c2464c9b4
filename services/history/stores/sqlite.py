"""The embedded history store: one SQLite file through aiosqlite.

The same tables as the Cassandra keyspace, without the buckets SQLite does
not need: ``views`` (ListHistory through one index in (watch_time DESC,
view_id DESC) order), ``bookmarks``, ``play_log``, ``daily_popularity``,
``top_titles`` and the relay's ``outbox``. Every query is served by a
primary key or an index, named beside it. Times are INTEGER milliseconds
since the epoch (UTC); days are ISO text ('YYYY-MM-DD', which sorts as dates).

RecordView is one ``BEGIN IMMEDIATE`` transaction on the single writer
connection: the id check, the view, the bookmark upsert (which keeps the
newer watch time: ``ON CONFLICT ... DO UPDATE ... WHERE excluded.last_watch_time
>= bookmarks.last_watch_time``), the play-log row and the outbox row commit
together or not at all. The write lock serialises every writer of the file,
other processes too, so a retried view is recorded once. Readers use their
own connection, which WAL mode lets run beside the writer.

Nothing expires here: the embedded store is a single-machine development
store; retention (TTLs) is the Cassandra store's.

An outage of the file (locked past the busy timeout, a disk I/O error, a file
that cannot be opened or is not a database) raises Unavailable from every
operation, through the runtime's one guard (services/runtime/stores.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Final

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
    from_ms,
    to_ms,
)
from services.runtime.sagas import SQLITE_LEDGER_SCHEMA, SqliteParticipant, StepKey
from services.runtime.sqlite import OUTBOX_DDL, insert_outbox_row, outage_guard

_outage = outage_guard("the history store")

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS views (
  profile_id TEXT NOT NULL,
  view_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  title_id TEXT NOT NULL,
  watch_time INTEGER NOT NULL,
  position_seconds INTEGER NOT NULL,
  duration_seconds INTEGER NOT NULL,
  device_type TEXT NOT NULL,
  country_code TEXT NOT NULL,
  maturity_rating TEXT NOT NULL,
  PRIMARY KEY (profile_id, view_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS views_newest ON views (profile_id, watch_time DESC, view_id DESC);
CREATE TABLE IF NOT EXISTS bookmarks (
  profile_id TEXT NOT NULL,
  title_id TEXT NOT NULL,
  position_seconds INTEGER NOT NULL,
  duration_seconds INTEGER NOT NULL,
  last_watch_time INTEGER NOT NULL,
  PRIMARY KEY (profile_id, title_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bookmarks_recent
  ON bookmarks (profile_id, last_watch_time DESC, title_id DESC);
CREATE TABLE IF NOT EXISTS play_log (
  title_id TEXT NOT NULL,
  day TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  view_id TEXT NOT NULL,
  country_code TEXT NOT NULL,
  watch_seconds INTEGER NOT NULL,
  maturity_rating TEXT NOT NULL,
  PRIMARY KEY (title_id, day, profile_id, view_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_popularity (
  country_code TEXT NOT NULL,
  day TEXT NOT NULL,
  title_id TEXT NOT NULL,
  view_count INTEGER NOT NULL,
  watch_seconds INTEGER NOT NULL,
  unique_viewers INTEGER NOT NULL,
  maturity_rating TEXT NOT NULL,
  PRIMARY KEY (country_code, day, title_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS top_titles (
  country_code TEXT NOT NULL,
  day TEXT NOT NULL,
  rank INTEGER NOT NULL,
  title_id TEXT NOT NULL,
  view_count INTEGER NOT NULL,
  watch_seconds INTEGER NOT NULL,
  unique_viewers INTEGER NOT NULL,
  maturity_rating TEXT NOT NULL,
  PRIMARY KEY (country_code, day, rank)
) WITHOUT ROWID;
"""

_VIEW_COLUMNS: Final = (
    "view_id, profile_id, account_id, title_id, watch_time, position_seconds, "
    "duration_seconds, device_type, country_code, maturity_rating"
)
# The primary key (profile_id, view_id).
_GET_VIEW: Final = f"SELECT {_VIEW_COLUMNS} FROM views WHERE profile_id = ? AND view_id = ?"
# Index views_newest: a range of (profile_id, watch_time DESC, view_id DESC), in order.
_LIST_VIEWS: Final = (
    f"SELECT {_VIEW_COLUMNS} FROM views WHERE profile_id = ? "
    "AND (watch_time, view_id) < (?, ?) ORDER BY watch_time DESC, view_id DESC LIMIT ?"
)
_INSERT_VIEW: Final = f"INSERT INTO views ({_VIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# The primary key (profile_id, title_id) finds the conflict.
_UPSERT_BOOKMARK: Final = (
    "INSERT INTO bookmarks (profile_id, title_id, position_seconds, duration_seconds, "
    "last_watch_time) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (profile_id, title_id) DO UPDATE SET "
    "position_seconds = excluded.position_seconds, "
    "duration_seconds = excluded.duration_seconds, "
    "last_watch_time = excluded.last_watch_time "
    "WHERE excluded.last_watch_time >= bookmarks.last_watch_time"
)
# Index bookmarks_recent: the profile's rows already in the listing's order.
_LIST_BOOKMARKS: Final = (
    "SELECT title_id, position_seconds, duration_seconds, last_watch_time FROM bookmarks "
    "WHERE profile_id = ? ORDER BY last_watch_time DESC, title_id DESC"
)
_INSERT_PLAY: Final = (
    "INSERT INTO play_log (title_id, day, profile_id, view_id, country_code, watch_seconds, "
    "maturity_rating) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# The primary key's prefix (title_id, day).
_PLAY_LOG: Final = (
    "SELECT view_id, profile_id, country_code, watch_seconds, maturity_rating FROM play_log "
    "WHERE title_id = ? AND day = ?"
)
# The primary key (country_code, day, title_id) finds the conflict.
_UPSERT_POPULARITY: Final = (
    "INSERT INTO daily_popularity (country_code, day, title_id, view_count, watch_seconds, "
    "unique_viewers, maturity_rating) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (country_code, day, title_id) DO UPDATE SET "
    "view_count = excluded.view_count, watch_seconds = excluded.watch_seconds, "
    "unique_viewers = excluded.unique_viewers, maturity_rating = excluded.maturity_rating"
)
# The primary key's prefix (country_code, day).
_POPULARITY: Final = (
    "SELECT title_id, view_count, watch_seconds, unique_viewers, maturity_rating "
    "FROM daily_popularity WHERE country_code = ? AND day = ?"
)
# The primary key's prefix (country_code, day).
_DELETE_TOP: Final = "DELETE FROM top_titles WHERE country_code = ? AND day = ?"
_INSERT_TOP: Final = (
    "INSERT INTO top_titles (country_code, day, rank, title_id, view_count, watch_seconds, "
    "unique_viewers, maturity_rating) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# The primary key (country_code, day, rank), in rank order.
_TOP: Final = (
    "SELECT title_id, view_count, watch_seconds, unique_viewers, maturity_rating "
    "FROM top_titles WHERE country_code = ? AND day = ? ORDER BY rank LIMIT ?"
)
# Sorts before every stored view in (watch_time DESC, view_id DESC) order, so
# the first page needs no query of its own.
_START: Final = HistoryCursor(2**62, "\U0010ffff")


class SqliteHistoryStore(SqliteParticipant):
    NAME = "history"
    # The saga ledger only (no settings copy here).
    SAGA_SCHEMA = SQLITE_LEDGER_SCHEMA
    # A producer's file carries the relay's outbox table too.
    SCHEMA = SCHEMA + OUTBOX_DDL + SQLITE_LEDGER_SCHEMA
    # Kept in SQLite's user_version; a file from a newer build is refused.
    SCHEMA_VERSION = 1

    @_outage
    async def purge_profiles(self, key: StepKey, profile_ids: Sequence[str]) -> tuple[int, bool]:
        return await self.purge_profile_rows(
            key, profile_ids, ("views", "bookmarks", "play_log"), counted="views"
        )

    # ----------------------------------------------------------------- views
    @_outage
    async def record_view(self, view: ViewRecord, event: OutboxEvent) -> tuple[ViewRecord, bool]:
        view = checked_view(view, event)
        watch_ms = to_ms(view.watch_time)
        async with self._transaction() as db:
            async with db.execute(_GET_VIEW, (view.profile_id, view.view_id)) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                return _view_of(row), False
            await db.execute(
                _INSERT_VIEW,
                (
                    view.view_id,
                    view.profile_id,
                    view.account_id,
                    view.title_id,
                    watch_ms,
                    view.position_seconds,
                    view.duration_seconds,
                    view.device_type,
                    view.country_code,
                    view.maturity_rating,
                ),
            )
            await db.execute(
                _UPSERT_BOOKMARK,
                (
                    view.profile_id,
                    view.title_id,
                    view.position_seconds,
                    view.duration_seconds,
                    watch_ms,
                ),
            )
            await db.execute(
                _INSERT_PLAY,
                (
                    view.title_id,
                    view.day.isoformat(),
                    view.profile_id,
                    view.view_id,
                    view.country_code,
                    view.watch_seconds,
                    view.maturity_rating,
                ),
            )
            await insert_outbox_row(
                db,
                event_id=event.event_id,
                aggregate_type=event.aggregate_type,
                aggregate_id=event.aggregate_id,
                event_type=event.event_type,
                payload=event.payload,
                created_at=event.created_at,
            )
        return view, True

    @_outage
    async def get_view(self, profile_id: str, view_id: str) -> ViewRecord | None:
        row = await self._reader.fetch_one(_GET_VIEW, (profile_id, view_id))
        return None if row is None else _view_of(row)

    @_outage
    async def list_views(
        self, profile_id: str, limit: int, after: HistoryCursor | None
    ) -> HistoryPage:
        check_limit(limit)
        after = clamped(after)
        start = after or _START
        rows = await self._reader.fetch_all(
            _LIST_VIEWS, (profile_id, start.watch_time_ms, start.view_id, limit + 1)
        )
        views = [_view_of(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = views[-1]
            next_cursor = HistoryCursor(to_ms(last.watch_time), last.view_id)
        return HistoryPage(views, next_cursor)

    # ------------------------------------------------------------- bookmarks
    @_outage
    async def list_bookmarks(self, profile_id: str) -> list[Bookmark]:
        rows = await self._reader.fetch_all(_LIST_BOOKMARKS, (profile_id,))
        return [
            Bookmark(
                profile_id=profile_id,
                title_id=row[0],
                position_seconds=row[1],
                duration_seconds=row[2],
                last_watch_time=from_ms(row[3]),
            )
            for row in rows
        ]

    # ------------------------------------------------------------ popularity
    @_outage
    async def play_log(self, title_id: str, day: date) -> list[PlayRecord]:
        rows = await self._reader.fetch_all(_PLAY_LOG, (title_id, day.isoformat()))
        return [PlayRecord(*row) for row in rows]

    @_outage
    async def save_popularity(self, rows: Sequence[Popularity]) -> None:
        check_popularity(rows)
        if not rows:
            return
        async with self._transaction() as db:
            await db.executemany(
                _UPSERT_POPULARITY,
                [
                    (
                        row.country_code,
                        row.day.isoformat(),
                        row.title_id,
                        row.view_count,
                        row.watch_seconds,
                        row.unique_viewers,
                        row.maturity_rating,
                    )
                    for row in rows
                ],
            )

    @_outage
    async def popularity(self, country_code: str, day: date) -> list[Popularity]:
        rows = await self._reader.fetch_all(_POPULARITY, (country_code, day.isoformat()))
        return [_popularity_of(row, country_code, day) for row in rows]

    @_outage
    async def save_top(self, country_code: str, day: date, ranked: Sequence[Popularity]) -> None:
        check_ranked(country_code, day, ranked)
        key = (country_code, day.isoformat())
        async with self._transaction() as db:
            await db.execute(_DELETE_TOP, key)
            await db.executemany(
                _INSERT_TOP,
                [
                    (
                        *key,
                        rank,
                        row.title_id,
                        row.view_count,
                        row.watch_seconds,
                        row.unique_viewers,
                        row.maturity_rating,
                    )
                    for rank, row in enumerate(ranked, start=1)
                ],
            )

    @_outage
    async def top(self, country_code: str, day: date, limit: int) -> list[Popularity]:
        check_limit(limit, minimum=0)
        rows = await self._reader.fetch_all(_TOP, (country_code, day.isoformat(), limit))
        return [_popularity_of(row, country_code, day) for row in rows]


def _view_of(row: Any) -> ViewRecord:
    return ViewRecord(
        view_id=row[0],
        profile_id=row[1],
        account_id=row[2],
        title_id=row[3],
        watch_time=from_ms(row[4]),
        position_seconds=row[5],
        duration_seconds=row[6],
        device_type=row[7],
        country_code=row[8],
        maturity_rating=row[9],
    )


def _popularity_of(row: Any, country_code: str, day: date) -> Popularity:
    return Popularity(
        title_id=row[0],
        country_code=country_code,
        day=day,
        view_count=row[1],
        watch_seconds=row[2],
        unique_viewers=row[3],
        maturity_rating=row[4],
    )
