"""OpenTelemetry spans for every RPC, W3C ``traceparent`` carried in metadata.

Both sides come from opentelemetry-instrumentation-grpc, which covers
grpc.aio: the server interceptor extracts ``traceparent`` and makes its span
current for the layers inside it and the handler; the client interceptors
inject the current context into outgoing metadata. So a handler's outgoing
call continues the incoming trace with nothing written here.

What we add: the tracer provider comes from services.runtime.telemetry (one
per process, exporters from OTEL_*), and health checks are not traced, since
probes every few seconds would bury the traces that matter. Retry attempts
are span events added by interceptors.retry on the client span.
"""

from __future__ import annotations

from typing import Any

import grpc.aio
from opentelemetry.instrumentation.grpc import (
    aio_client_interceptors,
    aio_server_interceptor,
    filters,
)

from services.runtime.telemetry import tracer_provider

_NOT_HEALTH = filters.negate(filters.health_check())


def server_interceptor() -> grpc.aio.ServerInterceptor:
    """The OpenTelemetry server span around every call except health checks."""
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(
        tracer_provider=tracer_provider(), filter_=_NOT_HEALTH
    )
    return interceptor


def client_interceptors() -> list[Any]:
    """OpenTelemetry client spans (one per call shape) that inject ``traceparent``."""
    interceptors: list[Any] = aio_client_interceptors(
        tracer_provider=tracer_provider(), filter_=_NOT_HEALTH
    )
    return interceptors
