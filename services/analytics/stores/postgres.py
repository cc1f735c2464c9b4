"""The real warehouse: PostgreSQL through asyncpg (the protocol Redshift speaks).

A load is one transaction on one pooled connection:

1. the batch's rows go into session-local staging tables (``ON COMMIT
   DELETE ROWS``) with ``COPY`` (asyncpg's binary ``copy_records_to_table``),
   or, with ``bulk=False`` (the benchmark's baseline), with row inserts;
2. the month partitions of the batch's days are created if missing (under a
   transaction-scoped advisory lock, so two loaders never race on DDL), and
   the days, countries and devices are added to their dimensions;
3. ``INSERT INTO loaded_events ... ON CONFLICT DO NOTHING RETURNING event_id``
   keeps the events that are new, and only their staged rows are inserted
   into the facts (one data-modifying CTE per fact table);
4. title rows replace ``dim_title``'s only when their ``source_time`` is at
   least the stored one, and their genres replace the bridge's.

Before step 3 a load reads the rollup watermark ``FOR SHARE`` and drops the
staged rows of days already rolled up (final); :meth:`roll_up` updates it
first, so a load and a rollup never interleave. A rollup deletes the raw rows
of the days it moves and drops the months wholly before its cutoff.

Reports run plain SQL (services/analytics/stores/_shared.py) on ``view_days``
(rollups and raw facts): their ``date_key`` range prunes to the months it
covers, and GetTitleStats uses the ``(title_id, date_key)`` indexes.

Every driver error that means "the server cannot be reached or is going
away" (refused or reset connections, timeouts, a server shutting down or
starting up) becomes ``Unavailable``; the pool replaces broken connections.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Final

import asyncpg

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
from services.runtime import store_metrics
from services.runtime.sagas import StepKey
from services.runtime.stores import unavailable_on

log = logging.getLogger(__name__)

_outage = unavailable_on(
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    # Admin shutdown, crash shutdown, "the database system is starting up".
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    what="the analytics warehouse",
)

# A fixed key for pg_advisory_xact_lock: migrations and partition DDL.
_DDL_LOCK: Final = 0x5354524D  # "STRM"
_FACT_TABLES: Final = ("fact_view", "fact_signup", "fact_profile_change")

_STAGING: Final = """
CREATE TEMP TABLE IF NOT EXISTS stage_view (
  date_key date, event_id text, view_id text, profile_id text, account_id text,
  title_id text, watch_time timestamptz, country_code text, device_type text,
  watch_seconds integer, position_seconds integer, duration_seconds integer,
  completed boolean, event_time timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_signup (
  date_key date, event_id text, account_id text, profile_id text, country_code text,
  signup_time timestamptz, event_time timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_profile_change (
  date_key date, event_id text, profile_id text, account_id text, change_type text,
  changed_fields text, kids_profile boolean, maturity_rating text,
  change_time timestamptz, event_time timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_title (
  event_id text, title_id text, title text, content_type text, release_year integer,
  maturity_rating text, genres text, source_time timestamptz
) ON COMMIT DELETE ROWS;
"""


def _move_sql(fact: str, stage: str, columns: Sequence[str]) -> str:
    """Inserts the staged rows of new events only; returns their event ids."""
    names = ", ".join(columns)
    return f"""
WITH fresh AS (
  INSERT INTO loaded_events (event_id, target)
  SELECT event_id, '{fact}' FROM {stage}
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
)
INSERT INTO {fact} ({names})
SELECT {", ".join(f"s.{c}" for c in columns)} FROM {stage} s JOIN fresh USING (event_id)
RETURNING event_id
"""


_MOVE_VIEWS: Final = _move_sql("fact_view", "stage_view", shared.VIEW_COLUMNS)
_MOVE_SIGNUPS: Final = _move_sql("fact_signup", "stage_signup", shared.SIGNUP_COLUMNS)
_MOVE_PROFILE_CHANGES: Final = _move_sql(
    "fact_profile_change", "stage_profile_change", shared.PROFILE_CHANGE_COLUMNS
)
# New title events; of those, the newest per title replaces an older row.
_MOVE_TITLES: Final = """
WITH fresh AS (
  INSERT INTO loaded_events (event_id, target)
  SELECT event_id, 'dim_title' FROM stage_title
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
), newest AS (
  SELECT DISTINCT ON (s.title_id) s.*
  FROM stage_title s JOIN fresh USING (event_id)
  ORDER BY s.title_id, s.source_time DESC, s.event_id DESC
), replaced AS (
  INSERT INTO dim_title (title_id, title, content_type, release_year, maturity_rating, source_time)
  SELECT title_id, title, content_type, release_year, maturity_rating, source_time FROM newest
  ON CONFLICT (title_id) DO UPDATE SET
    title = excluded.title, content_type = excluded.content_type,
    release_year = excluded.release_year, maturity_rating = excluded.maturity_rating,
    source_time = excluded.source_time
  WHERE excluded.source_time >= dim_title.source_time
  RETURNING title_id
), cleared AS (
  DELETE FROM dim_title_genre g USING replaced r WHERE g.title_id = r.title_id
)
SELECT n.title_id, n.genres FROM newest n JOIN replaced USING (title_id)
"""
_INSERT_GENRES: Final = """
INSERT INTO dim_title_genre (genre, title_id) SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT DO NOTHING
"""
_ROW_COUNTS: Final = """
SELECT (SELECT count(*) FROM fact_view), (SELECT count(*) FROM fact_signup),
       (SELECT count(*) FROM fact_profile_change), (SELECT count(*) FROM dim_title),
       (SELECT count(*) FROM loaded_events), (SELECT count(*) FROM rollup_view_daily)
"""
# The fact tables' monthly partitions (named <table>_pYYYY_MM by the loader).
_EXPIRED_PARTITIONS: Final = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = ANY($1::text[])
"""


def _row_count(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 12``."""
    return int(status.rsplit(" ", 1)[1])


def _partition_month(name: str) -> date | None:
    _, _, suffix = name.rpartition("_p")
    year, _, month = suffix.partition("_")
    if not (year.isdigit() and month.isdigit()):
        return None
    return date(int(year), int(month), 1)


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


class PostgresWarehouse:
    """The warehouse on PostgreSQL; open with :meth:`open`."""

    def __init__(self, pool: asyncpg.Pool, *, bulk: bool) -> None:
        self._pool = pool
        self._bulk = bulk
        # Months whose partitions exist, so a load issues their DDL once per process.
        self._months: set[date] = set()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = 4,
        command_timeout_seconds: float = 60.0,
        migrate: bool = True,
        bulk: bool = True,
    ) -> PostgresWarehouse:
        """Connects (a pool of at most ``pool_size``), migrating first when ``migrate``."""
        with _outage:
            if migrate:
                await _migrate(url, command_timeout_seconds)
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                command_timeout=command_timeout_seconds,
                timeout=command_timeout_seconds,
                init=_init_connection,
                # A commit returns only once its WAL is on disk, whatever the
                # server's default: the loader acknowledges an event after its
                # commit, so a commit lost to a crash would be a view lost for good
                # (tests/chaos/test_backend_restarts.py saw it with the setting off).
                server_settings={"synchronous_commit": "on"},
            )
        store_metrics.watch_asyncpg_pool(pool, store="analytics")
        return cls(pool, bulk=bulk)

    async def close(self) -> None:
        store_metrics.unwatch_pool(self._pool)
        await self._pool.close()

    @_outage
    async def account_fact_count(self, account_id: str) -> int:
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval(shared.ACCOUNT_FACT_COUNT.format(p1="$1"), account_id))

    @_outage
    async def anonymise_account(
        self, key: StepKey, account_id: str, profile_ids: Sequence[str], salt: str
    ) -> tuple[int, bool]:
        ledger = shared.saga_ledger_ids(key)
        async with self._pool.acquire() as conn, conn.transaction():
            seen = await conn.fetchval(
                "SELECT count(*) FROM loaded_events WHERE event_id = ANY($1::text[])", ledger
            )
            if seen:
                return 0, True
            anonymous = shared.anonymous_account(salt)
            changed = 0
            for number, statement in enumerate(shared.ANONYMISE_FACTS):
                status = await conn.execute(
                    statement.format(p1="$1", p2="$2", p3="$3"), account_id, anonymous, salt
                )
                if number == 0:
                    changed += _row_count(status)
            status = await conn.execute(
                shared.ANONYMISE_ROLLUP.format(p3="$1", p4="ANY($2::text[])"),
                salt,
                list(profile_ids),
            )
            changed += _row_count(status)
            await conn.execute(
                "INSERT INTO loaded_events (event_id, target) VALUES ($1, $2)",
                ledger[0],
                shared.SAGA_TARGET,
            )
        return changed, False

    # ------------------------------------------------------------------ load
    @_outage
    async def load(self, batch: Batch) -> LoadResult:
        batch = shared.deduplicated(batch)
        if not len(batch):
            return LoadResult()
        async with self._pool.acquire() as conn, conn.transaction():
            await self._stage(conn, "stage_view", shared.VIEW_COLUMNS, batch.views, shared.view_row)
            await self._stage(
                conn, "stage_signup", shared.SIGNUP_COLUMNS, batch.signups, shared.signup_row
            )
            await self._stage(
                conn,
                "stage_profile_change",
                shared.PROFILE_CHANGE_COLUMNS,
                batch.profile_changes,
                shared.profile_change_row,
            )
            await self._stage(
                conn, "stage_title", shared.TITLE_COLUMNS, batch.titles, shared.title_row
            )
            through = await self._drop_rolled_up_days(conn, batch)
            months = await self._dimensions(conn, batch, through)
            loaded: set[str] = set()
            for rows, move in (
                (batch.views, _MOVE_VIEWS),
                (batch.signups, _MOVE_SIGNUPS),
                (batch.profile_changes, _MOVE_PROFILE_CHANGES),
            ):
                if rows:
                    loaded.update(r[0] for r in await conn.fetch(move))
            if batch.titles:
                loaded.update(await self._load_titles(conn))
        # Only once committed: a rolled-back CREATE must be issued again.
        self._months |= months
        return LoadResult(frozenset(loaded), len(batch) - len(loaded))

    async def _stage(
        self,
        conn: asyncpg.Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Any],
        to_row: Any,
    ) -> None:
        if not rows:
            return
        records = [to_row(row) for row in rows]
        if self._bulk:
            await conn.copy_records_to_table(table, records=records, columns=list(columns))
        else:
            marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            await conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", records
            )

    async def _drop_rolled_up_days(self, conn: asyncpg.Connection, batch: Batch) -> date:
        """Removes staged rows of days already rolled up: those days are final.

        The watermark is read FOR SHARE: a rollup updates it first, so it waits
        for this load's commit and this load waits for the rollup's. Returns it."""
        days = shared.days_of(batch)
        if not days:
            return date.min
        through: date = await conn.fetchval("SELECT rolled_through FROM rollup_watermark FOR SHARE")
        if min(days) <= through:
            for stage in ("stage_view", "stage_signup", "stage_profile_change"):
                await conn.execute(f"DELETE FROM {stage} WHERE date_key <= $1", through)
        return through

    async def _dimensions(
        self, conn: asyncpg.Connection, batch: Batch, rolled_through: date
    ) -> set[date]:
        """Creates missing partitions and dimension rows (of days after ``rolled_through``
        only); returns the months created."""
        days = {day for day in shared.days_of(batch) if day > rolled_through}
        months = {_month(day) for day in days} - self._months
        if months:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
            for month in sorted(months):
                for table in _FACT_TABLES:
                    await conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {table}_p{month:%Y_%m} PARTITION OF {table} "
                        f"FOR VALUES FROM ('{month.isoformat()}') "
                        f"TO ('{_next_month(month).isoformat()}')"
                    )
        if days:
            await conn.executemany(
                "INSERT INTO dim_date VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                [shared.date_row(day) for day in sorted(days)],
            )
        countries = sorted(
            {v.country_code for v in batch.views} | {s.country_code for s in batch.signups}
        )
        if countries:
            await conn.execute(
                "INSERT INTO dim_country SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                countries,
            )
        devices = sorted({v.device_type for v in batch.views})
        if devices:
            await conn.execute(
                "INSERT INTO dim_device SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", devices
            )
        return months

    async def _load_titles(self, conn: asyncpg.Connection) -> set[str]:
        loaded = {
            r[0]
            for r in await conn.fetch(
                "SELECT event_id FROM stage_title s WHERE NOT EXISTS "
                "(SELECT 1 FROM loaded_events l WHERE l.event_id = s.event_id)"
            )
        }
        replaced = await conn.fetch(_MOVE_TITLES)
        genres: list[str] = []
        titles: list[str] = []
        for title_id, joined in replaced:
            for genre in filter(None, set(joined.split(shared.GENRE_SEPARATOR))):
                genres.append(genre)
                titles.append(title_id)
        if genres:
            await conn.execute(_INSERT_GENRES, genres, titles)
        return loaded

    # --------------------------------------------------------------- reports
    @_outage
    async def title_stats(self, title_id: str, start: date, end: date) -> TitleFigures | None:
        check_range(start, end)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(shared.TITLE_STATS_SQL, title_id, start, end)
        assert row is not None
        if not row[0]:
            return None
        return TitleFigures(title_id, *(int(x) for x in row))

    @_outage
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
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                shared.TOP_TITLES_SQL,
                start,
                end,
                country,
                genre,
                None if after is None else after.watch_seconds,
                "" if after is None else after.title_id,
                limit,
            )
        return [TitleFigures(r[0], *(int(x) for x in r[1:])) for r in rows]

    @_outage
    async def daily_engagement(
        self, start: date, end: date, *, limit: int, after: date | None
    ) -> list[DayFigures]:
        check_range(start, end)
        check_limit(limit)
        if after is not None:
            start = max(start, date.fromordinal(after.toordinal() + 1))
            if start > end:
                return []
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(shared.DAILY_SQL, start, end, limit)
        return shared.days_of_rows(rows)

    @_outage
    async def roll_up(self, before: date) -> RollupResult:
        through = before - timedelta(days=1)
        async with self._pool.acquire() as conn, conn.transaction():
            # First: from here on no load can commit a row of these days.
            current = await conn.fetchval(
                "UPDATE rollup_watermark SET rolled_through = greatest(rolled_through, $1) "
                "RETURNING rolled_through",
                through,
            )
            if current > through:
                return RollupResult(current)
            raw_rows = await conn.fetchval(
                "SELECT count(*) FROM fact_view WHERE date_key < $1", before
            )
            view_rollup, *others = shared.ROLLUP_SQL
            rollup_rows = _row_count(await conn.execute(view_rollup, before))
            for sql in others:
                await conn.execute(sql, before)
            await conn.execute(shared.FORGET_ROLLED_UP_SQL, before)
            for table in shared.FACT_TABLES:
                await conn.execute(f"DELETE FROM {table} WHERE date_key < $1", before)
            # Months wholly before the cutoff are empty now: dropped, their space freed.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
            for (partition,) in await conn.fetch(_EXPIRED_PARTITIONS, list(shared.FACT_TABLES)):
                month = _partition_month(partition)
                if month is not None and _next_month(month) <= before:
                    await conn.execute(f"DROP TABLE {partition}")
                    self._months.discard(month)
        return RollupResult(through, raw_rows, rollup_rows)

    @_outage
    async def row_counts(self) -> RowCounts:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_ROW_COUNTS)
        assert row is not None
        return RowCounts(*row)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.execute(_STAGING)


async def _migrate(url: str, bound_seconds: float) -> None:
    """Applies the migrations above the database's version, under the DDL lock."""
    conn = await asyncpg.connect(url, timeout=bound_seconds, command_timeout=bound_seconds)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
            known = migrations("postgres")
            if current > len(known):
                raise RuntimeError(
                    f"the warehouse is at schema version {current}, newer than this build's "
                    f"{len(known)}"
                )
            for migration in known[current:]:
                log.info("analytics: applying migration %04d_%s", migration.version, migration.name)
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
    finally:
        await conn.close()
