"""The search service's storage port; adapters live in :mod:`services.search.stores`.

Both adapters (SQLite FTS5 embedded, OpenSearch real) pass one contract suite
(tests/search/test_index_contract.py), which asserts what a user sees: the
meant title first and the right set of titles, not one engine's exact scores.
The rules every adapter keeps:

- **ranked full text** over the title (weighted most), the cast, the
  directors, the genres and the description. Terms are words (letters and
  digits, case and diacritics folded); a query's terms are alternatives (a
  title matching more of them, or matching them in its title, ranks higher);
  English stop words ("the", "of", ...) are not searched for. A title whose
  whole name is the query ranks first.
- **typo tolerance** as OpenSearch's ``fuzziness: AUTO``: a query term of 1-2
  characters must match exactly, one of 3-5 within 1 edit, a longer one
  within 2 (an edit: insert, delete or replace a character, or swap two
  adjacent ones), so "strnger thigns" finds "Stranger Things".
- **filters**: ``country`` (a title with no countries is available
  everywhere), ``allowed_ratings`` (the caller computes them from the
  request's maximum and the profile's cap with
  :func:`services.ratings.allowed_ratings`; a title rated otherwise is never
  returned, in hits, facets or suggestions), ``content_type``, ``genre``
  (exact) and the release-year range.
- **facets** count, per value, the titles matching the text query and every
  filter except the facet's own (post-filter semantics): the genre facet
  ignores the genre filter, the content-type facet the type filter, the decade
  facet the year range; the maturity facet ignores nothing (the ratings filter
  is a rule, not a choice). A decade is written "1990s".
- **order**: with a text, by relevance; without, newest first (release year
  descending); ties by ``title_id``, so paging with ``offset`` never repeats
  or skips a title of an unchanged index.
- **suggestions** match word prefixes anywhere in a title ("thi" finds
  "Beyond Stranger Things") and in people's names (cast and directors), with
  the same ratings and country filters; a person is offered only when one of
  the titles they are in is allowed.
- **writes are visible**: once ``upsert``/``delete`` returns, searches see it.
- **generations** (for the reindex): ``create_generation`` makes a new empty
  index, ``upsert_into`` fills it while searches keep answering from the
  current one, ``swap_to`` makes it current atomically (a search sees the old
  generation or the new one, never a mix of both nor nothing) and drops the
  old one. ``upsert``/``delete`` write the current generation only: a rebuild
  that must not lose writes made while it runs replays them after the swap.

An outage of the backend raises :class:`~services.runtime.errors.Unavailable`
from every operation; invalid arguments (a limit out of range) raise
ValueError: the servicer validates requests before they get here.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, Protocol

from services.runtime.sagas import ProfileSettings, StepKey

# OpenSearch's index.max_result_window: offset + limit may not exceed it.
MAX_WINDOW: Final = 10_000
MAX_LIMIT: Final = 100
MAX_SUGGESTIONS: Final = 20

# Lucene's English stop words (what OpenSearch's `english` analyzer drops).
STOP_WORDS: Final = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
        "is", "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then",
        "there", "these", "they", "this", "to", "was", "will", "with",
    }
)  # fmt: skip

# Letters and digits (what FTS5's unicode61 and the standard tokenizer keep).
_WORD: Final = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class TitleDoc:
    """What the index keeps of a catalog title."""

    title_id: str
    title: str
    description: str = ""
    release_year: int = 0
    content_type: str = ""  # "MOVIE" | "TV_SHOW"
    genres: tuple[str, ...] = ()
    maturity_rating: str = ""
    # ISO 3166-1 alpha-2 codes; empty: available everywhere.
    country_codes: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    directors: tuple[str, ...] = ()

    @property
    def decade(self) -> str:
        return decade_of(self.release_year)


@dataclass(frozen=True)
class SearchQuery:
    """A search; every filter left at its default does not filter."""

    text: str = ""
    country: str = ""
    # None: every rating; otherwise only these (an empty set allows nothing).
    allowed_ratings: frozenset[str] | None = None
    content_type: str = ""
    genre: str = ""
    year_min: int = 0
    year_max: int = 0
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class SearchHit:
    title_id: str
    title: str
    content_type: str
    release_year: int
    maturity_rating: str
    # The engine's relevance (higher is better); comparable within one answer only.
    score: float
    # A fragment of the title or description with the matched words in <em></em>;
    # "" without a text query.
    highlight: str


@dataclass(frozen=True)
class Facets:
    """Per facet, (value, number of titles), most titles first, ties by value."""

    genre: list[tuple[str, int]] = field(default_factory=list)
    content_type: list[tuple[str, int]] = field(default_factory=list)
    decade: list[tuple[str, int]] = field(default_factory=list)
    maturity: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    # Every title matching the query and all its filters (not only this page).
    total: int
    facets: Facets


@dataclass(frozen=True)
class Suggestion:
    text: str
    # The title's id; "" for a person.
    title_id: str
    kind: Literal["title", "person"]


class SearchIndex(Protocol):
    async def upsert(self, docs: Sequence[TitleDoc]) -> None:
        """Indexes ``docs`` in the current generation, replacing any with the same id;
        searches see them once this returns."""
        ...

    async def delete(self, title_ids: Sequence[str]) -> None:
        """Removes the titles from the current generation (ids not indexed are ignored);
        searches, facets and suggestions no longer see them once this returns."""
        ...

    async def get(self, title_id: str) -> TitleDoc | None:
        """The indexed document of the title in the current generation, or None."""
        ...

    async def search(self, query: SearchQuery) -> SearchPage:
        """One page of the titles matching ``query`` (see the module for the rules), their
        total and the facets. ValueError when ``limit`` is not in 1..MAX_LIMIT, ``offset``
        is negative or ``offset + limit`` exceeds MAX_WINDOW."""
        ...

    async def suggest(
        self, prefix: str, allowed_ratings: frozenset[str] | None, country: str, limit: int
    ) -> list[Suggestion]:
        """Up to ``limit`` (1..MAX_SUGGESTIONS) completions of ``prefix``: every word of it
        but the last must be a word of the title or name, the last the start of one.
        Titles best first, then people (most allowed titles first), merged by
        :func:`merge_suggestions`; [] for a prefix without a word."""
        ...

    async def count(self) -> int:
        """The number of titles in the current generation."""
        ...

    async def create_generation(self) -> str:
        """A new, empty generation (not current); returns its name."""
        ...

    async def upsert_into(self, generation: str, docs: Sequence[TitleDoc]) -> None:
        """``upsert`` into ``generation`` (one made by ``create_generation``)."""
        ...

    async def swap_to(self, generation: str) -> None:
        """Makes ``generation`` current atomically and drops the previous one."""
        ...

    async def current_generation(self) -> str: ...

    # -- saga participant (services/users/sagas): idempotent on the StepKey --

    async def apply_profile_settings(
        self, key: StepKey, profile_id: str, settings: ProfileSettings
    ) -> bool:
        """Keeps ``settings`` as the profile's copy, which searches as the profile
        honour, unless ``key`` was applied already (or, for a forward step, its
        compensation arrived first): then nothing changes; True (replayed)."""
        ...

    async def profile_settings(self, profile_id: str) -> ProfileSettings | None:
        """The profile's settings copy, None when it has none."""
        ...

    async def purge_profiles(self, key: StepKey, profile_ids: Sequence[str]) -> tuple[int, bool]:
        """Deletes the profiles' settings copies; (copies deleted, replayed)."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- rules both adapters share


def decade_of(year: int) -> str:
    """1994 -> "1990s"."""
    return f"{year // 10 * 10}s"


def fold(text: str) -> str:
    """Lower case without diacritics: how both engines compare words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order."""
    return _WORD.findall(fold(text))


def query_terms(text: str) -> list[str]:
    """The words searched for: stop words dropped unless the query is only stop words;
    repeats dropped."""
    found = list(dict.fromkeys(words(text)))
    kept = [word for word in found if word not in STOP_WORDS]
    return kept or found


def edit_budget(term: str) -> int:
    """The edits ``fuzziness: AUTO`` allows a term: 0 for 1-2 characters, 1 for 3-5, else 2."""
    if len(term) <= 2:
        return 0
    if len(term) <= 5:
        return 1
    return 2


def prefix_matches(name: str, prefix_words: Sequence[str]) -> bool:
    """Whether every word of ``prefix_words`` but the last is a word of ``name`` and
    the last starts one (the suggestion rule)."""
    if not prefix_words:
        return False
    name_words = words(name)
    *whole, last = prefix_words
    return all(word in name_words for word in whole) and any(
        word.startswith(last) for word in name_words
    )


def rank_people(
    people_of_titles: Iterable[Iterable[str]], prefix_words: Sequence[str]
) -> list[str]:
    """The names matching the prefix among the people of the given (allowed) titles,
    those in the most titles first, ties by name."""
    counts: dict[str, int] = {}
    for people in people_of_titles:
        for name in dict.fromkeys(people):
            if prefix_matches(name, prefix_words):
                counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda name: (-counts[name], name))


def merge_suggestions(
    titles: Sequence[Suggestion], people: Sequence[str], limit: int
) -> list[Suggestion]:
    """Titles first, then people; when both are more than ``limit`` allows, people keep
    a third of the places (at least one)."""
    people_places = min(len(people), max(1, limit // 3))
    title_places = min(len(titles), limit - people_places)
    people_places = min(len(people), limit - title_places)
    return [
        *titles[:title_places],
        *(Suggestion(text=name, title_id="", kind="person") for name in people[:people_places]),
    ]


def new_generation_name() -> str:
    """A generation's name: sortable by creation time, unique, lower case."""
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def check_query(query: SearchQuery) -> None:
    if not 1 <= query.limit <= MAX_LIMIT:
        raise ValueError(f"limit {query.limit} is not in 1..{MAX_LIMIT}")
    if query.offset < 0:
        raise ValueError(f"offset {query.offset} is negative")
    if query.offset + query.limit > MAX_WINDOW:
        raise ValueError(f"offset + limit exceeds {MAX_WINDOW}")


def check_suggest_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_SUGGESTIONS:
        raise ValueError(f"limit {limit} is not in 1..{MAX_SUGGESTIONS}")
