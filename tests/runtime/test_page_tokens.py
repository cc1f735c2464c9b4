"""Page tokens: bound to their query, refused with a clear field error otherwise."""

from __future__ import annotations

import pytest

from services.runtime import page_tokens
from services.runtime.errors import InvalidArgument


@pytest.mark.parametrize(
    "garbage",
    ["not base64 at all!", "AA", page_tokens.encode(b"\0" * 8, b"x")[:-3] + "@@@", "A" * 2000],
)
def test_garbage_is_refused_naming_the_field(garbage: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        page_tokens.decode(garbage, page_tokens.fingerprint("q"), field="page_token")
    assert caught.value.violations[0].field == "page_token"
    assert caught.value.reason == "INVALID_PAGE_TOKEN"


def test_a_token_for_another_query_is_refused() -> None:
    token = page_tokens.encode(page_tokens.fingerprint("profile 1"), b"position")
    with pytest.raises(InvalidArgument, match="other filters"):
        page_tokens.decode(token, page_tokens.fingerprint("profile 2"))


def test_a_position_round_trips_and_empty_means_first_page() -> None:
    query = page_tokens.fingerprint("a", "bc")
    assert page_tokens.decode(page_tokens.encode(query, b"\x00\xffpos"), query) == b"\x00\xffpos"
    assert page_tokens.decode("", query) is None
    assert page_tokens.fingerprint("a", "bc") != page_tokens.fingerprint("ab", "c")
