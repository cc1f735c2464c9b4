"""The catalog store contract: one suite, run on SQLite and on Cassandra."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import aiosqlite
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.catalog.listing import TitleFilter
from services.catalog.store import CatalogStore
from services.catalog.stores.cassandra import CassandraCatalogStore
from services.catalog.stores.sqlite import SqliteCatalogStore
from services.runtime.errors import AlreadyExists, InvalidArgument, NotFound
from streammesh.catalog.v1 import catalog_pb2, events_pb2
from streammesh.events.v1 import event_pb2

DAY_MS = 86_400_000
# Listings in these tests end within this many pages (a bound, not a target).
MAX_PAGES = 500
NOW_MS = time.time_ns() // 1_000_000


def ts(ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def a_title(**fields: object) -> catalog_pb2.Title:
    values: dict[str, object] = {
        "title_id": str(uuid.uuid4()),
        "title": "Dick Johnson Is Dead",
        "description": "A filmmaker stages her father's death.",
        "release_year": 2020,
        "duration_minutes": 90,
        "content_type": "MOVIE",
        "genres": ["Documentaries"],
        "maturity_rating": "PG-13",
        "country_codes": ["US"],
        "cast": ["Kirsten Johnson", "Richard Johnson"],
        "directors": ["Kirsten Johnson"],
        "add_time": ts(NOW_MS - DAY_MS),
    }
    values.update(fields)
    return catalog_pb2.Title(**values)  # type: ignore[arg-type]


async def outbox_events(store: CatalogStore, title_id: str) -> list[event_pb2.Event]:
    """The events the store recorded for a title, oldest first."""
    if isinstance(store, SqliteCatalogStore):
        outbox = await store._reader.fetch_all(
            "SELECT payload FROM outbox WHERE aggregate_id = ? ORDER BY seq", (title_id,)
        )
        payloads = [row[0] for row in outbox]
    else:
        assert isinstance(store, CassandraCatalogStore)
        rows = await store.session.execute(
            f"SELECT aggregate_id, payload FROM {store.session.keyspace}.outbox WHERE shard = 0"
        )
        payloads = [row.payload for row in rows if row.aggregate_id == title_id]
    return [event_pb2.Event.FromString(payload) for payload in payloads]


async def test_a_missing_title_is_none(store: CatalogStore) -> None:
    assert await store.get_title(str(uuid.uuid4())) is None
    assert await store.get_metadata(str(uuid.uuid4())) is None


async def test_a_created_title_reads_back_whole(store: CatalogStore) -> None:
    title = a_title(country_codes=["US", "FR"], language_codes=["en", "fr"])
    created = await store.create_title(title)
    fetched = await store.get_title(title.title_id)
    assert fetched == created
    assert fetched.title == title.title
    assert list(fetched.country_codes) == ["FR", "US"]
    assert list(fetched.cast) == list(title.cast)
    assert fetched.WhichOneof("length") == "duration_minutes"
    assert fetched.add_time == title.add_time
    assert fetched.HasField("create_time")
    assert fetched.update_time == fetched.create_time


async def test_creating_records_the_created_event_in_the_outbox(store: CatalogStore) -> None:
    title = a_title()
    created = await store.create_title(title)
    [event] = await outbox_events(store, title.title_id)
    assert event.event_type == "catalog.title.created"
    assert (event.source, event.aggregate_type, event.aggregate_id) == (
        "catalog",
        "title",
        title.title_id,
    )
    uuid.UUID(event.event_id)
    data = events_pb2.TitleCreatedEvent()
    assert event.data.Unpack(data)
    assert data.title == created


async def test_creating_an_existing_id_fails_and_changes_nothing(store: CatalogStore) -> None:
    title = await store.create_title(a_title())
    with pytest.raises(AlreadyExists):
        await store.create_title(a_title(title_id=title.title_id, title="Another"))
    assert await store.get_title(title.title_id) == title
    assert len(await outbox_events(store, title.title_id)) == 1


async def test_a_title_without_an_id_is_refused(store: CatalogStore) -> None:
    with pytest.raises(InvalidArgument):
        await store.create_title(a_title(title_id=""))


async def test_a_tv_show_keeps_its_seasons(store: CatalogStore) -> None:
    title = a_title(content_type="TV_SHOW", seasons=3)
    await store.create_title(title)
    fetched = await store.get_title(title.title_id)
    assert fetched is not None
    assert fetched.WhichOneof("length") == "seasons"
    assert fetched.seasons == 3


async def test_batch_get_returns_the_existing_titles_only(store: CatalogStore) -> None:
    first, second = a_title(), a_title(title="Second")
    for title in (first, second):
        await store.create_title(title)
    missing = str(uuid.uuid4())
    found = await store.batch_get_titles([second.title_id, missing, first.title_id])
    assert set(found) == {first.title_id, second.title_id}
    assert found[second.title_id].title == "Second"
    assert await store.batch_get_titles([]) == {}


async def test_update_changes_the_masked_fields_only(store: CatalogStore) -> None:
    title = await store.create_title(a_title())
    patch = catalog_pb2.Title(
        title_id=title.title_id, title="Renamed", description="ignored", genres=["Dramas"]
    )
    updated, created = await store.update_title(patch, ["title", "genres"])
    assert not created
    assert updated.title == "Renamed"
    assert list(updated.genres) == ["Dramas"]
    assert updated.description == title.description
    assert updated.create_time == title.create_time
    assert await store.get_title(title.title_id) == updated
    events = await outbox_events(store, title.title_id)
    assert [e.event_type for e in events] == ["catalog.title.created", "catalog.title.updated"]
    data = events_pb2.TitleUpdatedEvent()
    assert events[1].data.Unpack(data)
    assert list(data.update_mask.paths) == ["title", "genres"]
    assert data.title == updated


async def test_update_switches_minutes_to_seasons(store: CatalogStore) -> None:
    title = await store.create_title(a_title())
    patch = catalog_pb2.Title(title_id=title.title_id, content_type="TV_SHOW", seasons=2)
    updated, _ = await store.update_title(patch, ["content_type", "duration_minutes", "seasons"])
    assert updated.WhichOneof("length") == "seasons"
    assert (await store.get_title(title.title_id)) == updated


async def test_update_with_an_unknown_path_fails_and_changes_nothing(store: CatalogStore) -> None:
    title = await store.create_title(a_title())
    patch = catalog_pb2.Title(title_id=title.title_id, title="Renamed")
    with pytest.raises(InvalidArgument) as caught:
        await store.update_title(patch, ["title", "create_time", "nonsense"])
    assert {v.field for v in caught.value.violations} == {"update_mask"}
    assert len(caught.value.violations) == 2
    assert await store.get_title(title.title_id) == title


async def test_update_of_a_missing_title_is_not_found_unless_allowed(store: CatalogStore) -> None:
    patch = a_title()
    with pytest.raises(NotFound):
        await store.update_title(patch, ["title"])
    assert await store.get_title(patch.title_id) is None
    created_title, created = await store.update_title(patch, ["title"], allow_missing=True)
    assert created
    assert created_title.title == patch.title
    events = await outbox_events(store, patch.title_id)
    assert [e.event_type for e in events] == ["catalog.title.created"]


async def test_an_empty_mask_replaces_every_field(store: CatalogStore) -> None:
    title = await store.create_title(a_title(language_codes=["en"]))
    replacement = a_title(title_id=title.title_id, title="Replaced", add_time=title.add_time)
    updated, _ = await store.update_title(replacement, [])
    assert updated.title == "Replaced"
    assert list(updated.language_codes) == []


async def test_metadata_is_replaced_per_title(store: CatalogStore) -> None:
    title = await store.create_title(a_title())
    empty = await store.get_metadata(title.title_id)
    assert empty == catalog_pb2.TitleMetadata(title_id=title.title_id)
    metadata = catalog_pb2.TitleMetadata(
        title_id=title.title_id,
        poster_url="https://img.example/p.jpg",
        trailer_url="https://video.example/t.mp4",
        synopsis="Long text.",
    )
    await store.put_metadata(metadata)
    assert await store.get_metadata(title.title_id) == metadata
    await store.put_metadata(catalog_pb2.TitleMetadata(title_id=title.title_id, synopsis="New."))
    assert await store.get_metadata(title.title_id) == catalog_pb2.TitleMetadata(
        title_id=title.title_id, synopsis="New."
    )


async def test_metadata_of_a_missing_title_is_not_found(store: CatalogStore) -> None:
    with pytest.raises(NotFound):
        await store.put_metadata(catalog_pb2.TitleMetadata(title_id=str(uuid.uuid4())))


async def test_metadata_given_at_creation_is_stored(store: CatalogStore) -> None:
    title = a_title()
    metadata = catalog_pb2.TitleMetadata(title_id=title.title_id, synopsis="At birth.")
    await store.create_title(title, metadata=metadata)
    assert await store.get_metadata(title.title_id) == metadata


async def test_availability_lists_each_country_with_its_window(store: CatalogStore) -> None:
    title = a_title(country_codes=["US", "FR", "DE"])
    window = catalog_pb2.Availability(
        country_code="FR", available_from=ts(NOW_MS - DAY_MS), available_until=ts(NOW_MS + DAY_MS)
    )
    extra = catalog_pb2.Availability(country_code="JP", available_from=ts(NOW_MS))
    created = await store.create_title(title, [window, extra])
    assert list(created.country_codes) == ["DE", "FR", "JP", "US"]
    first = await store.list_availability(title.title_id, 2)
    assert [a.country_code for a in first.availability] == ["DE", "FR"]
    assert first.availability[1] == window
    assert not first.availability[0].HasField("available_from")
    assert first.next_after_country == "FR"
    second = await store.list_availability(title.title_id, 2, first.next_after_country)
    assert [a.country_code for a in second.availability] == ["JP", "US"]
    assert second.availability[0] == extra
    assert second.next_after_country is None


async def test_availability_of_a_missing_title_is_not_found(store: CatalogStore) -> None:
    with pytest.raises(NotFound):
        await store.list_availability(str(uuid.uuid4()), 10)


async def test_updating_countries_keeps_the_windows_of_those_that_stay(
    store: CatalogStore,
) -> None:
    title = a_title(country_codes=["US"])
    window = catalog_pb2.Availability(country_code="FR", available_until=ts(NOW_MS + DAY_MS))
    await store.create_title(title, [window])
    patch = catalog_pb2.Title(title_id=title.title_id, country_codes=["FR", "GB"])
    await store.update_title(patch, ["country_codes"])
    page = await store.list_availability(title.title_id, 10)
    assert [a.country_code for a in page.availability] == ["FR", "GB"]
    assert page.availability[0] == window


async def test_an_update_moves_the_title_in_the_listing(store: CatalogStore) -> None:
    genre = f"genre-{uuid.uuid4()}"
    title = await store.create_title(a_title(genres=[genre], country_codes=["US"]))
    patch = catalog_pb2.Title(
        title_id=title.title_id, country_codes=["FR"], add_time=ts(NOW_MS - 5 * DAY_MS)
    )
    updated, _ = await store.update_title(patch, ["country_codes", "add_time"])
    assert await list_all(store, TitleFilter(country="US", genre=genre)) == []
    assert await list_all(store, TitleFilter(country="FR", genre=genre)) == [updated]
    assert await list_all(store, TitleFilter(genre=genre)) == [updated]


async def list_all(store: CatalogStore, title_filter: TitleFilter) -> list[catalog_pb2.Title]:
    """Every page (a store may return short pages with a token); bounded."""
    titles: list[catalog_pb2.Title] = []
    after = None
    for _ in range(MAX_PAGES):
        page = await store.list_titles(title_filter, 10, after, NOW_MS)
        titles += page.titles
        if page.next_cursor is None:
            return titles
        after = page.next_cursor
    pytest.fail(f"listing {title_filter} did not end within {MAX_PAGES} pages")


async def test_paging_merges_a_sparse_country_with_a_dense_everywhere_partition(
    store: CatalogStore,
) -> None:
    """Titles available everywhere and titles of the country interleave in time;
    a store that reads the two in bounded chunks must not skip the one whose
    chunk ended first (a page of matches from far down one partition would
    jump over matches of the other)."""
    wanted, other = f"genre-{uuid.uuid4()}", f"genre-{uuid.uuid4()}"
    top = NOW_MS + 10 * DAY_MS  # newer than anything else in a shared store
    minute = 60_000
    for i in range(1, 31):
        await store.create_title(
            a_title(country_codes=[], genres=[other], add_time=ts(top - i * minute))
        )
    everywhere = await store.create_title(
        a_title(country_codes=[], genres=[wanted], add_time=ts(top - 100 * minute))
    )
    in_us = [
        await store.create_title(
            a_title(country_codes=["US"], genres=[wanted], add_time=ts(top - m * minute))
        )
        for m in (50, 150, 200)
    ]
    title_filter = TitleFilter(country="US", genre=wanted)
    seen: list[str] = []
    after = None
    for _ in range(MAX_PAGES):
        page = await store.list_titles(title_filter, 2, after, NOW_MS)
        seen += [t.title_id for t in page.titles]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    expected = [in_us[0], everywhere, in_us[1], in_us[2]]
    assert seen == [t.title_id for t in expected]


async def test_a_database_from_a_newer_build_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA user_version = 99")
        await db.commit()
    with pytest.raises(RuntimeError, match="newer than this build"):
        await SqliteCatalogStore.open(path)


async def test_reopening_the_embedded_store_keeps_its_titles(tmp_path: Path) -> None:
    store = await SqliteCatalogStore.open(tmp_path / "catalog.db")
    title = await store.create_title(a_title())
    await store.close()
    store = await SqliteCatalogStore.open(tmp_path / "catalog.db")
    try:
        assert await store.get_title(title.title_id) == title
    finally:
        await store.close()
