"""Artwork through the edge (cold and warm) and backup/restore throughput per backend.

    python -m bench.media_bench [--titles 300] [--concurrency 8] [--rows 100000]
                                [--skip-artwork] [--skip-backup]

Artwork: a scratch SQLite catalog seeded from the demo catalog, the media
origin on the embedded (files) object store, and the real Envoy rendered by
services.edge.render in front. The demo posters of ``--titles`` titles are
fetched through the edge, ``--concurrency`` requests at a time (httpx, one
process), in three passes of every URL once:

  drawn      nothing stored yet: the origin draws each poster (Pillow), stores
             it and serves it; Envoy's cache is empty
  edge-cold  a fresh Envoy (empty cache) in front of the stored posters
  warm       the same Envoy again: every answer comes from its cache

Backups: scratch data of the bench's own (a MariaDB database, a PostgreSQL
database, a Cassandra keyspace, a Redis key prefix; ``--rows`` rows or keys
each) on the real backends of ``streammesh infra up``, backed up into
s3proxy and restored after ``infra reset --data`` of those names only. MB/s
is the artifact's bytes over the wall time of the create (dump + upload) or
the restore (verify + download + load) of that backend alone.

Loopback only, bounded: each pass is one request per URL; the data are
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from devtools.backup import jobs
from devtools.backup.dumpers import dumpers
from devtools.infra import data, endpoints
from devtools.infra.settings import InfraSettings
from services.catalog import artwork
from services.catalog.config import Config as CatalogConfig
from services.catalog.importer import import_parsed, parse_file
from services.catalog.listing import TitleFilter
from services.catalog.stores import open_store
from services.edge import envoy
from services.edge.render import EdgeConfig, render
from services.runtime.config import ServerConfig
from services.runtime.object_store import ObjectStoreSettings, S3ObjectStore, S3Settings

DEMO_CATALOG = Path(__file__).resolve().parent.parent / "services/catalog/data/netflix_titles.csv"
# Bound on one request through the edge, and on the origin's start.
REQUEST_TIMEOUT_SECONDS = 15.0
ORIGIN_START_SECONDS = 30.0


def _port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ------------------------------------------------------------------ artwork
async def _pass(http: httpx.AsyncClient, urls: list[str], concurrency: int) -> tuple[float, float]:
    """(requests per second, p99 ms) of one request per URL, ``concurrency`` at a time."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            url = queue.get_nowait()
            started = time.perf_counter()
            reply = await http.get(url)
            latencies.append(time.perf_counter() - started)
            if reply.status_code != 200:
                raise RuntimeError(f"{url}: {reply.status_code}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 1 else 0.0
    return len(urls) / elapsed, p99


async def _edge(state: Path, origin_port: int, name: str) -> tuple[envoy.RunningEnvoy, int]:
    port = _port()
    config = EdgeConfig(
        port=port,
        admin_port=0,
        media_upstream=f"127.0.0.1:{origin_port}",
        otlp_collector=None,
        rate_limit_per_second=100_000,
    )
    path = envoy.write_config(render(config), state / f"{name}.json")
    return await envoy.start(path, state / name, state / f"{name}.log"), port


def _cpu_ms(pid: int) -> float:
    """User + system CPU time a process has used so far (robust on a loaded machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def _origin_process(state: Path, port: int) -> AsyncIterator[int]:
    """The media origin in its own process, as `streammesh up` runs it."""
    env = {
        **os.environ,
        "STREAMMESH_BACKENDS": "embedded",
        "STREAMMESH_CATALOG_SQLITE_PATH": str(state / "catalog.db"),
        "STREAMMESH_CATALOG_OBJECTS_ROOT": str(state / "objects"),
        "STREAMMESH_MEDIA_ORIGIN_PORT": str(port),
    }
    log = (state / "origin.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.catalog.media_origin", env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + ORIGIN_START_SECONDS
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline or process.returncode is not None:
                    raise RuntimeError(f"the media origin did not start; see {log.name}") from None
                await asyncio.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        await process.wait()
        log.close()


async def artwork_bench(titles: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="media-bench-") as folder:
        state = Path(folder)
        config = CatalogConfig(
            server=ServerConfig(service="catalog"),
            sqlite_path=state / "catalog.db",
            objects=ObjectStoreSettings(root=state / "objects"),
            media_base="",
        )
        store = await open_store(config, migrate=True)
        try:
            await import_parsed(store, await asyncio.to_thread(parse_file, DEMO_CATALOG))
            page = await store.list_titles(
                TitleFilter(),
                titles,
                None,
                int(time.time() * 1000),
            )
        finally:
            await store.close()
        paths = [f"/media/{artwork.generated_path(title)}" for title in page.titles]
        origin_port = _port()
        async with _origin_process(state, origin_port) as origin_pid:
            rows = []

            async def measured(
                http: httpx.AsyncClient, name: str, edge_pid: int
            ) -> tuple[str, float, float, float, float]:
                origin_before, edge_before = _cpu_ms(origin_pid), _cpu_ms(edge_pid)
                rate, p99 = await _pass(http, paths, concurrency)
                origin_cpu = (_cpu_ms(origin_pid) - origin_before) / len(paths)
                edge_cpu = (_cpu_ms(edge_pid) - edge_before) / len(paths)
                return name, rate, p99, origin_cpu, edge_cpu

            first, first_port = await _edge(state, origin_port, "edge-a")
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{first_port}", timeout=REQUEST_TIMEOUT_SECONDS
                ) as http:
                    rows.append(await measured(http, "drawn", first.process.pid))
            finally:
                await first.stop()
            second, second_port = await _edge(state, origin_port, "edge-b")
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{second_port}", timeout=REQUEST_TIMEOUT_SECONDS
                ) as http:
                    rows.append(await measured(http, "edge-cold", second.process.pid))
                    rows.append(await measured(http, "warm", second.process.pid))
                    stats = (await http.get(f"http://127.0.0.1:{second.admin_port}/stats")).text
            finally:
                await second.stop()
    origin_requests = next(
        line.split(": ")[1]
        for line in stats.splitlines()
        if line.startswith("cluster.media_origin.upstream_rq_total")
    )
    print(f"artwork through the edge: {len(paths)} posters, concurrency {concurrency}")
    print(
        f"  {'pass':<10} {'req/s':>8} {'p99 ms':>8} {'origin CPU ms/req':>18} {'edge ms/req':>12}"
    )
    for name, rate, p99, origin_cpu, edge_cpu in rows:
        print(f"  {name:<10} {rate:8.1f} {p99:8.1f} {origin_cpu:18.2f} {edge_cpu:12.2f}")
    warm, cold = rows[2][1], rows[1][1]
    print(
        f"  warm/edge-cold throughput: {warm / cold:.1f}x; origin requests on the second edge: "
        f"{origin_requests} for {2 * len(paths)} loads"
    )


# ------------------------------------------------------------------ backups
async def _fill(scope: data.DataScope, rows: int) -> None:
    payload = "x" * 100
    maria = scope.mariadb_databases[0]
    connection = await data.mariadb_admin()
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE `{maria}`")
            await cursor.execute(
                f"CREATE TABLE `{maria}`.t (id INT PRIMARY KEY, body VARCHAR(200)) ENGINE=InnoDB"
            )
            for start in range(0, rows, 5000):
                batch = [(i, payload) for i in range(start, min(rows, start + 5000))]
                await cursor.executemany(f"INSERT INTO `{maria}`.t VALUES (%s, %s)", batch)
    finally:
        connection.close()

    import asyncpg

    postgres = scope.postgres_databases[0]
    admin = await data.postgres_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{postgres}"')
    finally:
        await admin.close()
    pg = await asyncpg.connect(endpoints.postgres_admin_url(postgres))
    try:
        await pg.execute("CREATE TABLE t (id int PRIMARY KEY, body text)")
        await pg.copy_records_to_table("t", records=[(i, payload) for i in range(rows)])
    finally:
        await pg.close()

    keyspace = scope.cassandra_keyspaces[0]

    def cassandra() -> None:
        from cassandra.cluster import Cluster
        from cassandra.concurrent import execute_concurrent_with_args

        host, port = endpoints.cassandra_contact()
        cluster = Cluster([host], port=port, protocol_version=5)
        try:
            session = cluster.connect()
            session.execute(
                f"CREATE KEYSPACE {keyspace} WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}",
                timeout=60,
            )
            session.execute(
                f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY, body text)", timeout=60
            )
            insert = session.prepare(f"INSERT INTO {keyspace}.t (id, body) VALUES (?, ?)")
            execute_concurrent_with_args(
                session, insert, [(i, payload) for i in range(rows)], concurrency=64
            )
        finally:
            cluster.shutdown()

    await asyncio.to_thread(cassandra)

    client = data.redis_client()
    try:
        prefix = scope.redis_prefixes[0]
        for start in range(0, rows, 5000):
            async with client.pipeline(transaction=False) as pipe:
                for i in range(start, min(rows, start + 5000)):
                    pipe.set(f"{prefix}{i}", payload)
                await pipe.execute()
    finally:
        await client.aclose()


async def backup_bench(rows: int) -> None:
    suffix = f"{os.getpid()}"
    scope = data.DataScope(
        mariadb_databases=(f"bench_{suffix}",),
        postgres_databases=(f"bench_{suffix}",),
        cassandra_keyspaces=(f"bench_{suffix}",),
        redis_prefixes=(f"bench:{suffix}:",),
    )
    bucket = f"bench-{suffix}-backups"
    store = await S3ObjectStore.open(
        S3Settings(
            endpoints.s3_url(),
            endpoints.S3_ACCESS_KEY,
            endpoints.S3_SECRET_KEY,
            endpoints.S3_REGION,
        )
    )
    tools = dumpers(InfraSettings.from_env(), scope)
    results = []
    try:
        await _fill(scope, rows)
        for backend in data.DATA_BACKENDS:
            started = time.perf_counter()
            manifest = await jobs.create(store, tools, [backend], scope, bucket=bucket)
            backup_seconds = time.perf_counter() - started
            size = manifest.total_bytes()
            only = data.DataScope(
                **{
                    field: getattr(scope, field) if backend == name else ()
                    for field, name in (
                        ("mariadb_databases", "mariadb"),
                        ("postgres_databases", "postgres"),
                        ("cassandra_keyspaces", "cassandra"),
                        ("redis_prefixes", "redis"),
                    )
                }
            )
            await data.reset_data(only, lambda *_: None)
            started = time.perf_counter()
            await jobs.restore(store, tools, manifest, [backend], overwrite=False, bucket=bucket)
            restore_seconds = time.perf_counter() - started
            results.append((backend, size, backup_seconds, restore_seconds))
    finally:
        await data.reset_data(scope, lambda *_: None)
        for info in await store.list(bucket):
            await store.delete(bucket, info.key)
        await store.close()
    print(f"backup and restore into s3proxy, {rows} rows/keys of ~100 B per backend")
    print(f"  {'backend':<10} {'MB':>8} {'backup s':>9} {'MB/s':>7} {'restore s':>10} {'MB/s':>7}")
    for backend, size, backup_seconds, restore_seconds in results:
        mb = size / 1e6
        print(
            f"  {backend:<10} {mb:8.2f} {backup_seconds:9.2f} {mb / backup_seconds:7.2f} "
            f"{restore_seconds:10.2f} {mb / restore_seconds:7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--titles", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-artwork", action="store_true")
    parser.add_argument("--skip-backup", action="store_true")
    args = parser.parse_args()
    if not args.skip_artwork:
        asyncio.run(artwork_bench(args.titles, args.concurrency))
    if not args.skip_backup:
        asyncio.run(backup_bench(args.rows))


if __name__ == "__main__":
    main()
