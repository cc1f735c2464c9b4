"""Runs the echo service: ``python -m devtools.echo.server``."""

from __future__ import annotations

from devtools.echo.config import Config
from devtools.echo.servicer import SERVICE_NAME, EchoServicer
from services.kit import Kit, Served, Service
from streammesh.echo.v1 import echo_pb2_grpc


async def build(config: Config, kit: Kit) -> Served:
    """Echo, forwarding to ``forward_to`` when set (a two-hop chain for tracing tests)."""
    if not config.forward_to:
        return Served(EchoServicer(None))
    return Served(EchoServicer(echo_pb2_grpc.EchoServiceStub(kit.channel(config.forward_to))))


SERVICE_DEFINITION = Service(
    "echo",
    Config.from_env,
    build,
    echo_pb2_grpc.add_EchoServiceServicer_to_server,
    grpc_service=SERVICE_NAME,
)
create_server = SERVICE_DEFINITION.create_server

if __name__ == "__main__":
    SERVICE_DEFINITION.main()
