"""The embedded warehouse: one DuckDB file, columnar, no server, no extensions.

DuckDB's Python calls block, so every operation runs on ONE connection in
ONE worker thread (a ``ThreadPoolExecutor`` with a single worker), never on
the event loop: the loop awaits the thread's future. Calls are serialised
there (DuckDB's connection is not for concurrent use), and at most
``max_pending`` wait for it; more callers wait on an asyncio semaphore
instead of piling up in the executor's queue. One process opens the file
(DuckDB locks it), so the embedded warehouse runs one analytics process.

A load is one DuckDB transaction. The batch is checked first, in memory,
against what the file holds (:class:`_Known`: the ledger's event ids, the
rollup watermark, the dimension keys): rows of loaded events and of rolled-up
days are dropped there, so the cost of a batch does not grow with the ledger.
The remaining rows go into temporary staging tables through DuckDB's Appender
(its bulk path: rows buffered and appended in one go, no SQL per row), then
into the facts, with their event ids into ``loaded_events`` (the durable
ledger, read back when the file is opened); titles replace ``dim_title``'s
row only when newer (``source_time``). Reports run the same SQL as on
PostgreSQL (services/analytics/stores/_shared.py); :meth:`roll_up` moves old
days into the rollups and forgets their ids.

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
from dataclasses import dataclass, field
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
from services.runtime.sagas import StepKey
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


@dataclass
class _Known:
    """What the file holds that a load checks, kept in memory by the one process that owns
    the file and changed only after a commit: the dedupe's index (the ledger's event ids),
    the rollup watermark and the dimension keys already stored.

    The ids cost memory (about 120 bytes each; the retention's rollups forget
    those of the days they move) and the file's opening reads them (about 3 s a
    million): the price of a dedupe whose cost does not grow with the ledger.
    An anti-join against ``loaded_events`` scanned all of it on every batch, and
    a primary key's ART index costs as much per insert once it is large."""

    rolled_through: date = date.min
    loaded: set[str] = field(default_factory=set)
    days: set[date] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)

    def add(self, added: _Known) -> None:
        self.days |= added.days
        self.countries |= added.countries
        self.devices |= added.devices


class DuckDbWarehouse:
    """The warehouse in a DuckDB file; open with :meth:`open`."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        executor: ThreadPoolExecutor,
        max_pending: int,
        known: _Known,
    ) -> None:
        self._con = connection
        self._executor = executor
        self._pending = asyncio.Semaphore(max_pending)
        self._appenders: dict[str, Any] = {}
        self._closed = False
        # The one connection owns the file, so what it knows of the file is the truth.
        self._known = known

    @classmethod
    async def open(
        cls, path: Path | str, *, max_pending: int = 64, migrate: bool = True
    ) -> DuckDbWarehouse:
        """Opens (creating) the file, migrating it when ``migrate``; ``":memory:"`` for none."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb")
        loop = asyncio.get_running_loop()
        try:
            with _outage:
                connection, known = await loop.run_in_executor(
                    executor, functools.partial(_connect, str(path), migrate)
                )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(connection, executor, max_pending, known)

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

    # ------------------------------------------------------------------ sagas
    async def account_fact_count(self, account_id: str) -> int:
        def count() -> int:
            row = self._con.execute(
                shared.ACCOUNT_FACT_COUNT.format(p1="$1"), [account_id]
            ).fetchone()
            return int(row[0]) if row else 0

        return await self._run(count)

    async def anonymise_account(
        self, key: StepKey, account_id: str, profile_ids: Sequence[str], salt: str
    ) -> tuple[int, bool]:
        return await self._run(
            functools.partial(self._anonymise, key, account_id, list(profile_ids), salt)
        )

    def _anonymise(
        self, key: StepKey, account_id: str, profile_ids: list[str], salt: str
    ) -> tuple[int, bool]:
        ledger = shared.saga_ledger_ids(key)
        if any(event_id in self._known.loaded for event_id in ledger):
            return 0, True
        con = self._con
        anonymous = shared.anonymous_account(salt)
        con.begin()
        try:
            changed = 0
            for number, statement in enumerate(shared.ANONYMISE_FACTS):
                con.execute(
                    statement.format(p1="$1", p2="$2", p3="$3"), [account_id, anonymous, salt]
                )
                if number == 0:
                    changed += _changed(con)
            con.execute(
                shared.ANONYMISE_ROLLUP.format(p3="$1", p4="ANY($2::VARCHAR[])"),
                [salt, profile_ids],
            )
            changed += _changed(con)
            self._ledger(ledger, shared.SAGA_TARGET)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        self._known.loaded |= set(ledger)
        return changed, False

    # ------------------------------------------------------------------ load
    async def load(self, batch: Batch) -> LoadResult:
        batch = shared.deduplicated(batch)
        if not len(batch):
            return LoadResult()
        loaded = await self._run(functools.partial(self._load, batch))
        return LoadResult(frozenset(loaded), len(batch) - len(loaded))

    def _load(self, batch: Batch) -> set[str]:
        known = self._known

        def new(event_id: str, day: date) -> bool:
            # Loaded already, or of a day already rolled up (final): skipped.
            return event_id not in known.loaded and day > known.rolled_through

        fresh = Batch(
            views=[v for v in batch.views if new(v.event_id, v.day)],
            signups=[s for s in batch.signups if new(s.event_id, s.day)],
            profile_changes=[p for p in batch.profile_changes if new(p.event_id, p.day)],
            titles=[t for t in batch.titles if t.event_id not in known.loaded],
        )
        if not len(fresh):
            return set()
        con = self._con
        con.begin()
        try:
            added = self._dimensions(fresh)
            facts: list[tuple[Sequence[Any], Callable[[Any], tuple[Any, ...]]]] = [
                (fresh.views, shared.view_row),
                (fresh.signups, shared.signup_row),
                (fresh.profile_changes, shared.profile_change_row),
            ]
            for (stage, fact, columns), (rows, to_row) in zip(_FACTS, facts, strict=True):
                if not rows:
                    continue
                self._stage(stage, rows, to_row)
                self._ledger([r.event_id for r in rows], fact)
                names = ", ".join(columns)
                con.execute(f"INSERT INTO {fact} ({names}) SELECT {names} FROM {stage}")
                con.execute(f"DELETE FROM {stage}")
            if fresh.titles:
                self._stage("stage_title", fresh.titles, shared.title_row)
                self._ledger([t.event_id for t in fresh.titles], "dim_title")
                self._load_titles()
            con.commit()
        except BaseException:
            con.rollback()
            raise
        loaded = {row.event_id for row in fresh.rows()}
        known.loaded |= loaded
        known.add(added)
        return loaded

    def _ledger(self, event_ids: list[str], target: str) -> None:
        self._con.execute(
            f"INSERT INTO loaded_events (event_id, target) SELECT unnest(?::VARCHAR[]), '{target}'",
            [event_ids],
        )

    def _dimensions(self, batch: Batch) -> _Known:
        """Adds the days, countries and devices the file does not have; returns them."""
        known = self._known
        added = _Known(
            days=shared.days_of(batch) - known.days,
            countries={v.country_code for v in batch.views}.union(
                s.country_code for s in batch.signups
            )
            - known.countries,
            devices={v.device_type for v in batch.views} - known.devices,
        )
        con = self._con
        if added.days:
            con.executemany(
                "INSERT INTO dim_date VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [list(shared.date_row(day)) for day in sorted(added.days)],
            )
        for table, values in (("dim_country", added.countries), ("dim_device", added.devices)):
            if values:
                con.execute(
                    f"INSERT INTO {table} SELECT unnest(?::VARCHAR[]) ON CONFLICT DO NOTHING",
                    [sorted(values)],
                )
        return added

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

    def _load_titles(self) -> None:
        """The staged titles (all new events) replace older rows of their titles."""
        con = self._con
        con.execute(_REPLACED_TITLES)
        con.execute(
            "DELETE FROM dim_title_genre WHERE title_id IN (SELECT title_id FROM replaced_titles)"
        )
        con.execute(_UPSERT_TITLES)
        con.execute(_INSERT_GENRES)
        con.execute("DROP TABLE replaced_titles")
        con.execute("DELETE FROM stage_title")

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
        if through <= self._known.rolled_through:
            return RollupResult(self._known.rolled_through)
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
        self._known.rolled_through = through
        self._known.loaded.difference_update(forgotten)
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


def _connect(path: str, migrate: bool) -> tuple[duckdb.DuckDBPyConnection, _Known]:
    """The open connection and what its file holds (see :class:`_Known`)."""
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

        def column(sql: str) -> set[Any]:
            return {r[0] for r in connection.execute(sql).fetchall()}

        known = _Known(
            rolled_through=row[0],
            loaded=column("SELECT event_id FROM loaded_events"),
            days=column("SELECT date_key FROM dim_date"),
            countries=column("SELECT country_code FROM dim_country"),
            devices=column("SELECT device_type FROM dim_device"),
        )
    except BaseException:
        connection.close()
        raise
    return connection, known


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


def _changed(con: duckdb.DuckDBPyConnection) -> int:
    """The rows the last UPDATE changed (DuckDB answers it as a one-row result)."""
    row = con.fetchone()
    return int(row[0]) if row else 0
