"""The three echo servers bench/runtime_overhead.py compares, one per process.

``python -m bench.echo_servers full PORT``   the echo service as deployed: the
                                           runtime with the whole interceptor chain
``python -m bench.echo_servers nochain PORT`` the same runtime server (health,
                                           reflection, limits) with no interceptors
``python -m bench.echo_servers bare PORT``   a bare grpc.aio server with the echo
                                           servicer, nothing else
Each prints ``ready`` on stdout once it serves and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import replace

import grpc.aio

from devtools.echo.config import Config
from devtools.echo.server import create_server
from devtools.echo.servicer import SERVICE_NAME, EchoServicer
from interceptors.chain import ChainInterceptor, server_layers
from services.kit import server as runtime
from services.runtime.logs import configure_logging
from streammesh.echo.v1 import echo_pb2_grpc


async def _start(mode: str, port: int) -> grpc.aio.Server:
    config = Config.from_env()
    server_config = replace(config.server, port=port, metrics_port=0)
    if mode == "full":
        server, _ = await create_server(replace(config, server=server_config))
        return server
    servicer = EchoServicer()
    if mode.startswith("without-"):
        # The full chain less the named layers (a cost breakdown, not a deployment).
        dropped = set(mode.removeprefix("without-").split("+"))
        layers = server_layers(server_config)
        unknown = dropped - {name for name, _ in layers}
        if unknown:
            raise SystemExit(f"no layers named {sorted(unknown)}")
        chain = [ChainInterceptor([layer for layer in layers if layer[0] not in dropped])]
        server, _ = await runtime.create_server(
            server_config,
            lambda s: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
            interceptors=chain,
        )
        return server
    if mode == "nochain":
        server, _ = await runtime.create_server(
            server_config,
            lambda s: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
            interceptors=[],
        )
        return server
    if mode == "bare":
        server = grpc.aio.server()
        echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        return server
    raise SystemExit(f"unknown mode {mode!r}: full, nochain or bare")


async def _main(mode: str, port: int) -> None:
    server = await _start(mode, port)
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1.0)


if __name__ == "__main__":
    configure_logging("echo")  # JSON lines on stderr, as in production
    asyncio.run(_main(sys.argv[1], int(sys.argv[2])))
