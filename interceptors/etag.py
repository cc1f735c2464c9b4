"""ETag on the answers a shared cache may keep (PUBLIC, read-only, GET).

The tag is a digest of the answer's deterministic wire bytes, sent as the
``etag`` response header (gRPC initial metadata, which the edge's transcoder
passes on as an HTTP header). Two answers carry the same tag exactly when
their content is the same, so the edge's cache and a CDN or browser beyond
it can tell a changed answer from a repeat. Other methods get no tag: their
answers are never kept by a shared cache (services/edge/caching.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

import grpc.aio

from interceptors._base import UnaryBehavior
from services.runtime.visibility import shared_cacheable

# 96 bits: collisions between two versions of one answer are out of reach.
DIGEST_BYTES = 12


def etag_of(response: Any) -> str:
    """The strong validator of ``response`` (RFC 9110 8.8.3): a quoted digest."""
    digest = hashlib.blake2b(
        response.SerializeToString(deterministic=True), digest_size=DIGEST_BYTES
    ).hexdigest()
    return f'"{digest}"'


def wrap(behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
    if not shared_cacheable(full_method):
        return behavior

    async def tagged(request: Any, context: grpc.aio.ServicerContext) -> Any:
        response = await behavior(request, context)
        await context.send_initial_metadata((("etag", etag_of(response)),))
        return response

    return tagged
