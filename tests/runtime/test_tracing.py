"""One trace across two hops, in the spans and in both services' log lines."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.kit import clients
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.runtime.conftest import LogCapture, StartEcho, server_config


async def test_one_trace_id_across_two_hops(
    start_echo: StartEcho, spans: InMemorySpanExporter, json_logs: LogCapture
) -> None:
    _, back_port = await start_echo("back")
    front, front_port = await start_echo("front")
    config = server_config("front")
    async with clients.channel(f"127.0.0.1:{back_port}", config) as to_back:
        front.forward = echo_pb2_grpc.EchoServiceStub(to_back)
        spans.clear()
        async with clients.channel(f"127.0.0.1:{front_port}", server_config("caller")) as channel:
            reply = await echo_pb2_grpc.EchoServiceStub(channel).Echo(
                echo_pb2.EchoRequest(message="two hops")
            )
    assert reply.message == "two hops"

    echo_spans = [s for s in spans.get_finished_spans() if s.name.endswith("EchoService/Echo")]
    kinds = sorted(str(s.kind) for s in echo_spans)
    # caller -> front (client + server span), front -> back (client + server span)
    assert kinds == sorted([str(SpanKind.CLIENT)] * 2 + [str(SpanKind.SERVER)] * 2)
    trace_ids = {s.context.trace_id for s in echo_spans}
    assert len(trace_ids) == 1
    trace_id = format(trace_ids.pop(), "032x")
    # Each hop's server span is the child of the client span that called it.
    by_id = {s.context.span_id: s for s in echo_spans}
    for span in echo_spans:
        if span.kind == SpanKind.SERVER:
            assert span.parent is not None
            assert by_id[span.parent.span_id].kind == SpanKind.CLIENT

    access = [line for line in json_logs.lines() if line.get("logger") == "streammesh.rpc"]
    assert {line["service"] for line in access} == {"front", "back"}
    for line in access:
        assert line["trace_id"] == trace_id
        assert line["code"] == "OK"
        assert line["method"] == "/streammesh.echo.v1.EchoService/Echo"
        assert line["peer"].startswith("ipv4:127.0.0.1:")
        assert isinstance(line["duration_ms"], float)
        assert len(line["span_id"]) == 16
