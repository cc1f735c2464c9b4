"""Fixtures of the users tests: migrated databases on both dialects, real servers on port 0."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc.aio
import pytest
import pytest_asyncio

from services.kit import server as runtime
from services.runtime.config import ServerConfig
from services.users import migrations
from services.users.config import Config, LoginLimits
from services.users.server import create_server
from services.users.stores.sql import SqlUserStore
from streammesh.users.v1 import users_pb2, users_pb2_grpc
from tests.mesh import CHEAP_HASHING

PASSWORD = "correct horse battery"


@pytest_asyncio.fixture(scope="session")
async def users_mariadb_url(mariadb_url: str) -> str:
    """The run's MariaDB database with the users schema."""
    await migrations.apply_url(mariadb_url)
    return mariadb_url


@pytest.fixture(scope="session")
def users_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("users-sqlite") / "users.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest_asyncio.fixture(scope="session")
async def migrated_sqlite_url(users_sqlite_url: str) -> str:
    await migrations.apply_url(users_sqlite_url)
    return users_sqlite_url


@pytest.fixture(params=["sqlite", "mariadb"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each dialect (the contract suite runs once per adapter).

    Sync on purpose: it picks the async fixture by name, which pytest-asyncio
    can only resolve outside a running loop.
    """
    fixture = "migrated_sqlite_url" if request.param == "sqlite" else "users_mariadb_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[SqlUserStore]:
    adapter = SqlUserStore.from_url(store_url)
    yield adapter
    await adapter.close()


def unique_email(label: str = "user") -> str:
    return f"{label}.{secrets.token_hex(5)}@Example.COM"


def users_config(
    *,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    key_dir: Path,
    **overrides: Any,
) -> Config:
    base = Config(
        server=ServerConfig(service="users", port=0, metrics_port=0, shutdown_grace_seconds=1.0),
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        data_dir=key_dir.parent,
        key_dir=key_dir,
        passwords=CHEAP_HASHING,
        # High enough that the suite's own logins never trip it; the rate
        # limit tests start servers with low limits.
        login_limits=LoginLimits(account_failures=1000, address_failures=1000),
    )
    return replace(base, **overrides)


@dataclass
class RunningUsers:
    """A users server on port 0 and a stub connected to it."""

    config: Config
    server: grpc.aio.Server
    port: int
    channel: grpc.aio.Channel
    stub: users_pb2_grpc.UserServiceStub

    async def stop(self) -> None:
        await self.channel.close()
        await runtime.stop(self.server, 0)

    async def signup(
        self, email: str | None = None, password: str = PASSWORD, **fields: str
    ) -> tuple[users_pb2.Account, tuple[tuple[str, str], ...]]:
        """Creates an account, logs in; returns it and the metadata carrying its token."""
        email = email or unique_email()
        request = users_pb2.CreateAccountRequest(
            email=email,
            password=password,
            first_name=fields.get("first_name", "Ada"),
            last_name=fields.get("last_name", "Lovelace"),
            country_code=fields.get("country_code", "GB"),
            language_code=fields.get("language_code", "en-GB"),
        )
        account = await self.stub.CreateAccount(request)
        login = await self.stub.Login(users_pb2.LoginRequest(email=email, password=password))
        return account, (("authorization", f"Bearer {login.access_token}"),)


StartUsers = Callable[..., Any]


@pytest_asyncio.fixture
async def start_users(
    tmp_path: Path, redis_url: str, redis_prefix: str, migrated_sqlite_url: str
) -> AsyncIterator[StartUsers]:
    """Starts users servers (SQLite unless told otherwise); stops them after the test."""
    started: list[RunningUsers] = []

    async def start(**overrides: Any) -> RunningUsers:
        config = users_config(
            database_url=overrides.pop("database_url", migrated_sqlite_url),
            redis_url=overrides.pop("redis_url", redis_url),
            redis_prefix=overrides.pop("redis_prefix", f"{redis_prefix}{secrets.token_hex(3)}:"),
            key_dir=overrides.pop("key_dir", tmp_path / "keys"),
            **overrides,
        )
        server, port = await create_server(config)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        running = RunningUsers(
            config, server, port, channel, users_pb2_grpc.UserServiceStub(channel)
        )
        started.append(running)
        return running

    yield start
    for running in started:
        await running.stop()


@pytest_asyncio.fixture
async def users(start_users: StartUsers) -> RunningUsers:
    """A users server on the embedded SQLite database and the real Redis."""
    running: RunningUsers = await start_users()
    return running
