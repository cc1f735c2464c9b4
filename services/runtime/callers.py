"""Calling another service on the caller's behalf: what is forwarded, how refusals come back.

A service that answers an owner RPC by asking another service (browse and
history ask users for the profile) forwards the CALLER's own token, so the
other service's ownership check is also this one's: a profile of another
account is refused there, for the same reason, whichever port the caller
came in through. :func:`caller_metadata` picks what is forwarded out of the
incoming call; :func:`call` awaits the outgoing call and turns its failure
into the domain error it stands for (services.runtime.rpc_errors), which the
error layer of this server sends on like any other.

Imports neither ``interceptors`` nor the client runtime, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Final, TypeVar

import grpc
import grpc.aio

from services.runtime.rpc_errors import from_rpc_error

T = TypeVar("T")

# Metadata sent on a call made for a caller: text keys and values.
Metadata = tuple[tuple[str, str], ...]

# What is forwarded: the caller's credentials, nothing else. Trace context and
# deadlines travel through the client chain (interceptors/chain.py) instead.
FORWARDED_KEYS: Final = ("authorization",)


def caller_metadata(context: grpc.aio.ServicerContext) -> Metadata:
    """The incoming call's metadata to forward (its ``authorization`` header)."""
    return forwarded(context.invocation_metadata() or ())


def forwarded(metadata: Iterable[tuple[str, str | bytes]]) -> Metadata:
    """The entries of ``metadata`` to forward; binary values are never forwarded."""
    return tuple(
        (key, value) for key, value in metadata if key in FORWARDED_KEYS and isinstance(value, str)
    )


async def call(awaitable: Awaitable[T], *, service: str) -> T:
    """The answer of a call to ``service``; its failure as a domain error.

    The dependency's refusals (a foreign profile, a bad id, an unknown title)
    come back as what they are, with their field violations; any other
    failure is this call's dependency failing: Unavailable, reason
    ``DEPENDENCY_FAILED`` (see services.runtime.rpc_errors).
    """
    try:
        return await awaitable
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err, service=service) from err
