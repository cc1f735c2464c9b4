"""One way for tests to start a mini-mesh: real users, catalog, history, search and
browse servers on port 0, each one's ``STREAMMESH_<SERVICE>_ADDR`` pointing at the
servers already started, as ``streammesh up`` points them.

A test builds each server's config for the mesh's ``Storage`` (``users_config``,
``catalog_config``, ``history_config``, ``search_config``, ``browse_config``: port 0, no access
log, the storage's Redis and key prefix, SQLite files under its folder or the
real backends it names) and hands them to ``start_mesh``::

    storage = mesh_storage("mine")  # the fixture of tests/conftest.py
    async with start_mesh(users_config(storage), catalog_config(storage)) as mesh:
        ... mesh.address("users") ...

``start_mesh`` starts them in dependency order, whatever order they are given
in, and stops them in reverse. A service that a server calls but that the
mesh does not run gets an address where nothing listens (``mesh.address``
names it), so its calls fail as they would with that service down. Two servers
of one service run side by side as ``Node``s with names of their own; a
``Node``'s ``reaches`` says which of them it calls.

The suites' own mesh objects sign viewers up on the users server through
``MeshAccounts``.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Final, Protocol

import grpc.aio
import pytest
from cassandra.cluster import Cluster
from google.protobuf import field_mask_pb2

from services import registry
from services.browse.config import Config as BrowseConfig
from services.browse.server import create_server as create_browse
from services.catalog.config import Config as CatalogConfig
from services.catalog.server import create_server as create_catalog
from services.edge import envoy
from services.edge.reflection import create_server as create_reflection
from services.edge.render import EdgeConfig, render
from services.history.config import Config as HistoryConfig
from services.history.server import create_server as create_history
from services.kit import server as runtime
from services.recommendations.config import Config as RecommendationsConfig
from services.recommendations.server import create_server as create_recommendations
from services.runtime.cassandra import (
    CONNECT_TIMEOUT_SECONDS,
    CONTROL_CONNECTION_TIMEOUT_SECONDS,
    CassandraSettings,
)
from services.runtime.config import ServerConfig
from services.runtime.object_store import ObjectStoreSettings
from services.search.config import Config as SearchConfig
from services.search.server import create_server as create_search
from services.users.config import Config as UsersConfig
from services.users.config import PasswordHashing
from services.users.server import create_server as create_users
from streammesh.users.v1 import users_pb2, users_pb2_grpc

LOOPBACK: Final = "127.0.0.1"
PASSWORD: Final = "correct horse battery"
# The e2e sample (a real slice of the Netflix catalog): the catalog every
# mesh is seeded with unless a test says otherwise, so titles and their ids
# are the same in every suite.
SAMPLE_CATALOG: Final = Path(__file__).parent / "e2e" / "data" / "titles_sample.csv"
# Argon2id at its minimum cost: the tests exercise the logic, not the KDF's
# price (bench/users_bench.py measures that with the production parameters).
CHEAP_HASHING: Final = PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1)
# Bound on each wait for a mesh's rollups and caches (a failure, not a timing claim).
WAIT_SECONDS: Final = 60.0
# A test's calls are over when its mesh stops: nothing in flight to wait for.
STOP_GRACE_SECONDS: Final = 0.0

# The services each service calls: the channels its server opens when it
# starts (``kit.channel`` in services/<name>/server.py), so their addresses
# must be known by then.
CALLS: Final[Mapping[str, tuple[str, ...]]] = {
    "users": (),
    "catalog": (),
    "history": ("users", "catalog"),
    "recommendations": ("users", "catalog"),
    "search": ("users",),
    "browse": ("users", "catalog", "history", "recommendations"),
}

ServiceConfig = (
    UsersConfig
    | CatalogConfig
    | HistoryConfig
    | RecommendationsConfig
    | SearchConfig
    | BrowseConfig
)


# ------------------------------------------------------------ storage


@dataclass(frozen=True)
class Backends:
    """Which stores a mesh's services keep their data in: the embedded ones
    (SQLite files) unless a real one is named here."""

    # "embedded" or "real": what the test calls this set of backends.
    name: str = "embedded"
    # The users' MariaDB database (SQLAlchemy URL); empty: a SQLite file.
    mariadb_url: str = ""
    # The Cassandra node, and the keyspaces of the catalog and of the history
    # (one each: both have an `outbox` table); an empty keyspace: a SQLite file.
    cassandra_contact: tuple[str, int] = ("", 0)
    catalog_keyspace: str = ""
    history_keyspace: str = ""
    recommendations_keyspace: str = ""
    # The search index: an OpenSearch node and the prefix of the run's own
    # indices and alias; an empty URL: a SQLite FTS5 file.
    opensearch_url: str = ""
    search_index_prefix: str = ""

    def cassandra(self, keyspace: str) -> CassandraSettings:
        host, port = self.cassandra_contact
        return CassandraSettings(keyspace=keyspace, contact_points=(host,), port=port)


@dataclass(frozen=True)
class Storage:
    """Where one mesh keeps its state: files under ``state``, keys in the Redis at
    ``redis_url`` under ``redis_prefix`` (one per mesh: each embedded store
    numbers its rows from 1 again, so another mesh's cache must never answer),
    and the real backends the test names."""

    state: Path
    redis_url: str
    redis_prefix: str
    backends: Backends = field(default_factory=Backends)


class StorageFactory(Protocol):
    """The ``mesh_storage`` fixture (tests/conftest.py): a new folder under the
    run's temporary directory, named after ``folder``, and a Redis prefix named
    after that folder."""

    def __call__(self, folder: str, backends: Backends | None = None) -> Storage: ...


def server_config(service: str) -> ServerConfig:
    # A grace of 1 s, not a deployment's 10, for a test that stops a server
    # without naming one.
    return ServerConfig(service=service, port=0, access_log=False, shutdown_grace_seconds=1.0)


def users_config(storage: Storage, **overrides: Any) -> UsersConfig:
    """The users service on MariaDB when the storage names it, else on a SQLite file."""
    state = storage.state
    config = UsersConfig(
        server=server_config("users"),
        database_url=storage.backends.mariadb_url or f"sqlite+aiosqlite:///{state / 'users.db'}",
        redis_url=storage.redis_url,
        redis_prefix=storage.redis_prefix,
        data_dir=state / "users",
        key_dir=state / "users" / "keys",
        passwords=CHEAP_HASHING,
        # No orchestrator runs in a test mesh unless the test starts one
        # (tests/sagas): a settings change is the profile row alone.
        profile_update_sagas=False,
    )
    return replace(config, **overrides)


def _keyspace_or_file(storage: Storage, service: str, keyspace: str) -> dict[str, Any]:
    """The fields the catalog's and the history's configs share: their store (the
    Cassandra keyspace when the storage names one, else ``<service>.db`` under
    its folder) and their Redis. Migrated by the server on both: no
    `streammesh migrate` runs before a test."""
    fields: dict[str, Any] = {
        "server": server_config(service),
        "backend": "embedded",
        "sqlite_path": storage.state / f"{service}.db",
        "redis_url": storage.redis_url,
        "redis_prefix": storage.redis_prefix,
        "migrate_on_start": True,
    }
    if keyspace:
        fields.update(backend="real", cassandra=storage.backends.cassandra(keyspace))
    return fields


def catalog_config(storage: Storage, **overrides: Any) -> CatalogConfig:
    """The catalog, seeded from SAMPLE_CATALOG."""
    fields = _keyspace_or_file(storage, "catalog", storage.backends.catalog_keyspace)
    # Artwork objects (files) beside the store, never in the checkout's .streammesh/.
    fields["objects"] = ObjectStoreSettings(root=storage.state / "objects")
    return replace(CatalogConfig(**fields, seed_catalog=str(SAMPLE_CATALOG)), **overrides)


def history_config(storage: Storage, **overrides: Any) -> HistoryConfig:
    """The history; RecordView without a stream slot unless the test passes
    ``require_stream_slot=True`` (tests/history and tests/e2e/test_sessions do):
    the suites that record views as data (browse, REST, seed-views) are not about
    stream slots, and a deployment requires one (services/history/config.py)."""
    fields = _keyspace_or_file(storage, "history", storage.backends.history_keyspace)
    fields.setdefault("require_stream_slot", False)
    return replace(HistoryConfig(**fields), **overrides)


def search_config(storage: Storage, **overrides: Any) -> SearchConfig:
    """Search on OpenSearch when the storage names it, else on a SQLite FTS5 file;
    its index fed by the catalog's stream under the storage's Redis prefix."""
    config = SearchConfig(
        server=server_config("search"),
        sqlite_path=storage.state / "search.db",
        redis_url=storage.redis_url,
        redis_prefix=storage.redis_prefix,
    )
    backends = storage.backends
    if backends.opensearch_url:
        config = replace(
            config,
            backend="real",
            opensearch_url=backends.opensearch_url,
            index_prefix=backends.search_index_prefix,
        )
    return replace(config, **overrides)


def recommendations_config(storage: Storage, **overrides: Any) -> RecommendationsConfig:
    """Recommendations on its own keyspace when the storage names one, else a SQLite file;
    its freshness consumer reads the history's stream under the storage's Redis prefix."""
    fields = _keyspace_or_file(
        storage, "recommendations", storage.backends.recommendations_keyspace
    )
    return replace(RecommendationsConfig(**fields), **overrides)


def browse_config(storage: Storage | None = None, **overrides: Any) -> BrowseConfig:
    """Browse keeps no state: its server and its timeouts. Its row cache
    (services/browse/rows.py) needs the storage's Redis, where the catalog's
    invalidations and the history's stream are; without ``storage`` it is off."""
    redis: dict[str, Any] = (
        {"redis_url": storage.redis_url, "redis_prefix": storage.redis_prefix}
        if storage is not None
        else {"redis_url": ""}
    )
    return replace(BrowseConfig(server=server_config("browse"), **redis), **overrides)


def cassandra_cluster(contact: tuple[str, int]) -> Cluster:
    """A driver Cluster for a test's own CQL, with the services' connect bounds (the
    driver's defaults leave little room on a loaded machine)."""
    host, port = contact
    return Cluster(
        [host],
        port=port,
        protocol_version=5,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        control_connection_timeout=CONTROL_CONNECTION_TIMEOUT_SECONDS,
    )


def drop_keyspace(contact: tuple[str, int], keyspace: str) -> None:
    """Drops a keyspace a mesh's migrations created (after the run: its servers are gone)."""
    cluster = cassandra_cluster(contact)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
    finally:
        cluster.shutdown()


def unused_port() -> int:
    """A loopback port nothing listens on (free when asked; nothing here binds it)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


# ------------------------------------------------------------ starting


@dataclass(frozen=True)
class Node:
    """One server of a mesh, when a plain config does not say enough: a second
    server of a service needs a name of its own, and its callers need to be
    told which of the two they reach."""

    config: ServiceConfig
    # Unique in the mesh; empty: the service's name.
    name: str = ""
    # The node each called service is reached at, where it is not the node
    # named after that service.
    reaches: Mapping[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return self.config.server.service

    @property
    def key(self) -> str:
        return self.name or self.service


@dataclass
class RunningMesh:
    """The servers of a mesh, by node name (the service's name unless told otherwise)."""

    configs: dict[str, ServiceConfig]
    servers: dict[str, grpc.aio.Server] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    # Services a server calls that no node serves: the port its calls go to.
    unserved_ports: dict[str, int] = field(default_factory=dict)

    def address(self, name: str) -> str:
        """Where node ``name`` listens, or where calls to an unserved service go."""
        port = self.ports[name] if name in self.ports else self.unserved_ports[name]
        return f"{LOOPBACK}:{port}"

    @property
    def addresses(self) -> dict[str, str]:
        """Every running node's address, by name, in start order."""
        return {name: self.address(name) for name in self.ports}


def _depth(service: str) -> int:
    """How many services deep ``service``'s calls go: the ones it calls start first."""
    return 1 + max((_depth(called) for called in CALLS[service]), default=-1)


def _called_addresses(node: Node, mesh: RunningMesh) -> dict[str, str]:
    """``STREAMMESH_<SERVICE>_ADDR`` of every service ``node`` calls."""
    addresses: dict[str, str] = {}
    for called in CALLS[node.service]:
        target = node.reaches.get(called, called)
        if target in mesh.configs:
            served = mesh.configs[target].server.service
            if served != called:
                raise ValueError(f"{node.key} reaches {called} at {target}, a {served} server")
            address = mesh.address(target)
        elif target != called:
            raise ValueError(f"{node.key} reaches {called} at {target}, which is not in the mesh")
        else:
            mesh.unserved_ports.setdefault(called, unused_port())
            address = mesh.address(called)
        addresses[registry.service(called).addr_env] = address
    return addresses


async def _create(config: ServiceConfig) -> tuple[grpc.aio.Server, int]:
    if isinstance(config, UsersConfig):
        return await create_users(config)
    if isinstance(config, CatalogConfig):
        return await create_catalog(config)
    if isinstance(config, HistoryConfig):
        return await create_history(config)
    if isinstance(config, RecommendationsConfig):
        return await create_recommendations(config)
    if isinstance(config, SearchConfig):
        return await create_search(config)
    return await create_browse(config)


@asynccontextmanager
async def start_mesh(*nodes: Node | ServiceConfig) -> AsyncIterator[RunningMesh]:
    """Starts the servers (callees first), yields them, then stops them newest first."""
    planned = [node if isinstance(node, Node) else Node(node) for node in nodes]
    mesh = RunningMesh({node.key: node.config for node in planned})
    if len(mesh.configs) != len(planned):
        raise ValueError(f"two nodes of one name in {[node.key for node in planned]}")
    try:
        for node in sorted(planned, key=lambda node: _depth(node.service)):
            # Only while it starts: a server opens its channels then, and the
            # next server's calls may go elsewhere.
            with pytest.MonkeyPatch.context() as patch:
                for variable, address in _called_addresses(node, mesh).items():
                    patch.setenv(variable, address)
                mesh.servers[node.key], mesh.ports[node.key] = await _create(node.config)
        yield mesh
    finally:
        for server in reversed(list(mesh.servers.values())):
            await runtime.stop(server, STOP_GRACE_SECONDS)


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls ``check`` for at most WAIT_SECONDS; fails naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {WAIT_SECONDS}s waiting for {what}")


# ------------------------------------------------------------ accounts

# gRPC metadata carrying an account's access token.
Caller = tuple[tuple[str, str], ...]


@dataclass
class Account:
    account_id: str
    caller: Caller
    primary_profile_id: str


async def sign_up(
    users: users_pb2_grpc.UserServiceStub,
    label: str,
    country: str = "GB",
    *,
    call_timeout: float | None = None,
) -> Account:
    """A new account (``<label>.<random>@example.com``, PASSWORD), signed in."""
    email = f"{label}.{secrets.token_hex(5)}@example.com"
    await users.CreateAccount(
        users_pb2.CreateAccountRequest(
            email=email,
            password=PASSWORD,
            first_name="Ada",
            last_name="Lovelace",
            country_code=country,
        ),
        timeout=call_timeout,
    )
    login = await users.Login(
        users_pb2.LoginRequest(email=email, password=PASSWORD), timeout=call_timeout
    )
    caller = (("authorization", f"Bearer {login.access_token}"),)
    profiles = await users.ListProfiles(
        users_pb2.ListProfilesRequest(account_id=login.account_id),
        metadata=caller,
        timeout=call_timeout,
    )
    return Account(login.account_id, caller, profiles.profiles[0].profile_id)


class MeshAccounts:
    """Accounts and profiles on a mesh's users server, for a suite's mesh object
    that holds a stub to it as ``users``."""

    users: users_pb2_grpc.UserServiceStub
    # What the accounts' e-mail addresses start with: which suite made them.
    account_label: ClassVar[str]
    # Bound on each call to the users server; None: no deadline.
    users_timeout: ClassVar[float | None] = None

    async def signup(self, country: str = "GB") -> Account:
        return await sign_up(
            self.users, self.account_label, country, call_timeout=self.users_timeout
        )

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
            timeout=self.users_timeout,
        )
        return str(profile.profile_id)

    async def set_limit(self, account: Account, profile_id: str, rating: str) -> None:
        """Sets the profile's maturity limit."""
        await self.users.UpdateProfile(
            users_pb2.UpdateProfileRequest(
                profile=users_pb2.Profile(profile_id=profile_id, maturity_rating=rating),
                update_mask=field_mask_pb2.FieldMask(paths=["maturity_rating"]),
            ),
            metadata=account.caller,
            timeout=self.users_timeout,
        )


@asynccontextmanager
async def edge_in_front(
    upstreams: Mapping[str, str], state: Path, port: int | None = None, **config: Any
) -> AsyncIterator[int]:
    """The real Envoy, with the reflection server beside it, in front of
    ``upstreams`` as the edge runs in a deployment; yields the edge's port.
    ``config`` sets any other EdgeConfig field (the trace collector, timeouts,
    the media origin). Its configuration and log are under ``state``."""
    reflection_server, reflection_port = await create_reflection(f"{LOOPBACK}:0")
    edge_port = port or unused_port()
    edge_config = EdgeConfig(
        port=edge_port,
        admin_port=0,
        upstreams=dict(upstreams),
        reflection_upstream=f"{LOOPBACK}:{reflection_port}",
        **{"cache_dir": state / "edge-cache", **config},
    )
    path = envoy.write_config(render(edge_config), state / "envoy.json")
    try:
        edge = await envoy.start(path, state, state / "envoy.log")
        try:
            yield edge_port
        finally:
            await edge.stop()
    finally:
        await reflection_server.stop(0)
