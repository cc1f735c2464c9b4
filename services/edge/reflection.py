"""The edge's reflection server: the whole mesh's contract behind one port.

Envoy cannot answer gRPC reflection itself, and each service only reflects
its own API. This small server, run beside Envoy, reflects every
device-facing service, so ``grpcurl -plaintext localhost:8080 list`` and
``grpcurl ... describe`` work through the edge.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.edge.render import EDGE_REFLECTION_PORT
from services.registry import SERVICES

_SERVICE_MODULES = {
    "users": "streammesh.users.v1.users_pb2",
    "catalog": "streammesh.catalog.v1.catalog_pb2",
    "history": "streammesh.history.v1.history_pb2",
    "recommendations": "streammesh.recommendations.v1.recommendations_pb2",
    "search": "streammesh.search.v1.search_pb2",
    "analytics": "streammesh.analytics.v1.analytics_pb2",
    "browse": "streammesh.browse.v1.browse_pb2",
}
SHUTDOWN_GRACE_SECONDS = 2.0


async def create_server(address: str) -> tuple[grpc.aio.Server, int]:
    """A reflection + health server bound to ``address`` (port 0 for tests)."""
    for module in _SERVICE_MODULES.values():
        importlib.import_module(module)  # registers the files in the default pool
    server = grpc.aio.server()
    names = [spec.grpc_service for spec in SERVICES]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port(address)
    await server.start()
    return server, port


async def serve(address: str) -> None:
    server, _ = await create_server(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(SHUTDOWN_GRACE_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=f"127.0.0.1:{EDGE_REFLECTION_PORT}")
    asyncio.run(serve(parser.parse_args().address))


if __name__ == "__main__":
    main()
