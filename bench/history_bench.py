"""History figures on Cassandra against SQLite: RecordView, ListContinueWatching, view → trending.

    python -m bench.history_bench [--backends sqlite,cassandra] [--concurrency 16]
                                  [--total 3000] [--warmup 300] [--views-for-delay 200]
                                  [--delay-rate 10] [--catalog CSV] [--quick]

One run measures both backends one after the other, same machine, same load
tool, same settings:

  sqlite     history on a scratch SQLite file, users on a scratch SQLite file
             (the embedded stack of ``streammesh up``)
  cassandra  history on a scratch Cassandra keyspace (migrated by the bench,
             as ``streammesh migrate`` would), users on a scratch MariaDB
             database (the real stack of ``STREAMMESH_BACKENDS=real``)

Both use the real Redis (a key prefix of the run's own) and one catalog
server on SQLite seeded from ``--catalog`` (the e2e sample by default; the
history service reads titles from it over gRPC, through its Redis cache).
Each server runs in its own process, the history server pinned to CPU 0,
ghz pinned to CPU 1 (GOMAXPROCS=1), users, catalog and the backends
unpinned. Per backend:

  RecordView            ``--total`` calls after ``--warmup`` unmeasured ones
                        (ghz, a valid token in metadata, a new ``{{newUUID}}``
                        view_id per call, titles and three profiles cycling,
                        country given); the popularity rollup runs in the
                        server as deployed, and the time its backlog takes to
                        drain afterwards is printed too
  ListContinueWatching  ``--total`` calls (after ``--warmup``) for a profile
                        with 50 bookmarks, pages of 20
  view → trending       ``--views-for-delay`` views recorded one at a time,
                        arriving at random (exponential) gaps averaging
                        ``--delay-rate``/s; one poller reads ListTrending
                        every 5 ms until each view's title shows its new
                        count (at most 10 s, then it counts as missed):
                        delay = RecordView's answer → the first ListTrending
                        answer showing it. The history server runs with its
                        trending cache off (TTL 0), so this is outbox relay →
                        stream → rollup → top list; the deployed 30 s cache
                        adds up to 30 s.

Beside each ghz run it reads the CPU time of the three server processes
(/proc/<pid>/stat) and prints it per call, and the machine's busy share
(/proc/stat), to show where the cost is.

Needs MariaDB, Redis and Cassandra (``make infra-up``) and ghz (``make
tools``). Everything is on loopback; every load run is bounded by its call
count and ghz's timeout, every wait by a timeout. The keyspace, the MariaDB
database and the Redis keys under the run's prefix are dropped at the end.
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
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import grpc.aio
import redis.asyncio as aioredis

from bench.loadgen import Result, free_port, ghz, pinned
from bench.users_bench import create_database, drop_database, wait_serving
from devtools.infra import endpoints
from services import ratings
from services.catalog.netflix_csv import parse
from services.events import streams
from services.events.config import stream_prefix_for
from services.history.migrations import CQL
from services.history.popularity import GROUP
from services.runtime.cassandra import CassandraSettings, open_migrated
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CATALOG = REPO / "tests" / "e2e" / "data" / "titles_sample.csv"
SERVICE = "streammesh.history.v1.HistoryService"
PASSWORD = "bench password 1234"
BACKENDS = ("sqlite", "cassandra")
# Country of the RecordView load and of the continue-watching views; the
# delay views go to another one, on titles of their own, so each delay view's
# rollup reads only the delay phase's play log.
LOAD_COUNTRY = "GB"
DELAY_COUNTRY = "SE"
DELAY_TITLES = 20
BOOKMARKS = 50
CONTINUE_PAGE_SIZE = 20
LOAD_PROFILES = 3
# Bounds of the delay phase: poll interval, and how long one view may take
# to show up before it counts as missed.
POLL_SECONDS = 0.005
VISIBLE_TIMEOUT_SECONDS = 10.0
# Bound on the rollup draining its backlog after a load run.
SETTLE_TIMEOUT_SECONDS = 300.0
# The stream must stay this long unchanged, the group idle, to count as drained.
SETTLE_QUIET_SECONDS = 1.0
CALL_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Cpu:
    """CPU time of each server process during one load run divided by its calls
    (background work such as relay polls and the rollup included), and the
    machine's busy share meanwhile (all cores, every process on the machine)."""

    per_call_ms: dict[str, float]
    busy: float

    def text(self) -> str:
        parts = ", ".join(f"{name} {ms:.1f}" for name, ms in self.per_call_ms.items())
        return f"CPU ms/call {parts}; machine {self.busy:.0%} busy"


@dataclass
class Figures:
    """What one backend measured."""

    record: Result
    record_cpu: Cpu
    continue_watching: Result
    continue_cpu: Cpu
    catch_up_seconds: float
    delays_ms: list[float] = field(default_factory=list)
    missed: int = 0

    def rollup_rate(self, views: int) -> float:
        """Views the rollup got through per second, over the load run and the drain after it."""
        return views / (views / self.record.qps + self.catch_up_seconds)

    def delay(self, percentile: int) -> float:
        if not self.delays_ms:
            return float("nan")
        if len(self.delays_ms) == 1:
            return self.delays_ms[0]
        return statistics.quantiles(self.delays_ms, n=100, method="inclusive")[percentile - 1]


@dataclass(frozen=True)
class Titles:
    load: list[str]
    delay: list[str]


@dataclass(frozen=True)
class Viewer:
    token: str
    load_profiles: list[str]
    continue_profile: str
    delay_profile: str

    @property
    def caller(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


def catalog_titles(path: Path) -> Titles:
    """Title ids a default profile (PG-13) may watch: the delay phase's first, the rest for load."""
    with path.open(encoding="utf-8") as stream:
        parsed = parse(stream)
    allowed = [
        accepted.title.title_id
        for accepted in parsed.accepted
        if ratings.allows(ratings.DEFAULT_LIMIT, accepted.title.maturity_rating)
    ]
    if len(allowed) < DELAY_TITLES + BOOKMARKS:
        raise SystemExit(
            f"{path}: {len(allowed)} titles rated up to PG-13, need {DELAY_TITLES + BOOKMARKS}"
        )
    return Titles(load=allowed[DELAY_TITLES:], delay=allowed[:DELAY_TITLES])


_TICK = 1 / os.sysconf("SC_CLK_TCK")


def _process_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (fields 14 and 15 of /proc/<pid>/stat)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) * _TICK


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def measured_cpu(pids: dict[str, int], calls: int, run: Callable[[], Result]) -> tuple[Result, Cpu]:
    """``run()`` (``calls`` calls), with the CPU its servers and the machine spent meanwhile."""
    before = {name: _process_seconds(pid) for name, pid in pids.items()}
    busy_before, total_before = _machine_jiffies()
    result = run()
    busy_after, total_after = _machine_jiffies()
    per_call = {
        name: (_process_seconds(pid) - before[name]) * 1000 / calls for name, pid in pids.items()
    }
    busy = (busy_after - busy_before) / max(1, total_after - total_before)
    return result, Cpu(per_call, busy)


_STARTED = time.monotonic()


def progress(what: str) -> None:
    """A line on stderr, so a long run shows where it is (the figures go to stdout)."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {what}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


@contextlib.contextmanager
def server_process(
    command: list[str], env: dict[str, str], log: Path, cpu: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            pinned(cpu, command), cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def base_env(service: str, port: int, prefix: str) -> dict[str, str]:
    svc = f"STREAMMESH_{service.upper()}_"
    return dict(
        os.environ,
        OTEL_TRACES_EXPORTER="none",
        **{
            f"{svc}PORT": str(port),
            f"{svc}METRICS_PORT": "0",
            f"{svc}REDIS_URL": endpoints.redis_url(),
            f"{svc}REDIS_PREFIX": prefix,
        },
    )


def catalog_env(port: int, prefix: str, state: Path, seed: Path) -> dict[str, str]:
    return dict(
        base_env("catalog", port, prefix),
        STREAMMESH_CATALOG_BACKEND="embedded",
        STREAMMESH_CATALOG_SQLITE_PATH=str(state / "catalog.db"),
        STREAMMESH_CATALOG_MIGRATE_ON_START="true",
        STREAMMESH_CATALOG_SEED_CATALOG=str(seed),
    )


def users_env(port: int, prefix: str, state: Path, database_url: str) -> dict[str, str]:
    return dict(
        base_env("users", port, prefix),
        STREAMMESH_USERS_DATABASE_URL=database_url,
        STREAMMESH_USERS_DATA_DIR=str(state / "users"),
        STREAMMESH_USERS_KEY_DIR=str(state / "users" / "keys"),
        # The bench's migrations for MariaDB (create_database), the server's for SQLite.
        STREAMMESH_USERS_MIGRATE_ON_START="true" if database_url.startswith("sqlite") else "false",
    )


def history_env(
    backend: str, port: int, prefix: str, state: Path, keyspace: str, users: int, catalog: int
) -> dict[str, str]:
    env = dict(
        base_env("history", port, prefix),
        STREAMMESH_USERS_ADDR=f"127.0.0.1:{users}",
        STREAMMESH_CATALOG_ADDR=f"127.0.0.1:{catalog}",
        # ListTrending computed on every call: the delay phase measures the
        # rollup, not the cache's TTL. RecordView and ListContinueWatching
        # never read that cache.
        STREAMMESH_HISTORY_TRENDING_CACHE_TTL_SECONDS="0",
        # The viewers hold no stream slot: RecordView here is the history's own
        # path (checks, store, outbox), without the users call a slot check adds.
        STREAMMESH_HISTORY_REQUIRE_STREAM_SLOT="false",
    )
    if backend == "sqlite":
        env.update(
            STREAMMESH_HISTORY_BACKEND="embedded",
            STREAMMESH_HISTORY_SQLITE_PATH=str(state / "history.db"),
            STREAMMESH_HISTORY_MIGRATE_ON_START="true",
        )
    else:
        host, cql_port = endpoints.cassandra_contact()
        env.update(
            STREAMMESH_HISTORY_BACKEND="real",
            STREAMMESH_HISTORY_CASSANDRA_KEYSPACE=keyspace,
            STREAMMESH_HISTORY_CASSANDRA_CONTACT_POINTS=host,
            STREAMMESH_HISTORY_CASSANDRA_PORT=str(cql_port),
            STREAMMESH_HISTORY_MIGRATE_ON_START="false",
        )
    return env


async def serving(
    port: int, process: subprocess.Popen[bytes], log: Path, *, within_seconds: float = 60.0
) -> None:
    if process.poll() is not None:
        raise SystemExit(f"server exited ({process.returncode}); see {log}:\n{_tail(log)}")
    try:
        await wait_serving(port, within_seconds=within_seconds)
    except SystemExit:
        raise SystemExit(f"server on port {port} not serving; see {log}:\n{_tail(log)}") from None


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


# ---------------------------------------------------------------- scratch stores


@contextlib.asynccontextmanager
async def users_database(backend: str, state: Path) -> AsyncIterator[str]:
    """The users store's URL: a scratch MariaDB database (dropped after) or SQLite file."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{state / 'users.db'}"
        return
    name, url = await create_database()
    try:
        yield url
    finally:
        await drop_database(name)


@contextlib.asynccontextmanager
async def history_keyspace(backend: str) -> AsyncIterator[str]:
    """A migrated scratch keyspace, dropped after (nothing for SQLite)."""
    if backend == "sqlite":
        yield ""
        return
    host, port = endpoints.cassandra_contact()
    keyspace = f"bench_history_{os.getpid()}_{secrets.token_hex(2)}"
    settings = CassandraSettings(keyspace=keyspace, contact_points=(host,), port=port)
    session = await open_migrated(settings, CQL, migrate=True)
    try:
        yield keyspace
    finally:
        await session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        await session.close()


async def drop_prefix(redis: aioredis.Redis, prefix: str) -> int:
    """Deletes every key under ``prefix`` (the run's own); returns how many."""
    dropped = 0
    batch: list[Any] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) == 500:
            dropped += await redis.unlink(*batch)
            batch = []
    if batch:
        dropped += await redis.unlink(*batch)
    return dropped


# ---------------------------------------------------------------- clients


async def sign_up(users_port: int) -> Viewer:
    """A fresh account, a token, and five profiles: three for load, one with
    bookmarks, one for the delay views."""
    email = f"bench.history.{secrets.token_hex(6)}@example.com"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{users_port}") as channel:
        stub = users_pb2_grpc.UserServiceStub(channel)
        await stub.CreateAccount(
            users_pb2.CreateAccountRequest(
                email=email,
                password=PASSWORD,
                first_name="Bench",
                last_name="Mark",
                country_code=LOAD_COUNTRY,
            ),
            timeout=30,
        )
        login = await stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD), timeout=30)
        caller = (("authorization", f"Bearer {login.access_token}"),)
        listed = await stub.ListProfiles(
            users_pb2.ListProfilesRequest(account_id=login.account_id), metadata=caller, timeout=10
        )
        profiles = [listed.profiles[0].profile_id]
        for index in range(LOAD_PROFILES + 1):
            created = await stub.CreateProfile(
                users_pb2.CreateProfileRequest(
                    account_id=login.account_id,
                    profile=users_pb2.Profile(profile_name=f"bench {index}"),
                ),
                metadata=caller,
                timeout=10,
            )
            profiles.append(created.profile_id)
    return Viewer(
        login.access_token,
        load_profiles=profiles[:LOAD_PROFILES],
        continue_profile=profiles[LOAD_PROFILES],
        delay_profile=profiles[LOAD_PROFILES + 1],
    )


def _view(title_id: str, country: str, view_id: str = "") -> history_pb2.View:
    return history_pb2.View(
        view_id=view_id or str(uuid.uuid4()),
        title_id=title_id,
        position_seconds=600,
        duration_seconds=3600,
        device_type="tv",
        country_code=country,
    )


async def bookmark(
    stub: history_pb2_grpc.HistoryServiceStub, viewer: Viewer, titles: Titles
) -> None:
    """``BOOKMARKS`` unfinished views of distinct titles on the continue-watching profile."""
    for title_id in titles.load[:BOOKMARKS]:
        await stub.RecordView(
            history_pb2.RecordViewRequest(
                profile_id=viewer.continue_profile, view=_view(title_id, LOAD_COUNTRY)
            ),
            metadata=viewer.caller,
            timeout=CALL_TIMEOUT_SECONDS,
        )


async def settle(redis: aioredis.Redis, stream: str) -> float:
    """Seconds until the rollup's group has read and acked everything on the
    stream and nothing new arrived for ``SETTLE_QUIET_SECONDS`` (the relay drained
    the outbox); the quiet time itself is not counted."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + SETTLE_TIMEOUT_SECONDS
    quiet_since: float | None = None
    last_length = -1
    while loop.time() < deadline:
        length = await redis.xlen(stream)
        groups: Any = await redis.xinfo_groups(stream) if length else []
        group = next((g for g in groups if _text(g["name"]) == GROUP), None)
        idle = group is not None and not group["pending"] and not group.get("lag")
        if idle and length == last_length:
            quiet_since = quiet_since or loop.time()
            if loop.time() - quiet_since >= SETTLE_QUIET_SECONDS:
                return quiet_since - started
        else:
            quiet_since = None
        last_length = length
        await asyncio.sleep(0.05)
    raise SystemExit(f"the rollup on {stream} did not drain within {SETTLE_TIMEOUT_SECONDS} s")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class _Pending:
    title_id: str
    count: int
    acked: float


async def trending_delay(
    stub: history_pb2_grpc.HistoryServiceStub,
    viewer: Viewer,
    titles: list[str],
    views: int,
    rate: float,
) -> tuple[list[float], int]:
    """Milliseconds from each view's ack to ListTrending showing it, and how many never did.

    Views are recorded one at a time at random (exponential) gaps of mean
    ``1 / rate``, whatever the earlier views' state, and one poller reads
    ListTrending every ``POLL_SECONDS`` for all of them. Arrivals at fixed
    gaps, each after the previous view showed up, would lock onto the
    relay's poll period (0.5 s on Cassandra) and measure its phase.
    """
    loop = asyncio.get_running_loop()
    arrivals = random.Random(len(titles) * views)
    counts: dict[str, int] = {}
    pending: list[_Pending] = []
    delays: list[float] = []
    missed = 0
    day = ""
    recording = True

    async def record() -> None:
        nonlocal day, recording
        try:
            next_at = loop.time()
            for index in range(views):
                next_at += arrivals.expovariate(rate)
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                title_id = titles[index % len(titles)]
                view = await stub.RecordView(
                    history_pb2.RecordViewRequest(
                        profile_id=viewer.delay_profile, view=_view(title_id, DELAY_COUNTRY)
                    ),
                    metadata=viewer.caller,
                    timeout=CALL_TIMEOUT_SECONDS,
                )
                counts[title_id] = counts.get(title_id, 0) + 1
                day = view.watch_time.ToDatetime(tzinfo=UTC).date().isoformat()
                pending.append(_Pending(title_id, counts[title_id], time.perf_counter()))
        finally:
            recording = False

    async def poll() -> None:
        nonlocal missed
        while recording or pending:
            if pending:
                reply = await stub.ListTrending(
                    history_pb2.ListTrendingRequest(country=DELAY_COUNTRY, date=day, page_size=100),
                    timeout=CALL_TIMEOUT_SECONDS,
                )
                answered = time.perf_counter()
                shown = {t.title_id: t.view_count for t in reply.titles}
                for view in list(pending):
                    if shown.get(view.title_id, 0) >= view.count:
                        delays.append((answered - view.acked) * 1000)
                        pending.remove(view)
                    elif answered - view.acked > VISIBLE_TIMEOUT_SECONDS:
                        missed += 1
                        pending.remove(view)
            await asyncio.sleep(POLL_SECONDS)

    async with asyncio.TaskGroup() as group:
        group.create_task(record())
        group.create_task(poll())
    return delays, missed


# ---------------------------------------------------------------- one backend


async def bench_backend(
    backend: str,
    args: argparse.Namespace,
    state: Path,
    prefix: str,
    catalog: subprocess.Popen[bytes],
    catalog_port: int,
    titles: Titles,
    redis: aioredis.Redis,
) -> Figures:
    state = state / backend
    state.mkdir()
    prefix = f"{prefix}{backend}:"
    stream = streams.stream_name("history", stream_prefix_for(prefix))
    progress(f"{backend}: scratch users store and history store")
    async with users_database(backend, state) as database_url, history_keyspace(backend) as ks:
        users_port, history_port = free_port(), free_port()
        users_log, history_log = state / "users.log", state / "history.log"
        with server_process(
            [sys.executable, "-m", "services.users.server"],
            users_env(users_port, prefix, state, database_url),
            users_log,
        ) as users:
            await serving(users_port, users, users_log)
            progress(f"{backend}: users serving; signing up")
            viewer = await sign_up(users_port)
            with server_process(
                [sys.executable, "-m", "services.history.server"],
                history_env(backend, history_port, prefix, state, ks, users_port, catalog_port),
                history_log,
                cpu=0,
            ) as history:
                await serving(history_port, history, history_log)
                progress(f"{backend}: history serving")
                pids = {"history": history.pid, "users": users.pid, "catalog": catalog.pid}
                if args.print_pids:
                    print(f"{backend}: server pids {pids}", file=sys.stderr, flush=True)
                return await measure(args, history_port, pids, viewer, titles, redis, stream)


async def measure(
    args: argparse.Namespace,
    port: int,
    pids: dict[str, int],
    viewer: Viewer,
    titles: Titles,
    redis: aioredis.Redis,
    stream: str,
) -> Figures:
    target = f"127.0.0.1:{port}"
    metadata = {"authorization": f"Bearer {viewer.token}"}

    def load(method: str, messages: list[dict[str, object]], total: int) -> tuple[Result, Cpu]:
        return measured_cpu(
            pids,
            total,
            lambda: ghz(
                target,
                f"{SERVICE}.{method}",
                json.dumps(messages),
                total=total,
                concurrency=args.concurrency,
                metadata=metadata,
                cpu=1,
            ),
        )

    # A new view_id per call (ghz's template), titles and profiles cycling.
    views: list[dict[str, object]] = [
        {
            "profileId": viewer.load_profiles[index % len(viewer.load_profiles)],
            "view": {
                "viewId": "{{newUUID}}",
                "titleId": title_id,
                "positionSeconds": 600,
                "durationSeconds": 3600,
                "deviceType": "tv",
                "countryCode": LOAD_COUNTRY,
            },
        }
        for index, title_id in enumerate(titles.load)
    ]
    continue_watching: list[dict[str, object]] = [
        {"profileId": viewer.continue_profile, "pageSize": CONTINUE_PAGE_SIZE}
    ]
    async with grpc.aio.insecure_channel(target) as channel:
        stub = history_pb2_grpc.HistoryServiceStub(channel)
        await bookmark(stub, viewer, titles)
        progress("RecordView")
        # Warm-up: the catalog's cache, the users service's profile cache,
        # prepared statements, the driver's pools.
        await asyncio.to_thread(load, "RecordView", views, args.warmup)
        await settle(redis, stream)
        record, record_cpu = await asyncio.to_thread(load, "RecordView", views, args.total)
        catch_up = await settle(redis, stream)
        # One event per new view: fewer would mean ghz repeated view_ids (idempotent no-ops).
        events = await redis.xlen(stream)
        if events < BOOKMARKS + args.warmup + args.total:
            raise SystemExit(f"{events} events for {BOOKMARKS + args.warmup + args.total} views")
        progress("ListContinueWatching")
        await asyncio.to_thread(load, "ListContinueWatching", continue_watching, args.warmup)
        listing, listing_cpu = await asyncio.to_thread(
            load, "ListContinueWatching", continue_watching, args.total
        )
        reply = await stub.ListContinueWatching(
            history_pb2.ListContinueWatchingRequest(
                profile_id=viewer.continue_profile, page_size=100
            ),
            metadata=viewer.caller,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        if len(reply.items) != BOOKMARKS:
            raise SystemExit(f"continue watching holds {len(reply.items)} titles, not {BOOKMARKS}")
        await settle(redis, stream)
        progress("view -> trending delay")
        delays, missed = await trending_delay(
            stub, viewer, titles.delay, args.views_for_delay, args.delay_rate
        )
    return Figures(record, record_cpu, listing, listing_cpu, catch_up, delays, missed)


# ---------------------------------------------------------------- report


def _result(result: Result) -> str:
    return f"{result.qps:6.0f} QPS  p50 {result.p50_ms:6.1f}  p99 {result.p99_ms:6.1f} ms"


def report(args: argparse.Namespace, figures: dict[str, Figures], seconds: float) -> list[str]:
    width = 42
    backends = list(figures)
    head = f"{'':<{width}}" + "".join(f"{name:<38}" for name in backends)
    both = "sqlite" in figures and "cassandra" in figures
    if both:
        head += "cassandra/sqlite"
    rows = [head]

    def row(label: str, cells: list[str], ratio: str) -> None:
        rows.append(
            f"{label:<{width}}" + "".join(f"{c:<38}" for c in cells) + (ratio if both else "")
        )

    def qps_ratio(pick: str) -> str:
        sql, cas = getattr(figures["sqlite"], pick), getattr(figures["cassandra"], pick)
        return f"QPS {cas.qps / sql.qps:.2f}x  p99 {cas.p99_ms / sql.p99_ms:.2f}x"

    row(
        "RecordView",
        [_result(f.record) for f in figures.values()],
        qps_ratio("record") if both else "",
    )
    for name, f in figures.items():
        rows.append(f"  {name} RecordView: {f.record_cpu.text()}")
    row(
        f"ListContinueWatching ({BOOKMARKS} bookmarks, page {CONTINUE_PAGE_SIZE})",
        [_result(f.continue_watching) for f in figures.values()],
        qps_ratio("continue_watching") if both else "",
    )
    for name, f in figures.items():
        rows.append(f"  {name} ListContinueWatching: {f.continue_cpu.text()}")
    row(
        "rollup backlog after the RecordView run",
        [
            f"drained in {f.catch_up_seconds:.1f} s (~{f.rollup_rate(args.total):.0f} views/s)"
            for f in figures.values()
        ],
        "",
    )
    delay_ratio = ""
    if both:
        sql, cas = figures["sqlite"], figures["cassandra"]
        delay_ratio = (
            f"p50 {cas.delay(50) / sql.delay(50):.2f}x  p99 {cas.delay(99) / sql.delay(99):.2f}x"
        )
    row(
        f"view -> trending, {args.views_for_delay} views @ {args.delay_rate:g}/s",
        [
            f"p50 {f.delay(50):6.1f}  p99 {f.delay(99):6.1f} ms  ({f.missed} missed)"
            for f in figures.values()
        ],
        delay_ratio,
    )
    errors = {
        name: f.record.errors + f.continue_watching.errors
        for name, f in figures.items()
        if f.record.errors + f.continue_watching.errors
    }
    if errors:
        rows.append(f"FAILED CALLS (non-OK status codes from ghz): {errors}")
    rows.append(f"({seconds:.0f} s in all)")
    return rows


async def sample_load(loads: list[float]) -> None:
    """The 1-minute load average every 5 s, until cancelled."""
    while True:
        loads.append(os.getloadavg()[0])
        await asyncio.sleep(5)


async def main_async(args: argparse.Namespace) -> int:
    titles = catalog_titles(args.catalog)
    prefix = f"bench:history:{os.getpid()}:{secrets.token_hex(3)}:"
    redis = aioredis.Redis.from_url(endpoints.redis_url())
    load_before = os.getloadavg()
    loads: list[float] = []
    sampler = asyncio.create_task(sample_load(loads))
    started = time.monotonic()
    figures: dict[str, Figures] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="history-bench-") as work:
            state = Path(work)
            catalog_port = free_port()
            catalog_log = state / "catalog.log"
            with server_process(
                [sys.executable, "-m", "services.catalog.server"],
                catalog_env(catalog_port, f"{prefix}catalog:", state, args.catalog),
                catalog_log,
            ) as catalog:
                await serving(catalog_port, catalog, catalog_log)
                progress("catalog serving")
                for backend in args.backends.split(","):
                    figures[backend] = await bench_backend(
                        backend, args, state, prefix, catalog, catalog_port, titles, redis
                    )
    finally:
        sampler.cancel()
        with contextlib.suppress(Exception):
            await drop_prefix(redis, prefix)
        await redis.aclose()
    load_after = os.getloadavg()
    print(
        f"history bench, {time.strftime('%Y-%m-%d %H:%M %Z')}: {os.cpu_count()} CPUs, load "
        f"average {load_before[0]:.1f} before, {max(loads, default=0):.1f} at most during, "
        f"{load_after[0]:.1f} after; ghz on CPU 1 "
        f"(GOMAXPROCS=1), history server on CPU 0, users, catalog and backends unpinned"
    )
    print(
        f"ghz concurrency {args.concurrency}, {args.total} calls per run after {args.warmup} "
        f"warm-up; catalog {args.catalog.name} ({len(titles.load)} load titles); "
        f"sqlite = history + users on SQLite, cassandra = history on Cassandra + users on "
        f"MariaDB; Redis 6379 for both; trending cache off"
    )
    for line in report(args, figures, time.monotonic() - started):
        print(line)
    failed = any(
        f.record.errors or f.continue_watching.errors or f.missed for f in figures.values()
    )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--total", type=int, default=3000, help="measured calls per ghz run")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured calls before each")
    parser.add_argument("--views-for-delay", type=int, default=200)
    parser.add_argument("--delay-rate", type=float, default=10.0, help="delay views per second")
    parser.add_argument("--catalog", type=Path, default=SAMPLE_CATALOG, help="titles CSV to seed")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run (< 60 s): 60 calls, 20 warm-up, 20 delay views",
    )
    parser.add_argument(
        "--print-pids",
        action="store_true",
        help="print the server processes' pids to stderr (to attach py-spy to)",
    )
    args = parser.parse_args()
    if args.quick:
        args.total, args.warmup, args.views_for_delay = 60, 20, 20
    unknown = set(args.backends.split(",")) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends {sorted(unknown)}: choose from {', '.join(BACKENDS)}")
    if min(args.total, args.warmup, args.views_for_delay, args.concurrency) < 1:
        parser.error("--total, --warmup, --views-for-delay and --concurrency must be positive")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
