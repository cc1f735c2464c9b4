"""Sessions and stream slots: playback start and heartbeat QPS and p99, token refresh QPS and p99.

    python bench/sessions_bench.py [--requests 3000] [--warmup 300] [--concurrency 16]

Needs the real backends (``streammesh infra up``: MariaDB and Redis) and ghz
(``make tools``). A throw-away MariaDB database, the users service as deployed
(full interceptor chain, JWT and session check, Redis scripts) in its own
process pinned to CPU 0, the load pinned to CPU 1, loopback only:

  GetAccount (baseline)  a cached owner read through the same chain: the
                         reference the others are compared with, in this run
  HeartbeatPlayback      one Lua script (ZSCORE, ZADD XX, PEXPIRE) per call,
                         plus the cached subscription read
  StartPlayback          the profile and subscription reads (cached) and the
                         start script (prune expired, count, add); each worker
                         has its own account and stops its stream after each
                         start (the stop is not in the start's latency)
  RefreshSession         HMGET, the MAC check, the rotation script and an
                         ES256 signature; each worker chains its own session's
                         refresh tokens (a token works once)

Every row is measured by one Python asyncio client (``--concurrency``
workers, ``--requests`` calls after ``--warmup``), so the rows compare like
with like; GetAccount and HeartbeatPlayback are repeatable calls, so ghz also
measures them (the server's ceiling without a Python client). Argon2id runs at
its minimum cost: sign-ins are set-up here, not what is measured
(bench/users_bench.py measures them). Every run is bounded by its request
count and a 10 s deadline per call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc.aio

from bench.loadgen import HEADER, Result, free_port, ghz
from bench.users_bench import (
    PASSWORD,
    create_database,
    drop_database,
    server_process,
    sign_up,
    users_env,
    wait_serving,
)
from streammesh.users.v1 import users_pb2, users_pb2_grpc

CALL_TIMEOUT_SECONDS = 10.0
# Failed calls by status and message, printed at the end.
ERRORS: dict[str, int] = {}


async def load(workers: list[Callable[[], Awaitable[None]]], total: int) -> Result:
    """``total`` calls spread over the workers (one coroutine each, one call at a time);
    QPS over the wall time, latency of each call."""
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def run(call: Callable[[], Awaitable[None]]) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            try:
                await call()
            except grpc.aio.AioRpcError as err:
                errors += 1
                ERRORS[f"{err.code().name}: {err.details()}"] = (
                    ERRORS.get(f"{err.code().name}: {err.details()}", 0) + 1
                )
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(run(worker) for worker in workers))
    wall = time.perf_counter() - started
    if not latencies:
        return Result(0.0, 0.0, 0.0, errors)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Result(len(latencies) / wall, statistics.median(ordered), p99, errors)


class Device:
    """One signed-in device of one account (its own session)."""

    def __init__(self, stub: users_pb2_grpc.UserServiceStub, email: str) -> None:
        self.stub = stub
        self.email = email
        self.account_id = ""
        self.profile_id = ""
        self.refresh_token = ""
        self.metadata: tuple[tuple[str, str], ...] = ()

    async def sign_in(self) -> None:
        login = await self.stub.Login(
            users_pb2.LoginRequest(email=self.email, password=PASSWORD, device_name="bench"),
            timeout=30,
        )
        self.account_id = login.account_id
        self.refresh_token = login.refresh_token
        self.metadata = (("authorization", f"Bearer {login.access_token}"),)
        profiles = await self.stub.ListProfiles(
            users_pb2.ListProfilesRequest(account_id=self.account_id),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        self.profile_id = profiles.profiles[0].profile_id

    async def get_account(self) -> None:
        await self.stub.GetAccount(
            users_pb2.GetAccountRequest(account_id=self.account_id),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )

    async def start_and_stop(self) -> float:
        """Starts a stream and stops it; returns the start's latency (ms)."""
        started = time.perf_counter()
        playback = await self.stub.StartPlayback(
            users_pb2.StartPlaybackRequest(profile_id=self.profile_id),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        latency = (time.perf_counter() - started) * 1000
        await self.stub.StopPlayback(
            users_pb2.StopPlaybackRequest(playback_id=playback.playback_id),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        return latency

    async def start(self) -> str:
        playback = await self.stub.StartPlayback(
            users_pb2.StartPlaybackRequest(profile_id=self.profile_id),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        return str(playback.playback_id)

    async def refresh(self) -> None:
        renewed = await self.stub.RefreshSession(
            users_pb2.RefreshSessionRequest(refresh_token=self.refresh_token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        self.refresh_token = renewed.refresh_token


async def start_load(devices: list[Device], total: int) -> Result:
    """StartPlayback latency alone; QPS counts starts over the wall time (stops included)."""
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def run(device: Device) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            try:
                latencies.append(await device.start_and_stop())
            except grpc.aio.AioRpcError:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(run(device) for device in devices))
    wall = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Result(len(latencies) / wall, statistics.median(ordered), p99, errors)


async def run(args: argparse.Namespace) -> int:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load on CPU 1, the server on CPU 0
    database, database_url = await create_database()
    results: dict[str, Result] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="streammesh-sessions-bench-") as state_dir:
            state = Path(state_dir)
            port = free_port()
            env = users_env(
                database_url,
                port,
                state,
                STREAMMESH_USERS_ARGON2_TIME_COST="1",
                STREAMMESH_USERS_ARGON2_MEMORY_KIB="1024",
            )
            with server_process(
                [sys.executable, "-m", "services.users.server"], env, state / "users.log"
            ):
                await wait_serving(port)
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                    stub = users_pb2_grpc.UserServiceStub(channel)
                    devices = []
                    for _ in range(args.concurrency):
                        email, _, _ = await sign_up(port)
                        device = Device(stub, email)
                        await device.sign_in()
                        devices.append(device)
                    results.update(await measure(devices, port, args))
    finally:
        await drop_database(database)

    print(
        f"users service on MariaDB + Redis, server on CPU 0, load on CPU 1; "
        f"{args.requests} calls after {args.warmup} warm-up, concurrency {args.concurrency}"
    )
    print(HEADER)
    for name, result in results.items():
        print(result.row(name))
    baseline = results["GetAccount (baseline), Python client"]
    for name in ("StartPlayback", "HeartbeatPlayback", "RefreshSession"):
        row = results[f"{name}, Python client"]
        print(
            f"{name + ' / GetAccount':<34} QPS {row.qps / baseline.qps:.2f}x, "
            f"p99 {row.p99_ms / baseline.p99_ms:.2f}x"
        )
    failed = sum(result.errors for result in results.values())
    if failed:
        print(f"{failed} calls failed: {ERRORS}", file=sys.stderr)
        return 1
    return 0


async def measure(devices: list[Device], port: int, args: argparse.Namespace) -> dict[str, Result]:
    results: dict[str, Result] = {}
    for total in (args.warmup, args.requests):
        results["GetAccount (baseline), Python client"] = await load(
            [d.get_account for d in devices], total
        )
    for total in (args.warmup, args.requests):
        results["StartPlayback, Python client"] = await start_load(devices, total)
    playing = [(device, await device.start()) for device in devices]

    def beat(device: Device, playback_id: str) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            await device.stub.HeartbeatPlayback(
                users_pb2.HeartbeatPlaybackRequest(playback_id=playback_id),
                metadata=device.metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )

        return call

    for total in (args.warmup, args.requests):
        results["HeartbeatPlayback, Python client"] = await load(
            [beat(device, playback_id) for device, playback_id in playing], total
        )
    for total in (args.warmup, args.requests):
        results["RefreshSession, Python client"] = await load([d.refresh for d in devices], total)
    # ghz for the repeatable calls (one account's token; its own process on CPU 1).
    device, playback_id = playing[0]
    target = f"127.0.0.1:{port}"
    metadata = {"authorization": device.metadata[0][1]}
    for label, call, data in (
        (
            "GetAccount (baseline), ghz",
            "streammesh.users.v1.UserService.GetAccount",
            {"account_id": device.account_id},
        ),
        (
            "HeartbeatPlayback, ghz",
            "streammesh.users.v1.UserService.HeartbeatPlayback",
            {"playback_id": playback_id},
        ),
    ):
        for total in (args.warmup, args.requests):
            results[label] = await asyncio.to_thread(
                ghz,
                target,
                call,
                json.dumps(data),
                total=total,
                concurrency=args.concurrency,
                metadata=metadata,
                cpu=1,
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
