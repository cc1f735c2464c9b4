"""Mapping a Netflix-format file: every defect kind is accepted, cleaned or
rejected with its line number and a reason; nothing raises."""

from __future__ import annotations

import io
import uuid

import pytest

from services.catalog import netflix_csv
from services.catalog.countries import to_alpha2
from tests.catalog.conftest import DATA


@pytest.fixture(scope="module")
def parsed() -> netflix_csv.ParsedFile:
    with (DATA / "defects.csv").open(newline="", encoding="utf-8") as stream:
        return netflix_csv.parse(stream)


def test_each_bad_row_is_rejected_with_its_line_and_reason(
    parsed: netflix_csv.ParsedFile,
) -> None:
    rejected = {(r.line, r.show_id): r.reason for r in parsed.rejected}
    assert rejected == {
        (5, "s4"): "rating column holds a duration ('74 min'): the row is shifted",
        (6, "s5"): "rating is empty",
        (7, "s6"): "date_added is empty",
        (9, "s8"): "country 'Atlantis' has no ISO 3166-1 code",
        (10, "s9"): "type 'Podcast' is neither 'Movie' nor 'TV Show'",
        (11, "s10"): "has 6 fields, expected 12",
        (12, "s1"): "duplicate show_id (first on line 2)",
        (15, "s12"): "duration '3 Seasons' is not 'N min' in range for a MOVIE",
        (16, "s13"): "release_year 'abc' is not a year between 1880 and 2100",
        (17, "s14"): "rating 'XYZ' is not a known maturity rating",
        (18, "s15"): "date_added '2020-06-05' is not a date like 'September 25, 2020'",
        (19, ""): "show_id is empty",
        (20, "s16"): "title is empty",
        (21, "s17"): "duration is empty",
    }


def test_good_rows_are_accepted_with_their_line(parsed: netflix_csv.ParsedFile) -> None:
    assert [(a.line, a.show_id) for a in parsed.accepted] == [
        (2, "s1"),
        (3, "s2"),
        (4, "s3"),
        (8, "s7"),
        (13, "s11"),
    ]


def test_a_row_maps_every_column(parsed: netflix_csv.ParsedFile) -> None:
    title = parsed.accepted[0].title
    assert title.title_id == str(uuid.uuid5(netflix_csv.SHOW_ID_NAMESPACE, "s1"))
    assert title.title == "Dick Johnson Is Dead"
    assert title.content_type == "MOVIE"
    assert title.duration_minutes == 90
    assert title.maturity_rating == "PG-13"
    assert list(title.country_codes) == ["US"]
    assert list(title.directors) == ["Kirsten Johnson"]
    assert list(title.cast) == []
    assert list(title.genres) == ["Documentaries"]
    assert title.release_year == 2020
    assert title.add_time.ToJsonString() == "2020-09-25T00:00:00Z"
    assert title.description == "A filmmaker stages her father's death."


def test_a_show_without_country_is_available_everywhere(parsed: netflix_csv.ParsedFile) -> None:
    show = parsed.accepted[1].title
    assert show.content_type == "TV_SHOW"
    assert show.seasons == 2
    assert list(show.country_codes) == []
    assert list(show.genres) == ["Docuseries", "Reality TV"]


def test_stray_commas_and_repeats_are_dropped(parsed: netflix_csv.ParsedFile) -> None:
    title = parsed.accepted[2].title
    assert list(title.country_codes) == ["BE", "FR"]
    assert list(title.directors) == ["Jane Doe", "John Roe"]
    assert list(title.cast) == ["A", "B"]
    assert list(title.genres) == ["Dramas", "International Movies"]


def test_historical_countries_map_to_their_successor(parsed: netflix_csv.ParsedFile) -> None:
    title = parsed.accepted[3].title
    assert title.maturity_rating == "NR"
    assert list(title.country_codes) == ["DE", "RU"]


def test_a_quoted_description_may_span_lines(parsed: netflix_csv.ParsedFile) -> None:
    title = parsed.accepted[4].title
    assert title.description == "First line of the description\nand its second line."
    assert title.maturity_rating == "UR"


def test_a_file_with_another_header_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Netflix catalog file"):
        netflix_csv.parse(io.StringIO("id,name\n1,x\n"))


def test_an_empty_file_has_no_rows() -> None:
    parsed = netflix_csv.parse(io.StringIO(""))
    assert (parsed.accepted, parsed.rejected) == ([], [])


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("United States", "US"),
        ("South Korea", "KR"),
        ("Russia", "RU"),
        ("Turkey", "TR"),
        ("Vatican City", "VA"),
        ("Palestine", "PS"),
        ("Hong Kong", "HK"),
        (" France ", "FR"),
        ("Atlantis", None),
        ("", None),
    ],
)
def test_country_names_map_to_alpha2(name: str, code: str | None) -> None:
    assert to_alpha2(name) == code


def test_every_country_of_the_real_file_is_known() -> None:
    from tests.catalog.conftest import REAL_CATALOG

    with (REAL_CATALOG / "netflix_titles.csv").open(newline="", encoding="utf-8") as stream:
        parsed = netflix_csv.parse(stream)
    assert not [r for r in parsed.rejected if "ISO 3166-1" in r.reason]
