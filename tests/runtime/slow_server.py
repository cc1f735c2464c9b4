"""A real server process for the shutdown test: ``python -m tests.runtime.slow_server``."""

from __future__ import annotations

import grpc.aio

from devtools.echo.servicer import SERVICE_NAME
from services.kit import server as runtime
from services.runtime.config import ServerConfig
from streammesh.echo.v1 import echo_pb2_grpc
from tests.runtime.scripted import ScriptedEcho


def main() -> None:
    config = ServerConfig.from_env("slowecho")
    servicer = ScriptedEcho()

    async def factory() -> tuple[grpc.aio.Server, int]:
        return await runtime.create_server(
            config,
            lambda server: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, server),
            [SERVICE_NAME],
        )

    runtime.run(factory, config)


if __name__ == "__main__":
    main()
