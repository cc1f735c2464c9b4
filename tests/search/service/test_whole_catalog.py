"""Search over the whole catalog (the CSV's 8,790 titles) through the Envoy edge, on
both index backends: REST and gRPC, typos, facets, suggestions and the maturity
cap, as a device sees them. The index is loaded in bulk, as `streammesh search
reindex` loads it; a search server over it and a real Envoy in front."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
import httpx
import pytest

from services import ratings
from services.edge import envoy
from services.edge.render import EdgeConfig, render
from services.search.config import Config as SearchConfig
from services.search.stores import open_index
from streammesh.search.v1 import search_pb2, search_pb2_grpc
from tests.mesh import (
    LOOPBACK,
    Backends,
    StorageFactory,
    search_config,
    start_mesh,
    unused_port,
)
from tests.search.test_relevance import CATALOG

# What each judged title is called in the CSV (services/search/relevance/qrels.tsv).
STRANGER_THINGS = "Stranger Things"
THE_QUEENS_GAMBIT = "The Queen's Gambit"


@dataclass
class Edge:
    backend: str
    http: httpx.AsyncClient
    target: str


@pytest.fixture(scope="module", params=["embedded", "real"])
def whole_catalog_backends(request: pytest.FixtureRequest) -> Backends:
    if request.param == "embedded":
        return Backends("embedded")
    prefix: str = request.getfixturevalue("opensearch_prefix")
    return Backends(
        "real",
        opensearch_url=request.getfixturevalue("opensearch_url"),
        search_index_prefix=f"{prefix}whole-{secrets.token_hex(3)}-",
    )


async def _load_the_catalog(config: SearchConfig) -> int:
    from services.catalog.importer import parse_file
    from services.search.indexing import doc_of

    docs = [doc_of(row.title) for row in parse_file(CATALOG).accepted]
    index = await open_index(config)
    try:
        await index.upsert(docs)
        return await index.count()
    finally:
        await index.close()


@pytest.fixture(scope="module")
async def edge(
    whole_catalog_backends: Backends, mesh_storage: StorageFactory
) -> AsyncIterator[Edge]:
    storage = mesh_storage(f"whole-catalog-{whole_catalog_backends.name}", whole_catalog_backends)
    # The index only: no catalog stream to follow, and no users (no request here
    # names a profile; a profile's cap is tested on the mini-mesh).
    # A bulk write of 500 titles waits for OpenSearch's refresh: a load's
    # timeout, not a search's.
    config = search_config(storage, indexer_consumer=False, opensearch_timeout_seconds=60.0)
    assert await _load_the_catalog(config) == 8790
    async with start_mesh(config) as mesh:
        state: Path = storage.state
        edge_config = EdgeConfig(
            port=unused_port(),
            admin_port=0,
            upstreams={"search": mesh.address("search")},
            reflection_upstream=f"{LOOPBACK}:{unused_port()}",
            otlp_collector=None,
        )
        path = envoy.write_config(render(edge_config), state / "envoy.json")
        running = await envoy.start(path, state, state / "envoy.log")
        try:
            async with httpx.AsyncClient(
                base_url=f"http://{LOOPBACK}:{edge_config.port}", timeout=15
            ) as http:
                yield Edge(whole_catalog_backends.name, http, f"{LOOPBACK}:{edge_config.port}")
        finally:
            await running.stop()


async def _search(edge: Edge, **params: str) -> dict[str, object]:
    response = await edge.http.get("/v1/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _titles(body: dict[str, object]) -> list[str]:
    results = body.get("results", [])
    assert isinstance(results, list)
    return [str(hit["title"]) for hit in results]


async def test_a_misspelled_title_comes_first_among_every_title(edge: Edge) -> None:
    body = await _search(edge, q="strnger thigns", pageSize="5")
    assert _titles(body)[0] == STRANGER_THINGS, body
    body = await _search(edge, q="orphan girl chess prodigy", pageSize="5")
    assert THE_QUEENS_GAMBIT in _titles(body)[:3], body


async def test_facets_count_the_whole_catalog_and_a_filter_keeps_its_own_facet(
    edge: Edge,
) -> None:
    body = await _search(edge, q="love", pageSize="5")
    facets = {facet["field"]: facet["buckets"] for facet in body["facets"]}  # type: ignore[attr-defined]
    genres = {bucket["value"]: bucket["count"] for bucket in facets["genre"]}
    narrowed = await _search(edge, q="love", genre="Romantic Movies", pageSize="5")
    narrowed_facets = {f["field"]: f["buckets"] for f in narrowed["facets"]}  # type: ignore[attr-defined]
    # Post-filter: the genre facet still counts every genre of the text's matches.
    assert {b["value"]: b["count"] for b in narrowed_facets["genre"]} == genres
    assert int(str(narrowed["totalSize"])) == genres["Romantic Movies"]


async def test_suggestions_and_grpc_through_the_edge(edge: Edge) -> None:
    response = await edge.http.get("/v1/search/suggestions", params={"prefix": "stranger th"})
    assert response.status_code == 200, response.text
    suggested = [s["text"] for s in response.json()["suggestions"]]
    assert STRANGER_THINGS in suggested
    async with grpc.aio.insecure_channel(edge.target) as channel:
        stub = search_pb2_grpc.SearchServiceStub(channel)
        answer = await stub.Search(search_pb2.SearchRequest(q="ozrak", page_size=3), timeout=10)
    assert answer.results[0].title == "Ozark"


async def test_a_kids_cap_holds_over_the_whole_catalog(edge: Edge) -> None:
    for q in ("Narcos", "Ozark", "love", "murder"):
        body = await _search(edge, q=q, maxMaturity="TV-Y7", pageSize="50")
        results = body.get("results", [])
        assert isinstance(results, list)
        assert all(ratings.allows("TV-Y7", hit["maturityRating"]) for hit in results), q
        for facet in body["facets"]:  # type: ignore[attr-defined]
            if facet["field"] == "maturity_rating":
                assert all(ratings.allows("TV-Y7", b["value"]) for b in facet.get("buckets", [])), q
