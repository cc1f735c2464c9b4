"""Runs the recommendations service: ``python -m services.recommendations.server``."""

from __future__ import annotations

from services.events import streams
from services.events.config import stream_prefix_for
from services.events.consumer import ConsumerConfig, ConsumerRunner
from services.kit import Kit, Served, Service
from services.recommendations.catalog import read_catalog
from services.recommendations.config import SERVICE, Config
from services.recommendations.domain import Limits, RecommendationsDomain
from services.recommendations.engine import Engine
from services.recommendations.freshness import GROUP, HISTORY, Freshness
from services.recommendations.models import BlendWeights
from services.recommendations.servicer import RecommendationServicer
from services.recommendations.stores import open_store
from services.runtime.redis import REDIS_SOCKET_TIMEOUT_SECONDS
from streammesh.catalog.v1 import catalog_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc


async def build(config: Config, kit: Kit) -> Served:
    """The store, the models (the catalog read from the catalog service, every stored
    interaction learned), the freshness consumer on streammesh.history, and users."""
    store = await open_store(config)
    kit.closing(store, store.close)
    catalog = await read_catalog(
        catalog_pb2_grpc.CatalogServiceStub(kit.channel("catalog")),
        timeout_seconds=config.catalog_load_timeout_seconds,
    )
    engine = Engine(
        store,
        catalog,
        weights=BlendWeights(config.history_half_weight, config.co_share),
        list_size=config.list_size,
    )
    await engine.load()
    if config.freshness_consumer:
        redis = kit.redis(config.redis_url)
        kit.consume(
            ConsumerRunner(
                redis,
                streams.stream_name(HISTORY, stream_prefix_for(config.redis_prefix)),
                GROUP,
                Freshness(engine).handle,
                config=ConsumerConfig(
                    max_concurrency=config.freshness_concurrency,
                    # A blocking read must end before the kit's Redis client
                    # gives up on the socket.
                    block_ms=int(REDIS_SOCKET_TIMEOUT_SECONDS * 1000 / 2),
                ),
            )
        )
    domain = RecommendationsDomain(
        engine, users_pb2_grpc.UserServiceStub(kit.channel("users")), Limits.of(config)
    )
    # Owner RPCs: the token is checked here, and forwarded to users, which
    # decides whether the caller owns the profile.
    return Served(
        RecommendationServicer(domain),
        verifier=kit.users_token_verifier(config.dependency_timeout_seconds),
    )


SERVICE_DEFINITION = Service(
    SERVICE,
    Config.from_env,
    build,
    recommendations_pb2_grpc.add_RecommendationServiceServicer_to_server,
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
