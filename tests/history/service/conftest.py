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
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar

import grpc.aio
import pytest
import redis.asyncio as aioredis

from services.catalog.netflix_csv import parse
from services.events import streams
from services.events.config import stream_prefix_for
from services.history.config import Config as HistoryConfig
from services.history.popularity import GROUP
from services.history.store import HistoryStore, Popularity
from services.history.stores import open_store
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc
from tests.mesh import (
    SAMPLE_CATALOG,
    WAIT_SECONDS,
    Account,
    Backends,
    MeshAccounts,
    StorageFactory,
    catalog_config,
    drop_keyspace,
    history_config,
    start_mesh,
    users_config,
    wait_until,
)

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


@pytest.fixture(scope="module", params=["embedded", "real"])
def history_backend(request: pytest.FixtureRequest, run_id: str) -> Iterator[Backends]:
    # Sync, so the real backends' fixtures are only set up (or skipped with a
    # pointer to `make infra-up`) for the real run.
    if request.param == "embedded":
        yield Backends("embedded")
        return
    mariadb_url: str = request.getfixturevalue("mariadb_url")
    contact: tuple[str, int] = request.getfixturevalue("cassandra_contact")
    # A keyspace of the module's own: the history's tables (its `outbox`
    # among them) must not meet another service's. The migrations create it.
    # The catalog stays embedded: its store is not what these tests are about.
    keyspace = f"test_{run_id}_h{secrets.token_hex(2)}"
    yield Backends("real", mariadb_url, contact, history_keyspace=keyspace)
    drop_keyspace(contact, keyspace)


@dataclass
class HistoryMesh(MeshAccounts):
    account_label: ClassVar[str] = "history"

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
        async with self.playing(account, profile_id, title_id):
            return await self.history.RecordView(
                history_pb2.RecordViewRequest(profile_id=profile_id, view=view),
                metadata=account.caller,
                timeout=10,
            )

    @asynccontextmanager
    async def playing(
        self, account: Account, profile_id: str, title_id: str = ""
    ) -> AsyncIterator[users_pb2.Playback | None]:
        """A stream slot of the account's device session for the profile, as a player
        holds one while it reports views (RecordView requires it); stopped after.
        None when the users service refuses it (a foreign or missing profile):
        the RecordView that follows is then refused for that reason too."""
        try:
            playback = await self.users.StartPlayback(
                users_pb2.StartPlaybackRequest(profile_id=profile_id, title_id=title_id),
                metadata=account.caller,
                timeout=10,
            )
        except grpc.aio.AioRpcError as err:
            if err.code() not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND):
                raise
            yield None
            return
        try:
            yield playback
        finally:
            await self.users.StopPlayback(
                users_pb2.StopPlaybackRequest(playback_id=playback.playback_id),
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


@pytest.fixture(scope="module")
async def mesh(
    history_backend: Backends, mesh_storage: StorageFactory, redis_url: str
) -> AsyncIterator[HistoryMesh]:
    storage = mesh_storage(f"history-{history_backend.name}", history_backend)
    # As deployed: every RecordView needs a live stream slot (HistoryMesh.view takes one).
    config = history_config(storage, require_stream_slot=True)
    async with start_mesh(users_config(storage), catalog_config(storage), config) as mesh:
        store = await open_store(config, migrate=False)
        redis = aioredis.Redis.from_url(redis_url)
        stream = streams.stream_name("history", stream_prefix_for(storage.redis_prefix))
        async with (
            grpc.aio.insecure_channel(mesh.address("users")) as users_channel,
            grpc.aio.insecure_channel(mesh.address("history")) as history_channel,
        ):
            try:
                yield HistoryMesh(
                    history_backend.name,
                    config,
                    users_pb2_grpc.UserServiceStub(users_channel),
                    history_pb2_grpc.HistoryServiceStub(history_channel),
                    mesh.ports["history"],
                    redis,
                    store,
                    stream,
                    mesh.servers,
                )
            finally:
                await redis.aclose()
                await store.close()
