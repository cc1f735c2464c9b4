"""CatalogService through a real grpc.aio server on port 0 (full interceptor
chain, real Redis cache), on the embedded SQLite store and on Cassandra."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY

from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.catalog.conftest import DATA, catalog_backends
from tests.mesh import Storage, catalog_config, start_mesh


@dataclass
class Running:
    stub: catalog_pb2_grpc.CatalogServiceStub
    channel: grpc.aio.Channel
    server: grpc.aio.Server


@pytest_asyncio.fixture(scope="module", params=["embedded", "real"])
async def catalog(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    redis_prefix: str,
) -> AsyncIterator[Running]:
    state = tmp_path_factory.mktemp("catalog-service")
    prefix = f"{redis_prefix}catalog-{request.param}:"
    storage = Storage(state, redis_url, prefix, catalog_backends(request))
    async with start_mesh(catalog_config(storage, seed_catalog=str(DATA / "defects.csv"))) as mesh:
        channel = grpc.aio.insecure_channel(mesh.address("catalog"))
        yield Running(
            catalog_pb2_grpc.CatalogServiceStub(channel), channel, mesh.servers["catalog"]
        )
        await channel.close()


def a_title(**fields: object) -> catalog_pb2.Title:
    added = Timestamp()
    added.FromJsonString("2021-06-01T00:00:00Z")
    values: dict[str, object] = {
        "title_id": str(uuid.uuid4()),
        "title": "The Starling",
        "description": "A woman adjusting to life after a loss.",
        "release_year": 2021,
        "duration_minutes": 104,
        "content_type": "MOVIE",
        "genres": ["Comedies", "Dramas"],
        "maturity_rating": "PG-13",
        "country_codes": ["US"],
        "add_time": added,
    }
    values.update(fields)
    return catalog_pb2.Title(**values)  # type: ignore[arg-type]


def hits() -> float:
    value = REGISTRY.get_sample_value(
        "streammesh_cache_requests_total", {"namespace": "catalog.title", "result": "hit"}
    )
    return value or 0.0


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert isinstance(status, status_pb2.Status)
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_a_created_title_is_read_back_then_served_from_the_cache(catalog: Running) -> None:
    created = await catalog.stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=a_title()))
    first = await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id=created.title_id))
    before = hits()
    second = await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id=created.title_id))
    assert first == second == created
    assert hits() == before + 1


async def test_an_update_is_visible_at_once_despite_the_cache(catalog: Running) -> None:
    created = await catalog.stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=a_title()))
    await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id=created.title_id))
    patch = a_title(title_id=created.title_id, title="The Starling (2021)")
    await catalog.stub.UpdateTitle(
        catalog_pb2.UpdateTitleRequest(title=patch, update_mask=FieldMask(paths=["title"]))
    )
    fetched = await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id=created.title_id))
    assert fetched.title == "The Starling (2021)"


async def test_a_cached_listing_follows_a_title_out_of_its_filter(catalog: Running) -> None:
    genre = f"Listing cache {uuid.uuid4().hex[:8]}"  # this title alone has it
    created = await catalog.stub.CreateTitle(
        catalog_pb2.CreateTitleRequest(title=a_title(genres=[genre], maturity_rating="PG"))
    )
    query = catalog_pb2.ListTitlesRequest(
        country="US", max_maturity="PG", genre=genre, page_size=50
    )

    async def listed() -> list[str]:
        return [t.title_id for t in (await catalog.stub.ListTitles(query)).titles]

    assert created.title_id in await listed()
    assert created.title_id in await listed()  # now served from the listing cache
    patch = a_title(title_id=created.title_id, genres=[genre], maturity_rating="R")
    await catalog.stub.UpdateTitle(
        catalog_pb2.UpdateTitleRequest(
            title=patch, update_mask=FieldMask(paths=["maturity_rating"])
        )
    )
    assert created.title_id not in await listed()


async def test_unknown_and_malformed_ids(catalog: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id=str(uuid.uuid4())))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id="s1"))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(malformed.value) == ["title_id"]


async def test_batch_get_keeps_request_order_and_lists_the_missing(catalog: Running) -> None:
    a = await catalog.stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=a_title(title="A")))
    b = await catalog.stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=a_title(title="B")))
    missing = str(uuid.uuid4())
    response = await catalog.stub.BatchGetTitles(
        catalog_pb2.BatchGetTitlesRequest(title_ids=[b.title_id, missing, a.title_id, b.title_id])
    )
    assert [t.title for t in response.titles] == ["B", "A"]
    assert list(response.missing_title_ids) == [missing]


async def test_creating_twice_is_already_exists(catalog: Running) -> None:
    title = a_title()
    await catalog.stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=title))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=title))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_bad_availability_names_each_field(catalog: Running) -> None:
    early, late = Timestamp(), Timestamp()
    early.FromJsonString("2021-01-01T00:00:00Z")
    late.FromJsonString("2022-01-01T00:00:00Z")
    request = catalog_pb2.CreateTitleRequest(
        title=a_title(),
        availability=[
            catalog_pb2.Availability(country_code="usa"),
            catalog_pb2.Availability(country_code="FR", available_from=late, available_until=early),
        ],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.CreateTitle(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == [
        "availability[0].country_code",
        "availability[1].available_until",
    ]
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id=request.title.title_id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_update_of_a_missing_title_needs_allow_missing(catalog: Running) -> None:
    title = a_title()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.UpdateTitle(catalog_pb2.UpdateTitleRequest(title=title))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    upserted = await catalog.stub.UpdateTitle(
        catalog_pb2.UpdateTitleRequest(title=title, allow_missing=True)
    )
    assert upserted.title == title.title


async def test_list_titles_pages_and_refuses_foreign_tokens(catalog: Running) -> None:
    genre = f"genre-{uuid.uuid4().hex[:8]}"
    for index in range(5):
        await catalog.stub.CreateTitle(
            catalog_pb2.CreateTitleRequest(title=a_title(title=f"T{index}", genres=[genre]))
        )
    request = catalog_pb2.ListTitlesRequest(country="US", genre=genre, page_size=2)
    seen: list[str] = []
    token = ""
    for _ in range(20):
        request.page_token = token
        page = await catalog.stub.ListTitles(request)
        seen += [t.title for t in page.titles]
        token = page.next_page_token
        if not token:
            break
        assert token.isascii()
    assert sorted(seen) == ["T0", "T1", "T2", "T3", "T4"]
    first = await catalog.stub.ListTitles(request.__class__(country="US", genre=genre, page_size=2))
    other_filter = catalog_pb2.ListTitlesRequest(
        country="FR", genre=genre, page_size=2, page_token=first.next_page_token
    )
    for bad in (other_filter, catalog_pb2.ListTitlesRequest(page_token="garbage!")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog.stub.ListTitles(bad)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(caught.value) == ["page_token"]


async def test_list_titles_refuses_a_bad_filter(catalog: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.ListTitles(
            catalog_pb2.ListTitlesRequest(country="usa", max_maturity="X")
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(violations(caught.value)) == ["country", "max_maturity"]


async def test_the_seed_catalog_was_imported(catalog: Running) -> None:
    from services.catalog.netflix_csv import title_id_for

    title = await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id=title_id_for("s1")))
    assert title.title == "Dick Johnson Is Dead"


async def test_metadata_round_trip(catalog: Running) -> None:
    created = await catalog.stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=a_title()))
    metadata = catalog_pb2.TitleMetadata(
        title_id=created.title_id, poster_url="https://img.example/p.jpg", synopsis="Long."
    )
    await catalog.stub.UpdateTitleMetadata(
        catalog_pb2.UpdateTitleMetadataRequest(metadata=metadata)
    )
    fetched = await catalog.stub.GetTitleMetadata(
        catalog_pb2.GetTitleMetadataRequest(title_id=created.title_id)
    )
    assert fetched == metadata
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.UpdateTitleMetadata(
            catalog_pb2.UpdateTitleMetadataRequest(
                metadata=catalog_pb2.TitleMetadata(title_id=str(uuid.uuid4()))
            )
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_availability_pages_with_opaque_tokens(catalog: Running) -> None:
    created = await catalog.stub.CreateTitle(
        catalog_pb2.CreateTitleRequest(title=a_title(country_codes=["US", "FR", "JP"]))
    )
    request = catalog_pb2.ListTitleAvailabilityRequest(title_id=created.title_id, page_size=2)
    first = await catalog.stub.ListTitleAvailability(request)
    assert [a.country_code for a in first.availability] == ["FR", "JP"]
    request.page_token = first.next_page_token
    second = await catalog.stub.ListTitleAvailability(request)
    assert [a.country_code for a in second.availability] == ["US"]
    assert second.next_page_token == ""
    request.page_token = base64.urlsafe_b64encode(b"nonsense").decode()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.ListTitleAvailability(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_any_spelling_of_an_id_finds_the_same_title(catalog: Running) -> None:
    title = a_title(title_id=str(uuid.uuid4()).upper())
    created = await catalog.stub.CreateTitle(catalog_pb2.CreateTitleRequest(title=title))
    assert created.title_id == title.title_id.lower()
    for spelling in (title.title_id, title.title_id.lower()):
        fetched = await catalog.stub.GetTitle(catalog_pb2.GetTitleRequest(title_id=spelling))
        assert fetched == created
    batch = await catalog.stub.BatchGetTitles(
        catalog_pb2.BatchGetTitlesRequest(title_ids=[title.title_id, title.title_id.lower()])
    )
    assert list(batch.titles) == [created]
