"""The search index contract: one suite, run on SQLite FTS5 and on OpenSearch.

Only the port is used (services/search/store.py), but for the outage tests at
the end, which open each adapter on a backend that fails. The data is the real sample
of the catalog (tests/e2e/data/titles_sample.csv); expected sets and facet
counts are computed here, in Python, from the sample itself. Where the two
engines rank differently the assertions are what a user needs (the meant title
first, the right set of titles), never one engine's score order.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from opensearchpy import AsyncOpenSearch

from services.ratings import allowed_ratings
from services.runtime.errors import Unavailable
from services.search.store import (
    MAX_WINDOW,
    Facets,
    SearchIndex,
    SearchPage,
    SearchQuery,
    TitleDoc,
    decade_of,
    fold,
)
from services.search.stores.opensearch import OpenSearchIndex
from services.search.stores.sqlite import SqliteSearchIndex

KIDS = frozenset(allowed_ratings("PG"))
ADULT = frozenset(allowed_ratings("NR"))

# (what a user typed, the title they meant): every title is in the sample.
MISSPELLINGS = [
    ("strnger thigns", "Beyond Stranger Things"),
    ("avngers infinty war", "Avengers: Infinity War"),
    ("blak panthr", "Black Panther"),
    ("bates motell", "Bates Motel"),
    ("beethovn", "Beethoven"),
    ("peny dredful", "Penny Dreadful"),
    ("dawsons creak", "Dawson's Creek"),
]


# ------------------------------------------------------------------ helpers


def by_title(sample: list[TitleDoc], title: str) -> TitleDoc:
    (doc,) = [doc for doc in sample if doc.title == title]
    return doc


async def all_hits(index: SearchIndex, query: SearchQuery, page: int = 7) -> list[str]:
    """Every hit's title_id, page by page (offset), in order."""
    ids: list[str] = []
    while True:
        answer = await index.search(dataclasses.replace(query, limit=page, offset=len(ids)))
        ids.extend(hit.title_id for hit in answer.hits)
        if len(answer.hits) < page:
            return ids


def expected_facets(
    sample: list[TitleDoc],
    *,
    keep: Callable[[TitleDoc], bool] = lambda doc: True,
    genre: str = "",
    content_type: str = "",
    year_min: int = 0,
    year_max: int = 0,
) -> tuple[int, dict[str, dict[str, int]]]:
    """(total, facet -> value -> count), by the port's rules: each facet ignores its
    own filter; ``keep`` is the filters no facet ignores."""

    def in_genre(doc: TitleDoc) -> bool:
        return not genre or genre in doc.genres

    def of_type(doc: TitleDoc) -> bool:
        return not content_type or doc.content_type == content_type

    def in_years(doc: TitleDoc) -> bool:
        return (not year_min or doc.release_year >= year_min) and (
            not year_max or doc.release_year <= year_max
        )

    kept = [doc for doc in sample if keep(doc)]
    genres: Counter[str] = Counter(
        genre_name for doc in kept if of_type(doc) and in_years(doc) for genre_name in doc.genres
    )
    types = Counter(doc.content_type for doc in kept if in_genre(doc) and in_years(doc))
    decades = Counter(decade_of(doc.release_year) for doc in kept if in_genre(doc) and of_type(doc))
    everything = [doc for doc in kept if in_genre(doc) and of_type(doc) and in_years(doc)]
    ratings = Counter(doc.maturity_rating for doc in everything)
    return len(everything), {
        "genre": dict(genres),
        "content_type": dict(types),
        "decade": dict(decades),
        "maturity": dict(ratings),
    }


def facet_dicts(facets: Facets) -> dict[str, dict[str, int]]:
    return {
        name: dict(getattr(facets, name))
        for name in ("genre", "content_type", "decade", "maturity")
    }


def assert_facets_ordered(facets: Facets) -> None:
    for name in ("genre", "content_type", "decade", "maturity"):
        values = getattr(facets, name)
        assert values == sorted(values, key=lambda item: (-item[1], item[0])), name


# ------------------------------------------------------------------ bad input first


@pytest.mark.parametrize(
    "query",
    [
        SearchQuery(text="love", limit=0),
        SearchQuery(text="love", limit=101),
        SearchQuery(text="love", offset=-1),
        SearchQuery(text="love", offset=MAX_WINDOW, limit=1),
    ],
)
async def test_search_refuses_paging_out_of_range(index: SearchIndex, query: SearchQuery) -> None:
    with pytest.raises(ValueError, match=r"limit|offset"):
        await index.search(query)


@pytest.mark.parametrize("limit", [0, 21])
async def test_suggest_refuses_a_limit_out_of_range(index: SearchIndex, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        await index.suggest("lov", None, "", limit)


@pytest.mark.parametrize("text", ["!!!", " - ", "…"])
async def test_a_text_without_words_finds_nothing(index: SearchIndex, text: str) -> None:
    page = await index.search(SearchQuery(text=text))
    assert page == SearchPage(hits=[], total=0, facets=Facets())


@pytest.mark.parametrize("prefix", ["", "  ", "?!"])
async def test_a_prefix_without_words_suggests_nothing(index: SearchIndex, prefix: str) -> None:
    assert await index.suggest(prefix, None, "", 10) == []


async def test_a_word_in_no_title_finds_nothing(index: SearchIndex) -> None:
    page = await index.search(SearchQuery(text="xqzvwjk"))
    assert (page.hits, page.total) == ([], 0)


# ------------------------------------------------------------------ full text


@pytest.mark.parametrize(("typed", "meant"), MISSPELLINGS)
async def test_a_misspelled_title_finds_the_title_first(
    index: SearchIndex, typed: str, meant: str
) -> None:
    page = await index.search(SearchQuery(text=typed, limit=5))
    assert page.hits, typed
    assert page.hits[0].title == meant


async def test_every_exact_title_of_the_sample_is_first(
    index: SearchIndex, sample: list[TitleDoc]
) -> None:
    wrong = {}
    for doc in sample:
        page = await index.search(SearchQuery(text=doc.title, limit=3))
        first = page.hits[0].title if page.hits else None
        if first is None or fold(first) != fold(doc.title):
            wrong[doc.title] = first
    assert wrong == {}


async def test_an_exact_title_hit_carries_its_document(
    index: SearchIndex, sample: list[TitleDoc]
) -> None:
    doc = by_title(sample, "Black Panther")
    hit = (await index.search(SearchQuery(text="Black Panther", limit=1))).hits[0]
    assert (hit.title_id, hit.title, hit.content_type, hit.release_year, hit.maturity_rating) == (
        doc.title_id,
        doc.title,
        doc.content_type,
        doc.release_year,
        doc.maturity_rating,
    )
    assert hit.score > 0
    assert "<em>" in hit.highlight


@pytest.mark.parametrize("person", ["Eddie Murphy", "Ryan Coogler", "Charlize Theron"])
async def test_a_persons_name_finds_their_titles(
    index: SearchIndex, sample: list[TitleDoc], person: str
) -> None:
    theirs = {doc.title_id for doc in sample if person in (*doc.cast, *doc.directors)}
    assert theirs, person
    page = await index.search(SearchQuery(text=person, limit=len(theirs)))
    assert {hit.title_id for hit in page.hits} == theirs


async def test_a_misspelled_persons_name_finds_their_titles(
    index: SearchIndex, sample: list[TitleDoc]
) -> None:
    page = await index.search(SearchQuery(text="charlize theronn", limit=1))
    assert page.hits[0].title == "The Old Guard"


async def test_a_word_found_is_highlighted(index: SearchIndex) -> None:
    page = await index.search(SearchQuery(text="amnesia", limit=5))
    highlights = {hit.title: hit.highlight for hit in page.hits}
    # The description says "...leaves Bear with amnesia, he must...".
    assert "<em>amnesia</em>" in highlights["You vs. Wild: Out Cold"]
    # A title matched only in its cast or genres has no fragment to show.
    assert all(not text or "<em>" in text for text in highlights.values())
    without_text = await index.search(SearchQuery(limit=5))
    assert all(hit.highlight == "" for hit in without_text.hits)


# ------------------------------------------------------------------ filters


async def test_genre_and_year_filters(index: SearchIndex, sample: list[TitleDoc]) -> None:
    query = SearchQuery(genre="Dramas", year_min=2000, year_max=2010)
    expected = {
        doc.title_id
        for doc in sample
        if "Dramas" in doc.genres and 2000 <= doc.release_year <= 2010
    }
    assert len(expected) > 5
    ids = await all_hits(index, query)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert (await index.search(query)).total == len(expected)


async def test_a_genre_is_matched_exactly(index: SearchIndex) -> None:
    page = await index.search(SearchQuery(genre="Drama"))
    assert page.total == 0
    page = await index.search(SearchQuery(genre="dramas"))
    assert page.total == 0


async def test_a_text_query_keeps_to_its_filters(
    index: SearchIndex, sample: list[TitleDoc]
) -> None:
    movies = {doc.title_id for doc in sample if doc.content_type == "MOVIE"}
    query = SearchQuery(text="love", content_type="MOVIE", genre="Romantic Movies")
    ids = await all_hits(index, query)
    assert ids
    romantic_movies = {doc.title_id for doc in sample if "Romantic Movies" in doc.genres}
    assert set(ids) <= movies & romantic_movies
    assert by_title(sample, "Love Like the Falling Rain").title_id in ids[:10]


async def test_without_text_the_newest_titles_come_first(index: SearchIndex) -> None:
    page = await index.search(SearchQuery(limit=50))
    keys = [(-hit.release_year, hit.title_id) for hit in page.hits]
    assert keys == sorted(keys)


async def test_country_availability(index: SearchIndex, sample: list[TitleDoc]) -> None:
    expected = {
        doc.title_id for doc in sample if not doc.country_codes or "JP" in doc.country_codes
    }
    everywhere = {doc.title_id for doc in sample if not doc.country_codes}
    assert everywhere
    assert expected - everywhere
    assert set(await all_hits(index, SearchQuery(country="JP", limit=100), page=100)) == expected
    # A title licensed elsewhere only is not found in Japan, even by its exact name.
    black_panther = by_title(sample, "Black Panther")
    assert black_panther.country_codes
    assert "JP" not in black_panther.country_codes
    page = await index.search(SearchQuery(text="Black Panther", country="JP"))
    assert black_panther.title_id not in {hit.title_id for hit in page.hits}
    page = await index.search(SearchQuery(text="Black Panther", country="US"))
    assert page.hits[0].title_id == black_panther.title_id


async def test_kids_never_find_an_r_title_even_by_its_exact_name(
    index: SearchIndex, sample: list[TitleDoc]
) -> None:
    for title in ("The Game", "Eddie Murphy: Raw", "The Old Guard"):
        doc = by_title(sample, title)
        assert doc.maturity_rating == "R"
        adult = await index.search(SearchQuery(text=title, allowed_ratings=ADULT))
        assert adult.hits[0].title_id == doc.title_id
        kids = await index.search(SearchQuery(text=title, allowed_ratings=KIDS, limit=100))
        assert doc.title_id not in {hit.title_id for hit in kids.hits}
        assert all(hit.maturity_rating in KIDS for hit in kids.hits)
        assert {rating for rating, _ in kids.facets.maturity} <= KIDS


async def test_kids_browse_only_allowed_ratings(index: SearchIndex, sample: list[TitleDoc]) -> None:
    expected = {doc.title_id for doc in sample if doc.maturity_rating in KIDS}
    ids = await all_hits(index, SearchQuery(allowed_ratings=KIDS, limit=100), page=100)
    assert set(ids) == expected


async def test_no_allowed_rating_finds_nothing(index: SearchIndex) -> None:
    page = await index.search(SearchQuery(text="love", allowed_ratings=frozenset()))
    assert (page.hits, page.total) == ([], 0)
    assert await index.suggest("lov", frozenset(), "", 10) == []


# ------------------------------------------------------------------ facets


async def test_facets_of_the_whole_sample(index: SearchIndex, sample: list[TitleDoc]) -> None:
    page = await index.search(SearchQuery())
    total, expected = expected_facets(sample)
    assert page.total == total == len(sample)
    assert facet_dicts(page.facets) == expected
    assert_facets_ordered(page.facets)


async def test_a_genre_filter_leaves_the_genre_facet_alone(
    index: SearchIndex, sample: list[TitleDoc]
) -> None:
    unfiltered = await index.search(SearchQuery())
    page = await index.search(SearchQuery(genre="Dramas"))
    total, expected = expected_facets(sample, genre="Dramas")
    assert page.total == total
    assert facet_dicts(page.facets) == expected
    # Post-filter semantics: the genre facet still counts every genre.
    assert page.facets.genre == unfiltered.facets.genre
    assert dict(page.facets.content_type) != dict(unfiltered.facets.content_type)


@pytest.mark.parametrize(
    "filters",
    [
        {"content_type": "TV_SHOW"},
        {"year_min": 2015, "year_max": 2019},
        {"genre": "Comedies", "content_type": "MOVIE", "year_min": 2000},
        {"genre": "International TV Shows", "year_max": 2018},
    ],
)
async def test_each_facet_ignores_only_its_own_filter(
    index: SearchIndex, sample: list[TitleDoc], filters: dict[str, object]
) -> None:
    page = await index.search(SearchQuery(**filters))  # type: ignore[arg-type]
    total, expected = expected_facets(sample, **filters)  # type: ignore[arg-type]
    assert page.total == total
    assert facet_dicts(page.facets) == expected
    assert_facets_ordered(page.facets)


async def test_facets_keep_the_country_and_ratings_filters(
    index: SearchIndex, sample: list[TitleDoc]
) -> None:
    def keep(doc: TitleDoc) -> bool:
        return (not doc.country_codes or "US" in doc.country_codes) and doc.maturity_rating in KIDS

    page = await index.search(
        SearchQuery(country="US", allowed_ratings=KIDS, genre="Children & Family Movies")
    )
    total, expected = expected_facets(sample, keep=keep, genre="Children & Family Movies")
    assert page.total == total > 0
    assert facet_dicts(page.facets) == expected


async def test_facets_of_a_text_query_count_its_matches(index: SearchIndex) -> None:
    page = await index.search(SearchQuery(text="love", genre="Dramas"))
    matched = await index.search(SearchQuery(text="love"))
    # Without a type or year filter, the type and decade facets add up to the total.
    assert sum(count for _, count in page.facets.content_type) == page.total > 0
    assert sum(count for _, count in page.facets.decade) == page.total
    assert dict(page.facets.genre) == dict(matched.facets.genre)
    assert ("Dramas", page.total) in page.facets.genre
    assert page.total < matched.total


# ------------------------------------------------------------------ paging


@pytest.mark.parametrize(
    "query",
    [
        SearchQuery(text="love"),
        SearchQuery(text="the world"),
        SearchQuery(genre="International Movies"),
    ],
)
async def test_paging_never_repeats_a_hit(index: SearchIndex, query: SearchQuery) -> None:
    ids = await all_hits(index, query, page=7)
    assert len(ids) == len(set(ids))
    total = (await index.search(query)).total
    assert len(ids) == total > 14
    # A page asked for again is the same page.
    again = await index.search(dataclasses.replace(query, limit=7, offset=7))
    assert [hit.title_id for hit in again.hits] == ids[7:14]


async def test_a_page_past_the_end_is_empty(index: SearchIndex) -> None:
    page = await index.search(SearchQuery(text="beethoven", offset=50))
    assert page.hits == []
    assert page.total >= 1


# ------------------------------------------------------------------ suggest


@pytest.mark.parametrize(
    ("prefix", "title"),
    [
        ("thin", "Beyond Stranger Things"),
        ("infin", "Avengers: Infinity War"),
        ("stranger th", "Beyond Stranger Things"),
        ("panth", "Black Panther"),
        ("GALAX", "Tobot Galaxy Detectives"),
    ],
)
async def test_suggest_finds_a_word_anywhere_in_a_title(
    index: SearchIndex, prefix: str, title: str
) -> None:
    suggestions = await index.suggest(prefix, None, "", 10)
    titles = [s.text for s in suggestions if s.kind == "title"]
    assert title in titles
    assert all(s.title_id for s in suggestions if s.kind == "title")


@pytest.mark.parametrize(
    ("prefix", "person"),
    [("eddie mur", "Eddie Murphy"), ("coogl", "Ryan Coogler"), ("charlize", "Charlize Theron")],
)
async def test_suggest_finds_a_person(index: SearchIndex, prefix: str, person: str) -> None:
    suggestions = await index.suggest(prefix, None, "", 10)
    people = [s for s in suggestions if s.kind == "person"]
    assert person in [s.text for s in people]
    assert all(s.title_id == "" for s in people)


async def test_suggest_never_offers_a_title_above_the_allowed_ratings(
    index: SearchIndex, sample: list[TitleDoc]
) -> None:
    rating_of = {doc.title_id: doc.maturity_rating for doc in sample}
    for prefix in ("the", "lo", "ga", "ed", "mo", "bl", "de", "wa", "s", "old gu"):
        for suggestion in await index.suggest(prefix, KIDS, "", 20):
            if suggestion.kind == "title":
                assert rating_of[suggestion.title_id] in KIDS, suggestion
    # "The Game" (R) is not offered to kids even when asked for by name.
    kids = await index.suggest("the game", KIDS, "", 20)
    assert "The Game" not in [s.text for s in kids]
    assert "The Game" in [s.text for s in await index.suggest("the game", ADULT, "", 20)]


async def test_a_person_is_offered_only_with_an_allowed_title(index: SearchIndex) -> None:
    # Eddie Murphy is in "Daddy Day Care" (PG) and "Eddie Murphy: Raw" (R).
    kids = await index.suggest("eddie mur", KIDS, "", 10)
    assert ("Eddie Murphy", "person") in [(s.text, s.kind) for s in kids]
    assert "Eddie Murphy: Raw" not in [s.text for s in kids]
    # Charlize Theron is only in "The Old Guard" (R).
    assert await index.suggest("charlize", KIDS, "", 10) == []


async def test_suggest_keeps_to_the_country(index: SearchIndex, sample: list[TitleDoc]) -> None:
    assert by_title(sample, "Black Panther").country_codes == ("US",)
    assert "Black Panther" in [s.text for s in await index.suggest("panth", None, "US", 10)]
    assert "Black Panther" not in [s.text for s in await index.suggest("panth", None, "JP", 10)]


async def test_suggest_keeps_to_the_limit(index: SearchIndex) -> None:
    suggestions = await index.suggest("s", None, "", 6)
    assert len(suggestions) == 6
    assert {s.kind for s in suggestions} == {"title", "person"}


# ------------------------------------------------------------------ writes


async def test_get_and_count(index: SearchIndex, sample: list[TitleDoc]) -> None:
    assert await index.count() == len(sample)
    doc = by_title(sample, "Dawson's Creek")
    assert await index.get(doc.title_id) == doc
    assert await index.get("00000000-0000-0000-0000-000000000000") is None


async def test_delete_removes_a_title_from_search_facets_and_suggest(
    fresh_index: SearchIndex, sample: list[TitleDoc]
) -> None:
    doc = by_title(sample, "Beethoven")
    assert doc.genres == ("Children & Family Movies", "Comedies")
    before = await fresh_index.search(SearchQuery())
    await fresh_index.delete([doc.title_id, "00000000-0000-0000-0000-000000000000"])
    assert await fresh_index.get(doc.title_id) is None
    assert await fresh_index.count() == len(sample) - 1
    assert (await fresh_index.search(SearchQuery(text="beethoven"))).total == 0
    after = await fresh_index.search(SearchQuery())
    assert after.total == before.total - 1
    genre_before, genre_after = dict(before.facets.genre), dict(after.facets.genre)
    for genre in doc.genres:
        assert genre_after[genre] == genre_before[genre] - 1
    assert "Beethoven" not in [s.text for s in await fresh_index.suggest("beeth", None, "", 10)]


async def test_suggest_puts_titles_that_start_with_the_prefix_first(
    fresh_index: SearchIndex,
) -> None:
    later = TitleDoc(title_id="11111111-0000-0000-0000-000000000001", title="One Quorble Rock")
    first = TitleDoc(title_id="11111111-0000-0000-0000-000000000002", title="Quorbles Things")
    await fresh_index.upsert([later, first])
    titles = [s.text for s in await fresh_index.suggest("quorb", None, "", 10)]
    assert titles[:2] == ["Quorbles Things", "One Quorble Rock"], titles


async def test_upsert_replaces_a_title(fresh_index: SearchIndex, sample: list[TitleDoc]) -> None:
    doc = by_title(sample, "Penny Dreadful")
    renamed = dataclasses.replace(doc, title="Penny Dreadful: City of Angels", release_year=2020)
    await fresh_index.upsert([renamed])
    assert await fresh_index.get(doc.title_id) == renamed
    assert await fresh_index.count() == len(sample)
    page = await fresh_index.search(SearchQuery(text="city of angels", limit=1))
    assert (page.hits[0].title_id, page.hits[0].release_year) == (doc.title_id, 2020)
    assert "Penny Dreadful: City of Angels" in [
        s.text for s in await fresh_index.suggest("angel", None, "", 10)
    ]


async def test_a_reindex_keeps_searches_answering_and_then_shows_the_new_documents(
    fresh_index: SearchIndex, sample: list[TitleDoc]
) -> None:
    index = fresh_index
    old_generation = await index.current_generation()
    gone = by_title(sample, "Bates Motel")
    renamed = dataclasses.replace(by_title(sample, "Beethoven"), title="Beethoven's 2nd")
    added = TitleDoc(
        title_id="11111111-2222-5333-8444-555555555555",
        title="Quasar Quokka Quest",
        description="A quokka crosses the outback.",
        release_year=2024,
        content_type="MOVIE",
        genres=("Children & Family Movies",),
        maturity_rating="G",
        cast=("Zelda Quinton",),
    )
    rebuilt = [
        renamed if doc.title_id == renamed.title_id else doc
        for doc in sample
        if doc.title_id != gone.title_id
    ] + [added]

    answers: list[int] = []
    failures: list[BaseException] = []
    rebuilding = True

    async def keep_searching() -> None:
        while rebuilding:
            try:
                page = await index.search(SearchQuery(text="bates motell", limit=3))
                answers.append(page.total)
                await index.suggest("beeth", None, "", 5)
            except Exception as error:  # noqa: BLE001 (counted: the test asserts none)
                failures.append(error)
            await asyncio.sleep(0)

    searchers = [asyncio.create_task(keep_searching()) for _ in range(4)]
    try:
        generation = await index.create_generation()
        assert generation != old_generation
        assert await index.current_generation() == old_generation
        for start in range(0, len(rebuilt), 50):
            await index.upsert_into(generation, rebuilt[start : start + 50])
            # Until the swap, searches answer from the old generation.
            assert await index.get(gone.title_id) == gone
        await index.swap_to(generation)
        await asyncio.sleep(0.05)
    finally:
        rebuilding = False
        await asyncio.gather(*searchers)

    assert failures == []
    assert len(answers) > 4
    assert all(total > 0 for total in answers)
    assert await index.current_generation() == generation
    assert await index.count() == len(rebuilt)
    assert await index.get(gone.title_id) is None
    assert await index.get(added.title_id) == added
    page = await index.search(SearchQuery(text="quasar quoka"))
    assert page.hits[0].title_id == added.title_id
    assert (await index.search(SearchQuery(text="Beethoven's 2nd"))).hits[0].title == renamed.title
    suggestions = await index.suggest("zelda q", None, "", 5)
    assert ("Zelda Quinton", "person") in [(s.text, s.kind) for s in suggestions]
    # The old generation is gone: upserting into it is refused.
    with pytest.raises(ValueError, match="generation"):
        await index.upsert_into(old_generation, [added])


async def test_an_unknown_generation_is_refused(fresh_index: SearchIndex) -> None:
    with pytest.raises(ValueError, match="generation"):
        await fresh_index.swap_to("19990101000000-000000")
    with pytest.raises(ValueError, match="generation"):
        await fresh_index.upsert_into("19990101000000-000000", [])


# ------------------------------------------------------------------ outages


async def test_an_unreachable_opensearch_is_unavailable() -> None:
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens
    with pytest.raises(Unavailable):
        await OpenSearchIndex.open(dead, prefix="unreachable-", request_timeout=1)
    index = OpenSearchIndex(
        AsyncOpenSearch(hosts=[dead], timeout=1, max_retries=0), "unreachable-", owns_client=True
    )
    try:
        with pytest.raises(Unavailable):
            await index.search(SearchQuery(text="love"))
        with pytest.raises(Unavailable):
            await index.upsert([TitleDoc(title_id="x", title="x")])
        with pytest.raises(Unavailable):
            await index.suggest("lo", None, "", 5)
    finally:
        await index.close()


async def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    path.write_bytes(b"not a database, " * 512)
    with pytest.raises(Unavailable):
        await SqliteSearchIndex.open(path)
