"""Recommendation figures on Cassandra against SQLite: ListRecommendations QPS and
p99, batch training time on the seeded history, and the delay from a view to
the profile's updated list (p50/p99), paced and in a burst.

    python -m bench.recommendations_bench [--backends sqlite,cassandra]
        [--catalog sample|full] [--viewers 200] [--views-per-viewer 20]
        [--total 2000] [--warmup 200] [--concurrency 16]
        [--delay-views 40] [--delay-rate 4] [--burst 27] [--quick]

Per backend, one run, same machine, same settings:

  seeded history    ``--viewers`` x ``--views-per-viewer`` views planned as
                    ``streammesh seed-views`` plans them (tests/recommendations/
                    synthetic.py, seed 1) over ``--catalog`` (the e2e sample of
                    337 titles, or the full 8,790), written into the store as
                    the freshness consumer would
  start             a users, catalog, history and recommendations server
                    started on port 0; the recommendations server reads the
                    catalog and learns every stored interaction before it serves
  training          ``streammesh recs train``'s code (services/recommendations/
                    cli.py ``train``): learn everything, recompute and store
                    every profile's list and every watched title's similar titles
  ListRecommendations  ``--total`` calls after ``--warmup`` unmeasured ones
                    (ghz, ``--concurrency``), 20 items a page, cycling over the
                    bench account's five profiles (a kids one among them), the
                    owner's token on every call: the call reads the profile and
                    the account from users (two gRPC calls), then the stored list
  view → list       ``--delay-views`` views recorded through the history's
                    RecordView at random (exponential) gaps averaging
                    ``--delay-rate``/s, then ``--burst`` views at once, each
                    burst view by a profile of its own (accounts of five
                    profiles, the bench account's kids profile last), the
                    paced ones round the same profiles; delay = RecordView's
                    call start → the profile's stored list computed after it
                    (history outbox relay → streammesh.history →
                    "recommendations-freshness" consumer → list stored). One
                    view per profile at a time, so the list that shows a view
                    is the one computed for it. One poller reads each pending
                    profile's stored list every POLL_SECONDS; a view not seen
                    within VISIBLE_TIMEOUT_SECONDS counts as missed.

Every server runs in this process, in one event loop (users, catalog,
history, recommendations and the poller share one core's worth of Python);
ghz runs in its own process (GOMAXPROCS=1). Redis and Cassandra are the
shared servers of ``make infra-up``; users, catalog and history stay on
SQLite in both runs, so the two runs differ by the recommendations' (and the
history's) store only. The machine's load average is printed with the
figures: other work on the machine shows in them.

Needs Redis and Cassandra (``make infra-up``) and ghz (``make tools``).
Everything is on loopback; every load run is bounded by its call count and
ghz's timeout, every wait by a timeout. The run's keyspaces, files and Redis
keys are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import grpc.aio
import redis.asyncio as aioredis
from rich.console import Console

from bench.history_bench import drop_prefix
from bench.loadgen import HEADER, Result, ghz
from devtools.infra import endpoints
from services import ratings
from services.recommendations import cli
from services.recommendations.config import Config as RecommendationsConfig
from services.recommendations.models import Interaction
from services.recommendations.store import RecommendationStore
from services.recommendations.stores import open_store
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2, recommendations_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc
from tests.mesh import (
    SAMPLE_CATALOG,
    Account,
    Backends,
    RunningMesh,
    Storage,
    catalog_config,
    drop_keyspace,
    history_config,
    recommendations_config,
    sign_up,
    start_mesh,
    users_config,
)
from tests.recommendations import synthetic

BACKENDS: Final = ("sqlite", "cassandra")
CATALOGS: Final = {"sample": SAMPLE_CATALOG, "full": synthetic.FULL_CATALOG}
CALL: Final = "streammesh.recommendations.v1.RecommendationService.ListRecommendations"
COUNTRY: Final = "GB"
KIDS_LIMIT: Final = "TV-Y7"
# The bench account's profiles: the primary one and four more, the last a kids one.
EXTRA_PROFILES: Final = 4
PAGE_SIZE: Final = 20
# Seeded profile ids start here, far above the users service's own.
SEEDED_PROFILE_BASE: Final = 10**15
# Interactions written into the store at once while seeding.
SEED_CONCURRENCY: Final = 32
POLL_SECONDS: Final = 0.02
VISIBLE_TIMEOUT_SECONDS: Final = 10.0
CALL_TIMEOUT_SECONDS: Final = 10.0
TRAIN_TIMEOUT_SECONDS: Final = 1800.0


@dataclass
class Figures:
    backend: str
    interactions: int = 0
    start_seconds: float = 0.0
    train_profiles: int = 0
    train_titles: int = 0
    train_seconds: float = 0.0
    list_result: Result | None = None
    paced: list[float] = field(default_factory=list)
    paced_missed: int = 0
    burst: list[float] = field(default_factory=list)
    burst_missed: int = 0
    # The burst's delays counted from RecordView's answer (the history's own
    # part left out: relay, stream, consumer, computation, write).
    burst_after_answer: list[float] = field(default_factory=list)
    burst_kids: float | None = None


def progress(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


@asynccontextmanager
async def storage_for(backend: str, state: Path) -> AsyncIterator[Storage]:
    """The run's storage: files under ``state``, a Redis prefix, and on Cassandra
    keyspaces of the run's own for the history and the recommendations (dropped after)."""
    prefix = f"bench:recs:{os.getpid()}:{secrets.token_hex(3)}:"
    backends = Backends("embedded")
    if backend == "cassandra":
        suffix = f"{os.getpid()}_{secrets.token_hex(2)}"
        backends = Backends(
            "real",
            cassandra_contact=endpoints.cassandra_contact(),
            history_keyspace=f"bench_rh_{suffix}",
            recommendations_keyspace=f"bench_recs_{suffix}",
        )
    storage = Storage(state, endpoints.redis_url(), prefix, backends)
    redis = aioredis.Redis.from_url(storage.redis_url)
    try:
        yield storage
    finally:
        await drop_prefix(redis, prefix)
        await redis.aclose()
        for keyspace in (backends.history_keyspace, backends.recommendations_keyspace):
            if keyspace:
                await asyncio.to_thread(drop_keyspace, backends.cassandra_contact, keyspace)


async def seed(store: RecommendationStore, interactions: list[Interaction]) -> None:
    slots = asyncio.Semaphore(SEED_CONCURRENCY)

    async def write(interaction: Interaction) -> None:
        async with slots:
            await store.record_interaction(interaction)

    await asyncio.gather(*(write(i) for i in interactions))


async def bench_profiles(
    users: users_pb2_grpc.UserServiceStub, *, kids: bool = True
) -> tuple[Account, list[str]]:
    """An account and its five profiles, the last a kids one when ``kids``."""
    account = await sign_up(users, "bench.recs", COUNTRY, call_timeout=CALL_TIMEOUT_SECONDS)
    profiles = [account.primary_profile_id]
    for index in range(EXTRA_PROFILES):
        kids_profile = kids and index == EXTRA_PROFILES - 1
        created = await users.CreateProfile(
            users_pb2.CreateProfileRequest(
                account_id=account.account_id,
                profile=users_pb2.Profile(
                    profile_name=f"bench {index}",
                    kids_profile=kids_profile,
                    maturity_rating=KIDS_LIMIT if kids_profile else "",
                ),
            ),
            metadata=account.caller,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        profiles.append(created.profile_id)
    return account, profiles


class DelayProbe:
    """Records views and times each until its profile's stored list is newer."""

    def __init__(
        self,
        history: history_pb2_grpc.HistoryServiceStub,
        store: RecommendationStore,
        owners: dict[str, Account],
        titles: dict[str, list[str]],
    ) -> None:
        self._history = history
        self._store = store
        self._owners = owners
        # Titles per profile, in the order they are watched.
        self._titles = titles
        # profile -> [(start seconds, future of the delay)]
        self._pending: dict[str, list[tuple[float, asyncio.Future[float]]]] = {}

    async def view(self, profile_id: str) -> tuple[float, float] | None:
        """One view's delay in seconds from RecordView's call and from its answer,
        or None when it was not seen in time."""
        titles = self._titles[profile_id]
        # A small pool (the kids titles of the sample) wraps around: a view of
        # a title watched already still recomputes the list.
        title_id = titles.pop(0)
        titles.append(title_id)
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        started = time.time()
        self._pending.setdefault(profile_id, []).append((started, done))
        await self._history.RecordView(
            history_pb2.RecordViewRequest(
                profile_id=profile_id,
                view=history_pb2.View(
                    title_id=title_id,
                    position_seconds=3000,
                    duration_seconds=3600,
                    device_type="tv",
                ),
            ),
            metadata=self._owners[profile_id].caller,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        answered = time.time()
        try:
            delay = await asyncio.wait_for(asyncio.shield(done), VISIBLE_TIMEOUT_SECONDS)
            return delay, delay - (answered - started)
        except TimeoutError:
            return None
        finally:
            waiting = self._pending.get(profile_id, [])
            if (started, done) in waiting:
                waiting.remove((started, done))

    async def poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for profile_id, waiting in list(self._pending.items()):
                if not waiting:
                    continue
                stored = await self._store.get_list(profile_id)
                if stored is None:
                    continue
                now = time.time()
                for started, done in list(waiting):
                    if stored.compute_time_ms >= started * 1000 and not done.done():
                        done.set_result(now - started)
            await asyncio.sleep(POLL_SECONDS)


def _unwatched(catalog: Path, profiles: list[str], kids: str, need: int) -> dict[str, list[str]]:
    """``need`` distinct titles in COUNTRY per profile, within the kids limit for the kids one."""
    titles = synthetic.catalog_titles(catalog)
    pool = [t for t in titles if not t.country_codes or COUNTRY in t.country_codes]
    kids_pool = [t.title_id for t in pool if ratings.allows(KIDS_LIMIT, t.maturity_rating)]
    adult_pool = [
        t.title_id for t in pool if ratings.allows(ratings.DEFAULT_LIMIT, t.maturity_rating)
    ]
    rng = random.Random(7)
    chosen: dict[str, list[str]] = {}
    for profile_id in profiles:
        source = kids_pool if profile_id == kids else adult_pool
        chosen[profile_id] = rng.sample(source, min(need, len(source)))
    return chosen


async def bench_backend(backend: str, args: argparse.Namespace, catalog: Path) -> Figures:
    figures = Figures(backend)
    interactions = [
        replace(i, profile_id=str(SEEDED_PROFILE_BASE + int(i.profile_id)))
        for i in synthetic.history(args.viewers, args.views_per_viewer, path=catalog)
    ]
    figures.interactions = len(interactions)
    with tempfile.TemporaryDirectory(prefix="bench-recs-") as folder:
        async with storage_for(backend, Path(folder)) as storage:
            config = recommendations_config(storage)
            store = await open_store(config)
            try:
                progress(f"{backend}: seeding {len(interactions)} interactions")
                await seed(store, interactions)
                progress(f"{backend}: starting the mesh")
                started = time.monotonic()
                async with start_mesh(
                    users_config(storage),
                    catalog_config(storage, seed_catalog=str(catalog)),
                    history_config(storage),
                    recommendations_config(storage),
                ) as mesh:
                    figures.start_seconds = time.monotonic() - started
                    await measure(figures, args, catalog, mesh, config, store)
            finally:
                await store.close()
    return figures


async def measure(
    figures: Figures,
    args: argparse.Namespace,
    catalog: Path,
    mesh: RunningMesh,
    config: RecommendationsConfig,
    store: RecommendationStore,
) -> None:
    address = mesh.address
    progress(f"{figures.backend}: training")
    # Where the training reads the catalog (services/kit/clients.py resolves it).
    os.environ["STREAMMESH_CATALOG_ADDR"] = address("catalog")
    train_config = replace(config, migrate_on_start=False)
    figures.train_profiles, figures.train_titles, figures.train_seconds = await asyncio.wait_for(
        cli.train(train_config, Console(file=io.StringIO())), TRAIN_TIMEOUT_SECONDS
    )
    async with (
        grpc.aio.insecure_channel(address("users")) as users_channel,
        grpc.aio.insecure_channel(address("history")) as history_channel,
        grpc.aio.insecure_channel(address("recommendations")) as recs_channel,
    ):
        users = users_pb2_grpc.UserServiceStub(users_channel)
        account, profiles = await bench_profiles(users)
        kids = profiles[-1]
        # The delay phase's profiles: one per burst view, the kids one among them.
        owners = dict.fromkeys(profiles, account)
        while len(owners) < args.burst:
            more, more_profiles = await bench_profiles(users, kids=False)
            owners.update(dict.fromkeys(more_profiles, more))
        others = [p for p in owners if p != kids]
        delay_profiles = [*others[: max(args.burst - 1, 0)], kids]
        recs = recommendations_pb2_grpc.RecommendationServiceStub(recs_channel)
        for profile_id in profiles:  # each list computed and stored for its profile
            await recs.ListRecommendations(
                recommendations_pb2.ListRecommendationsRequest(
                    profile_id=profile_id, page_size=PAGE_SIZE
                ),
                metadata=account.caller,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        requests = json.dumps([{"profile_id": p, "page_size": PAGE_SIZE} for p in profiles])
        token = dict(account.caller)
        target = address("recommendations")
        progress(f"{figures.backend}: ListRecommendations ({args.warmup} + {args.total} calls)")
        await asyncio.to_thread(
            ghz,
            target,
            CALL,
            requests,
            total=args.warmup,
            concurrency=args.concurrency,
            metadata=token,
        )
        figures.list_result = await asyncio.to_thread(
            ghz,
            target,
            CALL,
            requests,
            total=args.total,
            concurrency=args.concurrency,
            metadata=token,
        )

        progress(f"{figures.backend}: view → list ({args.delay_views} paced, {args.burst} at once)")
        per_profile = args.delay_views // len(delay_profiles) + 2
        probe = DelayProbe(
            history_pb2_grpc.HistoryServiceStub(history_channel),
            store,
            owners,
            _unwatched(catalog, delay_profiles, kids, per_profile),
        )
        stop = asyncio.Event()
        poller = asyncio.create_task(probe.poll(stop))
        try:
            rng = random.Random(11)
            paced: list[asyncio.Task[tuple[float, float] | None]] = []
            for index in range(args.delay_views):
                profile_id = delay_profiles[index % len(delay_profiles)]
                paced.append(asyncio.create_task(probe.view(profile_id)))
                await asyncio.sleep(rng.expovariate(args.delay_rate))
            paced_delays = await asyncio.gather(*paced)
            figures.paced = [d[0] for d in paced_delays if d is not None]
            figures.paced_missed = len(paced_delays) - len(figures.paced)
            # The burst: every view at once, one per profile, the kids profile's last.
            order = delay_profiles[: args.burst]
            burst_delays = await asyncio.gather(*(probe.view(p) for p in order))
            figures.burst = [d[0] for d in burst_delays if d is not None]
            figures.burst_after_answer = [d[1] for d in burst_delays if d is not None]
            figures.burst_missed = len(burst_delays) - len(figures.burst)
            kids_delay = burst_delays[-1]
            if kids in order and kids_delay is not None:
                figures.burst_kids = kids_delay[0]
        finally:
            stop.set()
            await poller


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _delays(values: list[float], missed: int) -> str:
    if not values:
        return f"none seen ({missed} missed)"
    p50, p99 = _percentile(values, 0.5), _percentile(values, 0.99)
    return (
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
        f" ({len(values)} views, {missed} missed)"
    )


def report(figures: dict[str, Figures], args: argparse.Namespace, loads: list[float]) -> str:
    lines = [
        f"Recommendations benchmark: catalog {args.catalog}, seeded history "
        f"{args.viewers} viewers x {args.views_per_viewer} views, ghz {args.total} calls "
        f"(concurrency {args.concurrency}), {args.delay_views} paced views at "
        f"{args.delay_rate}/s and a burst of {args.burst}",
        f"machine: {os.cpu_count()} CPUs, load average during the run "
        f"{min(loads):.1f}..{max(loads):.1f} (1 min)",
        "",
        f"{'ListRecommendations':<34}{HEADER[34:]}",
    ]
    for name, each in figures.items():
        if each.list_result is not None:
            lines.append(each.list_result.row(name))
    if {"sqlite", "cassandra"} <= set(figures):
        sqlite_result = figures["sqlite"].list_result
        cassandra_result = figures["cassandra"].list_result
        if sqlite_result and cassandra_result and sqlite_result.qps:
            lines.append(
                f"cassandra / sqlite: QPS x{cassandra_result.qps / sqlite_result.qps:.2f}, "
                f"p99 x{cassandra_result.p99_ms / sqlite_result.p99_ms:.2f}"
            )
    lines.append("")
    for name, each in figures.items():
        lines += [
            f"{name}: {each.interactions} interactions seeded; server start (catalog read and"
            f" every interaction learned) {each.start_seconds:.1f} s",
            f"  batch training: {each.train_profiles} profile lists and {each.train_titles}"
            f" similar-title lists in {each.train_seconds:.1f} s",
            f"  view -> list, paced: {_delays(each.paced, each.paced_missed)}",
            f"  view -> list, burst: {_delays(each.burst, each.burst_missed)}",
            f"    counted from RecordView's answer: {_delays(each.burst_after_answer, 0)}",
        ]
        if each.burst_kids is not None:
            lines.append(
                f"  the kids profile's own view in the burst: {each.burst_kids * 1000:.0f} ms"
            )
    return "\n".join(lines)


async def sample_load(loads: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        loads.append(os.getloadavg()[0])
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)


async def main_async(args: argparse.Namespace) -> int:
    catalog = CATALOGS[args.catalog]
    loads = [os.getloadavg()[0]]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_load(loads, stop))
    figures: dict[str, Figures] = {}
    try:
        for backend in args.backends.split(","):
            if backend not in BACKENDS:
                raise SystemExit(f"unknown backend {backend!r}; choose from {BACKENDS}")
            figures[backend] = await bench_backend(backend, args, catalog)
    finally:
        stop.set()
        await sampler
    print(report(figures, args, loads))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--catalog", choices=sorted(CATALOGS), default="full")
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--views-per-viewer", type=int, default=20)
    parser.add_argument("--total", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay-views", type=int, default=40)
    parser.add_argument("--delay-rate", type=float, default=4.0)
    parser.add_argument("--burst", type=int, default=27)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the e2e sample catalog, 60 viewers, 500 calls, 12 paced views: a smoke run",
    )
    args = parser.parse_args()
    if args.quick:
        args.catalog, args.viewers, args.total, args.warmup, args.delay_views = (
            "sample",
            60,
            500,
            50,
            12,
        )
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
