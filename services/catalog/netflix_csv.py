"""Rows of a Netflix-format catalog file (netflix_titles.csv) as titles.

Columns: show_id, type, title, director, cast, country, date_added,
release_year, rating, duration, listed_in, description. The mapping is strict
where the catalog depends on a value and lenient where it does not:

* rejected (with the reason): a wrong number of fields; an empty or duplicate
  show_id; a type other than "Movie"/"TV Show"; an empty or overlong title; an
  empty, unknown or misplaced rating (the real file has "74 min" in the rating
  column of three rows whose duration is empty: the row is shifted, so no
  field of it can be trusted); an empty duration or one whose unit does not
  fit the type ("90 min" for movies, "N Season(s)" for shows); an empty or
  unparsable date_added (it orders the catalog); a release year outside
  1880-2100; a country name with no ISO 3166-1 code (guessing would publish
  a title where it is not licensed, or everywhere when no name is left).
* cleaned: list fields (director, cast, country, listed_in) are split on
  commas with blanks and repeats dropped, so stray commas are harmless; an
  empty country list means "available everywhere" (docs/architecture.md,
  Catalog data).

Every limit is the contract's (catalog.proto's protovalidate rules): checking
them here gives a row-level reason instead of a failed write later.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, TextIO

from services.catalog.countries import to_alpha2
from services.catalog.titles import from_ms
from services.ratings import is_known
from streammesh.catalog.v1 import catalog_pb2

COLUMNS: Final = (
    "show_id",
    "type",
    "title",
    "director",
    "cast",
    "country",
    "date_added",
    "release_year",
    "rating",
    "duration",
    "listed_in",
    "description",
)
# Title ids are uuid5(SHOW_ID_NAMESPACE, show_id): the same row always gets
# the same id, so a re-import finds and compares instead of duplicating.
SHOW_ID_NAMESPACE: Final = uuid.UUID("6f1c1e0a-4c2b-5d7e-9a51-3e0f2b7d8c41")
_TYPES: Final = {"Movie": "MOVIE", "TV Show": "TV_SHOW"}
_MINUTES: Final = re.compile(r"^(\d+) min$")
_SEASONS: Final = re.compile(r"^(\d+) Seasons?$")
_DATE_FORMAT: Final = "%B %d, %Y"


@dataclass(frozen=True)
class Accepted:
    line: int
    show_id: str
    title: catalog_pb2.Title


@dataclass(frozen=True)
class Rejected:
    line: int
    show_id: str
    reason: str


@dataclass
class ParsedFile:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def title_id_for(show_id: str) -> str:
    return str(uuid.uuid5(SHOW_ID_NAMESPACE, show_id))


def parse(stream: TextIO) -> ParsedFile:
    """Every row of ``stream`` (header first), accepted or rejected with a reason."""
    parsed = ParsedFile()
    first_line_of: dict[str, int] = {}
    for line, values in _records(stream):
        show_id = values[0].strip() if values else ""
        if len(values) != len(COLUMNS):
            parsed.rejected.append(
                Rejected(line, show_id, f"has {len(values)} fields, expected {len(COLUMNS)}")
            )
            continue
        if show_id in first_line_of:
            parsed.rejected.append(
                Rejected(
                    line, show_id, f"duplicate show_id (first on line {first_line_of[show_id]})"
                )
            )
            continue
        result = map_row(dict(zip(COLUMNS, values, strict=True)))
        if isinstance(result, str):
            parsed.rejected.append(Rejected(line, show_id, result))
            continue
        first_line_of[show_id] = line
        parsed.accepted.append(Accepted(line, show_id, result))
    return parsed


def _records(stream: TextIO) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, fields); quoted fields may span lines."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        return
    if [name.strip().lstrip("\ufeff") for name in header] != list(COLUMNS):
        raise ValueError(f"not a Netflix catalog file: header is {header}, expected {COLUMNS}")
    previous_end = reader.line_num
    for values in reader:
        start, previous_end = previous_end + 1, reader.line_num
        if not any(value.strip() for value in values):
            continue  # blank line
        yield start, values


def map_row(row: dict[str, str]) -> catalog_pb2.Title | str:
    """The title of one row, or the reason it is rejected."""
    show_id = row["show_id"].strip()
    if not show_id:
        return "show_id is empty"
    content_type = _TYPES.get(row["type"].strip())
    if content_type is None:
        return f"type {row['type']!r} is neither 'Movie' nor 'TV Show'"
    name = row["title"].strip()
    if not name:
        return "title is empty"
    if len(name) > 500:
        return "title is longer than 500 characters"
    rating = row["rating"].strip()
    if not rating:
        return "rating is empty"
    if _MINUTES.match(rating) or _SEASONS.match(rating):
        return f"rating column holds a duration ({rating!r}): the row is shifted"
    if not is_known(rating):
        return f"rating {rating!r} is not a known maturity rating"
    title = catalog_pb2.Title(
        title_id=title_id_for(show_id),
        title=name,
        content_type=content_type,
        maturity_rating=rating,
    )
    reason = (
        _set_duration(title, row["duration"].strip())
        or _set_release_year(title, row["release_year"].strip())
        or _set_add_time(title, row["date_added"].strip())
        or _set_countries(title, row["country"])
        or _set_lists(title, row)
    )
    if reason:
        return reason
    description = row["description"].strip()
    if len(description) > 4000:
        return "description is longer than 4000 characters"
    title.description = description
    return title


def _set_duration(title: catalog_pb2.Title, duration: str) -> str:
    if not duration:
        return "duration is empty"
    minutes, seasons = _MINUTES.match(duration), _SEASONS.match(duration)
    if title.content_type == "MOVIE" and minutes and 0 < int(minutes[1]) <= 2000:
        title.duration_minutes = int(minutes[1])
    elif title.content_type == "TV_SHOW" and seasons and 0 < int(seasons[1]) <= 200:
        title.seasons = int(seasons[1])
    else:
        kind = "'N min'" if title.content_type == "MOVIE" else "'N Season(s)'"
        return f"duration {duration!r} is not {kind} in range for a {title.content_type}"
    return ""


def _set_release_year(title: catalog_pb2.Title, year: str) -> str:
    if not year.isdigit() or not 1880 <= int(year) <= 2100:
        return f"release_year {year!r} is not a year between 1880 and 2100"
    title.release_year = int(year)
    return ""


def _set_add_time(title: catalog_pb2.Title, date_added: str) -> str:
    if not date_added:
        return "date_added is empty"
    try:
        added = datetime.strptime(date_added, _DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return f"date_added {date_added!r} is not a date like 'September 25, 2020'"
    title.add_time.CopyFrom(from_ms(int(added.timestamp()) * 1000))
    return ""


def _set_countries(title: catalog_pb2.Title, countries: str) -> str:
    names = _split(countries)
    codes = {name: to_alpha2(name) for name in names}
    unknown = [name for name, code in codes.items() if code is None]
    if unknown:
        return f"country {', '.join(map(repr, unknown))} has no ISO 3166-1 code"
    title.country_codes.extend(sorted({code for code in codes.values() if code}))
    return ""


def _set_lists(title: catalog_pb2.Title, row: dict[str, str]) -> str:
    limits = (
        ("listed_in", title.genres, 20, 100),
        ("cast", title.cast, 500, 200),
        ("director", title.directors, 50, 200),
    )
    for column, target, max_items, max_len in limits:
        items = _split(row[column])
        if len(items) > max_items:
            return f"{column} lists {len(items)} entries, at most {max_items} are allowed"
        if any(len(item) > max_len for item in items):
            return f"{column} has an entry longer than {max_len} characters"
        target.extend(items)
    return ""


def _split(value: str) -> list[str]:
    """Comma-separated items, stripped, blanks and repeats dropped, order kept."""
    return list(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
