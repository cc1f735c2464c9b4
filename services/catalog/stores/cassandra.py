"""The catalog on Cassandra 5, through the DataStax driver.

The session (the asyncio bridge over ``execute_async``, the in-flight bound,
driver outages as UNAVAILABLE) is the runtime's
(services/runtime/cassandra.py). Statements on the hot path are prepared once,
when the store opens.

Tables (migrations/0001_catalog_tables.cql), one per query: ``content`` by id,
``content_availability`` per title, ``content_metadata`` per title and
``titles_by_country`` for ListTitles.

ListTitles: ``titles_by_country`` has a partition per country (plus ``*``
for the titles available everywhere and ``_all`` for the unfiltered
listing), clustered by (add_time DESC, title_id DESC); a country's listing
merges its partition with ``*``. Two ways to apply the other filters were
built and measured on the real catalog (bench/catalog_bench.py
``--listing-only``: 8,790 titles, one node, 5 pages of 20, median of 7, wall
/ this process's CPU in ms):

* scan: the service reads the partition in order, in growing chunks, keeps
  rows whose filter columns match, and stops at a page plus one or after
  ``scan_budget`` rows (then a shorter page with a token to go on);
* sai (chosen): storage-attached indexes on content_type, maturity_rank and
  genres (migrations/0002), the filters in the WHERE clause, so Cassandra
  drops the rows and the service deserialises only matches.

  filter                                   scan        sai
  none                                     41/15       33/13
  country=US                               45/16       37/16
  country=IN, max PG                       94/30       57/19
  country=US, max TV-Y, MOVIE             258/95       84/20
  country=GB, TV_SHOW, British TV Shows   104/43       51/16
  genre=Stand-Up Comedy                   139/64       66/17
  country=JP, max TV-14, Anime Series      91/42       58/20
  country=FR, max R, Dramas                86/28       41/14

SAI was never slower, and 1.5-4.7x cheaper in service CPU (what bounds a
Python service's QPS) as filters get sparse; its cost is index upkeep on
writes, cheap for a catalog that changes a few titles a day. A table per
filter ((country, type), (country, genre)) was not built: it multiplies the
rows per title by the genre count and still needs maturity applied while
reading. The scan path stays (``listing="scan"``) for the benchmark and is
run by the contract suite too. Availability windows are checked in the
service in both (an open-ended window has no value SAI could range over).

Titles are read from ``content`` by id after the page's ids are known, and
each listing row is checked against its title: a listing row left behind by
two racing updates of one title (last writer wins in Cassandra) can then never
show a title twice or outside its filter.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cassandra import ConsistencyLevel
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from services.catalog import events
from services.catalog.listing import Cursor, TitleFilter
from services.catalog.store import AvailabilityPage, TitlePage
from services.catalog.titles import (
    ALL_COUNTRIES,
    EVERYWHERE,
    Window,
    apply_mask,
    availability_of,
    from_ms,
    listing_partitions,
    prepare_new,
)
from services.events.cassandra_outbox import CassandraOutboxSource
from services.ratings import rank
from services.runtime.cassandra import CassandraSession
from services.runtime.errors import AlreadyExists, NotFound
from services.runtime.locks import KeyedLocks
from streammesh.catalog.v1 import catalog_pb2

# Rows of one partition read per ListTitles call at most; a sparse filter then
# returns a short page with a token instead of reading the whole partition.
SCAN_BUDGET: Final = 2_000
FIRST_CHUNK: Final = 32
# Ids per multi-partition read (BatchGetTitles asks for at most 100).
BATCH_READ: Final = 100
MAX_CHUNK: Final = 1_000
_EPOCH: Final = datetime(1970, 1, 1)
# Sorts before every real key in (add_time DESC, title_id DESC) order.
_START: Final = Cursor(253_402_300_799_999, "~")

_CONTENT_COLUMNS: Final = (
    "content_id, title, description, release_year, duration_minutes, seasons, content_type, "
    "genres, maturity_rating, country_codes, language_codes, cast_members, directors, "
    "add_time, created_at, updated_at"
)


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    return (value.replace(tzinfo=None) - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class _Statements:
    get_content: PreparedStatement
    get_contents: PreparedStatement
    get_windows: PreparedStatement
    page_windows: PreparedStatement
    get_metadata: PreparedStatement
    scan: PreparedStatement
    insert_content: PreparedStatement
    delete_windows: PreparedStatement
    insert_window: PreparedStatement
    delete_listing: PreparedStatement
    insert_listing: PreparedStatement
    insert_metadata: PreparedStatement
    insert_outbox: PreparedStatement


@dataclass(frozen=True, order=True)
class _Key:
    """A listing position; larger sorts first (newest first)."""

    add_time_ms: int
    title_id: str


class CassandraCatalogStore:
    def __init__(
        self,
        session: CassandraSession,
        statements: _Statements,
        *,
        listing: str = "sai",
        scan_budget: int = SCAN_BUDGET,
        sai_statements: dict[_Variant, PreparedStatement] | None = None,
    ) -> None:
        self._session = session
        self._q = statements
        self._consistency = ConsistencyLevel.name_to_value[session.settings.consistency]
        self._listing = listing
        self._scan_budget = scan_budget
        self._sai_statements = sai_statements or {}
        # Serialises this process's writes to one title (read-modify-write).
        self._title_locks: KeyedLocks[str] = KeyedLocks()
        self._last_write_us = 0

    @classmethod
    async def on_session(
        cls,
        session: CassandraSession,
        *,
        listing: str = "sai",
        scan_budget: int = SCAN_BUDGET,
    ) -> CassandraCatalogStore:
        """The store on ``session``'s keyspace (migrated); closing the store closes the session."""
        prepare = session.prepare
        statements = _Statements(
            get_content=await prepare(
                f"SELECT {_CONTENT_COLUMNS} FROM {{ks}}.content WHERE content_id = ?"
            ),
            get_contents=await prepare(
                f"SELECT {_CONTENT_COLUMNS} FROM {{ks}}.content WHERE content_id IN ?"
            ),
            get_windows=await prepare(
                "SELECT country_code, available_from, available_until "
                "FROM {ks}.content_availability WHERE content_id = ?"
            ),
            page_windows=await prepare(
                "SELECT country_code, available_from, available_until "
                "FROM {ks}.content_availability WHERE content_id = ? AND country_code > ? "
                "LIMIT ?"
            ),
            get_metadata=await prepare(
                "SELECT poster_url, trailer_url, synopsis FROM {ks}.content_metadata "
                "WHERE content_id = ?"
            ),
            scan=await prepare(
                "SELECT add_time, title_id, content_type, maturity_rating, genres, "
                "available_from, available_until FROM {ks}.titles_by_country "
                "WHERE country_code = ? AND (add_time, title_id) < (?, ?) LIMIT ?"
            ),
            insert_content=await prepare(
                f"INSERT INTO {{ks}}.content ({_CONTENT_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
            ),
            delete_windows=await prepare(
                "DELETE FROM {ks}.content_availability USING TIMESTAMP ? WHERE content_id = ?"
            ),
            insert_window=await prepare(
                "INSERT INTO {ks}.content_availability "
                "(content_id, country_code, available_from, available_until) "
                "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
            ),
            delete_listing=await prepare(
                "DELETE FROM {ks}.titles_by_country USING TIMESTAMP ? "
                "WHERE country_code = ? AND add_time = ? AND title_id = ?"
            ),
            insert_listing=await prepare(
                "INSERT INTO {ks}.titles_by_country (country_code, add_time, title_id, "
                "content_type, maturity_rating, maturity_rank, genres, available_from, "
                "available_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
            ),
            insert_metadata=await prepare(
                "INSERT INTO {ks}.content_metadata "
                "(content_id, poster_url, trailer_url, synopsis, updated_at) "
                "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"
            ),
            insert_outbox=await prepare(
                "INSERT INTO {ks}.outbox (shard, created_at, event_id, aggregate_type, "
                "aggregate_id, event_type, payload) VALUES (0, ?, ?, ?, ?, ?, ?) "
                "USING TIMESTAMP ?"
            ),
        )
        # One statement per combination of filters, all prepared up front.
        sai_statements: dict[_Variant, PreparedStatement] = {}
        if listing == "sai":
            for by_type, by_maturity, by_genre in itertools.product((False, True), repeat=3):
                variant = (by_type, by_maturity, by_genre)
                sai_statements[variant] = await prepare(_sai_query(variant))
        return cls(
            session,
            statements,
            listing=listing,
            scan_budget=scan_budget,
            sai_statements=sai_statements,
        )

    @property
    def session(self) -> CassandraSession:
        return self._session

    async def close(self) -> None:
        await self._session.close()

    async def _run(self, statement: Any, parameters: Any = None) -> list[Any]:
        return await self._session.execute(statement, parameters)

    # ------------------------------------------------------------------ reads
    async def get_title(self, title_id: str) -> catalog_pb2.Title | None:
        rows = await self._run(self._q.get_content, (uuid.UUID(title_id),))
        return _title_of(rows[0]) if rows else None

    async def batch_get_titles(self, title_ids: Sequence[str]) -> dict[str, catalog_pb2.Title]:
        # One request per BATCH_READ ids: the driver's per-request cost (not
        # Cassandra's) dominated 20 single-row reads per ListTitles page. On a
        # cluster the coordinator fans the IN out; at most BATCH_READ keys.
        keys = list(dict.fromkeys(uuid.UUID(title_id) for title_id in title_ids))
        chunks = [keys[i : i + BATCH_READ] for i in range(0, len(keys), BATCH_READ)]
        results = await asyncio.gather(*(self._run(self._q.get_contents, (c,)) for c in chunks))
        titles = (_title_of(row) for rows in results for row in rows)
        return {title.title_id: title for title in titles}

    async def get_metadata(self, title_id: str) -> catalog_pb2.TitleMetadata | None:
        key = uuid.UUID(title_id)
        title_rows, rows = await asyncio.gather(
            self._run(self._q.get_content, (key,)), self._run(self._q.get_metadata, (key,))
        )
        if not title_rows:
            return None
        metadata = catalog_pb2.TitleMetadata(title_id=title_id)
        if rows:
            metadata.poster_url = rows[0].poster_url or ""
            metadata.trailer_url = rows[0].trailer_url or ""
            metadata.synopsis = rows[0].synopsis or ""
        return metadata

    async def list_availability(
        self, title_id: str, page_size: int, after_country: str = ""
    ) -> AvailabilityPage:
        key = uuid.UUID(title_id)
        title_rows, rows = await asyncio.gather(
            self._run(self._q.get_content, (key,)),
            self._run(self._q.page_windows, (key, after_country, page_size + 1)),
        )
        if not title_rows:
            raise NotFound(f"title {title_id} does not exist", reason="TITLE_NOT_FOUND")
        windows = {
            row.country_code: Window(_ms(row.available_from), _ms(row.available_until))
            for row in rows[:page_size]
        }
        more = len(rows) > page_size
        return AvailabilityPage(
            availability_of(windows), rows[page_size - 1].country_code if more else None
        )

    async def list_titles(
        self, title_filter: TitleFilter, page_size: int, after: Cursor | None, now_ms: int
    ) -> TitlePage:
        partitions = [title_filter.country, EVERYWHERE] if title_filter.country else [ALL_COUNTRIES]
        start = _Key(*(after or _START).__dict__.values())
        scans = await asyncio.gather(
            *(self._scan(p, title_filter, page_size, start, now_ms) for p in partitions)
        )
        # Each partition's matches are complete down to where its scan stopped;
        # together they are complete down to the highest of those stops.
        stops = [stop for _, stop in scans if stop is not None]
        horizon = max(stops) if stops else None
        merged = heapq.merge(*(matches for matches, _ in scans), reverse=True)
        eligible = [key for key in merged if horizon is None or key >= horizon]
        page = eligible[:page_size]
        if len(eligible) > page_size:
            next_key: _Key | None = page[-1]
        else:
            next_key = horizon
        titles = await self.batch_get_titles([key.title_id for key in page])
        allowed = title_filter.allowed_ratings()
        result = []
        for key in page:
            title = titles.get(key.title_id)
            if title is None or title.add_time.ToMilliseconds() != key.add_time_ms:
                continue  # a listing row outlived its title's last update
            if not _title_matches(title, title_filter, allowed):
                continue
            result.append(title)
        cursor = None if next_key is None else Cursor(next_key.add_time_ms, next_key.title_id)
        return TitlePage(result, cursor)

    async def _scan(
        self, partition: str, title_filter: TitleFilter, page_size: int, start: _Key, now_ms: int
    ) -> tuple[list[_Key], _Key | None]:
        """Matches after ``start`` (newest first) and where the scan stopped (None: the end)."""
        if self._listing == "sai":
            return await self._scan_indexed(partition, title_filter, page_size, start, now_ms)
        allowed = title_filter.allowed_ratings()
        matches: list[_Key] = []
        position, scanned, chunk = start, 0, max(FIRST_CHUNK, 2 * (page_size + 1))
        while True:
            limit = min(chunk, self._scan_budget - scanned)
            rows = await self._run(
                self._q.scan, (partition, position.add_time_ms, position.title_id, limit)
            )
            for row in rows:
                position = _Key(_ms(row.add_time) or 0, row.title_id)
                if _row_matches(row, title_filter, allowed, now_ms):
                    matches.append(position)
                    if len(matches) > page_size:
                        return matches, position
            scanned += len(rows)
            if len(rows) < limit:
                return matches, None
            if scanned >= self._scan_budget:
                return matches, position
            chunk = min(chunk * 4, MAX_CHUNK)

    async def _scan_indexed(
        self, partition: str, title_filter: TitleFilter, page_size: int, start: _Key, now_ms: int
    ) -> tuple[list[_Key], _Key | None]:
        variant = (
            bool(title_filter.content_type),
            bool(title_filter.max_maturity),
            bool(title_filter.genre),
        )
        statement = self._sai_statements[variant]
        parameters: list[Any] = [partition, start.add_time_ms, start.title_id]
        parameters += [title_filter.content_type] if variant[0] else []
        parameters += [rank(title_filter.max_maturity)] if variant[1] else []
        parameters += [title_filter.genre] if variant[2] else []
        rows = await self._run(statement, (*parameters, page_size + 1))
        allowed = title_filter.allowed_ratings()
        keys = [
            _Key(_ms(row.add_time) or 0, row.title_id)
            for row in rows
            if _row_matches(row, title_filter, allowed, now_ms)
        ]
        last = _Key(_ms(rows[-1].add_time) or 0, rows[-1].title_id) if rows else None
        return keys, (last if len(rows) > page_size else None)

    # ----------------------------------------------------------------- writes
    async def create_title(
        self,
        title: catalog_pb2.Title,
        availability: Sequence[catalog_pb2.Availability] = (),
        metadata: catalog_pb2.TitleMetadata | None = None,
    ) -> catalog_pb2.Title:
        now = time.time_ns() // 1_000_000
        stored, windows = prepare_new(title, availability, now)
        async with self._title_locks.hold(stored.title_id):
            # A read, not a lightweight transaction: Paxos cannot join a batch
            # that spans partitions. Two racing creates of one id both succeed,
            # the later write winning; retries of one create write the same title.
            if await self.get_title(stored.title_id) is not None:
                raise AlreadyExists(
                    f"title {stored.title_id} already exists", reason="TITLE_EXISTS"
                )
            event = events.title_created(stored, availability_of(windows), now)
            await self._write(stored, windows, None, event, metadata)
        return stored

    async def update_title(
        self, patch: catalog_pb2.Title, paths: Sequence[str], *, allow_missing: bool = False
    ) -> tuple[catalog_pb2.Title, bool]:
        now = time.time_ns() // 1_000_000
        async with self._title_locks.hold(patch.title_id):
            current = await self.get_title(patch.title_id)
            if current is None:
                if not allow_missing:
                    raise NotFound(
                        f"title {patch.title_id} does not exist", reason="TITLE_NOT_FOUND"
                    )
                stored, windows = prepare_new(patch, (), now)
                event = events.title_created(stored, availability_of(windows), now)
                await self._write(stored, windows, None, event, None)
                return stored, True
            rows = await self._run(self._q.get_windows, (uuid.UUID(patch.title_id),))
            current_windows = {
                row.country_code: Window(_ms(row.available_from), _ms(row.available_until))
                for row in rows
            }
            updated, windows = apply_mask(current, patch, paths, current_windows, now)
            event = events.title_updated(updated, paths, now)
            await self._write(updated, windows, current, event, None)
        return updated, False

    async def put_metadata(self, metadata: catalog_pb2.TitleMetadata) -> catalog_pb2.TitleMetadata:
        if await self.get_title(metadata.title_id) is None:
            raise NotFound(f"title {metadata.title_id} does not exist", reason="TITLE_NOT_FOUND")
        now = time.time_ns() // 1_000_000
        await self._run(
            self._q.insert_metadata,
            (
                uuid.UUID(metadata.title_id),
                metadata.poster_url,
                metadata.trailer_url,
                metadata.synopsis,
                now,
                self._write_timestamp(),
            ),
        )
        return metadata

    async def _write(
        self,
        title: catalog_pb2.Title,
        windows: dict[str, Window],
        previous: catalog_pb2.Title | None,
        event: events.OutboxRow,
        metadata: catalog_pb2.TitleMetadata | None,
    ) -> None:
        """Writes the title, its windows, listing rows and event as one logged batch.

        A logged batch is atomic in the sense Cassandra offers: the coordinator
        first stores the whole batch in the batchlog (on other replicas too in
        a cluster), then applies it; if it dies half-way, the batchlog is
        replayed until every statement is applied. So a title never ends up
        with some of its rows or without its outbox event, even when the
        importer is killed. There is no isolation: a reader may briefly see
        the new `content` row before the listing rows. Deletes carry the write
        timestamp minus one so that re-inserting the same key in the same
        batch wins (a tombstone wins a timestamp tie).
        """
        ts = self._write_timestamp()
        key = uuid.UUID(title.title_id)
        batch = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=self._consistency)
        batch.add(self._q.insert_content, (*_content_values(title), ts))
        batch.add(self._q.delete_windows, (ts - 1, key))
        for code, window in windows.items():
            batch.add(self._q.insert_window, (key, code, window.from_ms, window.until_ms, ts))
        if previous is not None:
            for partition in listing_partitions(previous):
                batch.add(
                    self._q.delete_listing,
                    (ts - 1, partition, previous.add_time.ToMilliseconds(), title.title_id),
                )
        rating_rank = rank(title.maturity_rating)
        for partition in listing_partitions(title):
            window = windows.get(partition, Window())
            batch.add(
                self._q.insert_listing,
                (
                    partition,
                    title.add_time.ToMilliseconds(),
                    title.title_id,
                    title.content_type,
                    title.maturity_rating,
                    rating_rank,
                    set(title.genres),
                    window.from_ms,
                    window.until_ms,
                    ts,
                ),
            )
        if metadata is not None:
            batch.add(
                self._q.insert_metadata,
                (
                    key,
                    metadata.poster_url,
                    metadata.trailer_url,
                    metadata.synopsis,
                    event.created_at_ms,
                    ts,
                ),
            )
        batch.add(
            self._q.insert_outbox,
            (
                event.created_at_ms,
                uuid.UUID(event.event_id),
                event.aggregate_type,
                event.aggregate_id,
                event.event_type,
                event.payload,
                ts,
            ),
        )
        await self._run(batch)

    def outbox_source(self) -> CassandraOutboxSource:
        """The relay's view of this store's outbox (services/events/relay.py)."""
        return CassandraOutboxSource(self._session, name="catalog")

    def _write_timestamp(self) -> int:
        """Microseconds, strictly increasing in this process (so a quick second
        write of one title never ties with the first)."""
        self._last_write_us = max(time.time_ns() // 1000, self._last_write_us + 2)
        return self._last_write_us


_Variant = tuple[bool, bool, bool]


def _sai_query(variant: _Variant) -> str:
    """The listing query for filters on (content type, maturity, genre)."""
    clauses = ["country_code = ?", "(add_time, title_id) < (?, ?)"]
    clauses += ["content_type = ?"] if variant[0] else []
    clauses += ["maturity_rank <= ?"] if variant[1] else []
    clauses += ["genres CONTAINS ?"] if variant[2] else []
    return (
        "SELECT add_time, title_id, content_type, maturity_rating, genres, available_from, "
        f"available_until FROM {{ks}}.titles_by_country WHERE {' AND '.join(clauses)} LIMIT ?"
    )


def _row_matches(row: Any, title_filter: TitleFilter, allowed: frozenset[str], now_ms: int) -> bool:
    if title_filter.content_type and row.content_type != title_filter.content_type:
        return False
    if row.maturity_rating not in allowed:
        return False
    if title_filter.genre and title_filter.genre not in (row.genres or ()):
        return False
    return Window(_ms(row.available_from), _ms(row.available_until)).open_at(now_ms)


def _title_matches(
    title: catalog_pb2.Title, title_filter: TitleFilter, allowed: frozenset[str]
) -> bool:
    if (
        title_filter.country
        and title.country_codes
        and title_filter.country not in title.country_codes
    ):
        return False
    if title_filter.content_type and title.content_type != title_filter.content_type:
        return False
    if title.maturity_rating not in allowed:
        return False
    return not title_filter.genre or title_filter.genre in title.genres


def _content_values(title: catalog_pb2.Title) -> tuple[Any, ...]:
    length = title.WhichOneof("length")
    return (
        uuid.UUID(title.title_id),
        title.title,
        title.description,
        title.release_year,
        title.duration_minutes if length == "duration_minutes" else None,
        title.seasons if length == "seasons" else None,
        title.content_type,
        list(title.genres),
        title.maturity_rating,
        set(title.country_codes),
        list(title.language_codes),
        list(title.cast),
        list(title.directors),
        title.add_time.ToMilliseconds(),
        title.create_time.ToMilliseconds(),
        title.update_time.ToMilliseconds(),
    )


def _title_of(row: Any) -> catalog_pb2.Title:
    title = catalog_pb2.Title(
        title_id=str(row.content_id),
        title=row.title or "",
        description=row.description or "",
        release_year=row.release_year or 0,
        content_type=row.content_type or "",
        genres=row.genres or [],
        maturity_rating=row.maturity_rating or "",
        country_codes=sorted(row.country_codes or ()),
        language_codes=row.language_codes or [],
        cast=row.cast_members or [],
        directors=row.directors or [],
    )
    if row.duration_minutes is not None:
        title.duration_minutes = row.duration_minutes
    elif row.seasons is not None:
        title.seasons = row.seasons
    for field_name, value in (
        ("add_time", row.add_time),
        ("create_time", row.created_at),
        ("update_time", row.updated_at),
    ):
        ms = _ms(value)
        if ms is not None:
            getattr(title, field_name).CopyFrom(from_ms(ms))
    return title
