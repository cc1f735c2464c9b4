"""Server side: one JSON log line per served call.

Fields: ``method``, ``code``, ``duration_ms``, ``peer``, plus ``trace_id`` and
``span_id`` of the active span (this layer runs inside the tracing layer),
and the fields every line has (``ts``, ``level``, ``logger``, ``msg``,
``service``, ``pid``). The line is built here from parts preformatted per
method and status code, and queued as text by services.runtime.logs
(``emit_line``; why, in its docstring). Health checks are not logged: probes
every few seconds would drown the lines that matter; their metrics still
count them.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import time
from typing import Any

import grpc
import grpc.aio
from opentelemetry import trace

from interceptors._base import UnaryBehavior, Wrap
from interceptors.metrics import status_code
from interceptors.tracing import served_span
from services.runtime.logs import emit_line

log = logging.getLogger("streammesh.rpc")

_QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def wrapper(service: str) -> Wrap:
    """A wrap that logs every call's method, status code, duration and peer."""
    service_json = json.dumps(service, ensure_ascii=False)
    pid = os.getpid()
    timestamps = _SecondStamps()
    peers = _JsonStrings()

    def wrap(behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
        if full_method.startswith(_QUIET_PREFIXES):
            return behavior
        method_json = json.dumps(full_method, ensure_ascii=False)
        # Everything of the line but the time, ids, duration and peer, per code.
        middles = {
            code: (
                f'"level":"INFO","logger":"{log.name}",'
                f'"msg":{json.dumps(f"{full_method} {code.name}", ensure_ascii=False)},'
                f'"service":{service_json},"pid":{pid},'
                f'"method":{method_json},"code":"{code.name}",'
            )
            for code in grpc.StatusCode
        }

        def write(code: grpc.StatusCode, seconds: float, context: grpc.aio.ServicerContext) -> None:
            if not log.isEnabledFor(logging.INFO):
                return
            # The tracing layer's span, else (no tracing layer) whatever is current.
            span_context = served_span.get() or trace.get_current_span().get_span_context()
            if span_context.is_valid:
                ids = (
                    f'"trace_id":"{span_context.trace_id:032x}",'
                    f'"span_id":"{span_context.span_id:016x}",'
                )
            else:
                ids = ""
            line = (
                f'{{"ts":"{timestamps.now()}",{middles[code]}{ids}'
                f'"duration_ms":{round(seconds * 1000, 3)!r},"peer":{peers.get(context.peer())}}}'
            )
            if not emit_line(log, line):
                _log_the_ordinary_way(service, full_method, code, seconds, context)

        perf_counter = time.perf_counter

        async def logged(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = perf_counter()
            try:
                response = await behavior(request, context)
            except grpc.aio.AbortError:
                write(status_code(context), perf_counter() - start, context)
                raise
            except asyncio.CancelledError:
                write(grpc.StatusCode.CANCELLED, perf_counter() - start, context)
                raise
            except BaseException:
                write(grpc.StatusCode.UNKNOWN, perf_counter() - start, context)
                raise
            write(grpc.StatusCode.OK, perf_counter() - start, context)
            return response

        return logged

    return wrap


def _log_the_ordinary_way(
    service: str,
    full_method: str,
    code: grpc.StatusCode,
    seconds: float,
    context: grpc.aio.ServicerContext,
) -> None:
    """Before configure_logging (tests, tools): a normal record with the same fields."""
    log.info(
        "%s %s",
        full_method,
        code.name,
        extra={
            "service": service,
            "method": full_method,
            "code": code.name,
            "duration_ms": round(seconds * 1000, 3),
            "peer": context.peer(),
        },
    )


class _SecondStamps:
    """ISO 8601 UTC timestamps with milliseconds; the part up to the second is reused."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            stamp = datetime.datetime.fromtimestamp(second, datetime.UTC)
            self._prefix = stamp.strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1000):03d}+00:00"


class _JsonStrings:
    """JSON-quoted strings, cached: a peer is the same for every call on a connection."""

    BOUND = 4096

    def __init__(self) -> None:
        self._quoted: dict[str, str] = {}

    def get(self, text: str) -> str:
        quoted = self._quoted.get(text)
        if quoted is None:
            if len(self._quoted) >= self.BOUND:
                self._quoted.clear()
            quoted = self._quoted[text] = json.dumps(text, ensure_ascii=False)
        return quoted
