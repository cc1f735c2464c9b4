"""Prometheus RPC metrics on both sides, by gRPC service, method and status code.

Server: ``grpc_server_handled_total`` and ``grpc_server_handling_seconds``.
Client: ``grpc_client_handled_total`` and ``grpc_client_handling_seconds``,
one observation per logical call as the caller saw it (retried attempts are
counted by interceptors.retry as ``grpc_client_attempts_total``).
The names follow go-grpc-prometheus, so stock dashboards and the alert rules
of the case study apply unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from prometheus_client import Counter, Histogram

from interceptors._base import UnaryBehavior, Wrap, split_method

_LABELS = ("grpc_service", "grpc_method", "grpc_code")
# RPC latencies in a mesh on one machine: sub-millisecond to the 5 s default deadline.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SERVER_HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed on the server, by status code.", _LABELS
)
SERVER_HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time from receiving the request to the handler's answer.",
    _LABELS,
    buckets=_BUCKETS,
)
CLIENT_HANDLED = Counter(
    "grpc_client_handled_total", "RPCs completed by the client, by status code.", _LABELS
)
CLIENT_HANDLING = Histogram(
    "grpc_client_handling_seconds",
    "Time from starting a call to its status, retries included.",
    _LABELS,
    buckets=_BUCKETS,
)


class _Children:
    """Caches labelled children: ``labels()`` costs a lock and a dict lookup per call."""

    def __init__(self, counter: Counter, histogram: Histogram) -> None:
        self._counter = counter
        self._histogram = histogram
        # Bounded by methods x 17 status codes.
        self._cache: dict[tuple[str, grpc.StatusCode], tuple[Any, Any]] = {}

    def get(self, full_method: str, code: grpc.StatusCode) -> tuple[Any, Any]:
        """The (counter, histogram) children of one method and code."""
        key = (full_method, code)
        children = self._cache.get(key)
        if children is None:
            service, method = split_method(full_method)
            labels = (service, method, code.name)
            children = (self._counter.labels(*labels), self._histogram.labels(*labels))
            self._cache[key] = children
        return children

    def observe(self, full_method: str, code: grpc.StatusCode, seconds: float) -> None:
        counter, histogram = self.get(full_method, code)
        counter.inc()
        histogram.observe(seconds)


def status_code(context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    """The code a server context will send (its ``code()`` is an int or an enum)."""
    raw = context.code()
    if raw is None:
        return grpc.StatusCode.UNKNOWN
    if isinstance(raw, grpc.StatusCode):
        return raw
    return _BY_NUMBER.get(raw, grpc.StatusCode.UNKNOWN)


_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def server_wrapper() -> Wrap:
    """A wrap that counts and times every served call by its final status code."""
    children = _Children(SERVER_HANDLED, SERVER_HANDLING)

    def wrap(behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
        # The OK children are looked up once per method, not per call.
        ok_counter, ok_histogram = children.get(full_method, grpc.StatusCode.OK)
        observe = children.observe
        perf_counter = time.perf_counter

        async def measured(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = perf_counter()
            try:
                response = await behavior(request, context)
            except grpc.aio.AbortError:
                observe(full_method, status_code(context), perf_counter() - start)
                raise
            except asyncio.CancelledError:
                observe(full_method, grpc.StatusCode.CANCELLED, perf_counter() - start)
                raise
            except BaseException:
                observe(full_method, grpc.StatusCode.UNKNOWN, perf_counter() - start)
                raise
            ok_histogram.observe(perf_counter() - start)
            ok_counter.inc()
            return response

        return measured

    return wrap


async def call_code(call: Any) -> grpc.StatusCode:
    """Waits for a client call's status code."""
    code: grpc.StatusCode = await call.code()
    return code


class ClientMetricsInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Counts and times every outgoing unary call by its final status code."""

    def __init__(self) -> None:
        self._children = _Children(CLIENT_HANDLED, CLIENT_HANDLING)

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        method = client_call_details.method
        full_method = method.decode() if isinstance(method, bytes) else method
        start = time.perf_counter()
        call = await continuation(client_call_details, request)
        try:
            code = await call_code(call)
        except asyncio.CancelledError:
            self._children.observe(
                full_method, grpc.StatusCode.CANCELLED, time.perf_counter() - start
            )
            raise
        self._children.observe(full_method, code, time.perf_counter() - start)
        return call
