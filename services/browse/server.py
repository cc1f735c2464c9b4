"""Runs the browse service: ``python -m services.browse.server``."""

from __future__ import annotations

import asyncio

from services.browse.config import Config
from services.browse.home import HomeComposer
from services.browse.rows import RowCache, ViewTail
from services.browse.servicer import BrowseServicer
from services.events import streams
from services.events.config import stream_prefix_for
from services.kit import Kit, Served, Service
from services.runtime import near_cache
from streammesh.browse.v1 import browse_pb2_grpc
from streammesh.catalog.v1 import catalog_pb2_grpc
from streammesh.history.v1 import history_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc


async def build(config: Config, kit: Kit) -> Served:
    """The home-screen composer over stubs of users, catalog, history and recommendations,
    with its row cache when it has a Redis for invalidations and a near cache."""
    rows = _row_cache(config, kit)
    composer = HomeComposer(
        users_pb2_grpc.UserServiceStub(kit.channel("users")),
        catalog_pb2_grpc.CatalogServiceStub(kit.channel("catalog")),
        history_pb2_grpc.HistoryServiceStub(kit.channel("history")),
        recommendations_pb2_grpc.RecommendationServiceStub(kit.channel("recommendations")),
        genres=config.genres,
        row_timeout_seconds=config.row_timeout_seconds,
        profile_timeout_seconds=config.profile_timeout_seconds,
        because_you_watched_rows=config.because_you_watched_rows,
        rows=rows,
    )
    # Every browse RPC is an owner RPC: the token is checked here too, so a
    # caller on the service port directly gets no further than through the edge.
    return Served(
        BrowseServicer(composer, config.cards_per_row), verifier=kit.users_token_verifier()
    )


def _row_cache(config: Config, kit: Kit) -> RowCache | None:
    if not config.redis_url:
        return None
    redis = kit.redis(config.redis_url)
    layer = near_cache.layer_for(redis, config.redis_prefix)
    if layer is None:  # the near cache is off (near_cache_max_bytes = 0)
        return None
    rows = RowCache(
        layer,
        shared_ttl_seconds=config.shared_rows_ttl_seconds,
        trending_ttl_seconds=config.trending_row_ttl_seconds,
        profile_ttl_seconds=config.profile_rows_ttl_seconds,
    )
    stream = streams.stream_name("history", stream_prefix_for(config.redis_prefix))
    tail = ViewTail(redis, stream, rows)
    stop = asyncio.Event()
    task = asyncio.create_task(tail.run(stop), name="browse-view-tail")

    async def stopped() -> None:
        stop.set()
        # Bounded either way: wait_for would also wait out a cancelled read.
        _, pending = await asyncio.wait({task}, timeout=TAIL_STOP_SECONDS)
        for late in pending:
            late.cancel()

    kit.closing(tail, stopped)
    return rows


# The tail's read blocks at most TAIL_BLOCK_MS (rows.py); stopping waits a little longer.
TAIL_STOP_SECONDS = 2.0

SERVICE_DEFINITION = Service(
    "browse", Config.from_env, build, browse_pb2_grpc.add_BrowseServiceServicer_to_server
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
