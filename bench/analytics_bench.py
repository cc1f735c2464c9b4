"""Analytics warehouse benchmark: ingestion and report latency, PostgreSQL against DuckDB.

``python bench/analytics_bench.py`` (``make bench-analytics``; PostgreSQL from
``make infra-up``). Everything in one process, through the store port itself
(services/analytics/stores/), the same code the loaders call:

1. ingestion: ``--ingest-events`` generated view events loaded in batches of
   ``--batch`` (the loader's default micro-batch): PostgreSQL with COPY into
   staging (the shipped path), PostgreSQL with row inserts into the same
   staging (``bulk=False``, the baseline), DuckDB with its Appender; each on a
   fresh warehouse; events/s = events / wall time of the loads;
2. reports: ``--views`` (1,000,000) generated views over 90 days, 3,000
   titles, 20,000 profiles, 10 countries and 5 devices loaded into each
   backend (COPY / Appender), then ``--calls`` calls of each report, one at a
   time, on random titles, countries and 30-day ranges: GetTitleStats,
   ListTopTitles (page of 20, one in two with a country), ListDailyEngagement
   (30 days); p50/p99 per backend and the ratio;
3. retention: on the same warehouses, every day older than ``--keep-days``
   (30) is rolled up (``store.roll_up``: raw facts out, daily rollups in),
   the reports are timed again (old days now read from rollups) and the
   storage before and after is printed: PostgreSQL's relation sizes (after
   ``VACUUM FULL``, so deleted rows count for nothing), DuckDB's data copied
   into a fresh file (DuckDB does not shrink a file after deletes).

Bounded: every load and call is counted; the scratch database
(``bench_analytics_<pid>``) and the DuckDB folder are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import duckdb

from devtools.infra import endpoints
from services.analytics.store import Batch, ViewFact, WarehouseStore
from services.analytics.stores.duckdb_store import DuckDbWarehouse
from services.analytics.stores.postgres import PostgresWarehouse

COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "KR", "MX", "CA")
DEVICES = ("tv", "mobile", "web", "tablet", "console")
TODAY = date(2026, 11, 30)
DAYS = 90


def generated_views(count: int, seed: int, titles: int, profiles: int) -> Iterator[ViewFact]:
    rng = random.Random(seed)
    title_ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(titles)]
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(titles)]
    picks = rng.choices(title_ids, weights, k=count)
    start = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC) - timedelta(days=DAYS - 1)
    for n in range(count):
        profile = rng.randrange(profiles)
        watched = start + timedelta(seconds=rng.randrange(DAYS * 86_400))
        duration = rng.choice((1_800, 2_700, 5_400))
        position = rng.randrange(1, duration + 1)
        yield ViewFact(
            event_id=str(uuid.UUID(int=rng.getrandbits(128))),
            view_id=str(uuid.UUID(int=rng.getrandbits(128))),
            profile_id=str(profile),
            account_id=str(profile // 3),
            title_id=picks[n],
            watch_time=watched,
            country_code=COUNTRIES[profile % len(COUNTRIES)],
            device_type=rng.choice(DEVICES),
            watch_seconds=position,
            position_seconds=position,
            duration_seconds=duration,
            completed=position >= 0.95 * duration,
            event_time=watched,
        )


def batches(views: Iterator[ViewFact], size: int) -> Iterator[Batch]:
    chunk: list[ViewFact] = []
    for view in views:
        chunk.append(view)
        if len(chunk) == size:
            yield Batch(views=chunk)
            chunk = []
    if chunk:
        yield Batch(views=chunk)


async def load_all(
    store: WarehouseStore, views: Iterator[ViewFact], size: int
) -> tuple[int, float]:
    """(events, seconds spent in store.load)."""
    events = 0
    spent = 0.0
    for batch in batches(views, size):
        started = time.perf_counter()
        result = await store.load(batch)
        spent += time.perf_counter() - started
        events += len(result.loaded)
    return events, spent


async def scratch_database(name: str) -> str:
    admin = await asyncpg.connect(endpoints.postgres_admin_url(), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return endpoints.postgres_admin_url(name)


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(endpoints.postgres_admin_url(), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def timed(calls: int, call: Callable[[random.Random], Awaitable[object]]) -> list[float]:
    rng = random.Random(3)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call(rng)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def report_latencies(
    store: WarehouseStore, calls: int, titles: list[str]
) -> dict[str, list[float]]:
    def window(rng: random.Random) -> tuple[date, date]:
        end = TODAY - timedelta(days=rng.randrange(DAYS - 30))
        return end - timedelta(days=29), end

    async def title_stats(rng: random.Random) -> object:
        start, end = window(rng)
        return await store.title_stats(rng.choice(titles), start, end)

    async def top_titles(rng: random.Random) -> object:
        start, end = window(rng)
        country = rng.choice(COUNTRIES) if rng.random() < 0.5 else ""
        return await store.top_titles(start, end, country=country, genre="", limit=21, after=None)

    async def daily(rng: random.Random) -> object:
        start, end = window(rng)
        return await store.daily_engagement(start, end, limit=31, after=None)

    return {
        "GetTitleStats": await timed(calls, title_stats),
        "ListTopTitles": await timed(calls, top_titles),
        "ListDailyEngagement": await timed(calls, daily),
    }


async def postgres_bytes(url: str) -> int:
    """Every table's size with its indexes and TOAST, after VACUUM FULL."""
    conn = await asyncpg.connect(url, command_timeout=600)
    try:
        await conn.execute("VACUUM FULL")
        await conn.execute("ANALYZE")
        size: int = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
        return size
    finally:
        await conn.close()


def duckdb_bytes(path: Path) -> int:
    """The size of a fresh file holding the warehouse's data (deletes leave space behind)."""
    copy = path.with_name(f"{path.stem}-copy.duckdb")
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{path}' AS source (READ_ONLY)")
        con.execute(f"ATTACH '{copy}' AS target")
        con.execute("COPY FROM DATABASE source TO target")
        con.execute("DETACH target")
    finally:
        con.close()
    size = copy.stat().st_size
    copy.unlink()
    return size


def print_latencies(results: dict[str, dict[str, list[float]]]) -> None:
    header = ("report", "postgres p50/p99 ms", "duckdb p50/p99 ms", "pg/duck p50")
    print(f"  {header[0]:22s} {header[1]:>22s} {header[2]:>20s} {header[3]:>12s}")
    for report in results["postgres"]:
        pg = results["postgres"][report]
        duck = results["duckdb"][report]
        print(
            f"  {report:22s} {percentile(pg, 0.5):10.1f} / {percentile(pg, 0.99):7.1f}"
            f" {percentile(duck, 0.5):10.1f} / {percentile(duck, 0.99):7.1f}"
            f" {statistics.median(pg) / statistics.median(duck):11.2f}x"
        )


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="analytics-bench-"))
    database = f"bench_analytics_{random.randrange(10**6)}"
    try:
        print(f"ingestion: {args.ingest_events:,} view events in batches of {args.batch}")
        ingest: dict[str, float] = {}
        for name in ("postgres COPY", "postgres row inserts", "duckdb Appender"):
            views = generated_views(args.ingest_events, 1, 3_000, 20_000)
            if name.startswith("postgres"):
                url = await scratch_database(database)
                store: WarehouseStore = await PostgresWarehouse.open(
                    url, bulk=name.endswith("COPY")
                )
            else:
                store = await DuckDbWarehouse.open(folder / "ingest.duckdb")
            try:
                events, spent = await load_all(store, views, args.batch)
            finally:
                await store.close()
            ingest[name] = events / spent
            print(f"  {name:22s} {events / spent:10,.0f} events/s ({events:,} in {spent:.1f} s)")
        copy, rows = ingest["postgres COPY"], ingest["postgres row inserts"]
        print(
            f"  COPY / row inserts: {copy / rows:.2f}x;"
            f" DuckDB / COPY: {ingest['duckdb Appender'] / copy:.2f}x"
        )
        print(f"reports: {args.views:,} views over {DAYS} days, {args.calls} calls each")
        titles = sorted({v.title_id for v in generated_views(2_000, 2, 3_000, 20_000)})
        raw: dict[str, dict[str, list[float]]] = {}
        rolled: dict[str, dict[str, list[float]]] = {}
        sizes: dict[str, tuple[int, int]] = {}
        cutoff = TODAY - timedelta(days=args.keep_days - 1)
        for name in ("postgres", "duckdb"):
            path = folder / "reports.duckdb"
            url = await scratch_database(database) if name == "postgres" else ""

            async def opened(name: str = name, url: str = url, path: Path = path) -> WarehouseStore:
                if name == "postgres":
                    return await PostgresWarehouse.open(url, command_timeout_seconds=600)
                return await DuckDbWarehouse.open(path)

            store = await opened()
            try:
                started = time.perf_counter()
                events, _ = await load_all(
                    store, generated_views(args.views, 2, 3_000, 20_000), 10_000
                )
                print(f"  {name}: loaded {events:,} views in {time.perf_counter() - started:.1f} s")
                if name == "postgres":
                    before = await postgres_bytes(url)
                else:
                    await store.close()
                    before = duckdb_bytes(path)
                    store = await opened()
                raw[name] = await report_latencies(store, args.calls, titles)
                result = await store.roll_up(cutoff)
                print(
                    f"  {name}: rolled up {result.raw_rows:,} raw views before {cutoff}"
                    f" into {result.rollup_rows:,} rollup rows"
                )
                if name == "postgres":
                    after = await postgres_bytes(url)
                else:
                    await store.close()
                    after = duckdb_bytes(path)
                    store = await opened()
                sizes[name] = (before, after)
                rolled[name] = await report_latencies(store, args.calls, titles)
            finally:
                await store.close()
        print("  raw facts only:")
        print_latencies(raw)
        print(f"  after the rollup of every day before {cutoff} (the reports' ranges span both):")
        print_latencies(rolled)
        print(f"retention: raw facts of the last {args.keep_days} days of {DAYS}, rollups before")
        for name, (before, after) in sizes.items():
            print(
                f"  {name:9s} {before / 2**20:8.1f} MiB -> {after / 2**20:8.1f} MiB"
                f"  (saves {1 - after / before:.0%})"
            )
    finally:
        await drop_database(database)
        shutil.rmtree(folder, ignore_errors=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest-events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--views", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--keep-days", type=int, default=30)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
