"""Page tokens bound to the query they were issued for, the same way in every service.

A token is opaque to callers: URL-safe base64 (unpadded) of a version byte, an
8-byte fingerprint of the query (its filters, the profile it lists), and the
position of the last row the store looked at, as the service encodes it. A
position, not an offset, keeps paging stable while rows come and go. A token
that does not decode, or that was issued for another query, is refused with
INVALID_ARGUMENT naming the field, so a client that mixes up its tokens learns
it at once instead of getting someone else's page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final

from services.runtime.errors import InvalidArgument

VERSION: Final = 1
FINGERPRINT_BYTES: Final = 8
# Bounds a token's size; positions are a few dozen bytes.
MAX_POSITION_BYTES: Final = 512


def fingerprint(*query: str) -> bytes:
    """The fingerprint of a query given as its parts (unit-separator joined, so
    ``("a", "bc")`` and ``("ab", "c")`` differ)."""
    return hashlib.sha256("\x1f".join(query).encode()).digest()[:FINGERPRINT_BYTES]


def encode(query_fingerprint: bytes, position: bytes) -> str:
    if len(query_fingerprint) != FINGERPRINT_BYTES:
        raise ValueError(f"a fingerprint has {FINGERPRINT_BYTES} bytes")
    if len(position) > MAX_POSITION_BYTES:
        raise ValueError(f"a position has at most {MAX_POSITION_BYTES} bytes")
    raw = bytes([VERSION]) + query_fingerprint + position
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(token: str, query_fingerprint: bytes, field: str = "page_token") -> bytes | None:
    """The position a token carries; None for an empty token (the first page)."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as err:
        raise _bad(field, "is not a token this service issued") from err
    header = 1 + FINGERPRINT_BYTES
    if len(raw) <= header or raw[0] != VERSION or len(raw) > header + MAX_POSITION_BYTES:
        raise _bad(field, "is not a token this service issued")
    if raw[1:header] != query_fingerprint:
        raise _bad(field, "was issued for other filters; start again without a token")
    return raw[header:]


def _bad(field: str, why: str) -> InvalidArgument:
    return InvalidArgument.for_field(field, why, reason="INVALID_PAGE_TOKEN")
