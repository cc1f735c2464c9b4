"""Deadlines: an incoming call's deadline bounds every call it makes.

Server side, :func:`wrap_server` (a layer of interceptors/chain.py) records
when the incoming call expires (``time.monotonic()`` clock) in a contextvar
for the handler's task.
Client side, :class:`DeadlineClientInterceptor` gives each outgoing call the
smallest of: the timeout the caller passed, and the incoming deadline less a
margin (so our own reply still makes it back). A call made outside any
incoming deadline without a timeout gets the configured default; no call in
the mesh ever waits forever.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from interceptors._base import UnaryBehavior

# Absolute monotonic time at which the call being served expires.
incoming_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "streammesh_incoming_deadline", default=None
)

# Below this an outgoing call cannot succeed; it still goes out (and fails with
# DEADLINE_EXCEEDED at once) so the failure looks like any other expiry.
_MIN_TIMEOUT_SECONDS = 0.001


def remaining_seconds() -> float | None:
    """Seconds left on the call being served, or None outside one / without a deadline."""
    deadline = incoming_deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def wrap_server(behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
    """The behavior with the incoming deadline published to its outgoing calls."""

    async def bounded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        remaining = context.time_remaining()
        if remaining is None:
            return await behavior(request, context)
        token = incoming_deadline.set(time.monotonic() + remaining)
        try:
            return await behavior(request, context)
        finally:
            incoming_deadline.reset(token)

    return bounded


def outgoing_timeout(requested: float | None, default: float, margin: float) -> float:
    """The timeout an outgoing call gets (see the module docstring)."""
    deadline = incoming_deadline.get()
    if deadline is not None:
        inherited = deadline - time.monotonic() - margin
        timeout = inherited if requested is None else min(requested, inherited)
    else:
        timeout = default if requested is None else requested
    return max(timeout, _MIN_TIMEOUT_SECONDS)


def with_timeout(
    details: grpc.aio.ClientCallDetails, timeout: float | None
) -> grpc.aio.ClientCallDetails:
    return grpc.aio.ClientCallDetails(
        details.method, timeout, details.metadata, details.credentials, details.wait_for_ready
    )


class DeadlineClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Sets every outgoing unary call's timeout from the incoming deadline or the default.

    Unary only, like every RPC of the mesh (grpc.aio files an interceptor
    under its first matching call shape, so one class cannot serve them all).
    """

    def __init__(self, default_seconds: float, margin_seconds: float) -> None:
        self._default = default_seconds
        self._margin = margin_seconds

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        timeout = outgoing_timeout(client_call_details.timeout, self._default, self._margin)
        return await continuation(with_timeout(client_call_details, timeout), request)
