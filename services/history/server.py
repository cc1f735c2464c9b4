"""Runs the history service: ``python -m services.history.server``."""

from __future__ import annotations

from services.events import streams
from services.events.config import stream_prefix_for
from services.events.consumer import ConsumerConfig, ConsumerRunner
from services.history import outbox
from services.history.config import SERVICE, Config
from services.history.domain import TRENDING_NAMESPACE, HistoryDomain, Limits
from services.history.popularity import GROUP, PopularityRollup
from services.history.servicer import HistoryServicer
from services.history.stores import open_store
from services.kit import Kit, Served, Service
from services.runtime.cache import Cache
from services.runtime.redis import REDIS_SOCKET_TIMEOUT_SECONDS
from streammesh.catalog.v1 import catalog_pb2_grpc
from streammesh.history.v1 import history_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc


async def build(config: Config, kit: Kit) -> Served:
    """The history's parts (migrated when ``migrate_on_start``): store, its outbox's
    relay, the popularity rollup, and stubs of users and catalog."""
    store = await open_store(config)
    kit.closing(store, store.close)
    redis = kit.redis(config.redis_url)
    relayed = await kit.enter(outbox.outbox_of(config, store))
    kit.relay(relayed.source, redis, config.redis_prefix, relayed.relay)
    if config.popularity_consumer:
        rollup = PopularityRollup(
            store, redis, redis_prefix=config.redis_prefix, top_titles=config.top_titles
        )
        stream = streams.stream_name(SERVICE, stream_prefix_for(config.redis_prefix))
        kit.consume(
            ConsumerRunner(
                redis,
                stream,
                GROUP,
                rollup.handle,
                config=ConsumerConfig(
                    max_concurrency=config.popularity_concurrency,
                    # A blocking read must end before the kit's Redis client
                    # gives up on the socket, or every idle read is an error.
                    block_ms=int(REDIS_SOCKET_TIMEOUT_SECONDS * 1000 / 2),
                ),
            )
        )
    trending = None
    if config.trending_cache_ttl_seconds > 0:
        trending = Cache(
            redis,
            TRENDING_NAMESPACE,
            ttl_seconds=config.trending_cache_ttl_seconds,
            prefix=config.redis_prefix,
        )
    domain = HistoryDomain(
        store,
        users_pb2_grpc.UserServiceStub(kit.channel("users")),
        catalog_pb2_grpc.CatalogServiceStub(kit.channel("catalog")),
        redis,
        trending_cache=trending,
        redis_prefix=config.redis_prefix,
        limits=Limits.of(config),
    )
    # Owner RPCs: the token is checked here too, and forwarded to users,
    # which decides whether the caller owns the profile.
    return Served(
        HistoryServicer(domain),
        verifier=kit.users_token_verifier(config.dependency_timeout_seconds),
    )


SERVICE_DEFINITION = Service(
    SERVICE, Config.from_env, build, history_pb2_grpc.add_HistoryServiceServicer_to_server
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
