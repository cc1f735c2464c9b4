"""Catalog figures: import rows/s, GetTitle and ListTitles QPS, on SQLite and Cassandra.

    python bench/catalog_bench.py [--backends sqlite,cassandra] [--concurrency 16]
                                  [--requests 4000] [--listing-compare | --listing-only]

For each backend: imports the real catalog (services/catalog/data, 8,790
accepted rows) into a scratch store (a temporary SQLite file, a Cassandra
keyspace dropped afterwards), then starts the catalog server in this process
(CPU 0) with the full interceptor chain and the real Redis as its cache, and
loads it with ghz (CPU 1):

  GetTitle cold   every imported id once, the cache empty: each call a miss
  GetTitle warm   the same ids again: each call a Redis hit
  ListTitles      first pages of a mix of filters (ListTitles is not cached:
                  every call reads the store), and the same with page tokens
                  one page further, after ``--warmup`` unmeasured calls

``--listing-compare`` (Cassandra) also measures the two ways to serve
ListTitles that services/catalog/stores/cassandra.py weighs: scanning the
country partition with the filters applied while reading (what the store
does) against storage-attached indexes (SAI) on the same table, on the same
data and filters, and checks both return the same pages.

Needs Redis and Cassandra from `make infra-up` and ghz from `make tools`.
Every run is bounded by a request count and ghz's timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import loadgen  # noqa: E402
from bench.loadgen import Result  # noqa: E402
from services.catalog.config import Config  # noqa: E402
from services.catalog.importer import import_parsed, parse_file  # noqa: E402
from services.catalog.listing import TitleFilter, encode_page_token  # noqa: E402
from services.catalog.migrations import CQL  # noqa: E402
from services.catalog.server import create_server  # noqa: E402
from services.catalog.store import CatalogStore  # noqa: E402
from services.catalog.stores.cassandra import CassandraCatalogStore  # noqa: E402
from services.catalog.stores.sqlite import SqliteCatalogStore  # noqa: E402
from services.kit import server as runtime  # noqa: E402
from services.runtime.cassandra import CassandraSettings, open_migrated  # noqa: E402
from services.runtime.config import ServerConfig  # noqa: E402

CATALOG = REPO / "services" / "catalog" / "data" / "netflix_titles.csv"
REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICE = "streammesh.catalog.v1.CatalogService"
IMPORT_CONCURRENCY = 64
# Medians of this many runs per filter and strategy in --listing-compare.
LISTING_REPEATS = 7
FILTERS = (
    TitleFilter(),
    TitleFilter(country="US"),
    TitleFilter(country="IN", max_maturity="PG"),
    TitleFilter(country="US", max_maturity="TV-Y", content_type="MOVIE"),
    TitleFilter(country="GB", content_type="TV_SHOW", genre="British TV Shows"),
    TitleFilter(genre="Stand-Up Comedy"),
    TitleFilter(country="JP", genre="Anime Series", max_maturity="TV-14"),
    TitleFilter(country="FR", max_maturity="R", genre="Dramas"),
)


def _request(title_filter: TitleFilter, token: str = "") -> dict[str, object]:
    request: dict[str, object] = {"pageSize": 20}
    for name, value in (
        ("country", title_filter.country),
        ("maxMaturity", title_filter.max_maturity),
        ("contentType", title_filter.content_type),
        ("genre", title_filter.genre),
        ("pageToken", token),
    ):
        if value:
            request[name] = value
    return request


def ghz(port: int, method: str, messages: list[dict[str, object]], total: int, c: int) -> Result:
    """``total`` calls cycling through ``messages`` (ghz round-robins a JSON array)."""
    return loadgen.ghz(
        f"127.0.0.1:{port}",
        f"{SERVICE}.{method}",
        json.dumps(messages),
        total=total,
        concurrency=c,
        cpu=1,
    )


@contextlib.asynccontextmanager
async def scratch_store(backend: str, work: Path) -> AsyncIterator[tuple[CatalogStore, Config]]:
    server = ServerConfig(service="catalog", port=0, access_log=False, metrics_port=0)
    prefix = f"bench:{os.getpid()}:{backend}:"
    if backend == "sqlite":
        config = Config(
            server=server, sqlite_path=work / "catalog.db", redis_url=REDIS_URL, redis_prefix=prefix
        )
        store = await SqliteCatalogStore.open(config.sqlite_path)
        try:
            yield store, config
        finally:
            await store.close()
        return
    keyspace = f"bench_catalog_{os.getpid()}"
    config = Config(
        server=server,
        backend="real",
        cassandra=CassandraSettings(keyspace=keyspace),
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        migrate_on_start=False,
    )
    session = await open_migrated(config.cassandra, CQL, migrate=True)
    try:
        cassandra = await CassandraCatalogStore.on_session(session)
        yield cassandra, config
    finally:
        await session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        await session.close()


async def bench_backend(backend: str, args: argparse.Namespace, work: Path) -> list[str]:
    rows = []
    parsed = parse_file(CATALOG)
    ids = [row.title.title_id for row in parsed.accepted]
    async with scratch_store(backend, work) as (store, config):
        started = time.monotonic()
        report = await import_parsed(store, parsed, IMPORT_CONCURRENCY)
        seconds = time.monotonic() - started
        rows.append(
            f"{backend:<10}{'import (created)':<30}{report.accepted / seconds:>9.0f} rows/s "
            f"({report.accepted} titles in {seconds:.1f} s, {IMPORT_CONCURRENCY} in flight)"
        )
        started = time.monotonic()
        again = await import_parsed(store, parse_file(CATALOG), IMPORT_CONCURRENCY)
        seconds = time.monotonic() - started
        rows.append(
            f"{backend:<10}{'re-import (unchanged)':<30}{again.accepted / seconds:>9.0f} rows/s "
            f"({again.outcomes['unchanged']} unchanged)"
        )
        if args.listing_only:
            assert isinstance(store, CassandraCatalogStore), "--listing-only is for cassandra"
            return [*rows, *await compare_listing(store, config)]
        # The server opens its own connection to the store the import filled.
        config = replace(config, seed_catalog="")
        server, port = await create_server(config)
        try:
            cold_ids: list[dict[str, object]] = [{"titleId": title_id} for title_id in ids]

            def run(method: str, messages: list[dict[str, object]], total: int) -> Result:
                return ghz(port, method, messages, total, args.concurrency)

            cold = await asyncio.to_thread(run, "GetTitle", cold_ids, len(ids))
            warm = await asyncio.to_thread(run, "GetTitle", cold_ids, len(ids))
            first_pages = [_request(f) for f in FILTERS]
            # Warm-up: prepared statements, the driver's pools, and (Cassandra)
            # the flushes and index builds that follow a bulk import.
            await asyncio.to_thread(run, "ListTitles", first_pages, args.warmup)
            listing = await asyncio.to_thread(run, "ListTitles", first_pages, args.requests)
            second_pages = []
            for title_filter in FILTERS:
                page = await store.list_titles(title_filter, 20, None, time.time_ns() // 10**6)
                if page.next_cursor is not None:
                    token = encode_page_token(page.next_cursor, title_filter)
                    second_pages.append(_request(title_filter, token))
            deeper = await asyncio.to_thread(run, "ListTitles", second_pages, args.requests)
        finally:
            await runtime.stop(server, 0)
        for name, result in (
            ("GetTitle cache cold", cold),
            ("GetTitle cache warm", warm),
            ("ListTitles first page", listing),
            ("ListTitles second page", deeper),
        ):
            if result.errors:
                raise SystemExit(f"{backend} {name}: {result.errors} failed calls")
            rows.append(
                f"{backend:<10}{name:<30}{result.qps:>9.0f} QPS  p50 {result.p50_ms:6.2f} ms"
                f"  p99 {result.p99_ms:6.2f} ms"
            )
        rows.append(f"{backend:<10}{'GetTitle warm / cold':<30}{warm.qps / cold.qps:>9.2f}x")
        if backend == "cassandra" and args.listing_compare:
            assert isinstance(store, CassandraCatalogStore)
            rows += await compare_listing(store, config)
    return rows


async def compare_listing(store: CassandraCatalogStore, config: Config) -> list[str]:
    """Scanning with the filters applied in the service against SAI, same table and filters."""
    # Both on the same table; the SAI indexes come with the migrations.
    scanning = await CassandraCatalogStore.on_session(store.session, listing="scan")
    indexed = await CassandraCatalogStore.on_session(store.session, listing="sai")
    now = time.time_ns() // 10**6
    rows = [
        f"{'listing':<10}{'filter (5 pages of 20)':<46}"
        f"{'scan wall/cpu ms':>20}{'sai wall/cpu ms':>20}"
    ]
    for title_filter in FILTERS:
        wall: dict[str, list[float]] = {"scan": [], "sai": []}
        cpu: dict[str, list[float]] = {"scan": [], "sai": []}
        pages: dict[str, list[str]] = {}
        for _ in range(LISTING_REPEATS):
            for name, candidate in (("scan", scanning), ("sai", indexed)):
                seen: list[str] = []
                after = None
                started, started_cpu = time.perf_counter(), time.process_time()
                for _page in range(5):
                    page = await candidate.list_titles(title_filter, 20, after, now)
                    seen += [t.title_id for t in page.titles]
                    if page.next_cursor is None:
                        break
                    after = page.next_cursor
                wall[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append((time.process_time() - started_cpu) * 1000)
                pages[name] = seen
        label = ",".join(f"{k}={v}" for k, v in title_filter.__dict__.items() if v)
        scan = f"{statistics.median(wall['scan']):.0f}/{statistics.median(cpu['scan']):.0f}"
        sai = f"{statistics.median(wall['sai']):.0f}/{statistics.median(cpu['sai']):.0f}"
        same = "same titles" if pages["scan"] == pages["sai"] else "DIFFERENT TITLES"
        rows.append(
            f"{'listing':<10}{(label or '(no filter)')[:44]:<46}{scan:>20}{sai:>20}  {same}"
        )
    return rows


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as work:
        rows = []
        for backend in args.backends.split(","):
            rows += await bench_backend(backend, args, Path(work))
    print(
        f"catalog bench: {len(parse_file(CATALOG).accepted)} titles, ghz concurrency "
        f"{args.concurrency}, server on CPU 0, ghz on CPU 1"
    )
    for row in rows:
        print(row)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default="sqlite,cassandra")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=1000, help="ListTitles calls not measured")
    parser.add_argument("--listing-compare", action="store_true")
    parser.add_argument(
        "--listing-only", action="store_true", help="import and compare listings, no load"
    )
    args = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {0})
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
