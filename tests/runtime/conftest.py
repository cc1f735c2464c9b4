"""Fixtures for the runtime tests: real grpc.aio servers on port 0, spans in memory."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any

import grpc.aio
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.echo.servicer import SERVICE_NAME
from services.kit import server as runtime
from services.runtime import logs
from services.runtime.config import RetryPolicy, ServerConfig
from services.runtime.telemetry import setup_tracing
from streammesh.echo.v1 import echo_pb2_grpc
from tests.runtime.scripted import ScriptedEcho

# Short backoffs keep retry tests quick; the bounds are the production ones otherwise.
FAST_RETRY = RetryPolicy(initial_backoff_seconds=0.002, max_backoff_seconds=0.01)


def server_config(service: str = "echo", **overrides: Any) -> ServerConfig:
    base = ServerConfig(service=service, port=0, shutdown_grace_seconds=1.0, retry=FAST_RETRY)
    return replace(base, **overrides)


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_tracing("tests").add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


class LogCapture:
    """The JSON lines of the production logging path (queue, listener thread, formatter)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        logs.wait_written()
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]


@pytest.fixture
def json_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    previous_level = root.level
    logs.configure_logging("tests", "INFO", stream=capture.stream)
    try:
        yield capture
    finally:
        logs.unconfigure_logging()
        root.setLevel(previous_level)


StartEcho = Callable[..., Awaitable[tuple[ScriptedEcho, int]]]


@pytest.fixture
async def start_echo(spans: InMemorySpanExporter) -> AsyncIterator[StartEcho]:
    """Starts ScriptedEcho servers with the full chain; stops them after the test."""
    servers: list[grpc.aio.Server] = []

    async def start(service: str = "echo", **overrides: Any) -> tuple[ScriptedEcho, int]:
        servicer = ScriptedEcho()
        server, port = await runtime.create_server(
            server_config(service, **overrides),
            lambda s: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
        )
        servers.append(server)
        return servicer, port

    yield start
    for server in servers:
        await runtime.stop(server, grace=0.5)
