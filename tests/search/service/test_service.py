"""The search service against real users, catalog and search servers, on both index
backends: the catalog's changes reach search through its stream, a profile's limit
caps every answer (hits, facets, suggestions), refusals, facets and page tokens."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import grpc.aio
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from prometheus_client import REGISTRY

from services import ratings
from streammesh.catalog.v1 import catalog_pb2
from streammesh.search.v1 import search_pb2
from tests.search.service.conftest import SAMPLE, SearchMesh, poll

R_TITLE = next(title for title in SAMPLE if title.maturity_rating == "R")
KIDS_LIMIT = ratings.KIDS_LIMIT  # a kids profile's default limit


def new_title(name: str, rating: str = "PG") -> catalog_pb2.Title:
    return catalog_pb2.Title(
        title_id=str(uuid.uuid4()),
        title=name,
        description="A title made by the search service's tests.",
        release_year=2024,
        duration_minutes=95,
        content_type="MOVIE",
        genres=["Dramas"],
        maturity_rating=rating,
        country_codes=["GB"],
        cast=["Ottoline Quarrender"],
        directors=["Peregrine Vasquez"],
    )


def _above_kids(rating: str) -> bool:
    return not ratings.allows(KIDS_LIMIT, rating)


async def test_a_title_created_in_the_catalog_is_searchable_within_5_seconds(
    mesh: SearchMesh,
) -> None:
    name = f"Quillwort Zephyrine {uuid.uuid4().hex[:8]}"
    created = await mesh.catalog.CreateTitle(
        catalog_pb2.CreateTitleRequest(title=new_title(name)), timeout=10
    )

    async def found() -> bool:
        answer = await mesh.find(name)
        return bool(answer.results) and answer.results[0].title_id == created.title_id

    await poll(found, 5.0, f"{name!r} searchable")
    first = (await mesh.find(name)).results[0]
    assert (first.title, first.maturity_rating, first.release_year) == (name, "PG", 2024)
    # The indexer (in this process) observed the catalog-to-searchable delay.
    observed = REGISTRY.get_sample_value(
        "streammesh_search_index_delay_seconds_count", {"event_type": "catalog.title.created"}
    )
    assert observed is not None
    assert observed > 0


async def test_a_burst_of_titles_is_indexed_in_shared_writes(mesh: SearchMesh) -> None:
    def written() -> tuple[float, float]:
        count = REGISTRY.get_sample_value("streammesh_search_index_batch_documents_count")
        total = REGISTRY.get_sample_value("streammesh_search_index_batch_documents_sum")
        return count or 0.0, total or 0.0

    writes_before, docs_before = written()
    stem = f"Tamsin Burstwick {uuid.uuid4().hex[:6]}"
    names = [f"{stem} {number}" for number in range(30)]
    await asyncio.gather(
        *(
            mesh.catalog.CreateTitle(
                catalog_pb2.CreateTitleRequest(title=new_title(name)), timeout=10
            )
            for name in names
        )
    )

    async def all_found() -> bool:
        return (await mesh.find(stem, page_size=50)).total_size >= len(names)

    await poll(all_found, 60.0, "the burst searchable")
    writes, docs = written()
    # Every title written, in fewer writes than titles.
    assert docs - docs_before >= len(names)
    assert writes - writes_before < len(names)


async def test_an_update_in_the_catalog_reaches_search(mesh: SearchMesh) -> None:
    name = f"Marchpane Halyard {uuid.uuid4().hex[:8]}"
    created = await mesh.catalog.CreateTitle(
        catalog_pb2.CreateTitleRequest(title=new_title(name)), timeout=10
    )
    renamed = f"Lanternfish Corbel {uuid.uuid4().hex[:8]}"
    patch = catalog_pb2.Title()
    patch.CopyFrom(created)
    patch.title = renamed
    await mesh.catalog.UpdateTitle(
        catalog_pb2.UpdateTitleRequest(title=patch, update_mask=FieldMask(paths=["title"])),
        timeout=10,
    )

    async def renamed_found() -> bool:
        answer = await mesh.find(renamed)
        return any(r.title_id == created.title_id for r in answer.results)

    await poll(renamed_found, 5.0, "the renamed title searchable")


async def test_a_kids_profile_never_gets_an_r_title(mesh: SearchMesh) -> None:
    account = await mesh.signup()
    kids = await mesh.add_profile(account, kids=True)
    # Without a profile the R title is there by its exact name.
    plain = await mesh.find(R_TITLE.title, max_maturity="NC-17")
    assert plain.results[0].title_id == R_TITLE.title_id
    for max_maturity in ("", "R", "NC-17", "UR"):
        answer = await mesh.search.Search(
            search_pb2.SearchRequest(q=R_TITLE.title, max_maturity=max_maturity, profile_id=kids),
            metadata=account.caller,
            timeout=10,
        )
        assert R_TITLE.title_id not in {r.title_id for r in answer.results}
        assert not [r for r in answer.results if _above_kids(r.maturity_rating)]
        (maturity,) = (f for f in answer.facets if f.field == "maturity_rating")
        assert not [b.value for b in maturity.buckets if _above_kids(b.value)], maturity
        for prefix in (R_TITLE.title, R_TITLE.title[:4]):
            suggested = await mesh.search.Suggest(
                search_pb2.SuggestRequest(
                    prefix=prefix, max_maturity=max_maturity, profile_id=kids, page_size=20
                ),
                metadata=account.caller,
                timeout=10,
            )
            assert R_TITLE.title_id not in {s.title_id for s in suggested.suggestions}
    # The same account's adult profile (PG-13 by default) does not see it either;
    # raised to R, it does.
    await mesh.set_limit(account, account.primary_profile_id, "R")
    adult = await mesh.search.Search(
        search_pb2.SearchRequest(q=R_TITLE.title, profile_id=account.primary_profile_id),
        metadata=account.caller,
        timeout=10,
    )
    assert adult.results[0].title_id == R_TITLE.title_id


async def test_max_maturity_alone_filters(mesh: SearchMesh) -> None:
    answer = await mesh.find(R_TITLE.title, max_maturity="PG-13")
    assert R_TITLE.title_id not in {r.title_id for r in answer.results}
    assert all(ratings.allows("PG-13", r.maturity_rating) for r in answer.results)


async def test_a_foreign_or_tokenless_profile_is_refused(mesh: SearchMesh) -> None:
    alice = await mesh.signup()
    bob = await mesh.signup()
    for call, request in (
        (mesh.search.Search, search_pb2.SearchRequest(q="love", profile_id=bob.primary_profile_id)),
        (
            mesh.search.Suggest,
            search_pb2.SuggestRequest(prefix="lo", profile_id=bob.primary_profile_id),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=alice.caller, timeout=10)
        assert raised.value.code() in (
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.NOT_FOUND,
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_facets_are_present_and_count_the_matches(mesh: SearchMesh) -> None:
    answer = await mesh.find("love", page_size=5)
    assert [f.field for f in answer.facets] == [
        "genre",
        "content_type",
        "decade",
        "maturity_rating",
    ]
    by_field = {f.field: f for f in answer.facets}
    assert sum(b.count for b in by_field["content_type"].buckets) == answer.total_size
    assert sum(b.count for b in by_field["maturity_rating"].buckets) == answer.total_size
    assert all(b.value.endswith("0s") for b in by_field["decade"].buckets)
    assert by_field["genre"].buckets


async def test_year_range_filters_and_is_validated(mesh: SearchMesh) -> None:
    answer = await mesh.find("love", release_year_min=2015, release_year_max=2019)
    assert answer.results
    assert all(2015 <= r.release_year <= 2019 for r in answer.results)
    for fields in (
        {"release_year_min": 2020, "release_year_max": 2010},
        {"release_year_min": 1200},
        {"profile_id": "abc"},
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await mesh.find("love", **fields)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fields


async def test_page_tokens_are_bound_to_their_query(mesh: SearchMesh) -> None:
    first = await mesh.find("love", page_size=3)
    assert first.next_page_token
    assert first.total_size > 3
    second = await mesh.find("love", page_size=3, page_token=first.next_page_token)
    assert not {r.title_id for r in first.results} & {r.title_id for r in second.results}
    for other in (
        {"q": "war"},
        {"q": "love", "max_maturity": "PG"},
        {"q": "love", "genre": "Dramas"},
    ):
        q = str(other.pop("q"))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await mesh.find(q, page_size=3, page_token=first.next_page_token, **other)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_paging_walks_every_match_once(mesh: SearchMesh) -> None:
    seen: list[str] = []
    token = ""
    total = 0
    for _ in range(100):
        page = await mesh.find("love", page_size=4, page_token=token)
        total = page.total_size
        seen.extend(r.title_id for r in page.results)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == total


async def test_suggestions_name_titles_and_people(mesh: SearchMesh) -> None:
    suggested = await mesh.search.Suggest(
        search_pb2.SuggestRequest(prefix="Michael Dou", page_size=10), timeout=10
    )
    people = [s for s in suggested.suggestions if s.kind == search_pb2.SUGGESTION_KIND_PERSON]
    assert "Michael Douglas" in {p.text for p in people}
    assert all(not p.title_id for p in people)
    titles = await mesh.search.Suggest(
        search_pb2.SuggestRequest(prefix=R_TITLE.title[:6], page_size=10), timeout=10
    )
    assert R_TITLE.title_id in {
        s.title_id for s in titles.suggestions if s.kind == search_pb2.SUGGESTION_KIND_TITLE
    }
