"""A mini-mesh for the home screen's history rows: real users, catalog, history and
browse servers on port 0, on the embedded backends (SQLite files, the real
Redis), pointed at each other with ``STREAMMESH_<SERVICE>_ADDR`` as
``streammesh up`` does.

Two catalog servers run, both seeded from the e2e sample
(tests/e2e/data/titles_sample.csv, so the same titles under the same ids):
the history service reads one, browse the other. They agree until a test
re-rates a title on browse's only, which is what a history answer computed
from an older rating (a cache, a replica not caught up, a re-rating after the
views) looks like to browse: the case its own maturity filter is there for.

One mesh per test module, with a Redis prefix of its own; the history's
trending cache is off so a poll sees the rollup as soon as it lands.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc.aio
import pytest
from google.protobuf import field_mask_pb2

from services.browse.config import Config as BrowseConfig
from services.browse.server import create_server as create_browse
from services.catalog.config import Config as CatalogConfig
from services.catalog.netflix_csv import parse
from services.catalog.server import create_server as create_catalog
from services.history.config import Config as HistoryConfig
from services.history.server import create_server as create_history
from services.kit import server as runtime
from services.runtime.config import ServerConfig
from services.users.config import Config as UsersConfig
from services.users.config import PasswordHashing
from services.users.server import create_server as create_users
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

SAMPLE_CATALOG = Path(__file__).parents[1] / "e2e" / "data" / "titles_sample.csv"
PASSWORD = "correct horse battery"
# Bound on every "wait until" (a failure, not a timing claim).
WAIT_SECONDS = 60.0
# Generous: these tests are about which cards a row holds, not about latency.
ROW_TIMEOUT_SECONDS = 5.0
Caller = tuple[tuple[str, str], ...]


def _sample_titles() -> dict[str, list[catalog_pb2.Title]]:
    """The sample catalog's titles by maturity rating, in file order."""
    with SAMPLE_CATALOG.open(encoding="utf-8") as stream:
        parsed = parse(stream)
    by_rating: dict[str, list[catalog_pb2.Title]] = {}
    for accepted in parsed.accepted:
        by_rating.setdefault(accepted.title.maturity_rating, []).append(accepted.title)
    return by_rating


TITLES = _sample_titles()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def environment(**values: str) -> Iterator[None]:
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
class MiniMesh:
    users: users_pb2_grpc.UserServiceStub
    # The catalog browse reads (the history reads another, seeded alike).
    catalog: catalog_pb2_grpc.CatalogServiceStub
    # None when the mesh runs without a history server.
    history: history_pb2_grpc.HistoryServiceStub | None
    browse: browse_pb2_grpc.BrowseServiceStub

    async def signup(self, country: str) -> Account:
        email = f"browse.{secrets.token_hex(5)}@example.com"
        await self.users.CreateAccount(
            users_pb2.CreateAccountRequest(
                email=email,
                password=PASSWORD,
                first_name="Ada",
                last_name="Lovelace",
                country_code=country,
            ),
            timeout=10,
        )
        login = await self.users.Login(
            users_pb2.LoginRequest(email=email, password=PASSWORD), timeout=10
        )
        caller = (("authorization", f"Bearer {login.access_token}"),)
        profiles = await self.users.ListProfiles(
            users_pb2.ListProfilesRequest(account_id=login.account_id), metadata=caller, timeout=10
        )
        return Account(login.account_id, caller, profiles.profiles[0].profile_id)

    async def add_profile(self, account: Account, *, kids: bool, rating: str) -> str:
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
            timeout=10,
        )
        return str(profile.profile_id)

    async def set_limit(self, account: Account, profile_id: str, rating: str) -> None:
        await self.users.UpdateProfile(
            users_pb2.UpdateProfileRequest(
                profile=users_pb2.Profile(profile_id=profile_id, maturity_rating=rating),
                update_mask=field_mask_pb2.FieldMask(paths=["maturity_rating"]),
            ),
            metadata=account.caller,
            timeout=10,
        )

    async def view(
        self,
        account: Account,
        profile_id: str,
        title: catalog_pb2.Title,
        *,
        position: int,
        duration: int = 3600,
    ) -> history_pb2.View:
        """A view of ``title`` by the profile, now, in the account's country."""
        assert self.history is not None
        view = history_pb2.View(
            title_id=title.title_id,
            position_seconds=position,
            duration_seconds=duration,
            device_type="tv",
        )
        view.watch_time.FromDatetime(datetime.now(UTC).replace(tzinfo=None))
        return await self.history.RecordView(
            history_pb2.RecordViewRequest(profile_id=profile_id, view=view),
            metadata=account.caller,
            timeout=10,
        )

    async def home(self, account: Account, profile_id: str) -> browse_pb2.Home:
        return await self.browse.GetHome(
            browse_pb2.GetHomeRequest(profile_id=profile_id, cards_per_row=50),
            metadata=account.caller,
            timeout=30,
        )

    async def rerate_for_browse(self, title: catalog_pb2.Title, rating: str) -> None:
        """Gives ``title`` another rating in browse's catalog only."""
        current = await self.catalog.GetTitle(
            catalog_pb2.GetTitleRequest(title_id=title.title_id), timeout=10
        )
        current.maturity_rating = rating
        await self.catalog.UpdateTitle(
            catalog_pb2.UpdateTitleRequest(
                title=current, update_mask=field_mask_pb2.FieldMask(paths=["maturity_rating"])
            ),
            timeout=10,
        )

    async def trending_views(self, country: str) -> dict[str, int]:
        """Today's view counts of the country's trending titles, unfiltered."""
        assert self.history is not None
        response = await self.history.ListTrending(
            history_pb2.ListTrendingRequest(country=country, page_size=100), timeout=10
        )
        return {entry.title_id: entry.view_count for entry in response.titles}

    async def wait_for_trending(self, country: str, expected: dict[str, int]) -> None:
        """Until today's trending of ``country`` shows exactly these view counts."""

        async def landed() -> bool:
            return await self.trending_views(country) == expected

        await wait_until(landed, f"trending {expected} in {country}")


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {WAIT_SECONDS}s waiting for {what}")


def _users_config(state: Path, redis_url: str, prefix: str) -> UsersConfig:
    return UsersConfig(
        server=_server("users"),
        database_url=f"sqlite+aiosqlite:///{state / 'users.db'}",
        redis_url=redis_url,
        redis_prefix=prefix,
        data_dir=state / "users",
        key_dir=state / "users" / "keys",
        # The cheapest Argon2id: these tests are about the home screen.
        passwords=PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1),
    )


def _catalog_config(state: Path, name: str, redis_url: str, prefix: str) -> CatalogConfig:
    return CatalogConfig(
        server=_server("catalog"),
        backend="embedded",
        sqlite_path=state / f"{name}.db",
        redis_url=redis_url,
        # A prefix per catalog: their title caches must not answer for each other.
        redis_prefix=f"{prefix}{name}:",
        seed_catalog=str(SAMPLE_CATALOG),
    )


async def _mesh(
    state: Path, redis_url: str, prefix: str, *, with_history: bool
) -> AsyncIterator[MiniMesh]:
    servers: list[grpc.aio.Server] = []
    try:
        users_server, users_port = await create_users(_users_config(state, redis_url, prefix))
        servers.append(users_server)
        catalog_server, catalog_port = await create_catalog(
            _catalog_config(state, "catalog-browse", redis_url, prefix)
        )
        servers.append(catalog_server)
        history_addr = f"127.0.0.1:{unused_port()}"  # nothing listens there
        if with_history:
            history_catalog, history_catalog_port = await create_catalog(
                _catalog_config(state, "catalog-history", redis_url, prefix)
            )
            servers.append(history_catalog)
            with environment(
                STREAMMESH_USERS_ADDR=f"127.0.0.1:{users_port}",
                STREAMMESH_CATALOG_ADDR=f"127.0.0.1:{history_catalog_port}",
            ):
                history_server, history_port = await create_history(
                    HistoryConfig(
                        server=_server("history"),
                        backend="embedded",
                        sqlite_path=state / "history.db",
                        redis_url=redis_url,
                        redis_prefix=prefix,
                        migrate_on_start=True,
                        trending_cache_ttl_seconds=0,
                    )
                )
            servers.append(history_server)
            history_addr = f"127.0.0.1:{history_port}"
        with environment(
            STREAMMESH_USERS_ADDR=f"127.0.0.1:{users_port}",
            STREAMMESH_CATALOG_ADDR=f"127.0.0.1:{catalog_port}",
            STREAMMESH_HISTORY_ADDR=history_addr,
        ):
            browse_server, browse_port = await create_browse(
                BrowseConfig(
                    server=_server("browse"),
                    row_timeout_seconds=ROW_TIMEOUT_SECONDS,
                    profile_timeout_seconds=ROW_TIMEOUT_SECONDS,
                )
            )
        servers.append(browse_server)
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{users_port}") as users_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{catalog_port}") as catalog_channel,
            grpc.aio.insecure_channel(history_addr) as history_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{browse_port}") as browse_channel,
        ):
            yield MiniMesh(
                users_pb2_grpc.UserServiceStub(users_channel),
                catalog_pb2_grpc.CatalogServiceStub(catalog_channel),
                history_pb2_grpc.HistoryServiceStub(history_channel) if with_history else None,
                browse_pb2_grpc.BrowseServiceStub(browse_channel),
            )
    finally:
        for server in reversed(servers):
            await runtime.stop(server, 0)


@pytest.fixture(scope="module")
async def mesh(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, redis_prefix: str
) -> AsyncIterator[MiniMesh]:
    state = tmp_path_factory.mktemp("browse-mesh")
    async for mini in _mesh(
        state, redis_url, f"{redis_prefix}browse-{state.name}:", with_history=True
    ):
        yield mini


@pytest.fixture(scope="module")
async def mesh_without_history(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, redis_prefix: str
) -> AsyncIterator[MiniMesh]:
    state = tmp_path_factory.mktemp("browse-mesh-no-history")
    async for mini in _mesh(
        state, redis_url, f"{redis_prefix}browse-{state.name}:", with_history=False
    ):
        yield mini
