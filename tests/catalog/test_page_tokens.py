"""Page tokens are opaque, bound to their filter, and garbage is refused."""

from __future__ import annotations

import base64

import pytest

from services.catalog.listing import (
    Cursor,
    TitleFilter,
    decode_page_token,
    encode_page_token,
    page_size_of,
)
from services.runtime.errors import InvalidArgument

FILTER = TitleFilter(country="US", max_maturity="PG", content_type="MOVIE", genre="Dramas")
CURSOR = Cursor(1_600_000_000_000, "cefd0cc0-bf57-5f13-bb57-cbca1a03d218")


def test_a_token_carries_its_cursor_back() -> None:
    token = encode_page_token(CURSOR, FILTER)
    assert decode_page_token(token, FILTER) == CURSOR
    assert "cefd0cc0" not in token  # opaque, not the id in clear


def test_no_token_is_the_first_page() -> None:
    assert decode_page_token("", FILTER) is None


@pytest.mark.parametrize(
    "changed",
    [
        TitleFilter(country="FR", max_maturity="PG", content_type="MOVIE", genre="Dramas"),
        TitleFilter(country="US", max_maturity="R", content_type="MOVIE", genre="Dramas"),
        TitleFilter(country="US", max_maturity="PG", content_type="TV_SHOW", genre="Dramas"),
        TitleFilter(country="US", max_maturity="PG", content_type="MOVIE", genre="Comedies"),
        TitleFilter(),
    ],
)
def test_a_token_for_another_filter_is_refused(changed: TitleFilter) -> None:
    token = encode_page_token(CURSOR, FILTER)
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(token, changed)
    assert caught.value.violations[0].field == "page_token"
    assert "other filters" in caught.value.violations[0].description


@pytest.mark.parametrize(
    "garbage",
    [
        "not base64 !!",
        "AAAA",
        base64.urlsafe_b64encode(b"\x02" + b"\x00" * 60).decode(),
        encode_page_token(CURSOR, FILTER)[:-4],
        "é",
    ],
)
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(garbage, FILTER)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize(("asked", "given"), [(0, 20), (-3, 20), (1, 1), (100, 100), (1000, 100)])
def test_page_sizes_default_to_20_and_stop_at_100(asked: int, given: int) -> None:
    assert page_size_of(asked) == given
