"""The one place where the interceptor chains are composed, and in what order.

Server chain, outermost first (a call passes down this list, its status back up):

1. tracing      opens the span (continuing the caller's ``traceparent``) so
                every layer below, and the handler, logs and calls inside it.
2. deadlines    publishes the incoming deadline for the handler's own calls.
3. metrics      times the call and counts it by its final status code, so it
                sits outside the error mapping that decides that code.
4. access_log   one JSON line per call with that code and the trace id.
5. errors       turns whatever is raised below into a status with details;
                everything under it may simply raise a domain error.
6. auth         SLOT for ``interceptors/auth.py`` (written with the users
                service): verifies the JWT and puts the caller's account id in
                a contextvar. Below errors, so its Unauthenticated maps like
                any domain error; above validation, so an anonymous caller
                learns nothing about field rules. Enabled by passing
                ``auth=`` to :func:`server_interceptors`.
7. validation   protovalidate rules of the request, before the handler runs.

Client chain, outermost first:

1. tracing      the client span; injects ``traceparent`` into the metadata.
2. metrics      one observation per logical call, as the caller sees it.
3. deadlines    turns the incoming deadline (or the default) into the call's
                timeout, once, so retries below share one deadline.
4. retry        attempts within that deadline and the target's budget; each
                attempt is an event on the span opened by (1).
"""

from __future__ import annotations

from typing import Any

import grpc.aio

from interceptors import tracing
from interceptors.access_log import AccessLogInterceptor
from interceptors.deadlines import DeadlineClientInterceptor, DeadlineServerInterceptor
from interceptors.errors import ErrorMappingInterceptor
from interceptors.metrics import ClientMetricsInterceptor, ServerMetricsInterceptor
from interceptors.retry import RetryClientInterceptor
from interceptors.validation import ValidationInterceptor
from services.runtime.config import ServerConfig


def server_interceptors(
    config: ServerConfig, *, auth: grpc.aio.ServerInterceptor | None = None
) -> list[grpc.aio.ServerInterceptor]:
    """The server chain for ``config.service``, outermost first (see module docstring)."""
    chain: list[grpc.aio.ServerInterceptor] = [
        tracing.server_interceptor(),
        DeadlineServerInterceptor(),
        ServerMetricsInterceptor(),
    ]
    if config.access_log:
        chain.append(AccessLogInterceptor(config.service))
    chain.append(ErrorMappingInterceptor(config.service))
    if auth is not None:
        chain.append(auth)
    chain.append(ValidationInterceptor())
    return chain


def client_interceptors(config: ServerConfig, target: str) -> list[Any]:
    """The client chain for calls to ``target``, outermost first (see module docstring)."""
    return [
        *tracing.client_interceptors(),
        ClientMetricsInterceptor(),
        DeadlineClientInterceptor(config.default_deadline_seconds, config.deadline_margin_seconds),
        RetryClientInterceptor(target, config.retry),
    ]
