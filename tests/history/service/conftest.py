"""A mini-mesh for the history service's tests: real users, catalog and history
servers on port 0, on the embedded backends (SQLite files, the real Redis) and
on the real ones (users on MariaDB, history on a Cassandra keyspace of its
own). The catalog is the embedded one in both, seeded from the e2e sample
(tests/e2e/data/titles_sample.csv): the history service reads it over gRPC and
its store is not what these tests are about.

One mesh per test module and backend, with a Redis prefix of its own (its
streams, consumer group, caches and sketches too); tests keep out of each
other's way with accounts of their own and a country of their own for
anything trending.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc.aio
import pytest
import redis.asyncio as aioredis
from google.protobuf import field_mask_pb2

from services.catalog.config import Config as CatalogConfig
from services.catalog.netflix_csv import parse
from services.catalog.server import create_server as create_catalog
from services.events import streams
from services.events.config import stream_prefix_for
from services.history.config import Config as HistoryConfig
from services.history.popularity import GROUP
from services.history.server import create_server as create_history
from services.history.store import HistoryStore, Popularity
from services.history.stores import open_store
from services.kit import server as runtime
from services.runtime.cassandra import CassandraSettings
from services.runtime.config import ServerConfig
from services.users.config import Config as UsersConfig
from services.users.config import PasswordHashing
from services.users.server import create_server as create_users
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

SAMPLE_CATALOG = Path(__file__).parents[2] / "e2e" / "data" / "titles_sample.csv"
PASSWORD = "correct horse battery"
# Bound on every "wait until" (a failure, not a timing claim).
WAIT_SECONDS = 60.0
Caller = tuple[tuple[str, str], ...]
T = TypeVar("T")


def _sample_titles() -> dict[str, list[str]]:
    """Title ids of the sample catalog by maturity rating, in file order."""
    with SAMPLE_CATALOG.open(encoding="utf-8") as stream:
        parsed = parse(stream)
    by_rating: dict[str, list[str]] = {}
    for accepted in parsed.accepted:
        by_rating.setdefault(accepted.title.maturity_rating, []).append(accepted.title.title_id)
    return by_rating


TITLES = _sample_titles()


@dataclass(frozen=True)
class Backend:
    name: str
    mariadb_url: str = ""
    cassandra: tuple[str, int] = ("", 0)
    keyspace: str = ""


@pytest.fixture(scope="module", params=["embedded", "real"])
def history_backend(request: pytest.FixtureRequest, run_id: str) -> Iterator[Backend]:
    # Sync, so the real backends' fixtures are only set up (or skipped with a
    # pointer to `make infra-up`) for the real run.
    if request.param == "embedded":
        yield Backend("embedded")
        return
    mariadb_url: str = request.getfixturevalue("mariadb_url")
    contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
    # A keyspace of the module's own: the history's tables (its `outbox`
    # among them) must not meet another service's. The migrations create it.
    keyspace = f"test_{run_id}_h{secrets.token_hex(2)}"
    yield Backend("real", mariadb_url, contact, keyspace)
    _drop_keyspace(contact, keyspace)


def _drop_keyspace(contact: tuple[str, int], keyspace: str) -> None:
    from cassandra.cluster import Cluster

    host, port = contact
    cluster = Cluster([host], port=port, protocol_version=5)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
    finally:
        cluster.shutdown()


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Addresses for the channels created inside, as ``streammesh up`` would set them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _server(service: str) -> ServerConfig:
    return ServerConfig(service=service, port=0, access_log=False, shutdown_grace_seconds=1.0)


@dataclass
class Account:
    account_id: str
    caller: Caller
    primary_profile_id: str


@dataclass
class HistoryMesh:
    backend: str
    config: HistoryConfig
    users: users_pb2_grpc.UserServiceStub
    history: history_pb2_grpc.HistoryServiceStub
    history_port: int
    redis: aioredis.Redis
    # The history store, opened beside the server to watch the rollup land.
    store: HistoryStore
    stream: str
    servers: dict[str, grpc.aio.Server] = field(default_factory=dict)

    # ------------------------------------------------------------ users
    async def signup(self, country: str = "GB") -> Account:
        email = f"history.{secrets.token_hex(5)}@example.com"
        await self.users.CreateAccount(
            users_pb2.CreateAccountRequest(
                email=email,
                password=PASSWORD,
                first_name="Ada",
                last_name="Lovelace",
                country_code=country,
            )
        )
        login = await self.users.Login(users_pb2.LoginRequest(email=email, password=PASSWORD))
        caller = (("authorization", f"Bearer {login.access_token}"),)
        profiles = await self.users.ListProfiles(
            users_pb2.ListProfilesRequest(account_id=login.account_id), metadata=caller
        )
        return Account(login.account_id, caller, profiles.profiles[0].profile_id)

    async def add_profile(self, account: Account, *, kids: bool = False, rating: str = "") -> str:
        profile = await self.users.CreateProfile(
            users_pb2.CreateProfileRequest(
                account_id=account.account_id,
                profile=users_pb2.Profile(
                    profile_name=f"p{secrets.token_hex(3)}",
                    kids_profile=kids,
                    maturity_rating=rating,
                ),
            ),
            metadata=account.caller,
        )
        return str(profile.profile_id)

    async def set_limit(self, account: Account, profile_id: str, rating: str) -> None:
        await self.users.UpdateProfile(
            users_pb2.UpdateProfileRequest(
                profile=users_pb2.Profile(profile_id=profile_id, maturity_rating=rating),
                update_mask=field_mask_pb2.FieldMask(paths=["maturity_rating"]),
            ),
            metadata=account.caller,
        )

    # ------------------------------------------------------------ history
    async def view(
        self,
        account: Account,
        profile_id: str,
        title_id: str,
        *,
        view_id: str = "",
        watch_time: datetime | None = None,
        position: int = 600,
        duration: int = 3600,
        country: str = "",
    ) -> history_pb2.View:
        view = history_pb2.View(
            view_id=view_id,
            title_id=title_id,
            position_seconds=position,
            duration_seconds=duration,
            device_type="tv",
            country_code=country,
        )
        if watch_time is not None:
            view.watch_time.FromDatetime(watch_time.astimezone(UTC).replace(tzinfo=None))
        return await self.history.RecordView(
            history_pb2.RecordViewRequest(profile_id=profile_id, view=view),
            metadata=account.caller,
            timeout=10,
        )

    async def trending(self, country: str, day: date | None = None, **fields: Any) -> Any:
        request = history_pb2.ListTrendingRequest(
            country=country, date="" if day is None else day.isoformat(), **fields
        )
        return await self.history.ListTrending(request, timeout=10)

    # ------------------------------------------------------------ the rollup
    async def figures(self, country: str, day: date) -> dict[str, Popularity]:
        """The popularity rows of (country, day) as the store has them, by title."""
        return {row.title_id: row for row in await self.store.popularity(country, day)}

    async def wait_for_views(self, country: str, day: date, expected: dict[str, int]) -> None:
        """Until the rollup shows these view counts in (country, day), top list included."""

        async def landed() -> bool:
            figures = await self.figures(country, day)
            top = {row.title_id: row.view_count for row in await self.store.top(country, day, 50)}
            return all(
                title_id in figures
                and figures[title_id].view_count == count
                and top.get(title_id) == count
                for title_id, count in expected.items()
            )

        await wait_until(landed, f"views {expected} rolled up in {country} {day}")

    async def settled(self) -> None:
        """Until the rollup's group has read and acked every entry of the stream, and
        nothing new arrived for a while (the relay has drained the outbox)."""
        quiet_since: float | None = None
        last_length = -1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while loop.time() < deadline:
            length = await self.redis.xlen(self.stream)
            groups: Any = await self.redis.xinfo_groups(self.stream) if length else []
            group = next((g for g in groups if _text(g["name"]) == GROUP), None)
            idle = group is not None and not group["pending"] and not group.get("lag")
            if idle and length == last_length:
                quiet_since = quiet_since or loop.time()
                if loop.time() - quiet_since >= 1.5:
                    return
            else:
                quiet_since = None
            last_length = length
            await asyncio.sleep(0.1)
        raise AssertionError(f"the rollup of {self.stream} did not settle in {WAIT_SECONDS}s")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {WAIT_SECONDS}s waiting for {what}")


@pytest.fixture(scope="module")
async def mesh(
    history_backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    redis_prefix: str,
) -> AsyncIterator[HistoryMesh]:
    state = tmp_path_factory.mktemp(f"history-{history_backend.name}")
    # A prefix per mesh: each embedded users store numbers its accounts from
    # 1 again, and each history store starts empty.
    prefix = f"{redis_prefix}history-{state.name}:"
    users_config = UsersConfig(
        server=_server("users"),
        database_url=history_backend.mariadb_url or f"sqlite+aiosqlite:///{state / 'users.db'}",
        redis_url=redis_url,
        redis_prefix=prefix,
        data_dir=state / "users",
        key_dir=state / "users" / "keys",
        passwords=PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1),
    )
    catalog_config = CatalogConfig(
        server=_server("catalog"),
        backend="embedded",
        sqlite_path=state / "catalog.db",
        redis_url=redis_url,
        redis_prefix=prefix,
        seed_catalog=str(SAMPLE_CATALOG),
    )
    history_config = HistoryConfig(
        server=_server("history"),
        backend=history_backend.name,
        sqlite_path=state / "history.db",
        redis_url=redis_url,
        redis_prefix=prefix,
        migrate_on_start=True,
    )
    if history_backend.name == "real":
        host, port = history_backend.cassandra
        history_config = HistoryConfig(
            server=history_config.server,
            backend="real",
            cassandra=CassandraSettings(
                keyspace=history_backend.keyspace, contact_points=(host,), port=port
            ),
            redis_url=redis_url,
            redis_prefix=prefix,
            migrate_on_start=True,
        )
    servers: dict[str, grpc.aio.Server] = {}
    try:
        servers["users"], users_port = await create_users(users_config)
        servers["catalog"], catalog_port = await create_catalog(catalog_config)
        with _environment(
            STREAMMESH_USERS_ADDR=f"127.0.0.1:{users_port}",
            STREAMMESH_CATALOG_ADDR=f"127.0.0.1:{catalog_port}",
        ):
            servers["history"], history_port = await create_history(history_config)
        store = await open_store(history_config, migrate=False)
        redis = aioredis.Redis.from_url(redis_url)
        stream = streams.stream_name("history", stream_prefix_for(prefix))
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{users_port}") as users_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{history_port}") as history_channel,
        ):
            try:
                yield HistoryMesh(
                    history_backend.name,
                    history_config,
                    users_pb2_grpc.UserServiceStub(users_channel),
                    history_pb2_grpc.HistoryServiceStub(history_channel),
                    history_port,
                    redis,
                    store,
                    stream,
                    servers,
                )
            finally:
                await redis.aclose()
                await store.close()
    finally:
        for name in ("history", "catalog", "users"):
            if name in servers:
                await runtime.stop(servers[name], 0)
