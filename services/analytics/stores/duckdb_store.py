"""The embedded warehouse: one DuckDB file, columnar, no server, no extensions.

DuckDB's Python calls block, so every operation runs on ONE connection in
ONE worker thread (a ``ThreadPoolExecutor`` with a single worker), never on
the event loop: the loop awaits the thread's future. Calls are serialised
there (DuckDB's connection is not for concurrent use), and at most
``max_pending`` wait for it; more callers wait on an asyncio semaphore
instead of piling up in the executor's queue. One process opens the file
(DuckDB locks it), so the embedded warehouse runs one analytics process.

A load is one DuckDB transaction: the batch's rows go into temporary
staging tables through DuckDB's Appender (its bulk path: rows buffered and
appended in one go, no SQL per row), rows of events already in
``loaded_events`` are deleted from staging, and the rest go into the facts
and the ledger together; titles replace ``dim_title``'s row only when newer
(``source_time``). Reports run the same SQL as on PostgreSQL
(services/analytics/stores/_shared.py).

No extension is loaded (``autoinstall_known_extensions`` and
``autoload_known_extensions`` are off): nothing can be downloaded at run time.
A file DuckDB cannot open or write (locked by another process, a failing
disk) raises ``Unavailable``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import duckdb

from services.analytics.migrations import migrations
from services.analytics.store import (
    Batch,
    DayFigures,
    LoadResult,
    RollupResult,
    RowCounts,
    TitleFigures,
    TopCursor,
    check_limit,
    check_range,
)
from services.analytics.stores import _shared as shared
from services.runtime.stores import unavailable_on

log = logging.getLogger(__name__)
R = TypeVar("R")

_outage = unavailable_on(duckdb.IOException, what="the analytics warehouse")

_STAGING: Final = """
CREATE TEMP TABLE stage_view (
  date_key DATE, event_id VARCHAR, view_id VARCHAR, profile_id VARCHAR, account_id VARCHAR,
  title_id VARCHAR, watch_time TIMESTAMPTZ, country_code VARCHAR, device_type VARCHAR,
  watch_seconds INTEGER, position_seconds INTEGER, duration_seconds INTEGER,
  completed BOOLEAN, event_time TIMESTAMPTZ
);
CREATE TEMP TABLE stage_signup (
  date_key DATE, event_id VARCHAR, account_id VARCHAR, profile_id VARCHAR,
  country_code VARCHAR, signup_time TIMESTAMPTZ, event_time TIMESTAMPTZ
);
CREATE TEMP TABLE stage_profile_change (
  date_key DATE, event_id VARCHAR, profile_id VARCHAR, account_id VARCHAR,
  change_type VARCHAR, changed_fields VARCHAR, kids_profile BOOLEAN,
  maturity_rating VARCHAR, change_time TIMESTAMPTZ, event_time TIMESTAMPTZ
);
CREATE TEMP TABLE stage_title (
  event_id VARCHAR, title_id VARCHAR, title VARCHAR, content_type VARCHAR,
  release_year INTEGER, maturity_rating VARCHAR, genres VARCHAR, source_time TIMESTAMPTZ
);
"""
_FACTS: Final = (
    ("stage_view", "fact_view", shared.VIEW_COLUMNS),
    ("stage_signup", "fact_signup", shared.SIGNUP_COLUMNS),
    ("stage_profile_change", "fact_profile_change", shared.PROFILE_CHANGE_COLUMNS),
)
_DAYS: Final = """
INSERT INTO dim_date
SELECT DISTINCT d, year(d), month(d), day(d), weekofyear(d), isodow(d) FROM (
  SELECT date_key AS d FROM stage_view UNION SELECT date_key FROM stage_signup
  UNION SELECT date_key FROM stage_profile_change
) ON CONFLICT DO NOTHING
"""
_COUNTRIES: Final = """
INSERT INTO dim_country SELECT DISTINCT country_code FROM (
  SELECT country_code FROM stage_view UNION SELECT country_code FROM stage_signup
) ON CONFLICT DO NOTHING
"""
_DEVICES: Final = (
    "INSERT INTO dim_device SELECT DISTINCT device_type FROM stage_view ON CONFLICT DO NOTHING"
)
# The newest staged row per title, where it is at least as new as the stored one.
_REPLACED_TITLES: Final = """
CREATE TEMP TABLE replaced_titles AS
SELECT s.* FROM stage_title s LEFT JOIN dim_title d USING (title_id)
WHERE d.title_id IS NULL OR s.source_time >= d.source_time
QUALIFY row_number() OVER (PARTITION BY s.title_id ORDER BY s.source_time DESC, s.event_id DESC) = 1
"""
_UPSERT_TITLES: Final = """
INSERT INTO dim_title (title_id, title, content_type, release_year, maturity_rating, source_time)
SELECT title_id, title, content_type, release_year, maturity_rating, source_time
FROM replaced_titles
ON CONFLICT (title_id) DO UPDATE SET
  title = excluded.title, content_type = excluded.content_type,
  release_year = excluded.release_year, maturity_rating = excluded.maturity_rating,
  source_time = excluded.source_time
"""
_INSERT_GENRES: Final = """
INSERT INTO dim_title_genre (genre, title_id)
SELECT DISTINCT genre, title_id FROM (
  SELECT unnest(string_split(genres, chr(31))) AS genre, title_id FROM replaced_titles
) WHERE genre <> ''
ON CONFLICT DO NOTHING
"""
_ROW_COUNTS: Final = """
SELECT (SELECT count(*) FROM fact_view), (SELECT count(*) FROM fact_signup),
       (SELECT count(*) FROM fact_profile_change), (SELECT count(*) FROM dim_title),
       (SELECT count(*) FROM loaded_events), (SELECT count(*) FROM rollup_view_daily)
"""


class DuckDbWarehouse:
    """The warehouse in a DuckDB file; open with :meth:`open`."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        executor: ThreadPoolExecutor,
        max_pending: int,
        rolled_through: date,
        loaded: set[str],
    ) -> None:
        self._con = connection
        self._executor = executor
        self._pending = asyncio.Semaphore(max_pending)
        self._appenders: dict[str, Any] = {}
        self._closed = False
        # The one connection owns the file, so its copy of the watermark is the truth.
        self._rolled_through = rolled_through
        # The ledger's ids, the dedupe's index (see _fresh): changed only after a commit.
        self._loaded = loaded

    @classmethod
    async def open(
        cls, path: Path | str, *, max_pending: int = 64, migrate: bool = True
    ) -> DuckDbWarehouse:
        """Opens (creating) the file, migrating it when ``migrate``; ``":memory:"`` for none."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb")
        loop = asyncio.get_running_loop()
        try:
            with _outage:
                connection, rolled_through, loaded = await loop.run_in_executor(
                    executor, functools.partial(_connect, str(path), migrate)
                )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(connection, executor, max_pending, rolled_through, loaded)

    async def close(self) -> None:
        """Closes the file; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        await self._run(self._con.close)
        self._executor.shutdown(wait=True)

    async def _run(self, call: Callable[[], R]) -> R:
        async with self._pending:
            with _outage:
                return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # ------------------------------------------------------------------ load
    async def load(self, batch: Batch) -> LoadResult:
        batch = shared.deduplicated(batch)
        if not len(batch):
            return LoadResult()
        loaded = await self._run(functools.partial(self._load, batch))
        return LoadResult(frozenset(loaded), len(batch) - len(loaded))

    def _load(self, batch: Batch) -> set[str]:
        con = self._con
        facts = [
            entry
            for entry, rows in zip(
                _FACTS, (batch.views, batch.signups, batch.profile_changes), strict=True
            )
            if rows
        ]
        con.begin()
        try:
            self._stage("stage_view", batch.views, shared.view_row)
            self._stage("stage_signup", batch.signups, shared.signup_row)
            self._stage("stage_profile_change", batch.profile_changes, shared.profile_change_row)
            self._stage("stage_title", batch.titles, shared.title_row)
            loaded: set[str] = set()
            if facts:
                days = shared.days_of(batch)
                if min(days) <= self._rolled_through:
                    # Those days are in the rollups for good: their rows are dropped.
                    for stage, _, _ in facts:
                        con.execute(
                            f"DELETE FROM {stage} WHERE date_key <= ?", [self._rolled_through]
                        )
                con.execute(_DAYS)
                con.execute(_COUNTRIES)
                con.execute(_DEVICES)
            for stage, fact, columns in facts:
                fresh = self._fresh(stage, fact)
                if fresh:
                    names = ", ".join(columns)
                    con.execute(
                        f"INSERT INTO {fact} ({names}) SELECT {names} FROM {stage} "
                        "WHERE event_id IN (SELECT unnest(?::VARCHAR[]))",
                        [fresh],
                    )
                    loaded.update(fresh)
                con.execute(f"DELETE FROM {stage}")
            if batch.titles:
                loaded.update(self._load_titles())
            con.commit()
        except BaseException:
            con.rollback()
            raise
        self._loaded |= loaded
        return loaded

    def _fresh(self, stage: str, target: str) -> list[str]:
        """Adds the staged events not loaded yet to the ledger; returns them."""
        fresh = [
            r[0]
            for r in self._con.execute(f"SELECT event_id FROM {stage}").fetchall()
            if r[0] not in self._loaded
        ]
        if fresh:
            self._con.execute(
                f"INSERT INTO loaded_events (event_id, target) "
                f"SELECT unnest(?::VARCHAR[]), '{target}'",
                [fresh],
            )
        return fresh

    def _stage(
        self, table: str, rows: Sequence[Any], to_row: Callable[[Any], tuple[Any, ...]]
    ) -> None:
        if not rows:
            return
        appender = self._appenders.get(table)
        if appender is None:
            appender = self._appenders[table] = self._con.appender(table)
        appender.append_rows([to_row(row) for row in rows])
        appender.flush()

    def _load_titles(self) -> set[str]:
        con = self._con
        fresh = self._fresh("stage_title", "dim_title")
        con.execute(
            "DELETE FROM stage_title WHERE event_id NOT IN (SELECT unnest(?::VARCHAR[]))", [fresh]
        )
        con.execute(_REPLACED_TITLES)
        con.execute(
            "DELETE FROM dim_title_genre WHERE title_id IN (SELECT title_id FROM replaced_titles)"
        )
        con.execute(_UPSERT_TITLES)
        con.execute(_INSERT_GENRES)
        con.execute("DROP TABLE replaced_titles")
        con.execute("DELETE FROM stage_title")
        return set(fresh)

    # --------------------------------------------------------------- reports
    async def title_stats(self, title_id: str, start: date, end: date) -> TitleFigures | None:
        check_range(start, end)
        row = await self._run(
            functools.partial(self._fetchone, shared.TITLE_STATS_SQL, [title_id, start, end])
        )
        if not row[0]:
            return None
        return TitleFigures(title_id, *(int(x) for x in row))

    async def top_titles(
        self,
        start: date,
        end: date,
        *,
        country: str,
        genre: str,
        limit: int,
        after: TopCursor | None,
    ) -> list[TitleFigures]:
        check_range(start, end)
        check_limit(limit)
        params = [
            start,
            end,
            country,
            genre,
            None if after is None else after.watch_seconds,
            "" if after is None else after.title_id,
            limit,
        ]
        rows = await self._run(functools.partial(self._fetchall, shared.TOP_TITLES_SQL, params))
        return [TitleFigures(r[0], *(int(x) for x in r[1:])) for r in rows]

    async def daily_engagement(
        self, start: date, end: date, *, limit: int, after: date | None
    ) -> list[DayFigures]:
        check_range(start, end)
        check_limit(limit)
        if after is not None:
            start = max(start, date.fromordinal(after.toordinal() + 1))
            if start > end:
                return []
        rows = await self._run(
            functools.partial(self._fetchall, shared.DAILY_SQL, [start, end, limit])
        )
        return shared.days_of_rows(rows)

    async def roll_up(self, before: date) -> RollupResult:
        return await self._run(functools.partial(self._roll_up, before))

    def _roll_up(self, before: date) -> RollupResult:
        through = before - timedelta(days=1)
        if through <= self._rolled_through:
            return RollupResult(self._rolled_through)
        con = self._con
        con.begin()
        try:
            raw_rows = self._count("SELECT count(*) FROM fact_view WHERE date_key < $1", before)
            view_rollup, *others = shared.ROLLUP_SQL
            rollup_rows = self._count(view_rollup, before)
            for sql in others:
                con.execute(sql, [before])
            forgotten = [
                r[0]
                for r in con.execute(
                    shared.FORGET_ROLLED_UP_SQL + " RETURNING event_id", [before]
                ).fetchall()
            ]
            for table in shared.FACT_TABLES:
                con.execute(f"DELETE FROM {table} WHERE date_key < $1", [before])
            con.execute("UPDATE rollup_watermark SET rolled_through = $1", [through])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        self._rolled_through = through
        self._loaded.difference_update(forgotten)
        return RollupResult(through, raw_rows, rollup_rows)

    def _count(self, sql: str, *params: Any) -> int:
        row = self._con.execute(sql, list(params)).fetchone()
        assert row is not None
        return int(row[0])

    async def row_counts(self) -> RowCounts:
        row = await self._run(functools.partial(self._fetchone, _ROW_COUNTS, []))
        return RowCounts(*row)

    def _fetchone(self, sql: str, params: list[Any]) -> tuple[Any, ...]:
        row = self._con.execute(sql, params).fetchone()
        assert row is not None
        return tuple(row)

    def _fetchall(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._con.execute(sql, params).fetchall()]


def _connect(path: str, migrate: bool) -> tuple[duckdb.DuckDBPyConnection, date, set[str]]:
    """The open connection, the rollup watermark of its file and its ledger's event ids."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(
        path,
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    try:
        if migrate:
            _migrate(connection)
        connection.execute(_STAGING)
        row = connection.execute("SELECT rolled_through FROM rollup_watermark").fetchone()
        assert row is not None
        loaded = {r[0] for r in connection.execute("SELECT event_id FROM loaded_events").fetchall()}
    except BaseException:
        connection.close()
        raise
    return connection, row[0], loaded


def _migrate(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"
    )
    row = connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    current = int(row[0]) if row else 0
    known = migrations("duckdb")
    if current > len(known):
        raise RuntimeError(
            f"the warehouse is at schema version {current}, newer than this build's {len(known)}"
        )
    for migration in known[current:]:
        log.info("analytics: applying migration %04d_%s", migration.version, migration.name)
        connection.begin()
        try:
            connection.execute(migration.sql)
            connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
