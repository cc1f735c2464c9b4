"""Runs the browse service: ``python -m services.browse.server``."""

from __future__ import annotations

import grpc.aio

from interceptors.auth import AuthInterceptor, GrpcJwksKeySource, TokenVerifier
from services.browse.config import Config
from services.browse.home import HomeComposer
from services.browse.servicer import BrowseServicer
from services.runtime import clients
from services.runtime import server as runtime
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc
from streammesh.catalog.v1 import catalog_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc

SERVICE_NAME = browse_pb2.DESCRIPTOR.services_by_name["BrowseService"].full_name


async def create_server(config: Config) -> tuple[grpc.aio.Server, int]:
    """Builds and starts the browse server; returns it and its port."""
    users_channel = clients.channel("users", config.server)
    catalog_channel = clients.channel("catalog", config.server)
    composer = HomeComposer(
        users_pb2_grpc.UserServiceStub(users_channel),
        catalog_pb2_grpc.CatalogServiceStub(catalog_channel),
        genres=config.genres,
        row_timeout_seconds=config.row_timeout_seconds,
        profile_timeout_seconds=config.profile_timeout_seconds,
    )
    servicer = BrowseServicer(composer, config.cards_per_row)
    # Every browse RPC is an owner route: the token is checked here too, so a
    # caller on the service port directly gets no further than through the edge.
    auth = AuthInterceptor(TokenVerifier(GrpcJwksKeySource(users_channel)))
    server, port = await runtime.create_server(
        config.server,
        lambda s: browse_pb2_grpc.add_BrowseServiceServicer_to_server(servicer, s),
        [SERVICE_NAME],
        auth=auth,
    )
    runtime.add_shutdown_hook(server, users_channel.close)
    runtime.add_shutdown_hook(server, catalog_channel.close)
    return server, port


def main() -> None:
    config = Config.from_env()
    runtime.run(lambda: create_server(config), config.server)


if __name__ == "__main__":
    main()
