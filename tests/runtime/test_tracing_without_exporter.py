"""With nothing receiving spans, the server still propagates the trace (ids only)."""

from __future__ import annotations

import grpc.aio
from opentelemetry import trace
from opentelemetry.trace import SpanContext

from devtools.echo.servicer import SERVICE_NAME
from interceptors import tracing
from interceptors.chain import ChainInterceptor
from services.kit import server as runtime
from services.runtime.telemetry import StreamMeshTracerProvider
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.runtime.conftest import server_config

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


class SeesItsSpan(echo_pb2_grpc.EchoServiceServicer):
    def __init__(self) -> None:
        self.seen: list[SpanContext] = []

    async def Echo(
        self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext
    ) -> echo_pb2.EchoResponse:
        self.seen.append(trace.get_current_span().get_span_context())
        return echo_pb2.EchoResponse(message=request.message)


async def test_trace_ids_propagate_when_no_span_is_recorded() -> None:
    provider = StreamMeshTracerProvider()  # no processor: nothing receives spans
    assert not provider.records_spans
    servicer = SeesItsSpan()
    server, port = await runtime.create_server(
        server_config(),
        lambda s: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, s),
        [SERVICE_NAME],
        interceptors=[ChainInterceptor([("tracing", tracing.server_wrapper(provider))])],
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = echo_pb2_grpc.EchoServiceStub(channel)
            for flags in ("01", "00"):
                traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-{flags}"
                await stub.Echo(
                    echo_pb2.EchoRequest(message="x"),
                    metadata=(("traceparent", traceparent),),
                    timeout=5,
                )
            await stub.Echo(echo_pb2.EchoRequest(message="x"), timeout=5)
    finally:
        await runtime.stop(server, grace=0.5)

    sampled, unsampled, fresh = servicer.seen
    for child, flag in ((sampled, True), (unsampled, False)):
        assert format(child.trace_id, "032x") == CALLER_TRACE
        assert format(child.span_id, "016x") != CALLER_SPAN
        assert child.is_valid
        assert child.trace_flags.sampled is flag
    # No caller: a new trace, sampled by the default parentbased_always_on.
    assert fresh.is_valid
    assert format(fresh.trace_id, "032x") != CALLER_TRACE
    assert fresh.trace_flags.sampled
