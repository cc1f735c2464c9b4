"""OpenTelemetry spans for every RPC, W3C ``traceparent`` carried in metadata.

Server side is ours, a thin span start/stop with the SDK tracer: the
``traceparent`` (and whatever else the global propagator reads, set by
``OTEL_PROPAGATORS``) is extracted from the call's metadata, a SERVER span
named ``/pkg.Service/Method`` with the ``rpc.*`` attributes is made current
for the layers inside it and the handler, and ends with
``rpc.grpc.status_code`` (status ERROR when not OK). So a handler's outgoing
call continues the incoming trace.

Why not opentelemetry-instrumentation-grpc's aio server interceptor, which we
used first: per call it builds a new handler, closures and a wrapt proxy of
the servicer context, parses the peer into attributes, and enters the span
through a generator-based context manager; on a trivial RPC it cost about a
third of the server's QPS (bench/runtime_overhead.py, "without-tracing"
row). Ours is one wrap per method (composed in interceptors/chain.py), and
per call one span and one context attach. Streaming RPCs (only the stock
health Watch and reflection; every RPC in our contracts is unary) are not
traced.

Client side stays the maintained instrumentation's ``aio_client_interceptors``:
client spans that inject the current context into outgoing metadata.

Sampling is the SDK's, from the standard variables: ``OTEL_TRACES_SAMPLER``
(default ``parentbased_always_on``, so every call is one trace with its
caller; ``parentbased_traceidratio`` with ``OTEL_TRACES_SAMPLER_ARG=0.1``
records a tenth of new traces and follows the caller's decision otherwise).
An unsampled span still has valid ids, so ``traceparent`` is propagated and
log lines carry the trace id whatever the sampler or exporter. When nothing
receives spans (``OTEL_TRACES_EXPORTER=none``, the default, and no span
processor added) the server layer skips the SDK's span altogether and makes
only a span context: new span id, the caller's trace id and sampled flag (or
a new trace and the sampler's decision), which is all that propagation and
log lines need (about 2 us instead of 12 us per call). The tracer provider comes from
services.runtime.telemetry. Health checks are not traced: probes every few
seconds would bury the traces that matter. Retry attempts are span events
added by interceptors.retry on the client span.
"""

from __future__ import annotations

import contextvars
from typing import Any

import grpc
import grpc.aio
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, filters
from opentelemetry.sdk.trace import sampling
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from interceptors._base import UnaryBehavior, Wrap, split_method
from interceptors.metrics import status_code
from services.runtime.telemetry import StreamMeshTracerProvider, tracer_provider

# The ids of the SERVER span of the call being served, for the access log
# below this layer: one C-level lookup where trace.get_current_span() is five
# Python calls. None outside a traced call.
served_span: contextvars.ContextVar[SpanContext | None] = contextvars.ContextVar(
    "streammesh_served_span", default=None
)

_NOT_HEALTH = filters.negate(filters.health_check())
_HEALTH_PREFIX = "/grpc.health.v1.Health/"
_STATUS_CODE = "rpc.grpc.status_code"


def server_wrapper(provider: StreamMeshTracerProvider | None = None) -> Wrap:
    """A wrap that runs each call (except health checks) in a SERVER span.

    ``provider`` defaults to the process's (services.runtime.telemetry).
    """
    provider = provider if provider is not None else tracer_provider()
    tracer = provider.get_tracer(__name__)
    propagated = _PropagatedFields()

    def wrap(behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
        if full_method.startswith(_HEALTH_PREFIX):
            return behavior
        service, method = split_method(full_method)
        # Starts as OK; an error overwrites the code.
        attributes: dict[str, Any] = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": method,
            _STATUS_CODE: 0,
        }
        start_span = tracer.start_span
        extract = propagate.extract
        attach = otel_context.attach
        detach = otel_context.detach
        in_context = trace.set_span_in_context

        async def traced(request: Any, context: grpc.aio.ServicerContext) -> Any:
            # Only the headers the propagator reads; none (a call from outside
            # the mesh) means a new trace, without parsing anything.
            fields = propagated.fields()
            carrier = {k: v for k, v in context.invocation_metadata() or () if k in fields}
            parent = extract(carrier) if carrier else _NO_PARENT
            if not provider.records_spans:
                ids_only = _context_only_span(provider, parent, full_method)
                token = attach(in_context(ids_only, parent))
                served = served_span.set(ids_only.get_span_context())
                try:
                    return await behavior(request, context)
                finally:
                    served_span.reset(served)
                    detach(token)
            span = start_span(
                full_method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            )
            token = attach(in_context(span, parent))
            served = served_span.set(span.get_span_context())
            try:
                return await behavior(request, context)
            except grpc.aio.AbortError:
                _set_code(span, status_code(context))
                raise
            except BaseException:
                # Only cancellation gets here: the error layer below maps the rest.
                _set_code(span, grpc.StatusCode.CANCELLED)
                raise
            finally:
                served_span.reset(served)
                detach(token)
                span.end()

        return traced

    return wrap


def _context_only_span(
    provider: StreamMeshTracerProvider, parent: otel_context.Context, name: str
) -> trace.Span:
    """A span that only carries ids: nothing would receive a recorded one.

    A new span id under the caller's trace and sampled flag; without a caller,
    a new trace whose flag is the configured sampler's decision, so services
    further down that do export see the same choice.
    """
    ids = provider.id_generator
    state: TraceState | None
    caller = trace.get_current_span(parent).get_span_context() if parent else None
    if caller is not None and caller.is_valid:
        trace_id, flags, state = caller.trace_id, caller.trace_flags, caller.trace_state
    else:
        trace_id = ids.generate_trace_id()
        sampler = provider.sampler
        fixed = _FIXED_ROOT_FLAGS.get(id(sampler))
        if fixed is not None and fixed[0] is sampler:
            flags, state = fixed[1], None
        else:
            decision = sampler.should_sample(parent, trace_id, name, SpanKind.SERVER)
            flags = TraceFlags(TraceFlags.SAMPLED if decision.decision.is_sampled() else 0)
            state = decision.trace_state
    return NonRecordingSpan(SpanContext(trace_id, ids.generate_span_id(), False, flags, state))


# The samplers whose decision for a new trace is known without asking them
# (the SDK's singletons behind OTEL_TRACES_SAMPLER=always_on, always_off,
# parentbased_always_on, the default, and parentbased_always_off): asking
# costs four calls per RPC from outside the mesh. id -> (sampler, flags).
_FIXED_ROOT_FLAGS: dict[int, tuple[sampling.Sampler, TraceFlags]] = {
    id(sampler): (sampler, TraceFlags(flags))
    for sampler, flags in (
        (sampling.ALWAYS_ON, TraceFlags.SAMPLED),
        (sampling.DEFAULT_ON, TraceFlags.SAMPLED),
        (sampling.ALWAYS_OFF, TraceFlags.DEFAULT),
        (sampling.DEFAULT_OFF, TraceFlags.DEFAULT),
    )
}

# The parent of a call from outside the mesh (Context is immutable, so one will do).
_NO_PARENT = otel_context.Context()


class _PropagatedFields:
    """The metadata keys the global propagator reads, recomputed only when it changes.

    A composite propagator (the default: tracecontext and baggage) builds
    that set anew on every ``fields`` access.
    """

    def __init__(self) -> None:
        self._textmap: object = None
        self._fields: frozenset[str] = frozenset()

    def fields(self) -> frozenset[str]:
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:
            self._fields = frozenset(textmap.fields)
            self._textmap = textmap
        return self._fields


def _set_code(span: trace.Span, code: grpc.StatusCode) -> None:
    span.set_attribute(_STATUS_CODE, code.value[0])
    span.set_status(Status(StatusCode.ERROR, code.name))


def client_interceptors() -> list[Any]:
    """OpenTelemetry client spans (one per call shape) that inject ``traceparent``."""
    interceptors: list[Any] = aio_client_interceptors(
        tracer_provider=tracer_provider(), filter_=_NOT_HEALTH
    )
    return interceptors
