"""What ListTitles means, shared by every store: filters, order and page tokens.

Order is newest first: ``add_time`` descending, ties broken by ``title_id``
descending (both keys descending so one tuple comparison, ``(add_time,
title_id) < cursor``, means "after the cursor" in SQL and in CQL alike).

A page token (services/runtime/page_tokens.py) carries a fingerprint of the
filter it was issued for and the position of the last row the store looked at.
The position, not an offset, is what makes paging stable: titles added or
removed between two calls can neither repeat nor push another title out of the
listing. A token that does not decode, or that was issued for another filter,
is rejected with INVALID_ARGUMENT.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from services.ratings import RATINGS, allowed_ratings
from services.runtime import page_tokens
from services.runtime.errors import InvalidArgument

CONTENT_TYPES: Final = ("MOVIE", "TV_SHOW")
DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100

_ADD_TIME: Final = struct.Struct(">q")


@dataclass(frozen=True)
class TitleFilter:
    """The ListTitles filter; an empty string means "not filtered"."""

    country: str = ""
    max_maturity: str = ""
    content_type: str = ""
    genre: str = ""

    def fingerprint(self) -> bytes:
        return page_tokens.fingerprint(
            self.country, self.max_maturity, self.content_type, self.genre
        )

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
    position = _ADD_TIME.pack(cursor.add_time_ms) + cursor.title_id.encode("ascii")
    return page_tokens.encode(title_filter.fingerprint(), position)


def decode_page_token(token: str, title_filter: TitleFilter) -> Cursor | None:
    """The cursor a token carries; None for the first page."""
    position = page_tokens.decode(token, title_filter.fingerprint())
    if position is None:
        return None
    try:
        (add_time_ms,) = _ADD_TIME.unpack_from(position)
        title_id = position[_ADD_TIME.size :].decode("ascii")
    except (struct.error, UnicodeDecodeError) as err:
        raise _bad_token("is not a token this service issued") from err
    if len(title_id) != 36:
        raise _bad_token("is not a token this service issued")
    return Cursor(add_time_ms, title_id)


def _bad_token(why: str) -> InvalidArgument:
    return InvalidArgument.for_field("page_token", why, reason="INVALID_PAGE_TOKEN")
