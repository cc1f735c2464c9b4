"""Traces a person can open: two real service processes export OTLP to a real
Jaeger, and ``streammesh trace`` draws the request across both as one tree."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

from devtools.infra import endpoints
from devtools.observability import trace as trace_view
from devtools.observability.jaeger import Jaeger
from services import cli
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.mesh import unused_port
from tests.observability.conftest import FIXTURE_WAIT_SECONDS, REPO
from tests.observability.prometheus_api import wait_for


def _echo(
    name: str, jaeger: Jaeger, forward_to: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port = unused_port()
    env = dict(
        os.environ,
        STREAMMESH_ECHO_PORT=str(port),
        STREAMMESH_ECHO_METRICS_PORT="0",
        OTEL_SERVICE_NAME=name,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{jaeger.otlp_grpc_endpoint}",
        OTEL_EXPORTER_OTLP_INSECURE="true",
        # Export within a fraction of a second, not the default 5 s.
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    if forward_to:
        env["STREAMMESH_ECHO_FORWARD_TO"] = forward_to
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.echo.server"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


@pytest.fixture(scope="module")
def traced_chain(jaeger: Jaeger) -> Iterator[int]:
    """echo-front forwarding to echo-back, both exporting to Jaeger; yields front's port."""
    back, back_port = _echo("echo-back", jaeger)
    front, front_port = _echo("echo-front", jaeger, f"{endpoints.HOST}:{back_port}")
    try:
        for port in (back_port, front_port):
            asyncio.run(_serving(port))
        yield front_port
    finally:
        for process in (front, back):
            process.terminate()
            process.wait(timeout=30)


async def _serving(port: int) -> None:
    async with grpc.aio.insecure_channel(f"{endpoints.HOST}:{port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), FIXTURE_WAIT_SECONDS)


def _call(front_port: int, trace_id: str) -> None:
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"

    async def call() -> None:
        async with grpc.aio.insecure_channel(f"{endpoints.HOST}:{front_port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), FIXTURE_WAIT_SECONDS)
            stub = echo_pb2_grpc.EchoServiceStub(channel)
            await stub.Echo(
                echo_pb2.EchoRequest(message="hello"),
                metadata=(("traceparent", traceparent),),
                timeout=10,
            )

    asyncio.run(call())


def _services_in(jaeger: Jaeger, trace_id: str) -> set[str] | None:
    try:
        trace = trace_view.fetch(jaeger.url, trace_id)
    except trace_view.TraceUnavailable:
        return None
    services = {process["serviceName"] for process in trace["processes"].values()}
    return services if {"echo-front", "echo-back"} <= services else None


def _streammesh(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``streammesh ARGS`` in this process (the same parser and handler as the command),
    on a terminal wide enough that rich cuts no column."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "200")
        code = cli.main(list(args))
    return code, capsys.readouterr().out


def test_trace_of_an_unknown_id_says_so(jaeger: Jaeger, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _streammesh(capsys, "trace", secrets.token_hex(16), "--jaeger", jaeger.url)
    assert code == 1
    assert "no trace" in out


def test_one_request_across_two_services_is_one_tree(
    jaeger: Jaeger, traced_chain: int, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_id = secrets.token_hex(16)
    _call(traced_chain, trace_id)
    wait_for(lambda: _services_in(jaeger, trace_id), "both services' spans", FIXTURE_WAIT_SECONDS)

    roots = trace_view.spans_of(trace_view.fetch(jaeger.url, trace_id))
    ordered = trace_view.walk(roots)
    # One root: the front's server span; the back's server span is below it.
    assert len(roots) == 1
    assert roots[0].service == "echo-front"
    depth_of_back = [depth for depth, span in ordered if span.service == "echo-back"]
    assert depth_of_back
    assert min(depth_of_back) >= 1
    assert all(not span.error for _, span in ordered)

    code, text = _streammesh(capsys, "trace", trace_id, "--jaeger", jaeger.url)
    assert code == 0, text
    assert trace_id in text
    assert text.index("echo-front") < text.index("echo-back")
    assert "EchoService/Echo" in text
