"""Users service figures: GetProfile QPS on MariaDB, cache warm vs cold, and the sign-in rate.

    python bench/users_bench.py [--requests 5000] [--logins 200] [--concurrency 16]

Needs the real backends (``streammesh infra up``: MariaDB and Redis) and ghz
(``make tools``). It creates a throw-away MariaDB database, migrates it, and
runs each server in its own process pinned to CPU 0 with ghz pinned to CPU 1:

  bare echo        a bare grpc.aio echo server (bench/echo_servers.py): the
                   ceiling of one Python process on this machine
  GetProfile warm  the users service as deployed (full interceptor chain, JWT
                   check, ownership), profile served from the Redis cache
  GetProfile cold  the same with the cache off (STREAMMESH_USERS_CACHE_TTL_SECONDS=0):
                   every call reads MariaDB
  Login            correct credentials with the production Argon2id cost
                   (services/users/config.py PasswordHashing), KDF in a 2-thread pool

It also times one Argon2id hash in this process. Every load run is bounded
by its request count and ghz's timeout; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiomysql
import grpc.aio
from argon2 import PasswordHasher
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.loadgen import HEADER, Result, free_port, ghz, pinned
from devtools.infra import endpoints
from services.users import migrations
from services.users.config import PasswordHashing
from streammesh.users.v1 import users_pb2, users_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_SECONDS = 60.0
PASSWORD = "bench password 1234"
_COST = PasswordHashing()
ARGON2 = f"Argon2id m={_COST.memory_kib // 1024} MiB t={_COST.time_cost} p={_COST.parallelism}"


@contextmanager
def server_process(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            pinned(0, command), cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_serving(
    port: int, *, health: bool = True, within_seconds: float = STARTUP_TIMEOUT_SECONDS
) -> None:
    """Until the server answers (its health check says SERVING, when it has one)."""
    deadline = time.monotonic() + within_seconds
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if not health:
                    await asyncio.wait_for(channel.channel_ready(), timeout=1)
                    return
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except (grpc.aio.AioRpcError, TimeoutError):
                pass  # not listening yet
            await asyncio.sleep(0.2)
    raise SystemExit(f"server on port {port} not ready within {STARTUP_TIMEOUT_SECONDS} s")


async def _admin_execute(statement: str) -> None:
    admin = await aiomysql.connect(
        host=endpoints.HOST,
        port=endpoints.MARIADB_PORT,
        user=endpoints.MARIADB_ADMIN_USER,
        password=endpoints.MARIADB_ADMIN_PASSWORD,
        autocommit=True,
        connect_timeout=5,
    )
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        admin.close()


async def create_database() -> tuple[str, str]:
    name = f"bench_users_{os.getpid()}_{secrets.token_hex(3)}"
    await _admin_execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = endpoints.mariadb_admin_url(name)
    await migrations.apply_url(url)
    return name, url


async def drop_database(name: str) -> None:
    await _admin_execute(f"DROP DATABASE IF EXISTS `{name}`")


async def sign_up(port: int) -> tuple[str, str, str]:
    """A fresh account: its e-mail, a token and its primary profile id."""
    email = f"bench.{secrets.token_hex(6)}@example.com"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = users_pb2_grpc.UserServiceStub(channel)
        account = await stub.CreateAccount(
            users_pb2.CreateAccountRequest(
                email=email,
                password=PASSWORD,
                first_name="Bench",
                last_name="Mark",
                country_code="US",
            ),
            timeout=30,
        )
        login = await stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD), timeout=30)
        metadata = (("authorization", f"Bearer {login.access_token}"),)
        profiles = await stub.ListProfiles(
            users_pb2.ListProfilesRequest(account_id=account.account_id),
            metadata=metadata,
            timeout=10,
        )
    return email, login.access_token, profiles.profiles[0].profile_id


def users_env(database_url: str, port: int, state: Path, **extra: str) -> dict[str, str]:
    return dict(
        os.environ,
        OTEL_TRACES_EXPORTER="none",
        STREAMMESH_BACKENDS="real",
        STREAMMESH_USERS_PORT=str(port),
        STREAMMESH_USERS_METRICS_PORT="0",
        STREAMMESH_USERS_DATABASE_URL=database_url,
        STREAMMESH_USERS_REDIS_URL=endpoints.redis_url(),
        STREAMMESH_USERS_REDIS_PREFIX=f"bench:{secrets.token_hex(4)}:",
        STREAMMESH_USERS_KEY_DIR=str(state / "keys"),
        STREAMMESH_USERS_MIGRATE_ON_START="false",
        # The benchmark logs in far more often than any person.
        STREAMMESH_USERS_LOGIN_ACCOUNT_FAILURES="1000000",
        STREAMMESH_USERS_LOGIN_ADDRESS_FAILURES="1000000",
        **extra,
    )


def get_profile_load(port: int, token: str, profile_id: str, args: argparse.Namespace) -> Result:
    call = "streammesh.users.v1.UserService.GetProfile"
    data = json.dumps({"profile_id": profile_id})
    metadata = {"authorization": f"Bearer {token}"}
    target = f"127.0.0.1:{port}"
    ghz(
        target,
        call,
        data,
        total=args.warmup,
        concurrency=args.concurrency,
        metadata=metadata,
        cpu=1,
    )
    return ghz(
        target,
        call,
        data,
        total=args.requests,
        concurrency=args.concurrency,
        metadata=metadata,
        cpu=1,
    )


async def run(args: argparse.Namespace) -> int:
    database, database_url = await create_database()
    results: dict[str, Result] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="streammesh-users-bench-") as state_dir:
            state = Path(state_dir)
            port = free_port()
            with server_process(
                [sys.executable, "-m", "bench.echo_servers", "bare", str(port)],
                dict(os.environ),
                state / "echo.log",
            ):
                await wait_serving(port, health=False)
                target = f"127.0.0.1:{port}"
                call, data = "streammesh.echo.v1.EchoService.Echo", '{"message": "hello"}'
                for total in (args.warmup, args.requests):
                    results["bare grpc.aio echo"] = await asyncio.to_thread(
                        ghz, target, call, data, total=total, concurrency=args.concurrency, cpu=1
                    )

            for label, ttl in (("GetProfile, cache warm", "300"), ("GetProfile, cache cold", "0")):
                port = free_port()
                env = users_env(database_url, port, state, STREAMMESH_USERS_CACHE_TTL_SECONDS=ttl)
                with server_process(
                    [sys.executable, "-m", "services.users.server"], env, state / "users.log"
                ):
                    await wait_serving(port)
                    _, token, profile_id = await sign_up(port)
                    results[label] = await asyncio.to_thread(
                        get_profile_load, port, token, profile_id, args
                    )

            port = free_port()
            with server_process(
                [sys.executable, "-m", "services.users.server"],
                users_env(database_url, port, state),
                state / "users.log",
            ):
                await wait_serving(port)
                email, _, _ = await sign_up(port)
                results[f"Login ({ARGON2})"] = await asyncio.to_thread(
                    ghz,
                    f"127.0.0.1:{port}",
                    "streammesh.users.v1.UserService.Login",
                    json.dumps({"email": email, "password": PASSWORD}),
                    total=args.logins,
                    concurrency=args.login_concurrency,
                    cpu=1,
                )
    finally:
        await drop_database(database)

    settings = PasswordHashing()
    hasher = PasswordHasher(
        time_cost=settings.time_cost,
        memory_cost=settings.memory_kib,
        parallelism=settings.parallelism,
    )
    started = time.perf_counter()
    for _ in range(args.hashes):
        hasher.hash(PASSWORD)
    hash_ms = (time.perf_counter() - started) / args.hashes * 1000

    print(
        f"users service on MariaDB + Redis; server on CPU 0, ghz on CPU 1; "
        f"GetProfile: {args.requests} calls after {args.warmup} warm-up, concurrency "
        f"{args.concurrency}; Login: {args.logins} calls, concurrency {args.login_concurrency}"
    )
    print(HEADER)
    for name, result in results.items():
        print(result.row(name))
    bare = results["bare grpc.aio echo"].qps
    warm = results["GetProfile, cache warm"].qps
    cold = results["GetProfile, cache cold"].qps
    print(f"GetProfile warm / cold          : {warm / cold:.2f}")
    print(f"GetProfile warm / bare echo     : {warm / bare:.2f}")
    print(f"one Argon2id hash in-process    : {hash_ms:.1f} ms (mean of {args.hashes})")
    failed = sum(result.errors for result in results.values())
    if failed:
        print(f"{failed} calls failed; see the server logs", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--login-concurrency", type=int, default=4)
    parser.add_argument("--hashes", type=int, default=10)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
