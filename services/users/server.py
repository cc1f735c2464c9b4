"""Runs the users service: ``python -m services.users.server``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc.aio
from redis.asyncio import Redis

from interceptors.auth import AuthInterceptor, StaticKeySource, TokenVerifier
from services.events import streams
from services.events.config import stream_prefix_for
from services.events.outbox import SqlOutboxSource
from services.events.relay import BackgroundRelay, Relay
from services.runtime import server as runtime
from services.runtime.cache import Cache
from services.runtime.logs import SECRET_LEAKING_LOGGERS
from services.runtime.redis import redis_client
from services.users import migrations
from services.users.config import SERVICE, Config
from services.users.domain import Caches, NoCache, UsersDomain
from services.users.models import OutboxRow
from services.users.passwords import PasswordHasherPool
from services.users.ratelimit import LoginLimiter
from services.users.servicer import PUBLIC_METHODS, SERVICE_NAME, UserServicer
from services.users.stores.sql import SqlUserStore, for_writing
from services.users.tokens import TokenIssuer, load_or_create_signing_key
from streammesh.users.v1 import users_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Components:
    """What create_server wired together (benchmarks and tests look inside)."""

    domain: UsersDomain
    store: SqlUserStore
    redis: Redis
    issuer: TokenIssuer


def _caches(redis: Redis, config: Config) -> Caches:
    if config.cache_ttl_seconds <= 0:
        return Caches(account=NoCache(), profile=NoCache(), profiles=NoCache())

    def cache(namespace: str) -> Cache:
        return Cache(
            redis, namespace, ttl_seconds=config.cache_ttl_seconds, prefix=config.redis_prefix
        )

    return Caches(
        account=cache("users.account"),
        profile=cache("users.profile"),
        profiles=cache("users.profiles"),
    )


async def build(config: Config) -> Components:
    """The service's parts, connected (and migrated when ``migrate_on_start``)."""
    # Also when built without runtime.run (tests, benchmarks).
    for name in SECRET_LEAKING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if config.migrate_on_start:
        await migrations.apply(config)
    key = await asyncio.to_thread(load_or_create_signing_key, config.key_dir)
    # Building the hasher hashes a decoy password: CPU work, off the loop.
    passwords = await asyncio.to_thread(PasswordHasherPool, config.passwords)
    store = SqlUserStore.from_url(config.database_url)
    redis = redis_client(config.redis_url)
    caches = _caches(redis, config)
    issuer = TokenIssuer(key, issuer=config.token_issuer, ttl_seconds=config.token_ttl_seconds)
    domain = UsersDomain(
        store=store,
        caches=caches,
        passwords=passwords,
        limiter=LoginLimiter(redis, config.login_limits, prefix=config.redis_prefix),
        tokens=issuer,
        max_profiles=config.max_profiles_per_account,
    )
    return Components(domain=domain, store=store, redis=redis, issuer=issuer)


async def create_server(config: Config) -> tuple[grpc.aio.Server, int]:
    """Builds and starts the users server; returns it and its port."""
    parts = await build(config)
    servicer = UserServicer(parts.domain, trusted_proxies=config.trusted_proxies)
    auth = AuthInterceptor(
        TokenVerifier(StaticKeySource(parts.issuer.key.jwks()), issuer=config.token_issuer),
        PUBLIC_METHODS,
    )
    server, port = await runtime.create_server(
        config.server,
        lambda s: users_pb2_grpc.add_UserServiceServicer_to_server(servicer, s),
        [SERVICE_NAME],
        auth=auth,
    )
    # The outbox relay runs beside the server (services/events/relay.py); it
    # stops before the store and the Redis client close.
    relay = BackgroundRelay(
        Relay(
            SqlOutboxSource(
                parts.store.engine,
                OutboxRow.__table__,  # type: ignore[arg-type]
                name=SERVICE,
                write_engine=for_writing(parts.store.engine),
            ),
            parts.redis,
            streams.stream_name(SERVICE, stream_prefix_for(config.redis_prefix)),
        )
    )
    relay.start()
    runtime.add_shutdown_hook(server, relay.stop)
    runtime.add_shutdown_hook(server, parts.store.close)
    runtime.add_shutdown_hook(server, parts.redis.aclose)
    runtime.add_shutdown_hook(server, parts.domain.close)
    return server, port


def main() -> None:
    config = Config.from_env()
    runtime.run(lambda: create_server(config), config.server)


if __name__ == "__main__":
    main()
