"""Maturity ratings and the one rule every service applies to them.

The order (docs/architecture.md, Maturity ratings): TV-Y < TV-Y7 (TV-Y7-FV)
< G, TV-G < PG, TV-PG < PG-13, TV-14 < R, TV-MA < NC-17; NR and UR (not rated,
unrated) count as the most restrictive. Ratings in one tier are equivalent: a
PG limit admits a TV-PG title. A rating nobody knows (dirty catalog data) is
treated like NR, so a filter fails closed: only a profile whose limit is NR/UR
may see it.

Kids profiles are capped at :data:`KIDS_LIMIT` (the PG / TV-PG tier: family
viewing, as the kids sections of streaming services are; nothing rated PG-13,
TV-14 or above, and nothing unrated).
"""

from __future__ import annotations

from typing import Final

# Tiers from least to most restrictive; a rating's rank is its tier's index.
TIERS: Final[tuple[tuple[str, ...], ...]] = (
    ("TV-Y",),
    ("TV-Y7", "TV-Y7-FV"),
    ("G", "TV-G"),
    ("PG", "TV-PG"),
    ("PG-13", "TV-14"),
    ("R", "TV-MA"),
    ("NC-17",),
    ("NR", "UR"),
)

# Every known rating, least restrictive first (the contract's `in` list order).
RATINGS: Final[tuple[str, ...]] = tuple(rating for tier in TIERS for rating in tier)

_RANK: Final[dict[str, int]] = {
    rating: index for index, tier in enumerate(TIERS) for rating in tier
}
_MOST_RESTRICTIVE_RANK: Final = len(TIERS) - 1

# The default limit of an adult profile (the case study's column default).
DEFAULT_LIMIT: Final = "PG-13"
# The highest limit a kids profile may have, and its default.
KIDS_LIMIT: Final = "PG"


def is_known(rating: str) -> bool:
    """Whether ``rating`` is one of :data:`RATINGS` (exact, upper case)."""
    return rating in _RANK


def rank(rating: str) -> int:
    """The tier index of ``rating``; unknown ratings rank as NR (fail closed)."""
    return _RANK.get(rating, _MOST_RESTRICTIVE_RANK)


def allows(limit: str, rating: str) -> bool:
    """Whether a profile limited to ``limit`` may see a title rated ``rating``.

    ``limit`` must be a known rating (ValueError otherwise: a limit comes from
    validated data, so an unknown one is a bug, not input). ``rating`` may be
    anything; unknown values are allowed only under an NR/UR limit.
    """
    if limit not in _RANK:
        raise ValueError(f"unknown maturity limit {limit!r}; known: {', '.join(RATINGS)}")
    return rank(rating) <= _RANK[limit]


def allowed_ratings(limit: str) -> tuple[str, ...]:
    """Every known rating a profile limited to ``limit`` may see (for query filters)."""
    return tuple(rating for rating in RATINGS if allows(limit, rating))


def kids_allowed(rating: str) -> bool:
    """Whether a kids profile may have ``rating`` as its limit."""
    return allows(KIDS_LIMIT, rating)
