"""L2 at the edge: public GETs say a shared cache may keep them for their TTL;
owner data says none may, and is never answered from a cache, whoever asks next."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

import grpc.aio
import httpx
import pytest

from services.edge.caching import CDN_TTL_SECONDS, MAX_AGE_SECONDS, PRIVATE
from services.edge.render import EdgeConfig, listener_manager, render
from services.edge.routes import device_routes
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.users.v1 import users_pb2_grpc
from tests.mesh import (
    LOOPBACK,
    MeshAccounts,
    StorageFactory,
    catalog_config,
    edge_in_front,
    start_mesh,
    users_config,
)


@dataclass
class EdgeMesh(MeshAccounts):
    account_label: ClassVar[str] = "edge-cache"
    users_timeout: ClassVar[float | None] = 10
    users: users_pb2_grpc.UserServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    http: httpx.AsyncClient


@pytest.fixture(scope="module")
async def mesh(mesh_storage: StorageFactory) -> AsyncIterator[EdgeMesh]:
    storage = mesh_storage("edge-cache")
    async with (
        start_mesh(users_config(storage), catalog_config(storage)) as servers,
        edge_in_front(servers.addresses, storage.state, otlp_collector=None) as edge_port,
        httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{edge_port}", timeout=15) as http,
        grpc.aio.insecure_channel(servers.address("users")) as users,
        grpc.aio.insecure_channel(servers.address("catalog")) as catalog,
    ):
        yield EdgeMesh(
            users_pb2_grpc.UserServiceStub(users),
            catalog_pb2_grpc.CatalogServiceStub(catalog),
            http,
        )


def test_every_route_says_who_may_keep_its_answer() -> None:
    for route in device_routes():
        header = render_route_header(route.rpc)
        if route.public and route.read_only and route.http_method == "GET":
            assert header == f"public, max-age={MAX_AGE_SECONDS.get(route.rpc, CDN_TTL_SECONDS)}"
        else:
            assert header == PRIVATE, route.rpc
    assert render_route_header("streammesh.history.v1.HistoryService.ListTrending") == (
        "public, max-age=60"
    )


def render_route_header(rpc: str) -> str:
    config = render(EdgeConfig(otlp_collector=None))
    manager = listener_manager(config)
    for route in manager["route_config"]["virtual_hosts"][0]["routes"]:
        if route.get("name") == rpc:
            return str(route["response_headers_to_add"][0]["header"]["value"])
    raise AssertionError(f"no route {rpc}")


async def a_title(mesh: EdgeMesh, index: int = 0) -> catalog_pb2.Title:
    """The catalog's title at ``index``: tests that need an URL nobody asked for yet
    pick their own (the edge cache is shared by the module's tests)."""
    listed = await mesh.catalog.ListTitles(
        catalog_pb2.ListTitlesRequest(page_size=index + 1), timeout=10
    )
    return listed.titles[index]


async def test_a_public_title_may_be_kept_for_the_cdn_ttl(mesh: EdgeMesh) -> None:
    title = await a_title(mesh)
    answer = await mesh.http.get(f"/v1/titles/{title.title_id}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == f"public, max-age={CDN_TTL_SECONDS}"
    assert answer.json()["titleId"] == title.title_id


async def test_owner_data_is_never_kept_at_the_edge(mesh: EdgeMesh) -> None:
    account = await mesh.signup("GB")
    path = f"/v1/profiles/{account.primary_profile_id}"
    authorization = dict(account.caller)["authorization"]
    for _ in range(2):
        owner = await mesh.http.get(path, headers={"authorization": authorization})
        assert owner.status_code == 200, owner.text
        assert owner.headers["cache-control"] == PRIVATE
        assert "age" not in owner.headers, "an owner response came from the edge cache"
    # The same URL without the owner's token: the service's answer (refused),
    # never the owner's profile from the cache.
    anonymous = await mesh.http.get(path)
    assert anonymous.status_code == 401
    assert "profileName" not in anonymous.text


async def test_the_edge_answers_a_public_get_again_from_its_cache(mesh: EdgeMesh) -> None:
    title = await a_title(mesh, 1)
    path = f"/v1/titles/{title.title_id}"
    first = await mesh.http.get(path)
    assert first.status_code == 200, first.text
    assert "age" not in first.headers, "the first answer must come from the catalog"
    again = await mesh.http.get(path)
    assert again.status_code == 200, again.text
    assert "age" in again.headers, "the repeat was not answered from the edge cache"
    assert again.json() == first.json()
    assert again.headers["cache-control"] == f"public, max-age={CDN_TTL_SECONDS}"


async def test_a_request_with_a_token_never_gets_a_cached_answer(mesh: EdgeMesh) -> None:
    # A device signed in to a profile (a kids one, say) sends its token; the
    # cache never answers it with what it kept for anonymous callers, nor keeps
    # what it gets (Envoy's rule for requests with Authorization, RFC 9111 3.5).
    account = await mesh.signup("GB")
    authorization = dict(account.caller)["authorization"]
    title = await a_title(mesh, 2)
    path = f"/v1/titles/{title.title_id}"
    await mesh.http.get(path)
    assert "age" in (await mesh.http.get(path)).headers  # the anonymous answer is kept
    for _ in range(2):
        signed_in = await mesh.http.get(path, headers={"authorization": authorization})
        assert signed_in.status_code == 200, signed_in.text
        assert "age" not in signed_in.headers, "a signed-in request got a cached answer"


async def test_public_answers_carry_an_etag_of_their_content(mesh: EdgeMesh) -> None:
    first, second = await a_title(mesh, 3), await a_title(mesh, 4)
    tags = []
    for title in (first, first, second):
        answer = await mesh.http.get(f"/v1/titles/{title.title_id}")
        assert answer.status_code == 200, answer.text
        tags.append(answer.headers.get("etag"))
    assert tags[0] is not None, "a public answer has no etag"
    assert tags[0].startswith('"'), tags
    assert tags[0] == tags[1], "the same content must keep its tag"
    assert tags[0] != tags[2], "different content must get a different tag"
    account = await mesh.signup("GB")
    owner = await mesh.http.get(
        f"/v1/profiles/{account.primary_profile_id}",
        headers={"authorization": dict(account.caller)["authorization"]},
    )
    assert owner.status_code == 200, owner.text
    assert "etag" not in owner.headers, "owner answers are never kept, so get no tag"
