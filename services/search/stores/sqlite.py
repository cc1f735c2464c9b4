"""The embedded search index: SQLite FTS5 in one file through aiosqlite.

Tables (every generation in the same tables, told apart by a ``generation``
column; ``generations`` names the current one):

- ``docs``: one row per (generation, title) with the filter columns
  (type, rating, year, decade, ``everywhere`` for a title without countries)
  and the document as JSON for ``get``; ``doc_genres`` and ``doc_countries``
  hold the list filters, indexed by value;
- ``docs_fts``: FTS5 over title, cast, directors, genres and description
  (rowid = ``docs.id``), ``unicode61 remove_diacritics 2`` (case and accents
  folded as :func:`services.search.store.fold` does), ``prefix='2 3'`` so
  suggestions' short prefixes are index lookups; ranked by ``bm25`` with
  column weights :data:`WEIGHTS` (title highest);
- ``docs_terms``: an ``fts5vocab`` view of the indexed terms. Typo tolerance
  maps each query term to the indexed terms within its ``fuzziness: AUTO``
  budget (optimal string alignment distance, as Lucene counts edits) with
  rapidfuzz, in a worker thread, over an in-memory copy of the vocabulary
  reloaded after a write; the FTS5 query is the OR of those terms, the exact
  term repeated :data:`EXACT_REPEAT` times (bm25 sums per phrase). bm25 gives a
  rare near miss a high weight (Lucene blends a fuzzy term's frequencies to
  avoid that), so titles with a query word spelt as asked rank before those
  matching near misses only: searching "love" lists the "Love ..." titles
  before "REA(L)OVE" (whose "ove" is one edit away).

A search reads in one read transaction on the reader connection (WAL gives it a
snapshot), so its hits, total and facets come from one generation even when a
swap commits meanwhile; ``swap_to`` flips ``generations.current`` and deletes
the old generation's rows in one write transaction. Facets are GROUP BYs over
the candidate set, each with the filters of the other facets only.

An outage of the file raises Unavailable from every operation, through the
runtime's one guard (services/runtime/sqlite.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final, Self

import aiosqlite
from rapidfuzz import process
from rapidfuzz.distance import OSA

from services.runtime.sagas import SqliteParticipant, StepKey
from services.runtime.sqlite import BUSY_TIMEOUT_MS, FetchAll, SqliteFile, outage_guard
from services.search.store import (
    Facets,
    SearchHit,
    SearchPage,
    SearchQuery,
    Suggestion,
    TitleDoc,
    check_query,
    check_suggest_limit,
    decade_of,
    edit_budget,
    merge_suggestions,
    new_generation_name,
    query_terms,
    rank_people,
    words,
)

_outage = outage_guard("the search index")

# bm25 weights of docs_fts's columns: title, actors (the cast), directors, genres, description.
WEIGHTS: Final = (10.0, 3.0, 3.0, 2.0, 1.0)
_BM25: Final = "bm25(docs_fts, " + ", ".join(str(weight) for weight in WEIGHTS) + ")"
# How many times the exact spelling of a query term is in the FTS5 query (see the module).
EXACT_REPEAT: Final = 3
# Indexed terms one query term may expand to (OpenSearch's max_expansions).
MAX_EXPANSIONS: Final = 50
# Titles read to find the people matching a suggestion prefix.
PEOPLE_SCAN: Final = 200
# Reader connections, so searches run on more than one core (a search with
# many typo expansions takes tens of milliseconds of SQLite time).
READERS: Final = 4
# Rows written per executemany.
_BATCH: Final = 500

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS generations (
  name TEXT PRIMARY KEY,
  current INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS generations_one_current ON generations (current)
  WHERE current = 1;
INSERT OR IGNORE INTO generations (name, current) VALUES ('initial', 1);
CREATE TABLE IF NOT EXISTS docs (
  id INTEGER PRIMARY KEY,
  generation TEXT NOT NULL,
  title_id TEXT NOT NULL,
  title TEXT NOT NULL,
  title_key TEXT NOT NULL,
  release_year INTEGER NOT NULL,
  decade TEXT NOT NULL,
  content_type TEXT NOT NULL,
  maturity_rating TEXT NOT NULL,
  everywhere INTEGER NOT NULL,
  doc TEXT NOT NULL,
  UNIQUE (generation, title_id)
);
CREATE INDEX IF NOT EXISTS docs_newest ON docs (generation, release_year DESC, title_id);
CREATE TABLE IF NOT EXISTS doc_genres (
  id INTEGER NOT NULL,
  genre TEXT NOT NULL,
  PRIMARY KEY (id, genre)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS doc_genres_by_genre ON doc_genres (genre, id);
CREATE TABLE IF NOT EXISTS doc_countries (
  id INTEGER NOT NULL,
  country TEXT NOT NULL,
  PRIMARY KEY (id, country)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS doc_countries_by_country ON doc_countries (country, id);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(
  title, actors, directors, genres, description,
  tokenize = 'unicode61 remove_diacritics 2',
  prefix = '2 3'
);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_terms USING fts5vocab(docs_fts, 'row');
"""

_CURRENT: Final = "(SELECT name FROM generations WHERE current = 1)"
_HIT_COLUMNS: Final = "d.id, d.title_id, d.title, d.content_type, d.release_year, d.maturity_rating"


class _Where:
    """A WHERE clause under construction: conditions and their parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(self.conditions) or "1"


class SqliteSearchIndex(SqliteParticipant):
    NAME = "search"
    SCHEMA = SCHEMA + SqliteParticipant.SAGA_SCHEMA
    SCHEMA_VERSION = 1

    def __init__(self, file: SqliteFile) -> None:
        super().__init__(file)
        self._vocabulary: list[str] | None = None
        self._writes = 0  # bumped by every write: the cached vocabulary is stale

    @classmethod
    async def open(
        cls, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, readers: int = READERS
    ) -> Self:
        return await super().open(path, busy_timeout_ms=busy_timeout_ms, readers=readers)

    # ------------------------------------------------------------ saga participant

    async def purge_profiles(self, key: StepKey, profile_ids: Sequence[str]) -> tuple[int, bool]:
        return await self.purge_profile_rows(
            key, profile_ids, ("profile_settings",), counted="profile_settings"
        )

    # ------------------------------------------------------------ writes

    @_outage
    async def upsert(self, docs: Sequence[TitleDoc]) -> None:
        await self._upsert(None, docs)

    @_outage
    async def upsert_into(self, generation: str, docs: Sequence[TitleDoc]) -> None:
        await self._upsert(generation, docs)

    async def _upsert(self, generation: str | None, docs: Sequence[TitleDoc]) -> None:
        latest = {doc.title_id: doc for doc in docs}  # the last of repeated ids wins
        async with self._transaction() as db:
            target = generation or await self._current(db.execute_fetchall)
            if generation is not None and not await self._exists(db, generation):
                raise ValueError(f"unknown generation {generation!r}")
            if not latest:
                return
            keys = [(target, title_id) for title_id in latest]
            await _delete_docs(db, keys)
            async with db.execute("SELECT coalesce(max(id), 0) FROM docs") as cursor:
                row = await cursor.fetchone()
            first = int(row[0]) + 1 if row else 1
            rows = list(enumerate(latest.values(), start=first))
            await db.executemany(
                "INSERT INTO docs (id, generation, title_id, title, title_key, release_year, "
                "decade, content_type, maturity_rating, everywhere, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        id_,
                        target,
                        doc.title_id,
                        doc.title,
                        " ".join(words(doc.title)),
                        doc.release_year,
                        decade_of(doc.release_year),
                        doc.content_type,
                        doc.maturity_rating,
                        int(not doc.country_codes),
                        json.dumps(asdict(doc)),
                    )
                    for id_, doc in rows
                ],
            )
            await db.executemany(
                "INSERT INTO docs_fts (rowid, title, actors, directors, genres, description) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        id_,
                        doc.title,
                        ", ".join(doc.cast),
                        ", ".join(doc.directors),
                        ", ".join(doc.genres),
                        doc.description,
                    )
                    for id_, doc in rows
                ],
            )
            await db.executemany(
                "INSERT OR IGNORE INTO doc_genres (id, genre) VALUES (?, ?)",
                [(id_, genre) for id_, doc in rows for genre in doc.genres],
            )
            await db.executemany(
                "INSERT OR IGNORE INTO doc_countries (id, country) VALUES (?, ?)",
                [(id_, country) for id_, doc in rows for country in doc.country_codes],
            )
        self._wrote()

    @_outage
    async def delete(self, title_ids: Sequence[str]) -> None:
        if not title_ids:
            return
        async with self._transaction() as db:
            current = await self._current(db.execute_fetchall)
            await _delete_docs(db, [(current, title_id) for title_id in set(title_ids)])
        self._wrote()

    @_outage
    async def create_generation(self) -> str:
        name = new_generation_name()
        async with self._transaction() as db:
            await db.execute("INSERT INTO generations (name, current) VALUES (?, 0)", (name,))
        return name

    @_outage
    async def swap_to(self, generation: str) -> None:
        async with self._transaction() as db:
            if not await self._exists(db, generation):
                raise ValueError(f"unknown generation {generation!r}")
            previous = await self._current(db.execute_fetchall)
            if previous == generation:
                return
            # Two statements: the unique index on the current flag is checked per statement.
            await db.execute("UPDATE generations SET current = 0 WHERE name = ?", (previous,))
            await db.execute("UPDATE generations SET current = 1 WHERE name = ?", (generation,))
            for table in ("docs_fts", "doc_genres", "doc_countries"):
                key = "rowid" if table == "docs_fts" else "id"
                await db.execute(
                    f"DELETE FROM {table} WHERE {key} IN "
                    "(SELECT id FROM docs WHERE generation = ?)",
                    (previous,),
                )
            await db.execute("DELETE FROM docs WHERE generation = ?", (previous,))
            await db.execute("DELETE FROM generations WHERE name = ?", (previous,))
        self._wrote()

    # ------------------------------------------------------------ reads

    @_outage
    async def current_generation(self) -> str:
        return await self._current(self._reader.fetch_all)

    @_outage
    async def count(self) -> int:
        row = await self._reader.fetch_one(
            f"SELECT count(*) FROM docs WHERE generation = {_CURRENT}"
        )
        return int(row[0]) if row else 0

    @_outage
    async def get(self, title_id: str) -> TitleDoc | None:
        row = await self._reader.fetch_one(
            f"SELECT doc FROM docs WHERE generation = {_CURRENT} AND title_id = ?",
            (title_id,),
        )
        return _doc_from_json(row[0]) if row else None

    @_outage
    async def search(self, query: SearchQuery) -> SearchPage:
        check_query(query)
        match, exact_match = await self._match_expression(query.text)
        exact_key = " ".join(words(query.text))
        if query.text.strip() and match is None:
            return SearchPage(hits=[], total=0, facets=Facets())
        base = _Where()
        base.add(f"d.generation = {_CURRENT}")
        if match is not None:
            base.add("d.id IN (SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?)", match)
        _rules_filters(base, query.country, query.allowed_ratings)
        genre, kind, years = _facet_filters(query)

        def where(*parts: _Where) -> _Where:
            combined = _Where()
            for part in (base, *parts):
                combined.conditions.extend(part.conditions)
                combined.params.extend(part.params)
            return combined

        async with self._file.snapshot() as db:
            hits = await self._hits(
                db, query, (match, exact_match), exact_key, where(genre, kind, years)
            )
            facets = await _facets(db, base, genre, kind, years)
        # Every title has one rating: the maturity facet's counts add up to the total.
        total = sum(count for _, count in facets.maturity)
        return SearchPage(hits=hits, total=total, facets=facets)

    async def _hits(
        self,
        db: aiosqlite.Connection,
        query: SearchQuery,
        matches: tuple[str | None, str | None],
        exact_key: str,
        where: _Where,
    ) -> list[SearchHit]:
        match, exact_match = matches
        if match is None:
            sql = (
                f"SELECT {_HIT_COLUMNS}, 0.0 FROM docs d WHERE {where.sql()} "
                "ORDER BY d.release_year DESC, d.title_id LIMIT ? OFFSET ?"
            )
            params = [*where.params, query.limit, query.offset]
        else:
            sql = (
                f"WITH matched AS MATERIALIZED (SELECT rowid AS id, -{_BM25} AS score "
                "FROM docs_fts WHERE docs_fts MATCH ?) "
                f"SELECT {_HIT_COLUMNS}, m.score FROM matched m JOIN docs d ON d.id = m.id "
                f"WHERE {where.sql()} "
                "ORDER BY d.title_key = ? DESC, "
                "d.id IN (SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?) DESC, "
                "m.score DESC, d.title_id LIMIT ? OFFSET ?"
            )
            params = [
                match,
                *where.params,
                exact_key,
                exact_match or '""',
                query.limit,
                query.offset,
            ]
        async with db.execute(sql, params) as cursor:
            rows = list(await cursor.fetchall())
        highlights: dict[int, str] = {}
        if match is not None and rows:
            ids = [row[0] for row in rows]
            marks = ", ".join("?" for _ in ids)
            async with db.execute(
                "SELECT rowid, snippet(docs_fts, 4, '<em>', '</em>', '…', 24), "
                "highlight(docs_fts, 0, '<em>', '</em>') FROM docs_fts "
                f"WHERE docs_fts MATCH ? AND rowid IN ({marks})",
                [match, *ids],
            ) as cursor:
                for rowid, in_description, in_title in await cursor.fetchall():
                    highlights[rowid] = next(
                        (text for text in (in_description, in_title) if "<em>" in text), ""
                    )
        return [
            SearchHit(
                title_id=title_id,
                title=title,
                content_type=content_type,
                release_year=release_year,
                maturity_rating=rating,
                score=float(score),
                highlight=highlights.get(id_, ""),
            )
            for id_, title_id, title, content_type, release_year, rating, score in rows
        ]

    @_outage
    async def suggest(
        self, prefix: str, allowed_ratings: frozenset[str] | None, country: str, limit: int
    ) -> list[Suggestion]:
        check_suggest_limit(limit)
        prefix_words = words(prefix)
        if not prefix_words:
            return []
        *whole, last = prefix_words
        terms = " AND ".join([*(f'"{word}"' for word in whole), f'"{last}"*'])
        # Titles that start with what was typed come first (as in OpenSearch's adapter).
        typed = " ".join(prefix_words)
        where = _Where()
        where.add(f"d.generation = {_CURRENT}")
        _rules_filters(where, country, allowed_ratings)
        async with self._file.snapshot() as db:
            async with db.execute(
                f"WITH matched AS MATERIALIZED (SELECT rowid AS id, -{_BM25} AS score "
                "FROM docs_fts WHERE docs_fts MATCH ?) "
                "SELECT d.title_id, d.title FROM matched m JOIN docs d ON d.id = m.id "
                f"WHERE {where.sql()} "
                "ORDER BY substr(d.title_key, 1, length(?)) = ? DESC, m.score DESC, "
                "d.title_id LIMIT ?",
                [f"title : ({terms})", *where.params, typed, typed, limit],
            ) as cursor:
                titles = [
                    Suggestion(text=title, title_id=title_id, kind="title")
                    for title_id, title in await cursor.fetchall()
                ]
            async with db.execute(
                "WITH matched AS MATERIALIZED (SELECT rowid AS id FROM docs_fts "
                "WHERE docs_fts MATCH ?) "
                "SELECT d.doc FROM matched m JOIN docs d ON d.id = m.id "
                f"WHERE {where.sql()} ORDER BY d.title_id LIMIT ?",
                [f"{{actors directors}} : ({terms})", *where.params, PEOPLE_SCAN],
            ) as cursor:
                docs = [_doc_from_json(row[0]) for row in await cursor.fetchall()]
        people = rank_people(((*doc.cast, *doc.directors) for doc in docs), prefix_words)
        return merge_suggestions(titles, people, limit)

    # ------------------------------------------------------------ helpers

    async def _match_expression(self, text: str) -> tuple[str | None, str | None]:
        """The FTS5 queries of ``text``: each term's spellings within its edit budget,
        all ORed (None without a term or when no term is near an indexed one), and
        its terms spelt as asked (None when none is indexed)."""
        terms = query_terms(text)
        if not terms:
            return None, None
        vocabulary = await self._terms()
        expanded = await asyncio.to_thread(_expand, terms, vocabulary)
        exact = [term for term in terms if term in expanded]
        return (
            " OR ".join(f'"{term}"' for term in expanded) or None,
            " OR ".join(f'"{term}"' for term in exact) or None,
        )

    async def _terms(self) -> list[str]:
        """The indexed terms, cached until the next write."""
        if self._vocabulary is None:
            writes = self._writes
            vocabulary = [
                row[0] for row in await self._reader.fetch_all("SELECT term FROM docs_terms")
            ]
            if writes != self._writes:
                return vocabulary
            self._vocabulary = vocabulary
        return self._vocabulary

    async def _current(self, fetch_all: FetchAll) -> str:
        rows = list(await fetch_all("SELECT name FROM generations WHERE current = 1", ()))
        if not rows:
            raise RuntimeError("the search index has no current generation")
        return str(rows[0][0])

    @staticmethod
    async def _exists(db: aiosqlite.Connection, generation: str) -> bool:
        async with db.execute("SELECT 1 FROM generations WHERE name = ?", (generation,)) as cursor:
            return await cursor.fetchone() is not None

    def _wrote(self) -> None:
        """Marks the cached vocabulary stale."""
        self._writes += 1
        self._vocabulary = None


def _expand(terms: list[str], vocabulary: list[str]) -> list[str]:
    """Each term (its exact spelling EXACT_REPEAT times when indexed) and the indexed
    terms within its edit budget, nearest first; a term near nothing contributes nothing."""
    expanded: list[str] = []
    for term in terms:
        budget = edit_budget(term)
        found = process.extract(
            term, vocabulary, scorer=OSA.distance, score_cutoff=budget, limit=MAX_EXPANSIONS
        )
        for match, distance, _ in found:
            expanded.extend([match] * (EXACT_REPEAT if distance == 0 else 1))
    return expanded


def _rules_filters(where: _Where, country: str, allowed_ratings: frozenset[str] | None) -> None:
    """The filters no facet ignores: country availability and the allowed ratings."""
    if country:
        where.add(
            "(d.everywhere = 1 OR EXISTS (SELECT 1 FROM doc_countries c "
            "WHERE c.id = d.id AND c.country = ?))",
            country,
        )
    if allowed_ratings is not None:
        if allowed_ratings:
            marks = ", ".join("?" for _ in allowed_ratings)
            where.add(f"d.maturity_rating IN ({marks})", *sorted(allowed_ratings))
        else:
            where.add("0")


def _facet_filters(query: SearchQuery) -> tuple[_Where, _Where, _Where]:
    """The genre, content type and year-range filters, each ignored by its own facet."""
    genre, kind, years = _Where(), _Where(), _Where()
    if query.genre:
        genre.add(
            "EXISTS (SELECT 1 FROM doc_genres fg WHERE fg.id = d.id AND fg.genre = ?)",
            query.genre,
        )
    if query.content_type:
        kind.add("d.content_type = ?", query.content_type)
    if query.year_min:
        years.add("d.release_year >= ?", query.year_min)
    if query.year_max:
        years.add("d.release_year <= ?", query.year_max)
    return genre, kind, years


async def _facets(
    db: aiosqlite.Connection, base: _Where, genre: _Where, kind: _Where, years: _Where
) -> Facets:
    """Every facet in one statement: the matching titles (the text and the filters
    every facet keeps) are found once, then each facet counts them under every
    filter but its own."""

    def branch(name: str, column: str, source: str, *filters: _Where) -> tuple[str, list[Any]]:
        conditions = [c for part in filters for c in part.conditions] or ["1"]
        params = [p for part in filters for p in part.params]
        return (
            f"SELECT '{name}', {column}, count(*) FROM {source} "
            f"WHERE {' AND '.join(conditions)} GROUP BY 2",
            params,
        )

    branches = [
        branch("genre", "g.genre", "matched d JOIN doc_genres g ON g.id = d.id", kind, years),
        branch("content_type", "d.content_type", "matched d", genre, years),
        branch("decade", "d.decade", "matched d", genre, kind),
        branch("maturity", "d.maturity_rating", "matched d", genre, kind, years),
    ]
    sql = (
        "WITH matched AS MATERIALIZED (SELECT d.id, d.content_type, d.decade, "
        f"d.maturity_rating, d.release_year FROM docs d WHERE {base.sql()}) "
        + " UNION ALL ".join(sql for sql, _ in branches)
    )
    params = [*base.params, *(p for _, branch_params in branches for p in branch_params)]
    counts: dict[str, list[tuple[str, int]]] = {name: [] for name in Facets.__dataclass_fields__}
    async with db.execute(sql, params) as cursor:
        for name, value, count in await cursor.fetchall():
            counts[name].append((str(value), int(count)))
    for buckets in counts.values():
        buckets.sort(key=lambda bucket: (-bucket[1], bucket[0]))
    return Facets(**counts)


async def _delete_docs(db: aiosqlite.Connection, keys: list[tuple[str, str]]) -> None:
    """Deletes the (generation, title_id) rows with their FTS5 row and list filters."""
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        for table, key in (("docs_fts", "rowid"), ("doc_genres", "id"), ("doc_countries", "id")):
            await db.executemany(
                f"DELETE FROM {table} WHERE {key} IN "
                "(SELECT id FROM docs WHERE generation = ? AND title_id = ?)",
                batch,
            )
        await db.executemany("DELETE FROM docs WHERE generation = ? AND title_id = ?", batch)


def _doc_from_json(text: str) -> TitleDoc:
    fields = json.loads(text)
    for name in ("genres", "country_codes", "cast", "directors"):
        fields[name] = tuple(fields[name])
    return TitleDoc(**fields)
