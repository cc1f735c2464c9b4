"""Runs the echo service: ``python -m devtools.echo.server``."""

from __future__ import annotations

import grpc.aio

from devtools.echo.config import Config
from devtools.echo.servicer import SERVICE_NAME, EchoServicer
from services.runtime import clients
from services.runtime import server as runtime
from streammesh.echo.v1 import echo_pb2_grpc


async def create_server(config: Config) -> tuple[grpc.aio.Server, int]:
    """Builds and starts the echo server; returns it and its port."""
    forward_channel = (
        clients.channel(config.forward_to, config.server) if config.forward_to else None
    )
    servicer = EchoServicer(
        echo_pb2_grpc.EchoServiceStub(forward_channel) if forward_channel else None
    )
    server, port = await runtime.create_server(
        config.server,
        lambda s: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, s),
        [SERVICE_NAME],
    )
    if forward_channel is not None:
        runtime.add_shutdown_hook(server, forward_channel.close)
    return server, port


def main() -> None:
    config = Config.from_env()
    runtime.run(lambda: create_server(config), config.server)


if __name__ == "__main__":
    main()
