# ruff: noqa: E501  (SPEC: one judged query a line)
"""Writes the judged query set of services/search/relevance/ from a reviewed spec.

Not shipped: a developer's tool. The judgments are the ``SPEC`` below, written
by hand from the catalog's CSV (never from a search adapter's answers, which
would make the metric circular); this script only expands the person and
genre + year rules over the catalog, maps show ids to title ids (uuid5 of the
show id, as the importer assigns them) and, with ``--review``, prints every
query's graded titles and the catalog titles sharing a word with a meant title
that are *not* judged, so a reviewer can spot a franchise member left out.

    python -m devtools.relevance_judgments [--review]
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from services.catalog.importer import parse_file
from services.catalog.netflix_csv import title_id_for
from services.search.store import STOP_WORDS, words

ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = ROOT / "services" / "catalog" / "data" / "netflix_titles.csv"
OUT = ROOT / "services" / "search" / "relevance"


@dataclass(frozen=True)
class Titles:
    """The meant title(s) (grade 3) and related titles (grade 2 and 1), by show id."""

    meant: tuple[str, ...]
    related: tuple[str, ...] = ()
    loosely: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cast:
    name: str


@dataclass(frozen=True)
class Director:
    name: str


@dataclass(frozen=True)
class GenreYear:
    country: str  # "" for any
    genre: str  # listed_in categories, "|" between alternatives
    year: int


Rule = Titles | Cast | Director | GenreYear

# (query id, kind, text, rule). Reviewed by hand; see the folder's README.
SPEC: list[tuple[str, str, str, Rule]] = [
    # exact titles
    ("q01", "exact", "Stranger Things", Titles(("s3686",), ("s5201",))),
    ("q02", "exact", "Narcos", Titles(("s5306",), ("s2922",), ("s4306",))),
    ("q03", "exact", "Ozark", Titles(("s2768",))),
    ("q04", "exact", "The Crown", Titles(("s1699",))),
    ("q05", "exact", "Black Mirror", Titles(("s3775",), ("s4254",))),
    ("q06", "exact", "Breaking Bad", Titles(("s5941",), ("s3429",), ("s3365",))),
    ("q07", "exact", "The Irishman", Titles(("s3228",), ("s3182",))),
    ("q08", "exact", "Squid Game", Titles(("s34",))),
    ("q09", "exact", "The Witcher", Titles(("s3118",), ("s241",), ("s2059", "s2096"))),
    ("q10", "exact", "Okja", Titles(("s5416",))),
    ("q11", "exact", "Jaws", Titles(("s42",), ("s43", "s44", "s45"))),
    ("q12", "exact", "Rocky", Titles(("s7880",), ("s7881", "s7882", "s7883", "s7884"))),
    ("q13", "exact", "Our Planet", Titles(("s3939",), ("s3574",), ("s1887",))),
    ("q14", "exact", "Klaus", Titles(("s3274",))),
    # misspelled titles (1-2 edits)
    ("q15", "misspelled", "strnger thigns", Titles(("s3686",), ("s5201",))),
    ("q16", "misspelled", "ozrak", Titles(("s2768",))),
    ("q17", "misspelled", "narcoss", Titles(("s5306",), ("s2922",), ("s4306",))),
    ("q18", "misspelled", "peeky blinders", Titles(("s3453",))),
    ("q19", "misspelled", "mindhuntr", Titles(("s3582",))),
    ("q20", "misspelled", "sqiud game", Titles(("s34",))),
    ("q21", "misspelled", "the wicther", Titles(("s3118",), ("s241",), ("s2059", "s2096"))),
    ("q22", "misspelled", "breakng bad", Titles(("s5941",), ("s3429",), ("s3365",))),
    ("q23", "misspelled", "lucifr", Titles(("s83",))),
    ("q24", "misspelled", "marrige story", Titles(("s3170",))),
    ("q25", "misspelled", "quens gambit", Titles(("s1805",), ("s1426",))),
    ("q26", "misspelled", "bojak horseman", Titles(("s3370",), ("s5921",))),
    ("q27", "misspelled", "cobra kia", Titles(("s1449",), ("s731",))),
    # partial titles (a middle or last word or two)
    ("q28", "partial", "gambit", Titles(("s1805",), ("s1426",))),
    ("q29", "partial", "bandersnatch", Titles(("s4254",), ("s3775",))),
    ("q30", "partial", "el camino", Titles(("s3429",), ("s3365",), ("s5941",))),
    ("q31", "partial", "hill house", Titles(("s4519",), ("s1874",))),
    ("q32", "partial", "bly manor", Titles(("s1874",), ("s4519",))),
    ("q33", "partial", "temple of doom", Titles(("s7074",), (), ("s7071", "s7072", "s7073"))),
    ("q34", "partial", "deep space nine", Titles(("s5651",), (), ("s595", "s4947", "s5245", "s5246"))),
    ("q35", "partial", "spider-verse", Titles(("s8069",), (), ("s8068", "s1254"))),
    ("q36", "partial", "lost ark", Titles(("s7073",), (), ("s7071", "s7072", "s7074"))),
    # cast names
    ("q37", "cast", "Adam Sandler", Cast("Adam Sandler")),
    ("q38", "cast", "Shah Rukh Khan", Cast("Shah Rukh Khan")),
    ("q39", "cast", "Tom Hanks", Cast("Tom Hanks")),
    ("q40", "cast", "Leonardo DiCaprio", Cast("Leonardo DiCaprio")),
    ("q41", "cast", "Keanu Reeves", Cast("Keanu Reeves")),
    ("q42", "cast", "Robert De Niro", Cast("Robert De Niro")),
    ("q43", "cast", "Millie Bobby Brown", Cast("Millie Bobby Brown")),
    ("q44", "cast", "Idris Elba", Cast("Idris Elba")),
    ("q45", "cast", "Jackie Chan", Cast("Jackie Chan")),
    ("q46", "cast", "David Attenborough", Cast("David Attenborough")),
    # director names
    ("q47", "director", "Martin Scorsese", Director("Martin Scorsese")),
    ("q48", "director", "Steven Spielberg", Director("Steven Spielberg")),
    ("q49", "director", "Quentin Tarantino", Director("Quentin Tarantino")),
    ("q50", "director", "Bong Joon Ho", Director("Bong Joon Ho")),
    ("q51", "director", "Noah Baumbach", Director("Noah Baumbach")),
    ("q52", "director", "David Fincher", Director("David Fincher")),
    ("q53", "director", "Mike Flanagan", Director("Mike Flanagan")),
    ("q54", "director", "Ava DuVernay", Director("Ava DuVernay")),
    # genre + year, sent as text only (see the README)
    ("q55", "genre_year", "korean dramas 2019", GenreYear("South Korea", "TV Dramas", 2019)),
    ("q56", "genre_year", "japanese anime 2020", GenreYear("Japan", "Anime Series|Anime Features", 2020)),
    ("q57", "genre_year", "stand-up comedy 2019", GenreYear("", "Stand-Up Comedy", 2019)),
    ("q58", "genre_year", "spanish thrillers 2018", GenreYear("Spain", "Thrillers", 2018)),
    ("q59", "genre_year", "british crime tv shows 2020", GenreYear("United Kingdom", "Crime TV Shows", 2020)),
    ("q60", "genre_year", "indian romantic movies 2017", GenreYear("India", "Romantic Movies", 2017)),
    # description phrases (paraphrased, as a user remembers a plot)
    ("q61", "description", "players compete in deadly children's games for a cash prize", Titles(("s34",))),
    ("q62", "description", "orphan girl chess prodigy addiction", Titles(("s1805",))),
    ("q63", "description", "financial adviser launders money for a drug boss", Titles(("s2768",))),
    ("q64", "description", "postman and toymaker friendship", Titles(("s3274",))),
    ("q65", "description", "unseen presence drives society to suicide", Titles(("s4269",))),
    ("q66", "description", "FBI agents psychology of murder 1970s", Titles(("s3582",))),
    ("q67", "description", "filmmaker stages her father's death", Titles(("s1",))),
    ("q68", "description", "teen swimmer sister abducted at birth Cape Town", Titles(("s2",))),
]  # fmt: skip


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def judge(rule: Rule, rows: list[dict[str, str]]) -> dict[str, int]:
    """Show id -> grade (1-3) for one query's rule."""
    grades: dict[str, int] = {}
    if isinstance(rule, Titles):
        for grade, ids in ((1, rule.loosely), (2, rule.related), (3, rule.meant)):
            grades.update(dict.fromkeys(ids, grade))
    elif isinstance(rule, Cast):
        # Top-billed (first three names) 3, elsewhere in the cast 2, directed it 1.
        for row in rows:
            cast = _split(row["cast"])
            if rule.name in cast[:3]:
                grades[row["show_id"]] = 3
            elif rule.name in cast:
                grades[row["show_id"]] = 2
            elif rule.name in _split(row["director"]):
                grades[row["show_id"]] = 1
    elif isinstance(rule, Director):
        # Directed it 3, in its cast only 1.
        for row in rows:
            if rule.name in _split(row["director"]):
                grades[row["show_id"]] = 3
            elif rule.name in _split(row["cast"]):
                grades[row["show_id"]] = 1
    else:
        # Country, genre and year all match 3; country and genre another year 1.
        for row in rows:
            in_country = not rule.country or rule.country in _split(row["country"])
            if not in_country or not set(rule.genre.split("|")) & set(_split(row["listed_in"])):
                continue
            grades[row["show_id"]] = 3 if int(row["release_year"]) == rule.year else 1
    return grades


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--review", action="store_true", help="print the judgments")
    args = parser.parse_args(argv)
    with CSV_PATH.open(newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    # Only the rows the importer accepts are in the index (8,790 of 8,807).
    accepted = {row.title.title_id for row in parse_file(CSV_PATH).accepted}
    rows = [row for row in rows if title_id_for(row["show_id"]) in accepted]
    by_id = {row["show_id"]: row for row in rows}
    queries: list[str] = []
    qrels: list[str] = []
    for query_id, kind, text, rule in SPEC:
        queries.append(f"{query_id}\t{kind}\t{text}")
        grades = judge(rule, rows)
        if not grades:
            raise SystemExit(f"{query_id} {text!r}: no relevant title")
        unknown = set(grades) - set(by_id)
        if unknown:
            raise SystemExit(f"{query_id} {text!r}: not in the catalog: {sorted(unknown)}")
        for show_id, grade in sorted(grades.items(), key=lambda item: (-item[1], item[0])):
            qrels.append(f"{query_id}\t0\t{title_id_for(show_id)}\t{grade}\t# {show_id}")
        if args.review:
            print(f"{query_id} [{kind}] {text!r}")
            for show_id, grade in sorted(grades.items(), key=lambda item: (-item[1], item[0])):
                row = by_id[show_id]
                print(f"   {grade} {show_id:6} {row['title']} ({row['release_year']})")
            if isinstance(rule, Titles):
                meant_words = {
                    word
                    for show_id in rule.meant
                    for word in words(by_id[show_id]["title"])
                    if word not in STOP_WORDS
                }
                others = [
                    row
                    for row in rows
                    if row["show_id"] not in grades and meant_words & set(words(row["title"]))
                ]
                for row in others[:8]:
                    print(f"   ? {row['show_id']:6} {row['title']} ({row['release_year']})")
    header = "# query_id\tkind\ttext\n"
    (OUT / "queries.tsv").write_text(header + "\n".join(queries) + "\n", encoding="utf-8")
    qrels_header = "# query_id\titeration\ttitle_id\tgrade\t# show_id\n"
    (OUT / "qrels.tsv").write_text(qrels_header + "\n".join(qrels) + "\n", encoding="utf-8")
    print(f"{len(queries)} queries, {len(qrels)} judgments", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
