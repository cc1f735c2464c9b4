"""The analytics suites' warehouses: DuckDB in a temporary file, PostgreSQL in a
database of its own on the shared server (dropped afterwards), and a private
PostgreSQL server that a test may stop and start again."""

from __future__ import annotations

import asyncio
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Final

import asyncpg
import pytest
import pytest_asyncio

from devtools.infra import endpoints
from services.analytics.store import WarehouseStore
from services.analytics.stores.duckdb_store import DuckDbWarehouse
from services.analytics.stores.postgres import PostgresWarehouse
from tests.conftest import CONNECT_TIMEOUT_SECONDS
from tests.mesh import unused_port

BACKENDS: Final = ("duckdb", "postgres")
# Bounds on a private server's start and stop (failures, not timing claims).
PRIVATE_START_SECONDS: Final = 60.0
PRIVATE_STOP_SECONDS: Final = 30.0

_numbers = itertools.count(1)


async def fresh_postgres_database(postgres_url: str) -> str:
    """A new database on the run's server, named after the run's; its URL.
    :func:`drop_postgres_database` drops it."""
    name = f"{postgres_url.rsplit('/', 1)[1]}_{next(_numbers)}"
    admin = await asyncpg.connect(endpoints.postgres_admin_url(), timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return endpoints.postgres_admin_url(name)


async def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(endpoints.postgres_admin_url(), timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


OpenStore = Callable[[], Awaitable[WarehouseStore]]


@pytest_asyncio.fixture(params=BACKENDS)
async def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> AsyncIterator[OpenStore]:
    """Opens (and migrates) the test's own warehouse; may be called again to reopen it.
    (Both parameters need the PostgreSQL of `make infra-up`: its fixture is async and
    cannot be asked for from here only when needed.)"""
    opened: list[WarehouseStore] = []
    url = ""
    if request.param == "postgres":
        url = await fresh_postgres_database(postgres_url)

    async def open_it() -> WarehouseStore:
        store: WarehouseStore
        if request.param == "postgres":
            store = await PostgresWarehouse.open(url, pool_size=2)
        else:
            store = await DuckDbWarehouse.open(tmp_path / "analytics.duckdb")
        opened.append(store)
        return store

    yield open_it
    for store in opened:
        await store.close()
    if url:
        await drop_postgres_database(url)


@pytest_asyncio.fixture
async def store(open_store: OpenStore) -> WarehouseStore:
    return await open_store()


# ---------------------------------------------------------------- a private server


def _server_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        pytest.skip("PostgreSQL is not installed; run `make infra-up`")
    return found[-1].parent


class PrivatePostgres:
    """A PostgreSQL server of our own (trust auth on loopback) that a test may stop."""

    def __init__(self) -> None:
        self.bin = _server_bin()
        # Not under pytest's tmp_path: as root the server runs as `postgres`,
        # which must reach its folder.
        self.home = Path(tempfile.mkdtemp(prefix="streammesh-pg-"))
        self.data = self.home / "data"
        self.port = unused_port()
        self.url = f"postgresql://streammesh@127.0.0.1:{self.port}/postgres"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.process: subprocess.Popen[bytes] | None = None

    def init(self) -> None:
        if self.user is not None:
            account = pwd.getpwnam(self.user)
            os.chown(self.home, account.pw_uid, account.pw_gid)
        subprocess.run(
            [
                str(self.bin / "initdb"),
                f"--pgdata={self.data}",
                "--username=streammesh",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            user=self.user,
            cwd=self.home,
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={self.port}",
                "-c",
                f"unix_socket_directories={self.home}",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "server.log").open("ab"),
            user=self.user,
            cwd=self.home,
        )

    async def start(self) -> None:
        self.process = await asyncio.to_thread(self._spawn)
        deadline = asyncio.get_running_loop().time() + PRIVATE_START_SECONDS
        while True:
            try:
                conn = await asyncpg.connect(self.url, timeout=2)
                await conn.close()
                return
            except (OSError, asyncpg.PostgresError, TimeoutError) as err:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"private PostgreSQL did not start: {err}") from err
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Fast shutdown (SIGINT): open connections are cut, as in an outage."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        await asyncio.wait_for(asyncio.to_thread(self.process.wait), PRIVATE_STOP_SECONDS)
        self.process = None

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


@pytest_asyncio.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    server = PrivatePostgres()
    await asyncio.to_thread(server.init)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        server.remove()
