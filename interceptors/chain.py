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
6. etag         tags the answers a shared cache may keep (PUBLIC GETs with
                no side effects) with a digest of their bytes; a raised
                error passes up untagged.
7. auth         SLOT for ``interceptors/auth.py`` (written with the users
                service): verifies the JWT and puts the caller's account id in
                a contextvar. Below errors, so its Unauthenticated maps like
                any domain error; above validation, so an anonymous caller
                learns nothing about field rules. Enabled by passing
                ``auth=`` to :func:`server_interceptors`.
8. validation   the contract's field rules of the request, before the handler.

How they run: each concern module exposes a *wrap* (``behavior, method ->
behavior``) and :class:`ChainInterceptor`, ONE grpc.aio server interceptor,
applies all of them once per method and keeps the result in a dict. Every
grpc.aio interceptor costs an awaited ``intercept_service`` and a handler
lookup per call, so eight interceptors cost eight; composed, the per-call
work is one dict lookup plus the layers themselves. An auth interceptor
that is not built on :class:`interceptors._base.UnaryServerInterceptor`
(so has no ``wrap``) still works: the chain is then split around it.

What it covers: unary-unary RPCs, all eight layers. Every RPC of our
contracts is unary, and that is enforced rather than assumed:
:func:`require_unary` (called by the server runtime before it serves)
refuses a service of ours (``streammesh.*``) with a streaming method, and a
streaming method of ours that reaches the chain anyway (registered without
being named to the runtime) is answered UNIMPLEMENTED, never served
outside the layers. Streaming methods of stock services (health ``Watch``,
reflection) pass through the layers untouched; only the auth slot checks
them (both are public there).

Client chain, outermost first:

1. tracing      the client span; injects ``traceparent`` into the metadata.
2. metrics      one observation per logical call, as the caller sees it.
3. deadlines    turns the incoming deadline (or the default) into the call's
                timeout, once, so retries below share one deadline.
4. retry        attempts within that deadline and the target's budget; each
                attempt is an event on the span opened by (1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor_pool

from interceptors import access_log, deadlines, errors, etag, metrics, tracing, validation
from interceptors._base import Continuation, UnaryServerInterceptor, Wrap
from interceptors.deadlines import DeadlineClientInterceptor
from interceptors.metrics import ClientMetricsInterceptor
from interceptors.retry import RetryClientInterceptor
from services.runtime.config import ServerConfig

# (name, wrap): the name lets benchmarks leave one layer out.
Layer = tuple[str, Wrap]

# Full names of our services start with this; stock ones (grpc.health.v1...) do not.
OUR_SERVICES_PREFIX = "streammesh."
_UNARY_ONLY = (
    "the server chain (tracing, deadlines, metrics, access log, errors, etag, auth, "
    "validation) covers unary RPCs only"
)


class StreamingNotCovered(ValueError):
    """A service of ours has a streaming method, which the chain would not cover."""


def require_unary(
    service_names: Iterable[str], pool: descriptor_pool.DescriptorPool | None = None
) -> None:
    """Raises :class:`StreamingNotCovered` naming the first streaming method of a service
    of ours among ``service_names``, looked up in ``pool`` (default: the default pool,
    which the generated ``*_pb2`` modules fill); other services are not checked.
    A service of ours missing from the pool cannot be checked, so it is refused too.
    """
    pool = descriptor_pool.Default() if pool is None else pool
    for name in service_names:
        if not name.startswith(OUR_SERVICES_PREFIX):
            continue
        try:
            service = pool.FindServiceByName(name)
        except KeyError:
            raise StreamingNotCovered(
                f"{name}: no descriptor in the descriptor pool, so its methods cannot be "
                f"checked ({_UNARY_ONLY}); import its generated _pb2 module first"
            ) from None
        for method in service.methods:
            if method.client_streaming or method.server_streaming:
                raise StreamingNotCovered(
                    f"{name}/{method.name} is a {_shape(method)} streaming RPC: {_UNARY_ONLY}; "
                    "make it unary, or extend interceptors/chain.py to streaming first"
                )


def _shape(method: Any) -> str:
    if method.client_streaming and method.server_streaming:
        return "bidirectional"
    return "client" if method.client_streaming else "server"


def server_layers(
    config: ServerConfig, *, auth: grpc.aio.ServerInterceptor | None = None
) -> list[Layer]:
    """The server chain's layers for ``config.service``, outermost first (see module docstring).

    ``auth`` must be a UnaryServerInterceptor here (it contributes its ``wrap``).
    """
    layers: list[Layer] = [
        ("tracing", tracing.server_wrapper()),
        ("deadlines", deadlines.wrap_server),
        ("metrics", metrics.server_wrapper()),
    ]
    if config.access_log:
        layers.append(("access_log", access_log.wrapper(config.service)))
    layers.append(("errors", errors.wrapper(config.service)))
    layers.append(("etag", etag.wrap))
    if auth is not None:
        if not isinstance(auth, UnaryServerInterceptor):
            raise TypeError("server_layers: auth must be a UnaryServerInterceptor")
        layers.append(("auth", auth.wrap))
    layers.append(("validation", validation.wrap))
    return layers


class ChainInterceptor(grpc.aio.ServerInterceptor):
    """Runs ``layers`` (outermost first) around every unary method, composed once per method.

    A streaming method of ours is refused with UNIMPLEMENTED (see the module
    docstring). Other streaming methods (the stock health Watch and
    reflection) pass through the layers untouched; ``streaming_auth`` (the
    auth slot's interceptor) still checks them.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        streaming_auth: grpc.aio.ServerInterceptor | None = None,
    ) -> None:
        self._layers = tuple(layers)
        self._streaming_auth = streaming_auth
        # method -> (inner handler, composed handler); bounded by the registered
        # methods, since an unknown method has no handler and is never cached.
        self._composed: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._layers)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        cached = self._composed.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        if handler.request_streaming or handler.response_streaming:
            if method.startswith("/" + OUR_SERVICES_PREFIX):
                refused = _refused(handler, method)
                self._composed[method] = (handler, refused)
                return refused
            if self._streaming_auth is None:
                return handler
            return await self._streaming_auth.intercept_service(
                lambda _: _ready(handler), handler_call_details
            )
        behavior = handler.unary_unary
        for _, wrap in reversed(self._layers):
            behavior = wrap(behavior, method)
        composed = grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._composed[method] = (handler, composed)
        return composed


async def _ready(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    return handler


def _refused(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape that answers UNIMPLEMENTED without running the behavior."""
    message = f"{method.lstrip('/')} is not served: {_UNARY_ONLY}"

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse, **serializers)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse, **serializers)
    return grpc.stream_stream_rpc_method_handler(refuse, **serializers)


def server_interceptors(
    config: ServerConfig, *, auth: grpc.aio.ServerInterceptor | None = None
) -> list[grpc.aio.ServerInterceptor]:
    """The server chain for ``config.service`` (see module docstring): one interceptor.

    Two, split around ``auth``, when ``auth`` has no ``wrap`` to compose.
    """
    if auth is None or isinstance(auth, UnaryServerInterceptor):
        return [ChainInterceptor(server_layers(config, auth=auth), streaming_auth=auth)]
    layers = server_layers(config)
    outer, inner = layers[:-1], layers[-1:]
    return [ChainInterceptor(outer), auth, ChainInterceptor(inner)]


def client_interceptors(config: ServerConfig, target: str) -> list[Any]:
    """The client chain for calls to ``target``, outermost first (see module docstring)."""
    return [
        *tracing.client_interceptors(),
        ClientMetricsInterceptor(),
        DeadlineClientInterceptor(config.default_deadline_seconds, config.deadline_margin_seconds),
        RetryClientInterceptor(target, config.retry),
    ]
