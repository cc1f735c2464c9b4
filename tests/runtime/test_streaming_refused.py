"""Only unary RPCs of ours are served, since only those go through the whole chain.

None of our contracts streams, so the streaming service here is built in the
test (descriptor_pb2 into a private pool) or registered as a generic handler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.echo.servicer import SERVICE_NAME, EchoServicer
from interceptors.chain import StreamingNotCovered, require_unary
from services.kit import server as runtime
from streammesh.echo.v1 import echo_pb2_grpc
from tests.contracts.descriptors import descriptor_set, streammesh_files
from tests.runtime.conftest import server_config

TICKER = "streammesh.ticker.v1.TickerService"


def ticker_pool(
    *, client_streaming: bool = False, server_streaming: bool = False
) -> descriptor_pool.DescriptorPool:
    """A private pool with TickerService: unary ``Get``, and ``Follow`` streaming as asked."""
    tick = ".streammesh.ticker.v1.Tick"
    file = descriptor_pb2.FileDescriptorProto(
        name="streammesh/ticker/v1/ticker.proto",
        package="streammesh.ticker.v1",
        syntax="proto3",
        message_type=[descriptor_pb2.DescriptorProto(name="Tick")],
        service=[
            descriptor_pb2.ServiceDescriptorProto(
                name="TickerService",
                method=[
                    descriptor_pb2.MethodDescriptorProto(
                        name="Get", input_type=tick, output_type=tick
                    ),
                    descriptor_pb2.MethodDescriptorProto(
                        name="Follow",
                        input_type=tick,
                        output_type=tick,
                        client_streaming=client_streaming,
                        server_streaming=server_streaming,
                    ),
                ],
            )
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return pool


@pytest.mark.parametrize(
    ("streaming", "shape"),
    [
        ({"server_streaming": True}, "server"),
        ({"client_streaming": True}, "client"),
        ({"client_streaming": True, "server_streaming": True}, "bidirectional"),
    ],
)
def test_a_service_of_ours_with_a_streaming_method_is_refused_naming_it(
    streaming: dict[str, bool], shape: str
) -> None:
    pool = ticker_pool(**streaming)
    with pytest.raises(StreamingNotCovered) as refused:
        require_unary([TICKER], pool)
    message = str(refused.value)
    assert f"{TICKER}/Follow is a {shape} streaming RPC" in message
    assert "covers unary RPCs only" in message


def test_unary_services_and_stock_streaming_services_pass() -> None:
    require_unary([TICKER], ticker_pool())
    # The stock health service streams (Watch) and is not ours.
    require_unary(["grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"])


def test_every_service_of_our_contracts_is_unary() -> None:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set().file:
        pool.Add(file)
    ours = [
        f"{file.package}.{service.name}" for file in streammesh_files() for service in file.service
    ]
    assert ours
    require_unary(ours, pool)


async def test_a_server_for_a_service_it_cannot_check_does_not_start() -> None:
    # No descriptor in the default pool, so no proof that its methods are unary.
    with pytest.raises(StreamingNotCovered, match=TICKER):
        await runtime.create_server(
            server_config(),
            lambda server: None,
            [TICKER],
        )


async def _ticks(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield b"tick"


async def test_a_streaming_method_of_ours_that_is_registered_anyway_is_not_served() -> None:
    ran: list[str] = []

    async def ticks(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        ran.append("ticks")
        async for tick in _ticks(request, context):
            yield tick

    def register(server: grpc.aio.Server) -> None:
        echo_pb2_grpc.add_EchoServiceServicer_to_server(EchoServicer(), server)
        # Added behind the runtime's back: not named in service_names.
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    TICKER, {"Follow": grpc.unary_stream_rpc_method_handler(ticks)}
                ),
                grpc.method_handlers_generic_handler(
                    "other.ticker.v1.TickerService",
                    {"Follow": grpc.unary_stream_rpc_method_handler(_ticks)},
                ),
            )
        )

    server, port = await runtime.create_server(
        server_config(access_log=False), register, [SERVICE_NAME]
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            follow = channel.unary_stream(f"/{TICKER}/Follow")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in follow(b"", timeout=5):
                    pass
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert f"{TICKER}/Follow is not served" in (refused.value.details() or "")
            assert ran == []
            # Not ours: served as it is.
            other = channel.unary_stream("/other.ticker.v1.TickerService/Follow")
            assert [tick async for tick in other(b"", timeout=5)] == [b"tick"] * 3
            # The stock health Watch streams through the chain as before.
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5
            )
            first = await watch.read()
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
    finally:
        await runtime.stop(server, grace=0)
