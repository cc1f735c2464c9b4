"""The users domain's pure rules and the shared maturity ratings."""

from __future__ import annotations

import pytest

from services import ratings
from services.runtime.errors import InvalidArgument
from services.users import rules


@pytest.mark.parametrize(
    ("limit", "rating", "allowed"),
    [
        ("PG", "TV-PG", True),
        ("PG", "G", True),
        ("PG", "TV-Y7-FV", True),
        ("PG", "PG-13", False),
        ("TV-Y7", "TV-Y7-FV", True),
        ("TV-Y", "TV-Y7", False),
        ("PG-13", "TV-14", True),
        ("PG-13", "R", False),
        ("NC-17", "TV-MA", True),
        ("NC-17", "NR", False),
        ("NC-17", "UR", False),
        ("NC-17", "not-a-rating", False),
        ("NR", "UR", True),
        ("NR", "not-a-rating", True),
        ("TV-Y", "TV-Y", True),
    ],
)
def test_ratings_are_ordered_with_unrated_most_restrictive(
    limit: str, rating: str, allowed: bool
) -> None:
    assert ratings.allows(limit, rating) is allowed


def test_an_unknown_limit_is_a_bug_not_a_filter() -> None:
    with pytest.raises(ValueError, match="unknown maturity limit"):
        ratings.allows("PG-14", "G")


def test_the_kids_limit_admits_family_ratings_only() -> None:
    assert ratings.allowed_ratings(ratings.KIDS_LIMIT) == (
        "TV-Y",
        "TV-Y7",
        "TV-Y7-FV",
        "G",
        "TV-G",
        "PG",
        "TV-PG",
    )
    assert ratings.RATINGS[-2:] == ("NR", "UR")


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [(" Ada@Example.COM ", "ada@example.com"), ("a.b+c@sub.example.org", "a.b+c@sub.example.org")],
)
def test_emails_are_trimmed_and_lower_cased(raw: str, normalised: str) -> None:
    assert rules.normalise_email(raw) == normalised


@pytest.mark.parametrize("raw", ["", "plain", "a@", "@b.com", "a b@c.com", "a@-b.com", "a@b..com"])
def test_malformed_emails_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        rules.normalise_email(raw)
    assert raised.value.violations[0].field == "email"


@pytest.mark.parametrize(("raw", "code"), [("us", "US"), ("DE", "DE"), (" br ", "BR")])
def test_countries_are_iso_3166_alpha_2(raw: str, code: str) -> None:
    assert rules.country_code(raw) == code


@pytest.mark.parametrize("raw", ["ZZ", "UK", "EU", "XX", "U", "USA", ""])
def test_unassigned_country_codes_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidArgument):
        rules.country_code(raw)


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("", "en"),
        ("en", "en"),
        ("pt-br", "pt-BR"),
        ("zh-Hant-TW", "zh-Hant-TW"),
        ("es-419", "es-419"),
    ],
)
def test_language_tags_are_bcp47(raw: str, tag: str) -> None:
    assert rules.language_tag(raw) == tag


@pytest.mark.parametrize("raw", ["zz", "english", "en_US", "en-", "x" * 40])
def test_invalid_language_tags_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidArgument):
        rules.language_tag(raw)


def test_names_reject_control_characters() -> None:
    with pytest.raises(InvalidArgument) as raised:
        rules.clean_text("Ada\x00", "first_name", max_length=100)
    assert raised.value.violations[0].reason == "CONTROL_CHARACTERS"


def test_page_tokens_round_trip_and_reject_garbage() -> None:
    assert rules.decode_page_token(rules.encode_page_token("autoplay")) == "autoplay"
    assert rules.decode_page_token("") == ""
    for garbage in ("%%%", "bm90IGpzb24=", "WzFd"):
        with pytest.raises(InvalidArgument):
            rules.decode_page_token(garbage)
