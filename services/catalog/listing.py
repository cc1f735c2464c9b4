"""What ListTitles means, shared by every store: filters, order and page tokens.

Order is newest first: ``add_time`` descending, ties broken by ``title_id``
descending (both keys descending so one tuple comparison, ``(add_time,
title_id) < cursor``, means "after the cursor" in SQL and in CQL alike).

A page token is opaque to callers: URL-safe base64 of a version byte, a
fingerprint of the filter it was issued for, and the position of the last row
the store looked at. The position, not an offset, is what makes paging stable:
titles added or removed between two calls can neither repeat nor push another
title out of the listing. A token that does not decode, or that was issued for
another filter, is rejected with INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from typing import Final

from services.ratings import RATINGS, allowed_ratings
from services.runtime.errors import InvalidArgument

CONTENT_TYPES: Final = ("MOVIE", "TV_SHOW")
DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100

_TOKEN_VERSION: Final = 1
_TOKEN_HEADER = struct.Struct(">B8sq")


@dataclass(frozen=True)
class TitleFilter:
    """The ListTitles filter; an empty string means "not filtered"."""

    country: str = ""
    max_maturity: str = ""
    content_type: str = ""
    genre: str = ""

    def fingerprint(self) -> bytes:
        canonical = "\x1f".join((self.country, self.max_maturity, self.content_type, self.genre))
        return hashlib.sha256(canonical.encode()).digest()[:8]

    def allowed_ratings(self) -> frozenset[str]:
        """The ratings this filter lets through (all of them without a limit)."""
        if not self.max_maturity:
            return frozenset(RATINGS)
        return frozenset(allowed_ratings(self.max_maturity))


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the listing: the sort key of the last row looked at."""

    add_time_ms: int
    title_id: str


def page_size_of(requested: int) -> int:
    if requested <= 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def encode_page_token(cursor: Cursor, title_filter: TitleFilter) -> str:
    raw = _TOKEN_HEADER.pack(_TOKEN_VERSION, title_filter.fingerprint(), cursor.add_time_ms)
    raw += cursor.title_id.encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: str, title_filter: TitleFilter) -> Cursor | None:
    """The cursor a token carries; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, fingerprint, add_time_ms = _TOKEN_HEADER.unpack_from(raw)
        title_id = raw[_TOKEN_HEADER.size :].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError) as err:
        raise _bad_token("is not a token this service issued") from err
    if version != _TOKEN_VERSION or len(title_id) != 36:
        raise _bad_token("is not a token this service issued")
    if fingerprint != title_filter.fingerprint():
        raise _bad_token("was issued for other filters; start again without a token")
    return Cursor(add_time_ms, title_id)


def _bad_token(why: str) -> InvalidArgument:
    return InvalidArgument.for_field("page_token", why, reason="INVALID_PAGE_TOKEN")
