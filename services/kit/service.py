"""A service, declared: what it builds, not how it is started and stopped.

A service's ``server.py`` writes one ``build`` function and one declaration::

    async def build(config: Config, kit: Kit) -> Served:
        store = await kit.enter(open_store(config))          # closed last
        redis = kit.redis(config.redis_url)                  # closed before the store
        kit.relay(store.outbox_source(), redis, config.redis_prefix)  # stopped first
        return Served(CatalogServicer(CatalogDomain(store, ...)))

    SERVICE = Service("catalog", Config.from_env, build,
                      catalog_pb2_grpc.add_CatalogServiceServicer_to_server)
    create_server = SERVICE.create_server

    if __name__ == "__main__":
        SERVICE.main()

Everything ``build`` opens through the :class:`Kit` is entered on ONE
``contextlib.AsyncExitStack``: it is closed in reverse order after the server
has stopped (health NOT_SERVING, drain, ``stop(grace)``), and also when
``build`` or the bind fails half-way, so a service never writes its own
shutdown ordering. The server itself (interceptor chain, health, reflection,
signals, worker processes) is services/kit/server.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import grpc.aio
from redis.asyncio import Redis

from interceptors.auth import (
    AuthInterceptor,
    GrpcJwksKeySource,
    GrpcSessionLookup,
    SessionCheck,
    TokenVerifier,
)
from services import registry
from services.events import streams
from services.events.config import stream_prefix_for
from services.events.consumer import ConsumerRunner
from services.events.outbox import OutboxSource
from services.events.relay import BackgroundRelay, Relay, RelayConfig
from services.kit import clients
from services.kit import server as runtime
from services.runtime import near_cache, visibility
from services.runtime.config import ServerConfig
from services.runtime.logs import SECRET_LEAKING_LOGGERS
from services.runtime.redis import redis_client

log = logging.getLogger(__name__)

T = TypeVar("T")

# A consumer finishing its in-flight handlers at shutdown gets this long.
CONSUMER_STOP_TIMEOUT_SECONDS = 10.0


class ServiceConfig(Protocol):
    """What the kit needs of a service's config: its server settings."""

    @property
    def server(self) -> ServerConfig: ...


C = TypeVar("C", bound=ServiceConfig)


@dataclass(frozen=True)
class Served:
    """What ``build`` hands back: the servicer, and how callers' tokens are checked.

    ``verifier`` turns on the auth layer of the chain: every RPC the contract
    does not declare public then needs a valid access token (interceptors/auth.py).
    """

    servicer: object
    verifier: TokenVerifier | None = None


class Kit:
    """How ``build`` opens its parts; each is closed in reverse order of opening."""

    def __init__(
        self, service: str, server: ServerConfig, stack: contextlib.AsyncExitStack
    ) -> None:
        self.service = service
        self.server_config = server
        self._stack = stack

    async def enter(self, opened: contextlib.AbstractAsyncContextManager[T]) -> T:
        """Enters ``opened`` now; exits it when the service stops."""
        return await self._stack.enter_async_context(opened)

    def closing(self, resource: T, close: Callable[[], Awaitable[object] | None]) -> T:
        """Returns ``resource``; ``close`` (a coroutine function or a plain one) runs when
        the service stops."""

        async def closed() -> None:
            result = close()
            if inspect.isawaitable(result):
                await result

        self._stack.push_async_callback(closed)
        return resource

    def redis(self, url: str) -> Redis:
        """A Redis client with the runtime's bounded pool (services/runtime/redis.py).

        Caches on it get the process's near cache (L1) when the server config
        gives it bytes (``near_cache_max_bytes``); its link stops before the client closes.
        """
        client = redis_client(url)
        self.closing(client, client.aclose)
        near_cache.attach(
            client,
            near_cache.NearCacheSettings(
                self.server_config.near_cache_max_bytes, self.server_config.near_cache_ttl_seconds
            ),
        )
        return self.closing(client, lambda: near_cache.detach(client))

    def channel(self, service_or_target: str) -> grpc.aio.Channel:
        """A channel with the client chain to another service (by registry name) or target."""
        channel = clients.channel(service_or_target, self.server_config)
        return self.closing(channel, channel.close)

    def users_token_verifier(self, timeout_seconds: float = 2.0) -> TokenVerifier:
        """Verifies access tokens against the users service's published keys (GetJwks),
        and their device sessions with its CheckSession RPC: a revoked session's
        tokens are refused within the revocation bound (interceptors/auth.py).

        ``timeout_seconds`` bounds each of those calls to users; a service passes
        the timeout it gives its other dependencies.
        """
        users = self.channel("users")
        return TokenVerifier(
            GrpcJwksKeySource(users, timeout_seconds=timeout_seconds),
            sessions=SessionCheck(GrpcSessionLookup(users, timeout_seconds=timeout_seconds)),
        )

    def relay(
        self,
        source: OutboxSource,
        redis: Redis,
        redis_prefix: str,
        config: RelayConfig | None = None,
    ) -> BackgroundRelay:
        """Starts publishing ``source`` to this service's stream; stops before what it reads closes.

        Every worker process runs one; the relay's lease makes one of them publish.
        """
        stream = streams.stream_name(self.service, stream_prefix_for(redis_prefix))
        relay = BackgroundRelay(Relay(source, redis, stream, config or RelayConfig()))
        relay.start()
        return self.closing(relay, relay.stop)

    def consume(self, runner: ConsumerRunner) -> ConsumerRunner:
        """Runs a consumer group beside the server; it stops before what its handler uses closes.

        Every worker process runs one; the group's lease makes one of them active.
        """
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop), name=f"consumer-{runner.group}")

        async def stopped() -> None:
            stop.set()
            try:
                await asyncio.wait_for(task, CONSUMER_STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                # wait_for has cancelled the task: its unacked entries are
                # claimed again by the next active consumer.
                log.warning(
                    "consumer %s did not stop within %ss; cancelled",
                    runner.group,
                    CONSUMER_STOP_TIMEOUT_SECONDS,
                )

        return self.closing(runner, stopped)


Register = Callable[[Any, grpc.aio.Server], None]


@dataclass(frozen=True)
class Service(Generic[C]):
    """One service of the mesh: registry name, config loader, build function, registration."""

    name: str
    load_config: Callable[[], C]
    build: Callable[[C, Kit], Awaitable[Served]]
    # The generated ``add_<Service>Servicer_to_server``.
    register: Register
    # The gRPC service's full name, for health and reflection; by default the
    # registry's (services/registry.py). Only services outside the registry
    # (the diagnostic echo service) name it here.
    grpc_service: str | None = None

    async def create_server(self, config: C) -> tuple[grpc.aio.Server, int]:
        """Builds the service's parts, then starts its server; returns it and the port it bound.

        ``runtime.stop(server)`` stops it and then closes every part, newest first.
        """
        # Also when built without run() (tests, benchmarks): these loggers
        # print request data (parameters, rows) at DEBUG.
        for name in SECRET_LEAKING_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        grpc_service = self.grpc_service or registry.service(self.name).grpc_service
        async with contextlib.AsyncExitStack() as stack:
            kit = Kit(self.name, config.server, stack)
            served = await self.build(config, kit)
            _check_owner_rpcs_are_guarded(grpc_service, served)
            auth = None if served.verifier is None else AuthInterceptor(served.verifier)
            server, port = await runtime.create_server(
                config.server,
                lambda server: self.register(served.servicer, server),
                [grpc_service],
                auth=auth,
            )
            # From here on the server owns the parts: they close after it stops.
            runtime.add_shutdown_hook(server, stack.pop_all().aclose)
        return server, port

    def main(self) -> None:
        """Process entry point: reads the config from the environment and serves until SIGTERM."""
        config = self.load_config()
        runtime.run(lambda: self.create_server(config), config.server)


def _check_owner_rpcs_are_guarded(grpc_service: str, served: Served) -> None:
    """Refuses to serve OWNER RPCs without a token verifier: they would be open to anyone
    who reaches the port, whatever the edge checks."""
    owner_rpcs = visibility.methods_with(grpc_service, visibility.OWNER)
    if owner_rpcs and served.verifier is None:
        raise TypeError(
            f"{grpc_service} declares owner RPCs ({', '.join(sorted(owner_rpcs))}) but its "
            "build returned no verifier: return Served(..., verifier=...)"
        )
