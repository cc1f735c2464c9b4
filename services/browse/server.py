"""Runs the browse service: ``python -m services.browse.server``."""

from __future__ import annotations

from services.browse.config import Config
from services.browse.home import HomeComposer
from services.browse.servicer import BrowseServicer
from services.kit import Kit, Served, Service
from streammesh.browse.v1 import browse_pb2_grpc
from streammesh.catalog.v1 import catalog_pb2_grpc
from streammesh.history.v1 import history_pb2_grpc
from streammesh.recommendations.v1 import recommendations_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc


async def build(config: Config, kit: Kit) -> Served:
    """The home-screen composer over stubs of users, catalog, history and recommendations."""
    composer = HomeComposer(
        users_pb2_grpc.UserServiceStub(kit.channel("users")),
        catalog_pb2_grpc.CatalogServiceStub(kit.channel("catalog")),
        history_pb2_grpc.HistoryServiceStub(kit.channel("history")),
        recommendations_pb2_grpc.RecommendationServiceStub(kit.channel("recommendations")),
        genres=config.genres,
        row_timeout_seconds=config.row_timeout_seconds,
        profile_timeout_seconds=config.profile_timeout_seconds,
        because_you_watched_rows=config.because_you_watched_rows,
    )
    # Every browse RPC is an owner RPC: the token is checked here too, so a
    # caller on the service port directly gets no further than through the edge.
    return Served(
        BrowseServicer(composer, config.cards_per_row), verifier=kit.users_token_verifier()
    )


SERVICE_DEFINITION = Service(
    "browse", Config.from_env, build, browse_pb2_grpc.add_BrowseServiceServicer_to_server
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
