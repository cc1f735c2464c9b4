"""The embedded catalog: one SQLite file through aiosqlite.

The title itself is kept as its serialized protobuf next to the columns the
listing filters on, so a read is one row and the listing is one indexed scan
in (add_time DESC, title_id DESC) order. Every write (title, availability,
genres, outbox event) is one ``BEGIN IMMEDIATE`` transaction on the single
writer connection; readers use their own connection, which WAL mode lets run
beside the writer.

An outage of the file (locked by another process past the busy timeout, a
disk I/O error, a file that cannot be opened or is not a database) raises
Unavailable from every operation, through the runtime's one guard
(services/runtime/stores.py); the next operation after the cause is gone
works again. Constraint and programming errors are not outages: they stay
bugs (INTERNAL). Python's sqlite3 reports a statement SQLite rejects
(SQLITE_ERROR, for example a missing table) as OperationalError too, so a
file without our tables counts as an outage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import aiosqlite

from services.catalog import events
from services.catalog.listing import Cursor, TitleFilter
from services.catalog.store import AvailabilityPage, TitlePage
from services.catalog.titles import (
    Window,
    apply_mask,
    availability_of,
    prepare_new,
)
from services.runtime.errors import AlreadyExists, NotFound
from services.runtime.sqlite import (
    OUTBOX_DDL,
    FetchAll,
    SqliteStore,
    insert_outbox_row,
    outage_guard,
)
from streammesh.catalog.v1 import catalog_pb2

_outage = outage_guard("the catalog store")

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS titles (
  title_id TEXT PRIMARY KEY,
  add_time INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  maturity_rating TEXT NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS titles_newest ON titles (add_time DESC, title_id DESC);
CREATE TABLE IF NOT EXISTS title_genres (
  title_id TEXT NOT NULL,
  genre TEXT NOT NULL,
  PRIMARY KEY (title_id, genre)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS title_genres_by_genre ON title_genres (genre, title_id);
CREATE TABLE IF NOT EXISTS title_availability (
  title_id TEXT NOT NULL,
  country_code TEXT NOT NULL,
  available_from INTEGER,
  available_until INTEGER,
  PRIMARY KEY (title_id, country_code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS title_metadata (
  title_id TEXT PRIMARY KEY,
  poster_url TEXT NOT NULL,
  trailer_url TEXT NOT NULL,
  synopsis TEXT NOT NULL,
  update_time INTEGER NOT NULL
);
"""

# A title with no availability rows is available everywhere.
_LIST_SQL: Final = """
SELECT t.body FROM titles t
WHERE (t.add_time, t.title_id) < (:after_time, :after_id)
  AND (:content_type = '' OR t.content_type = :content_type)
  AND (:any_rating OR t.maturity_rating IN ({ratings}))
  AND (:genre = '' OR EXISTS (
        SELECT 1 FROM title_genres g WHERE g.title_id = t.title_id AND g.genre = :genre))
  AND (:country = ''
       OR NOT EXISTS (SELECT 1 FROM title_availability a WHERE a.title_id = t.title_id)
       OR EXISTS (SELECT 1 FROM title_availability a
                  WHERE a.title_id = t.title_id AND a.country_code = :country
                    AND (a.available_from IS NULL OR a.available_from <= :now)
                    AND (a.available_until IS NULL OR a.available_until > :now)))
ORDER BY t.add_time DESC, t.title_id DESC
LIMIT :limit
"""
# Sorts after every real key, so the first page needs no special query.
_START: Final = Cursor(2**62, "~")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqliteCatalogStore(SqliteStore):
    NAME = "catalog"
    # A producer's file carries the relay's outbox table too.
    SCHEMA = SCHEMA + OUTBOX_DDL
    # Kept in SQLite's user_version; a file from a newer build is refused.
    SCHEMA_VERSION = 1

    # ------------------------------------------------------------------ reads
    @_outage
    async def get_title(self, title_id: str) -> catalog_pb2.Title | None:
        row = await self._reader.fetch_one(
            "SELECT body FROM titles WHERE title_id = ?", (title_id,)
        )
        return None if row is None else catalog_pb2.Title.FromString(row[0])

    @_outage
    async def batch_get_titles(self, title_ids: Sequence[str]) -> dict[str, catalog_pb2.Title]:
        if not title_ids:
            return {}
        marks = ",".join("?" * len(title_ids))
        rows = await self._reader.fetch_all(
            f"SELECT body FROM titles WHERE title_id IN ({marks})",
            tuple(title_ids),
        )
        titles = (catalog_pb2.Title.FromString(row[0]) for row in rows)
        return {title.title_id: title for title in titles}

    @_outage
    async def list_titles(
        self, title_filter: TitleFilter, page_size: int, after: Cursor | None, now_ms: int
    ) -> TitlePage:
        ratings = sorted(title_filter.allowed_ratings())
        rating_params = {f"r{i}": rating for i, rating in enumerate(ratings)}
        sql = _LIST_SQL.format(ratings=",".join(f":{name}" for name in rating_params))
        start = after or _START
        params: dict[str, object] = {
            "after_time": start.add_time_ms,
            "after_id": start.title_id,
            "content_type": title_filter.content_type,
            "genre": title_filter.genre,
            "country": title_filter.country,
            "now": now_ms,
            "limit": page_size + 1,
            "any_rating": not title_filter.max_maturity,
            **rating_params,
        }
        rows = await self._reader.fetch_all(sql, params)
        titles = [catalog_pb2.Title.FromString(row[0]) for row in rows[:page_size]]
        next_cursor = None
        if len(rows) > page_size:
            last = titles[-1]
            next_cursor = Cursor(last.add_time.ToMilliseconds(), last.title_id)
        return TitlePage(titles, next_cursor)

    @_outage
    async def get_metadata(self, title_id: str) -> catalog_pb2.TitleMetadata | None:
        row = await self._reader.fetch_one(
            "SELECT t.title_id, m.poster_url, m.trailer_url, m.synopsis FROM titles t "
            "LEFT JOIN title_metadata m ON m.title_id = t.title_id WHERE t.title_id = ?",
            (title_id,),
        )
        if row is None:
            return None
        return catalog_pb2.TitleMetadata(
            title_id=row[0],
            poster_url=row[1] or "",
            trailer_url=row[2] or "",
            synopsis=row[3] or "",
        )

    @_outage
    async def list_availability(
        self, title_id: str, page_size: int, after_country: str = ""
    ) -> AvailabilityPage:
        if await self.get_title(title_id) is None:
            raise NotFound(f"title {title_id} does not exist", reason="TITLE_NOT_FOUND")
        windows = await _windows(self._reader.fetch_all, title_id)
        codes = [code for code in sorted(windows) if code > after_country]
        page = codes[:page_size]
        more = len(codes) > page_size
        return AvailabilityPage(
            availability_of({code: windows[code] for code in page}),
            page[-1] if more else None,
        )

    # ----------------------------------------------------------------- writes
    @_outage
    async def create_title(
        self,
        title: catalog_pb2.Title,
        availability: Sequence[catalog_pb2.Availability] = (),
        metadata: catalog_pb2.TitleMetadata | None = None,
    ) -> catalog_pb2.Title:
        now = _now_ms()
        stored, windows = prepare_new(title, availability, now)
        event = events.title_created(stored, availability_of(windows), now)
        async with self._transaction() as db:
            if await _exists(db, stored.title_id):
                raise AlreadyExists(
                    f"title {stored.title_id} already exists", reason="TITLE_EXISTS"
                )
            await _write_title(db, stored, windows)
            if metadata is not None:
                await _write_metadata(db, stored.title_id, metadata, now)
            await _write_event(db, event)
        return stored

    @_outage
    async def update_title(
        self, patch: catalog_pb2.Title, paths: Sequence[str], *, allow_missing: bool = False
    ) -> tuple[catalog_pb2.Title, bool]:
        now = _now_ms()
        async with self._transaction() as db:
            async with db.execute(
                "SELECT body FROM titles WHERE title_id = ?", (patch.title_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                if not allow_missing:
                    raise NotFound(
                        f"title {patch.title_id} does not exist", reason="TITLE_NOT_FOUND"
                    )
                stored, windows = prepare_new(patch, (), now)
                await _write_title(db, stored, windows)
                await _write_event(db, events.title_created(stored, availability_of(windows), now))
                return stored, True
            current = catalog_pb2.Title.FromString(row[0])
            updated, windows = apply_mask(
                current, patch, paths, await _windows(db.execute_fetchall, patch.title_id), now
            )
            await _write_title(db, updated, windows)
            await _write_event(db, events.title_updated(updated, paths, now))
        return updated, False

    @_outage
    async def put_metadata(self, metadata: catalog_pb2.TitleMetadata) -> catalog_pb2.TitleMetadata:
        async with self._transaction() as db:
            if not await _exists(db, metadata.title_id):
                raise NotFound(
                    f"title {metadata.title_id} does not exist", reason="TITLE_NOT_FOUND"
                )
            await _write_metadata(db, metadata.title_id, metadata, _now_ms())
        return metadata


async def _exists(db: aiosqlite.Connection, title_id: str) -> bool:
    async with db.execute("SELECT 1 FROM titles WHERE title_id = ?", (title_id,)) as cursor:
        return await cursor.fetchone() is not None


async def _windows(fetch_all: FetchAll, title_id: str) -> dict[str, Window]:
    rows = await fetch_all(
        "SELECT country_code, available_from, available_until FROM title_availability "
        "WHERE title_id = ?",
        (title_id,),
    )
    return {row[0]: Window(row[1], row[2]) for row in rows}


async def _write_title(
    db: aiosqlite.Connection, title: catalog_pb2.Title, windows: dict[str, Window]
) -> None:
    await db.execute(
        "INSERT INTO titles (title_id, add_time, content_type, maturity_rating, body) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (title_id) DO UPDATE SET "
        "add_time = excluded.add_time, content_type = excluded.content_type, "
        "maturity_rating = excluded.maturity_rating, body = excluded.body",
        (
            title.title_id,
            title.add_time.ToMilliseconds(),
            title.content_type,
            title.maturity_rating,
            title.SerializeToString(),
        ),
    )
    await db.execute("DELETE FROM title_genres WHERE title_id = ?", (title.title_id,))
    await db.executemany(
        "INSERT OR IGNORE INTO title_genres (title_id, genre) VALUES (?, ?)",
        [(title.title_id, genre) for genre in title.genres],
    )
    await db.execute("DELETE FROM title_availability WHERE title_id = ?", (title.title_id,))
    await db.executemany(
        "INSERT INTO title_availability (title_id, country_code, available_from, available_until) "
        "VALUES (?, ?, ?, ?)",
        [(title.title_id, code, w.from_ms, w.until_ms) for code, w in windows.items()],
    )


async def _write_metadata(
    db: aiosqlite.Connection, title_id: str, metadata: catalog_pb2.TitleMetadata, now: int
) -> None:
    await db.execute(
        "INSERT INTO title_metadata (title_id, poster_url, trailer_url, synopsis, update_time) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (title_id) DO UPDATE SET "
        "poster_url = excluded.poster_url, trailer_url = excluded.trailer_url, "
        "synopsis = excluded.synopsis, update_time = excluded.update_time",
        (title_id, metadata.poster_url, metadata.trailer_url, metadata.synopsis, now),
    )


async def _write_event(db: aiosqlite.Connection, event: events.OutboxRow) -> None:
    await insert_outbox_row(
        db,
        event_id=event.event_id,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        event_type=event.event_type,
        payload=event.payload,
        created_at=datetime.fromtimestamp(event.created_at_ms / 1000, UTC),
    )
