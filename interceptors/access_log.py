"""Server side: one JSON log line per served call.

Fields: ``method``, ``code``, ``duration_ms``, ``peer``, plus ``trace_id`` and
``span_id`` stamped by services.runtime.logs from the active span (this layer
runs inside the tracing layer). Health checks are not logged: probes every few
seconds would drown the lines that matter; their metrics still count them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc
import grpc.aio

from interceptors._base import UnaryBehavior, UnaryServerInterceptor, Wrap
from interceptors.metrics import status_code

log = logging.getLogger("streammesh.rpc")

_QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def wrapper(service: str) -> Wrap:
    """A wrap that logs every call's method, status code, duration and peer."""

    def wrap(behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
        if full_method.startswith(_QUIET_PREFIXES):
            return behavior

        async def logged(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await behavior(request, context)
                code = grpc.StatusCode.OK
                return response
            except grpc.aio.AbortError:
                code = status_code(context)
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            finally:
                if log.isEnabledFor(logging.INFO):
                    log.info(
                        "%s %s",
                        full_method,
                        code.name,
                        extra={
                            "service": service,
                            "method": full_method,
                            "code": code.name,
                            "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                            "peer": context.peer(),
                        },
                    )

        return logged

    return wrap


class AccessLogInterceptor(UnaryServerInterceptor):
    """Logs every call's method, status code, duration and peer (as its own interceptor)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._wrap = wrapper(service)

    def wrap(self, behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
        return self._wrap(behavior, full_method)
