"""Authentication: who is calling, from ``authorization: Bearer <jwt>``.

The interceptor verifies the access token the users service issued (ES256
signature, ``exp``, ``iat``, ``iss``, ``sub``) on every method not declared
public, and puts the caller's account id in a context variable that handlers
read with :func:`current_account_id` / :func:`require_account_id`. It checks
identity only; whether that account may touch a resource (ownership) is the
domain's decision, because only the domain knows whose resource it is.

Which methods are public is declared in the contracts, by each RPC's
``option (streammesh.options.v1.visibility)`` (read through
:mod:`services.runtime.visibility`), the same option the edge renders its
routes and JWT rules from:

* ``VISIBILITY_PUBLIC``: served without looking at the token at all.
* ``VISIBILITY_OWNER``: a valid token is required; the domain then checks
  that its account owns the resource.
* ``VISIBILITY_INTERNAL``: not public either, so on a service that installs
  this interceptor a valid token is required, exactly as for an owner method.
  The interceptor never guesses that a call comes from a peer service: the
  mesh has no service identity (no mTLS) it could check. Services whose
  internal RPCs peers call without a user token (catalog today) install
  no auth interceptor; what keeps those RPCs from devices is that the edge
  never routes them and that service ports are reachable only from inside the
  mesh (loopback locally, the pod network in Kubernetes).

It runs in every service, so it must not matter whether a call came through
the edge or straight to the service port: the edge's own JWT check is an
early reject, this one is the guarantee.

Where the public keys come from (:class:`KeySource`):

* :class:`StaticKeySource` - the users service verifies with its own keys.
* :class:`GrpcJwksKeySource` - any other service asks the users service's
  ``GetJwks`` RPC, caches the set for ``ttl_seconds`` and refetches early
  (at most every ``min_refresh_seconds``) when a token names an unknown
  ``kid``, which is how a key rotation reaches it. This works across pods
  and machines, unlike a file.
* :class:`JwksFileKeySource` - a JWK Set file (the users service writes
  ``<key_dir>/jwks.json``), for tools and single-host setups.

Revocation (:class:`SessionCheck`): every access token names its device
session (claim ``sid``), and a verifier given a session check accepts it only
while the session is live. Signatures are still remembered (an ES256 check is
the expensive part), but a session's liveness is remembered for at most the
revocation bound (``DEFAULT_REVOCATION_BOUND_SECONDS``, 5 s), after which the
next call with its tokens asks again: the users service looks in its session
store (:class:`services.users.sessions.SessionStore`), every other service
asks the users service's ``CheckSession`` RPC (:class:`GrpcSessionLookup`). So
a revoked session's access tokens stop working within the bound on every
port, the edge's included (the edge forwards every owner call to a service
that checks). When the session cannot be checked (users or its Redis down)
and the remembered answer is older than the bound, the call fails closed
with UNAVAILABLE.

Failures raise :class:`services.runtime.errors.Unauthenticated` inside the
handler's call, so the error interceptor maps them like any other error.
The message never says which check failed beyond "expired", "invalid" and
"signed out".
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol

import grpc
import grpc.aio
import jwt
from jwt.algorithms import ECAlgorithm

from interceptors._base import Continuation, UnaryBehavior, UnaryServerInterceptor
from services.runtime.errors import Unauthenticated, Unavailable
from services.runtime.visibility import (
    PUBLIC,
    UndeclaredVisibilityError,
    UnknownMethodError,
    visibility_of,
)

log = logging.getLogger(__name__)

ALGORITHMS: Final = ("ES256",)
DEFAULT_ISSUER: Final = "streammesh-users"
# Clock skew tolerated between the issuer and this service.
DEFAULT_LEEWAY_SECONDS: Final = 5.0
# Verified tokens remembered per process (see TokenVerifier).
DEFAULT_VERIFIED_CACHE_SIZE: Final = 10_000
DEFAULT_VERIFIED_CACHE_SECONDS: Final = 60.0
# Longest header value we parse; a JWT of ours is ~300 bytes.
MAX_TOKEN_BYTES: Final = 4096
# How long a process may go on accepting the access tokens of a revoked
# session: a session found live is remembered this long (SessionCheck).
DEFAULT_REVOCATION_BOUND_SECONDS: Final = 5.0
# Sessions remembered per process (least recently used evicted).
DEFAULT_SESSION_CACHE_SIZE: Final = 100_000
# Methods of the stock services every server exposes without a token.
ALWAYS_PUBLIC_PREFIXES: Final = ("/grpc.health.v1.Health/", "/grpc.reflection.")

_current_account: ContextVar[str | None] = ContextVar("streammesh_account_id", default=None)
_current_session: ContextVar[str | None] = ContextVar("streammesh_session_id", default=None)


def current_session_id() -> str | None:
    """The device session of the verified caller's token, or None (public method, or
    a token without one)."""
    return _current_session.get()


def current_account_id() -> str | None:
    """The verified caller's account id in this call, or None (public method)."""
    return _current_account.get()


def require_account_id() -> str:
    """The verified caller's account id; UNAUTHENTICATED when there is none.

    Owner routes call this so they fail closed even if a server was built
    without the interceptor.
    """
    account_id = _current_account.get()
    if account_id is None:
        raise Unauthenticated("a valid access token is required", reason="TOKEN_MISSING")
    return account_id


PublicKey = Any


class KeySource(Protocol):
    async def key(self, kid: str) -> PublicKey | None:
        """The public key with this ``kid``, or None when it is not (or no longer) known."""
        ...


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, PublicKey]:
    """Parses a JWK Set into ``{kid: public key}``; skips keys we cannot use."""
    keys: dict[str, PublicKey] = {}
    for jwk in document.get("keys", []):
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "EC" or not jwk.get("kid"):
            continue
        if jwk.get("alg", "ES256") not in ALGORITHMS:
            continue
        keys[str(jwk["kid"])] = ECAlgorithm.from_jwk(json.dumps(dict(jwk)))
    return keys


class StaticKeySource:
    """Keys known up front (the issuer's own)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = keys_from_jwks(jwks)

    async def key(self, kid: str) -> PublicKey | None:
        return self._keys.get(kid)


class _RefreshingKeySource:
    """A cached JWK Set refetched when stale or when an unknown kid shows up."""

    def __init__(self, *, ttl_seconds: float, min_refresh_seconds: float) -> None:
        self._ttl_seconds = ttl_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _fetch(self) -> Mapping[str, Any]:
        raise NotImplementedError

    async def key(self, kid: str) -> PublicKey | None:
        now = time.monotonic()
        known = self._keys.get(kid)
        stale = now - self._fetched_at > self._ttl_seconds
        may_refresh = now - self._fetched_at > self._min_refresh_seconds
        if (known is None and may_refresh) or stale:
            async with self._lock:
                # Another caller may have refreshed while this one waited.
                if time.monotonic() - self._fetched_at > self._min_refresh_seconds:
                    await self._refresh()
            known = self._keys.get(kid)
        return known

    async def _refresh(self) -> None:
        try:
            document = await self._fetch()
        except (grpc.RpcError, OSError, ValueError) as err:
            if not self._keys:
                raise Unavailable(
                    "the token verification keys cannot be fetched", reason="JWKS_UNAVAILABLE"
                ) from err
            # Keep verifying with the keys we have; retry after min_refresh.
            log.warning("JWK Set refresh failed; using cached keys", extra={"error": str(err)})
            self._fetched_at = time.monotonic()
            return
        self._keys = keys_from_jwks(document)
        self._fetched_at = time.monotonic()


class JwksFileKeySource(_RefreshingKeySource):
    """Keys from a JWK Set file, reread when stale or on an unknown kid."""

    def __init__(
        self, path: Path, *, ttl_seconds: float = 60.0, min_refresh_seconds: float = 5.0
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, min_refresh_seconds=min_refresh_seconds)
        self._path = path

    async def _fetch(self) -> Mapping[str, Any]:
        text = await asyncio.to_thread(self._path.read_text)
        document = json.loads(text)
        if not isinstance(document, Mapping):
            raise ValueError(f"{self._path} is not a JWK Set")
        return document


class GrpcJwksKeySource(_RefreshingKeySource):
    """Keys from the users service's GetJwks RPC over ``channel``."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        ttl_seconds: float = 300.0,
        min_refresh_seconds: float = 30.0,
        timeout_seconds: float = 2.0,
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, min_refresh_seconds=min_refresh_seconds)
        # Imported here so services that never verify tokens need no users stubs.
        from streammesh.users.v1 import users_pb2, users_pb2_grpc

        self._stub = users_pb2_grpc.UserServiceStub(channel)
        self._request = users_pb2.GetJwksRequest()
        self._timeout_seconds = timeout_seconds

    async def _fetch(self) -> Mapping[str, Any]:
        response = await self._stub.GetJwks(self._request, timeout=self._timeout_seconds)
        return {
            "keys": [
                {
                    "kty": key.kty,
                    "crv": key.crv,
                    "x": key.x,
                    "y": key.y,
                    "kid": key.kid,
                    "alg": key.alg or "ES256",
                    "use": key.use,
                }
                for key in response.keys
            ]
        }


class SessionLookup(Protocol):
    async def live_account(self, session_id: str, token: str) -> str | None:
        """The account of the session when it is live, None when it is revoked or
        unknown; raises Unavailable when it cannot be told."""
        ...


class SessionCheck:
    """Accepts a token's session while it is live, asking ``lookup`` at most once per
    ``bound_seconds`` per session (see the module docstring).

    Concurrent calls of one session whose answer has lapsed share one lookup.
    Revoked sessions are not remembered: their tokens fail at the lookup.
    """

    def __init__(
        self,
        lookup: SessionLookup,
        *,
        bound_seconds: float = DEFAULT_REVOCATION_BOUND_SECONDS,
        cache_size: int = DEFAULT_SESSION_CACHE_SIZE,
    ) -> None:
        self.lookup = lookup
        self.bound_seconds = bound_seconds
        self._cache_size = cache_size
        # session id -> (account id, monotonic time it was found live)
        self._live: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[str | None]] = {}

    def forget(self, *session_ids: str) -> None:
        """Drops what this process remembers of these sessions (revoked here)."""
        for session_id in session_ids:
            self._live.pop(session_id, None)

    async def require_live(self, session_id: str, account_id: str, token: str) -> None:
        remembered = self._live.get(session_id)
        if remembered is not None and time.monotonic() - remembered[1] < self.bound_seconds:
            if remembered[0] != account_id:
                raise _signed_out()
            return
        pending = self._pending.get(session_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._pending[session_id] = pending
            try:
                live = await self.lookup.live_account(session_id, token)
            except BaseException as err:
                pending.set_exception(err)
                # Nobody else may be waiting: the exception is retrieved here.
                pending.exception()
                raise
            finally:
                del self._pending[session_id]
            pending.set_result(live)
        else:
            live = await asyncio.shield(pending)
        if live is None:
            self._live.pop(session_id, None)
            raise _signed_out()
        self._live[session_id] = (live, time.monotonic())
        self._live.move_to_end(session_id)
        if len(self._live) > self._cache_size:
            self._live.popitem(last=False)
        if live != account_id:
            raise _signed_out()


class GrpcSessionLookup:
    """Asks the users service's CheckSession RPC, with the token being checked."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout_seconds: float = 2.0) -> None:
        from streammesh.users.v1 import users_pb2, users_pb2_grpc

        self._stub = users_pb2_grpc.UserServiceStub(channel)
        self._request = users_pb2.CheckSessionRequest()
        self._timeout_seconds = timeout_seconds

    async def live_account(self, session_id: str, token: str) -> str | None:
        try:
            answer = await self._stub.CheckSession(
                self._request,
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=self._timeout_seconds,
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNAUTHENTICATED:
                return None
            raise Unavailable(
                "the access token's session cannot be checked", reason="SESSION_CHECK_UNAVAILABLE"
            ) from err
        if answer.session_id != session_id:
            return None
        return str(answer.account_id)


class Identity(NamedTuple):
    """The verified caller."""

    account_id: str
    # The token's device session ("" for a token without one).
    session_id: str


class TokenVerifier:
    """Checks an access token and returns the account id it was issued to.

    An ES256 signature check costs about 250 us of CPU here, more than the
    rest of a cached read, and a client sends the same token on every call
    for its lifetime. So verified tokens are remembered, at most
    ``cache_size`` of them (least recently used evicted) and for at most
    ``cache_seconds``: a remembered token is still refused after its ``exp``,
    and a key withdrawn from the key source stops being accepted within
    ``cache_seconds``. Failures are never remembered.

    With ``sessions``, a token must name a device session (``sid``) that the
    check finds live, on every call, remembered signature or not: revocation
    is bounded by the check's bound, not by ``cache_seconds``.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str = DEFAULT_ISSUER,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        cache_size: int = DEFAULT_VERIFIED_CACHE_SIZE,
        cache_seconds: float = DEFAULT_VERIFIED_CACHE_SECONDS,
        sessions: SessionCheck | None = None,
    ) -> None:
        self.keys = keys
        self.sessions = sessions
        self.issuer = issuer
        self.leeway_seconds = leeway_seconds
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds
        # token -> (identity, expiry as Unix time, when it was verified, monotonic)
        self._verified: OrderedDict[str, tuple[Identity, float, float]] = OrderedDict()

    async def verify(self, token: str) -> str:
        """The account id the token was issued to (see :meth:`identify`)."""
        return (await self.identify(token)).account_id

    async def identify(self, token: str) -> Identity:
        """The token's account and session; Unauthenticated when it is not (or no
        longer) good, Unavailable when its session cannot be checked."""
        identity = self._remembered(token)
        if identity is None:
            identity, expires_at = await self._verify(token)
            if self._cache_size > 0:
                self._verified[token] = (identity, expires_at, time.monotonic())
                if len(self._verified) > self._cache_size:
                    self._verified.popitem(last=False)
        if self.sessions is not None:
            if not identity.session_id:
                raise _invalid()
            await self.sessions.require_live(identity.session_id, identity.account_id, token)
        return identity

    def _remembered(self, token: str) -> Identity | None:
        remembered = self._verified.get(token)
        if remembered is None:
            return None
        identity, expires_at, verified_at = remembered
        if (
            time.time() < expires_at + self.leeway_seconds
            and time.monotonic() - verified_at < self._cache_seconds
        ):
            self._verified.move_to_end(token)
            return identity
        del self._verified[token]
        return None

    async def _verify(self, token: str) -> tuple[Identity, float]:
        if len(token) > MAX_TOKEN_BYTES:
            raise _invalid()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as err:
            raise _invalid() from err
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in ALGORITHMS:
            raise _invalid()
        key = await self.keys.key(kid)
        if key is None:
            raise _invalid()
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError as err:
            raise Unauthenticated("the access token has expired", reason="TOKEN_EXPIRED") from err
        except jwt.InvalidTokenError as err:
            raise _invalid() from err
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.isdigit():
            raise _invalid()
        session_id = claims.get("sid", "")
        if not isinstance(session_id, str):
            raise _invalid()
        return Identity(subject, session_id), float(claims["exp"])


def _invalid() -> Unauthenticated:
    return Unauthenticated("the access token is invalid", reason="TOKEN_INVALID")


def _signed_out() -> Unauthenticated:
    return Unauthenticated(
        "the access token's session has been signed out", reason="SESSION_REVOKED"
    )


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of the ``authorization: Bearer <token>`` header, if present."""
    for key, value in metadata or ():
        if key != "authorization":
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return None


class AuthInterceptor(UnaryServerInterceptor):
    """Requires a valid access token on every method not declared public.

    By default (``public_methods`` None) a method is public iff its contract
    declares ``VISIBILITY_PUBLIC``; the service's generated ``*_pb2`` module
    must be imported (every server imports its own). A method the contracts
    do not know, or one that declares no visibility, is not public: this
    fails closed, and tests/contracts keeps every RPC declared. Given
    ``public_methods`` (full names, ``/pkg.Service/Method``), exactly those
    are public instead. Health checks and reflection are always public. A
    public method is served without looking at the token at all. Streaming
    methods (none in our contracts but the stock health Watch) are checked
    too, so a new one can never be left open by accident.
    """

    def __init__(
        self, verifier: TokenVerifier, public_methods: Iterable[str] | None = None
    ) -> None:
        super().__init__()
        self._verifier = verifier
        self._public = None if public_methods is None else frozenset(public_methods)
        # method -> public, as its contract says; bounded by the contracts'
        # methods, since a name the contracts do not know is never remembered.
        self._declared: dict[str, bool] = {}

    def is_public(self, method: str) -> bool:
        if method.startswith(ALWAYS_PUBLIC_PREFIXES):
            return True
        if self._public is not None:
            return method in self._public
        public = self._declared.get(method)
        if public is None:
            public = self._declared_public(method)
        return public

    def _declared_public(self, method: str) -> bool:
        try:
            public = visibility_of(method) == PUBLIC
        except UnknownMethodError:
            # Not a contract method (another stock service, or a name no
            # server has: UNIMPLEMENTED follows). Never public, never cached.
            return False
        except UndeclaredVisibilityError as err:
            log.error("method declares no visibility; requiring a token", extra={"error": str(err)})
            public = False
        self._declared[method] = public
        return public

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        if self.is_public(method):
            return await continuation(handler_call_details)
        handler = await super().intercept_service(continuation, handler_call_details)
        if handler is not None and (handler.request_streaming or handler.response_streaming):
            return _wrap_streaming(handler, self._authenticate)
        return handler

    def wrap(self, behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
        if self.is_public(full_method):
            return behavior
        authenticate = self._authenticate

        async def authenticated(request: Any, context: grpc.aio.ServicerContext) -> Any:
            # Checked inside the call, not in intercept_service, so the error
            # reaches the error interceptor above and the context variable is
            # set in the task that runs the handler.
            identity = await authenticate(context)
            reset = _current_account.set(identity.account_id)
            reset_session = _current_session.set(identity.session_id or None)
            try:
                return await behavior(request, context)
            finally:
                _current_session.reset(reset_session)
                _current_account.reset(reset)

        return authenticated

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> Identity:
        token = bearer_token(context.invocation_metadata())
        if token is None:
            raise Unauthenticated("a valid access token is required", reason="TOKEN_MISSING")
        return await self._verifier.identify(token)


def _wrap_streaming(
    handler: grpc.RpcMethodHandler,
    authenticate: Callable[[grpc.aio.ServicerContext], Awaitable[Identity]],
) -> grpc.RpcMethodHandler:
    def wrap(behavior: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behavior):

            async def generator(
                request: Any, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                reset = _current_account.set((await authenticate(context)).account_id)
                try:
                    async for response in behavior(request, context):
                        yield response
                finally:
                    _current_account.reset(reset)

            return generator

        async def coroutine(request: Any, context: grpc.aio.ServicerContext) -> Any:
            reset = _current_account.set((await authenticate(context)).account_id)
            try:
                return await behavior(request, context)
            finally:
                _current_account.reset(reset)

        return coroutine

    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), **serializers)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), **serializers)
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), **serializers)
