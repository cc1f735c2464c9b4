"""The shape shared by our server interceptors: wrap a method's behavior once.

grpc.aio asks every interceptor for the handler on every call. Wrapping the
handler anew each time (what most examples do) allocates a handler and a
closure per call per interceptor; :class:`UnaryServerInterceptor` wraps each
method once and reuses the wrapper while the inner handler stays the same
object, so a layer costs one extra coroutine per call.

Only unary-unary behaviors are wrapped: every RPC in the mesh's contracts is
unary. Streaming handlers (the stock health ``Watch`` and reflection) pass
through unchanged; tracing, which comes from OpenTelemetry, covers them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
# One concern: wraps a method's behavior once, given its full name.
Wrap = Callable[[UnaryBehavior, str], UnaryBehavior]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


def split_method(full_method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


class UnaryServerInterceptor(grpc.aio.ServerInterceptor):
    """Base class: subclasses implement :meth:`wrap` for one concern."""

    def __init__(self) -> None:
        # method -> (inner handler, our wrapper); bounded by the registered methods
        # because unknown methods have no handler and are never cached.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def wrap(self, behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
        """Returns the behavior with this concern around it."""
        raise NotImplementedError

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            self.wrap(handler.unary_unary, method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped
