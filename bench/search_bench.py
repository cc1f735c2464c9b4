"""Search figures on OpenSearch against SQLite FTS5: bulk indexing, Search and
Suggest QPS with p50/p99, and the delay from a catalog event to a searchable title.

    python -m bench.search_bench [--backends sqlite,opensearch] [--concurrency 16]
                                 [--total 2000] [--warmup 200] [--titles-for-delay 40]
                                 [--delay-rate 4] [--quick]

One run measures both backends one after the other, same machine, same load
tool, same settings. Per backend:

  bulk indexing     the whole catalog (services/catalog/data/netflix_titles.csv,
                    8,790 titles) written into a fresh index through the
                    adapter's ``upsert`` (the path `streammesh search reindex`
                    takes), timed in this process: titles/s
  event indexing    a catalog server's first start seeded with the same CSV,
                    and a search server on an empty index: the time until the
                    index holds every title, from the catalog's events alone
                    (outbox relay → stream → "search-indexer" → index); the
                    catalog's seed and relay are in that time too
  Search            (on that index) ``--total`` calls after ``--warmup`` unmeasured ones (ghz,
                    concurrency ``--concurrency``), cycling through the 68
                    texts of the judged query set (exact, misspelled, partial
                    titles, people, descriptions): full text, facets and
                    highlights, as a device asks
  Suggest           the same count of prefix completions (2 to 6 letters of
                    the judged texts' words)
  event → search    ``--titles-for-delay`` titles created one at a time through
                    the catalog's internal CreateTitle, at random (exponential)
                    gaps averaging ``--delay-rate``/s; one watcher searches
                    each pending title's unique name in turn, a round every
                    10 ms, until it is the first hit (at most 10 s, then it
                    counts as missed), so the resolution is one round: delay =
                    CreateTitle's answer → the first Search answer finding it.
                    That is outbox relay → stream → "search-indexer" consumer →
                    index write (OpenSearch: refresh=wait_for) → searchable.

The search server runs in its own process pinned to CPU 0 with its indexer
on, beside a catalog server (SQLite, seeded with the e2e sample) whose
events it consumes through the real Redis under a key prefix of the run's
own; ghz runs pinned to CPU 1 (GOMAXPROCS=1). OpenSearch and Redis are the
shared servers of ``make infra-up``, unpinned.

Needs OpenSearch and Redis (``make infra-up``) and ghz (``make tools``).
Everything is on loopback; every load run is bounded by its call count and
ghz's timeout, every wait by a timeout. The run's indices, files and Redis
keys are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
import redis.asyncio as aioredis

from bench.history_bench import (
    base_env,
    catalog_env,
    drop_prefix,
    progress,
    sample_load,
    server_process,
    serving,
)
from bench.loadgen import HEADER, Result, free_port, ghz
from devtools.infra import endpoints
from devtools.search_relevance import catalog_docs
from services.runtime.config import ServerConfig
from services.search.config import Config as SearchConfig
from services.search.relevance.evaluate import load_queries
from services.search.store import words
from services.search.stores import open_index
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.search.v1 import search_pb2, search_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
CATALOG_CSV = REPO / "services" / "catalog" / "data" / "netflix_titles.csv"
BACKENDS = ("sqlite", "opensearch")
# A created title not searchable after this long counts as missed.
DELAY_TIMEOUT_SECONDS = 10.0
DELAY_POLL_SECONDS = 0.01
# Bound on the catalog's seed reaching the index through events.
SEED_TIMEOUT_SECONDS = 900.0


@dataclass
class Figures:
    backend: str
    titles: int = 0
    bulk_seconds: float = 0.0
    event_seconds: float = 0.0
    search: Result | None = None
    suggest: Result | None = None
    delays_ms: list[float] | None = None
    missed: int = 0

    @property
    def bulk_rate(self) -> float:
        return self.titles / self.bulk_seconds if self.bulk_seconds else 0.0

    @property
    def event_rate(self) -> float:
        return self.titles / self.event_seconds if self.event_seconds else 0.0


def search_config(backend: str, state: Path, prefix: str) -> SearchConfig:
    """The index of this backend: a scratch SQLite file or indices under ``prefix``."""
    server = ServerConfig(service="search")
    if backend == "sqlite":
        return SearchConfig(server=server, backend="embedded", sqlite_path=state / "search.db")
    return SearchConfig(
        server=server,
        backend="real",
        opensearch_url=endpoints.opensearch_url(),
        index_prefix=prefix,
        opensearch_timeout_seconds=60.0,
    )


def search_env(config: SearchConfig, port: int, redis_prefix: str, catalog: int) -> dict[str, str]:
    return dict(
        base_env("search", port, redis_prefix),
        STREAMMESH_CATALOG_ADDR=f"127.0.0.1:{catalog}",
        STREAMMESH_SEARCH_BACKEND=config.backend,
        STREAMMESH_SEARCH_SQLITE_PATH=str(config.sqlite_path),
        STREAMMESH_SEARCH_OPENSEARCH_URL=config.opensearch_url,
        STREAMMESH_SEARCH_INDEX_PREFIX=config.index_prefix,
        # Nothing here calls users: no Search sends a profile.
        STREAMMESH_USERS_ADDR=f"127.0.0.1:{free_port()}",
    )


async def bulk_index(config: SearchConfig, figures: Figures) -> None:
    docs = catalog_docs()
    index = await open_index(config)
    try:
        started = time.perf_counter()
        await index.upsert(docs)
        figures.bulk_seconds = time.perf_counter() - started
        figures.titles = await index.count()
    finally:
        await index.close()


@contextlib.asynccontextmanager
async def scratch_indices(config: SearchConfig) -> AsyncIterator[None]:
    """Deletes the run's OpenSearch indices afterwards (the SQLite file goes with its folder)."""
    try:
        yield
    finally:
        if config.backend == "real":
            from opensearchpy import AsyncOpenSearch

            client = AsyncOpenSearch(hosts=[config.opensearch_url], timeout=60)
            try:
                await client.indices.delete(
                    index=f"{config.index_prefix}*",
                    ignore_unavailable=True,
                    expand_wildcards="all",
                )
            finally:
                await client.close()


def query_mix() -> tuple[str, str]:
    """ghz data: the judged texts as Search requests, and prefixes of their words."""
    texts = [query.text for query in load_queries()]
    searches = [{"q": text, "page_size": 10} for text in texts]
    prefixes = sorted(
        {word[:length] for text in texts for word in words(text) for length in (2, 4, 6)}
    )
    suggests = [{"prefix": prefix, "page_size": 8} for prefix in prefixes]
    return json.dumps(searches), json.dumps(suggests)


async def event_to_searchable(
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    search: search_pb2_grpc.SearchServiceStub,
    count: int,
    rate: float,
) -> tuple[list[float], int]:
    """Creates ``count`` titles at random gaps; each one's delay until search finds it.
    One watcher searches each pending title in turn (a search at a time, so the
    polling does not load the server it measures)."""
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    missed = 0
    pending: dict[str, tuple[str, float]] = {}  # name -> (title id, created at)
    created_all = asyncio.Event()

    async def create() -> None:
        for number in range(count):
            name = f"Quorvith Lanternby {number} {secrets.token_hex(3)}"
            title = catalog_pb2.Title(
                title_id=str(uuid.uuid4()),
                title=name,
                description="A title the search benchmark creates.",
                release_year=2024,
                duration_minutes=90,
                content_type="MOVIE",
                genres=["Dramas"],
                maturity_rating="PG",
                country_codes=["GB"],
            )
            created = await catalog.CreateTitle(
                catalog_pb2.CreateTitleRequest(title=title), timeout=10
            )
            pending[name] = (created.title_id, loop.time())
            await asyncio.sleep(rng.expovariate(rate))
        created_all.set()

    async def watch() -> None:
        nonlocal missed
        while pending or not created_all.is_set():
            for name, (title_id, created_at) in list(pending.items()):
                if loop.time() - created_at > DELAY_TIMEOUT_SECONDS:
                    missed += 1
                    del pending[name]
                    continue
                try:
                    answer = await search.Search(
                        search_pb2.SearchRequest(q=name, page_size=1), timeout=5
                    )
                except grpc.aio.AioRpcError:
                    continue  # searched again next round, within the title's bound
                if answer.results and answer.results[0].title_id == title_id:
                    delays.append((loop.time() - created_at) * 1000)
                    del pending[name]
            await asyncio.sleep(DELAY_POLL_SECONDS)

    await asyncio.gather(create(), watch())
    return delays, missed


async def indexed_from_events(
    config: SearchConfig, titles: int, started: float, figures: Figures
) -> None:
    """Waits until the index holds every title (the catalog's seed events, relayed
    and consumed); the time from the servers' start."""
    index = await open_index(config)
    try:
        while time.perf_counter() - started < SEED_TIMEOUT_SECONDS:
            if await index.count() >= titles:
                figures.event_seconds = time.perf_counter() - started
                return
            await asyncio.sleep(0.5)
    finally:
        await index.close()
    raise SystemExit(f"the catalog's {titles} titles not indexed in {SEED_TIMEOUT_SECONDS} s")


async def load_run(
    backend: str, rpc: str, target: str, data: str, args: argparse.Namespace
) -> Result:
    """``args.warmup`` unmeasured calls of ``rpc``, then ``args.total`` measured ones."""
    call = f"streammesh.search.v1.SearchService.{rpc}"
    progress(f"{backend}: {rpc}, {args.total} calls")
    await asyncio.to_thread(ghz, target, call, data, total=args.warmup, cpu=1)
    return await asyncio.to_thread(
        ghz, target, call, data, total=args.total, concurrency=args.concurrency, cpu=1
    )


async def bench_backend(
    backend: str, args: argparse.Namespace, run_prefix: str, redis: aioredis.Redis
) -> Figures:
    figures = Figures(backend)
    with tempfile.TemporaryDirectory(prefix=f"search-bench-{backend}-") as folder:
        state = Path(folder)
        bulk_config = search_config(backend, state / "bulk", f"{run_prefix}{backend}-bulk-")
        config = search_config(backend, state, f"{run_prefix}{backend}-")
        redis_prefix = f"{run_prefix}{backend}:"
        async with scratch_indices(bulk_config):
            progress(f"{backend}: bulk indexing the catalog")
            (state / "bulk").mkdir()
            await bulk_index(bulk_config, figures)
        async with scratch_indices(config):
            catalog_port, search_port = free_port(), free_port()
            catalog_log, search_log = state / "catalog.log", state / "search.log"
            progress(f"{backend}: the catalog's first start, indexed from its events")
            with (
                server_process(
                    [sys.executable, "-m", "services.catalog.server"],
                    catalog_env(catalog_port, redis_prefix, state, CATALOG_CSV),
                    catalog_log,
                ) as catalog_process,
                server_process(
                    [sys.executable, "-m", "services.search.server"],
                    search_env(config, search_port, redis_prefix, catalog_port),
                    search_log,
                    cpu=0,
                ) as search_process,
            ):
                started = time.perf_counter()
                # The catalog serves once its seed (the whole CSV) is written.
                await serving(
                    catalog_port, catalog_process, catalog_log, within_seconds=SEED_TIMEOUT_SECONDS
                )
                await serving(search_port, search_process, search_log)
                await indexed_from_events(config, figures.titles, started, figures)
                target = f"127.0.0.1:{search_port}"
                searches, suggests = query_mix()
                async with (
                    grpc.aio.insecure_channel(f"127.0.0.1:{catalog_port}") as catalog_channel,
                    grpc.aio.insecure_channel(target) as search_channel,
                ):
                    catalog = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
                    search = search_pb2_grpc.SearchServiceStub(search_channel)
                    figures.search = await load_run(backend, "Search", target, searches, args)
                    figures.suggest = await load_run(backend, "Suggest", target, suggests, args)
                    progress(f"{backend}: event → searchable, {args.titles_for_delay} titles")
                    figures.delays_ms, figures.missed = await event_to_searchable(
                        catalog, search, args.titles_for_delay, args.delay_rate
                    )
        await drop_prefix(redis, redis_prefix)
    return figures


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(figures: dict[str, Figures], args: argparse.Namespace, loads: list[float]) -> str:
    lines = [
        f"search bench: {args.total} calls per load run, concurrency {args.concurrency}, "
        f"{os.cpu_count()} CPUs, load average {min(loads):.1f}-{max(loads):.1f} during the run",
        "",
        f"{'indexing the catalog':<34}{'titles':>9}{'seconds':>9}{'titles/s':>10}",
    ]
    for name, fig in figures.items():
        lines.append(
            f"{'bulk (reindex) ' + name:<34}{fig.titles:>9}{fig.bulk_seconds:>9.1f}"
            f"{fig.bulk_rate:>10.0f}"
        )
        lines.append(
            f"{'events (first start) ' + name:<34}{fig.titles:>9}{fig.event_seconds:>9.1f}"
            f"{fig.event_rate:>10.0f}"
        )
    lines += ["", HEADER]
    for name, fig in figures.items():
        if fig.search and fig.suggest:
            lines.append(fig.search.row(f"Search   {name}"))
            lines.append(fig.suggest.row(f"Suggest  {name}"))
    lines += ["", f"{'event → searchable (ms)':<34}{'p50':>9}{'p99':>9}{'max':>9}{'missed':>7}"]
    for name, fig in figures.items():
        delays = fig.delays_ms or [float("nan")]
        lines.append(
            f"{name:<34}{statistics.median(delays):>9.0f}{_percentile(delays, 0.99):>9.0f}"
            f"{max(delays):>9.0f}{fig.missed:>7}"
        )
    if "sqlite" in figures and "opensearch" in figures:
        sqlite, opensearch = figures["sqlite"], figures["opensearch"]
        if sqlite.search and opensearch.search and sqlite.bulk_rate:
            search_ratio = opensearch.search.qps / sqlite.search.qps
            bulk_ratio = opensearch.bulk_rate / sqlite.bulk_rate
            lines += [
                "",
                f"opensearch / sqlite: Search QPS {search_ratio:.2f}x, "
                f"bulk indexing {bulk_ratio:.2f}x",
            ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"unknown backends {sorted(unknown)}; choose from {BACKENDS}")
    run_prefix = f"bench-search-{secrets.token_hex(3)}-"
    loads: list[float] = []
    sampler = asyncio.create_task(sample_load(loads))
    redis = aioredis.from_url(endpoints.redis_url())
    try:
        figures = {name: await bench_backend(name, args, run_prefix, redis) for name in backends}
    finally:
        sampler.cancel()
        await redis.aclose()
    loads = loads or [os.getloadavg()[0]]
    print(report(figures, args, loads))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--total", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--titles-for-delay", type=int, default=40)
    parser.add_argument("--delay-rate", type=float, default=4.0)
    parser.add_argument("--quick", action="store_true", help="a short run to try the bench")
    args = parser.parse_args()
    if args.quick:
        args.total, args.warmup, args.titles_for_delay = 300, 50, 10
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
