"""The shape of a server-side concern: wrap a unary method's behavior once.

A layer is a :data:`Wrap` (``behavior, full method -> behavior``);
interceptors/chain.py composes the layers (tracing, deadlines, metrics,
access log, errors, auth, validation) into ONE grpc.aio interceptor, once
per method. :class:`UnaryServerInterceptor` is the same idea for an
interceptor that must also stand alone: interceptors/auth.py, the chain's
auth slot, which checks streaming methods too. grpc.aio asks every
interceptor for the handler on every call; wrapping the handler anew each
time (what most examples do) allocates a handler and a closure per call per
interceptor, so both wrap each method once and reuse the wrapper while the
inner handler stays the same object.

What is covered: unary-unary behaviors only. Every RPC of our contracts is
unary, and the chain enforces it (interceptors/chain.py: a service of ours
with a streaming method is refused at start, and answered UNIMPLEMENTED if
it is reached anyway). Streaming handlers of stock services (the health
``Watch``, reflection) pass through the layers unchanged: not traced,
timed, logged or error-mapped.
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
    """Base of a standalone interceptor for one concern: subclasses implement :meth:`wrap`.

    Streaming handlers are returned as they are; a subclass that must see
    them (auth) overrides :meth:`intercept_service` as well.
    """

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
