"""OpenTelemetry tracing, set up once per process from the standard OTEL_* variables.

``OTEL_TRACES_EXPORTER`` picks the exporters (comma-separated):
``otlp`` (OTLP/gRPC, configured by ``OTEL_EXPORTER_OTLP_*``), ``console``
(span JSON on stderr), ``none``, or any installed
``opentelemetry_traces_exporter`` entry point. Unset means ``none`` here,
unlike the OpenTelemetry default of ``otlp``: a laptop without a collector
should not log export failures. Spans are still recorded without an exporter,
so trace ids reach log lines and ``traceparent`` headers either way.
``OTEL_SERVICE_NAME`` overrides the service name; ``OTEL_TRACES_SAMPLER`` and
the other standard variables are read by the SDK itself.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

_ALIASES = {"otlp": "otlp_proto_grpc"}


class StreamMeshTracerProvider(TracerProvider):
    """The SDK provider, knowing whether anything receives its spans.

    With no span processor (``OTEL_TRACES_EXPORTER=none``, the default here)
    a recorded span goes nowhere, so the server tracing layer makes only the
    span *context* (ids and sampled flag) for propagation and log lines; see
    interceptors.tracing. Adding a processor (an exporter, or a test's
    in-memory one) switches recording on.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.records_spans = False

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        if not self.records_spans:
            self.records_spans = True
            instrument_store_clients(self)


def instrument_store_clients(provider: TracerProvider) -> None:
    """Client spans for the store calls inside an RPC, so a trace reaches Redis,
    SQL and Cassandra: the maintained OpenTelemetry instrumentations.

    Only once spans are recorded: without a processor they would tax every
    query for nothing. Redis and Cassandra are patched at class level, so
    clients created earlier are covered too; SQLAlchemy hooks engine creation,
    so engines created before recording started get no spans. The Cassandra
    span covers submitting the query (``execute_async``), not waiting for it.
    """
    from opentelemetry.instrumentation.cassandra import CassandraInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    for instrumentor in (RedisInstrumentor(), SQLAlchemyInstrumentor(), CassandraInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            # The SQLAlchemy instrumentation declares `sqlalchemy < 2.1` and would
            # silently skip our 2.1; it only uses the stable engine events
            # (before/after_cursor_execute), which 2.1 keeps, so the check is
            # skipped (opentelemetry-python-contrib, package.py `_instruments`).
            instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)


_provider: StreamMeshTracerProvider | None = None


def setup_tracing(
    service: str, environ: Mapping[str, str] = os.environ
) -> StreamMeshTracerProvider:
    """Installs the process's tracer provider on first call and returns it.

    Later calls return the same provider (OpenTelemetry allows one global
    provider per process); tests add an in-memory exporter to it.
    """
    global _provider
    if _provider is not None:
        return _provider
    name = environ.get("OTEL_SERVICE_NAME") or f"streammesh-{service}"
    provider = StreamMeshTracerProvider(resource=Resource.create({"service.name": name}))
    for exporter in _exporters(environ.get("OTEL_TRACES_EXPORTER", "none")):
        # Batching keeps export I/O off the request path (a background thread).
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def tracer_provider() -> StreamMeshTracerProvider:
    """The provider installed by :func:`setup_tracing` (set up on demand)."""
    return _provider if _provider is not None else setup_tracing("unknown")


def shutdown_tracing() -> None:
    """Flushes batched spans; called once when the process stops."""
    if _provider is not None:
        _provider.shutdown()


def current_trace_id() -> str | None:
    """The active span's trace id as 32 hex digits, or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _exporters(setting: str) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    for raw in setting.split(","):
        name = raw.strip().lower()
        if name in ("", "none"):
            continue
        if name == "console":
            exporters.append(ConsoleSpanExporter(out=sys.stderr))
            continue
        entry_name = _ALIASES.get(name, name)
        points = importlib.metadata.entry_points(
            group="opentelemetry_traces_exporter", name=entry_name
        )
        if not points:
            raise ValueError(f"OTEL_TRACES_EXPORTER: no exporter named {name!r} is installed")
        exporter_class = next(iter(points)).load()
        exporters.append(exporter_class())
    return exporters
