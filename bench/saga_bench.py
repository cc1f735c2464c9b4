"""Saga benchmark: latency of the profile-update saga from the UpdateProfile request
to its completion (p50, p99), and the orchestrator's throughput, under a load of
profile updates.

Starts an embedded mini-mesh in this process (tests/mesh.py: users with sagas on,
catalog, history, recommendations, search on SQLite files, the real Redis of
`streammesh infra up`) and the orchestrator (services/users/sagas), then lets
``--devices`` devices each change its own profile's language ``--updates`` times
in a row: a device waits for its saga to complete (polling GetProfile, as a
device would) before its next change. Run once per orchestrator count in
``--orchestrators`` (several orchestrators share the log through the lease), so
the figures sit side by side. Bounded: devices x updates sagas per run, each
wait at most ``--timeout`` seconds.

    .venv/bin/python -m bench.saga_bench [--devices 16] [--updates 10] [--orchestrators 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import grpc.aio
from redis import asyncio as aioredis

from devtools.infra import endpoints
from services.users.sagas.config import SagaConfig
from services.users.sagas.process import orchestrator_for
from streammesh.users.v1 import users_pb2, users_pb2_grpc
from tests.mesh import (
    Account,
    Backends,
    Storage,
    catalog_config,
    history_config,
    recommendations_config,
    search_config,
    sign_up,
    start_mesh,
    users_config,
)

LANGUAGES = ("en", "fr", "de", "es")
# A saga polled this often by its device (GetProfile).
POLL_SECONDS = 0.05
CONFIG = SagaConfig(
    poll_interval_seconds=0.01, lease_seconds=10.0, step_timeout_seconds=5.0, concurrency=64
)


@dataclass
class Run:
    orchestrators: int
    latencies: list[float]
    wall_seconds: float
    failed: int

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def device(
    users: users_pb2_grpc.UserServiceStub,
    account: Account,
    updates: int,
    within_seconds: float,
    run: Run,
) -> None:
    for number in range(updates):
        started = time.perf_counter()
        try:
            answer = await users.UpdateProfile(
                users_pb2.UpdateProfileRequest(
                    profile=users_pb2.Profile(
                        profile_id=account.primary_profile_id,
                        language_code=LANGUAGES[(number + 1) % len(LANGUAGES)],
                    ),
                    update_mask={"paths": ["language_code"]},
                ),
                metadata=account.caller,
                timeout=30,
            )
        except grpc.aio.AioRpcError:
            run.failed += 1  # refused or unavailable: no saga started
            continue
        saga_id = answer.settings_change.saga_id
        deadline = started + within_seconds
        while time.perf_counter() < deadline:
            try:
                profile = await users.GetProfile(
                    users_pb2.GetProfileRequest(profile_id=account.primary_profile_id),
                    metadata=account.caller,
                    timeout=30,
                )
            except grpc.aio.AioRpcError:
                await asyncio.sleep(POLL_SECONDS)
                continue  # a poll lost to an overloaded machine: poll again
            change = profile.settings_change
            if change.saga_id == saga_id and change.state == users_pb2.SAGA_STATE_COMPLETED:
                run.latencies.append(time.perf_counter() - started)
                break
            await asyncio.sleep(POLL_SECONDS)
        else:
            run.failed += 1


async def one_run(args: argparse.Namespace, orchestrators: int, state: Path) -> Run:
    prefix = f"bench:sagas:{os.getpid()}:{secrets.token_hex(3)}:"
    storage = Storage(state / f"o{orchestrators}", endpoints.redis_url(), prefix, Backends())
    storage.state.mkdir(parents=True)
    # No profile cache: a device's poll must see the saga's state, not a cached copy.
    users = users_config(storage, profile_update_sagas=True, cache_ttl_seconds=0)
    run = Run(orchestrators, [], 0.0, 0)
    async with start_mesh(
        users,
        catalog_config(storage),
        history_config(storage),
        recommendations_config(storage),
        search_config(storage),
    ) as mesh:
        os.environ.update(
            {
                f"STREAMMESH_{name.upper()}_ADDR": mesh.address(name)
                for name in ("recommendations", "search", "history")
            }
        )
        stop = asyncio.Event()
        async with grpc.aio.insecure_channel(mesh.address("users")) as channel:
            stub = users_pb2_grpc.UserServiceStub(channel)
            contexts = [orchestrator_for(users, replace(CONFIG)) for _ in range(orchestrators)]
            running = [await context.__aenter__() for context in contexts]
            loops = [asyncio.create_task(o.run(stop)) for o, _ in running]
            # Signed up one by one before the clock starts (not what is measured).
            accounts = [await sign_up(stub, "sagabench") for _ in range(args.devices)]
            started = time.perf_counter()
            await asyncio.gather(
                *(device(stub, account, args.updates, args.timeout, run) for account in accounts)
            )
            run.wall_seconds = time.perf_counter() - started
            stop.set()
            await asyncio.gather(*loops)
            for context in reversed(contexts):
                await context.__aexit__(None, None, None)
    redis = aioredis.Redis.from_url(storage.redis_url)
    try:
        async for key in redis.scan_iter(match=f"{prefix}*", count=500):
            await redis.unlink(key)
    finally:
        await redis.aclose()
    return run


def report(runs: list[Run], args: argparse.Namespace) -> str:
    lines = [
        f"profile-update sagas: {args.devices} devices x {args.updates} updates each "
        "(embedded backends, one process; load average "
        f"{os.getloadavg()[0]:.1f})",
        f"{'orchestrators':>13} {'sagas':>6} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'mean ms':>8} {'sagas/s':>8}",
    ]
    for run in runs:
        done = len(run.latencies)
        lines.append(
            f"{run.orchestrators:>13} {done:>6} {run.failed:>6} {run.percentile(0.5):>8.0f} "
            f"{run.percentile(0.99):>8.0f} {statistics.fmean(run.latencies) * 1000:>8.0f} "
            f"{done / run.wall_seconds:>8.1f}"
        )
    if len(runs) > 1 and runs[0].latencies:
        base = len(runs[0].latencies) / runs[0].wall_seconds
        ratios = ", ".join(
            f"{r.orchestrators}: x{(len(r.latencies) / r.wall_seconds) / base:.2f}"
            for r in runs[1:]
        )
        lines.append(f"throughput relative to {runs[0].orchestrators} orchestrator(s): {ratios}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    counts = [int(n) for n in args.orchestrators.split(",")]
    with tempfile.TemporaryDirectory(prefix="saga-bench-") as folder:
        runs = [await one_run(args, count, Path(folder)) for count in counts]
    print(report(runs, args))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=16)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--orchestrators", default="1,2")
    parser.add_argument("--timeout", type=float, default=60.0, help="per saga, seconds")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
