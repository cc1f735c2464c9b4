"""The real Envoy with the rendered configuration: routing, auth, errors, CORS.

No StreamMesh service runs behind the edge here (the end-to-end suite covers
that): the catalog upstream is down, and the others point at a gRPC server
that implements none of their methods. What is tested is what Envoy answers
by itself, and each answer must be a JSON google.rpc.Status with the mapped
HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest

from services.edge import envoy
from services.edge.reflection import create_server as create_reflection_server
from services.edge.render import EdgeConfig, render
from services.edge.routes import device_routes
from services.registry import SERVICES
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.contracts.rest_table import REST_TABLE

TITLE_ID = "6e2b8d7a-1111-4c3e-9f0a-aaaaaaaaaaaa"


def _closed_port() -> int:
    """A loopback port nothing listens on: an upstream that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_public_routes_are_exactly_the_tables_anyone_routes() -> None:
    table = {r.rpc: r.owner_only for r in REST_TABLE}
    for route in device_routes():
        if route.rpc in table:
            assert route.public == (not table[route.rpc]), route.rpc


def test_internal_rpcs_are_not_routed_by_the_edge() -> None:
    routed = {route.rpc for route in device_routes()}
    assert "streammesh.catalog.v1.CatalogService.CreateTitle" not in routed
    assert "streammesh.search.v1.SearchService.IndexTitle" not in routed
    assert {r.rpc for r in REST_TABLE} <= routed


@pytest.mark.parametrize("target", ["local", "k8s"])
def test_rendered_configuration_passes_envoy_validation(target: str, tmp_path: Path) -> None:
    config = EdgeConfig(target="k8s", listen_host="0.0.0.0") if target == "k8s" else EdgeConfig()
    path = envoy.write_config(render(config), tmp_path / "envoy.json")
    assert "OK" in envoy.validate(path)


@pytest.fixture(scope="module")
async def edge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[envoy.RunningEnvoy]:
    state = tmp_path_factory.mktemp("edge")
    reflection_server, reflection_port = await create_reflection_server("127.0.0.1:0")
    live = f"127.0.0.1:{reflection_port}"
    upstreams = {spec.name: live for spec in SERVICES}
    upstreams["catalog"] = f"127.0.0.1:{_closed_port()}"
    config = EdgeConfig(
        port=_closed_port(),
        admin_port=0,
        upstreams=upstreams,
        reflection_upstream=f"127.0.0.1:{reflection_port}",
        otlp_collector=None,
    )
    path = envoy.write_config(render(config), state / "envoy.json")
    running = await envoy.start(path, state, state / "envoy.log")
    yield running
    await running.stop()
    await reflection_server.stop(0)


@pytest.fixture
async def http(edge: envoy.RunningEnvoy) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{edge.listener_port}", timeout=10
    ) as client:
        yield client


def _status(response: httpx.Response, http_status: int, grpc_code: int) -> dict[str, object]:
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = json.loads(response.text)
    assert body["code"] == grpc_code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["details"] == []
    return dict(body)


async def test_an_unknown_route_is_404_with_a_json_status(http: httpx.AsyncClient) -> None:
    _status(await http.get("/v1/nope"), 404, 5)


async def test_a_wrong_method_on_a_known_path_is_404(http: httpx.AsyncClient) -> None:
    _status(await http.delete("/v1/titles"), 404, 5)


async def test_an_owner_route_without_a_token_is_401(http: httpx.AsyncClient) -> None:
    _status(await http.get("/v1/profiles/12/home"), 401, 16)


async def test_an_owner_route_with_a_forged_token_is_401(http: httpx.AsyncClient) -> None:
    forged = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    response = await http.get("/v1/accounts/1", headers={"authorization": f"Bearer {forged}"})
    _status(response, 401, 16)


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/accounts", content=b"{not json", headers={"content-type": "application/json"}
    )
    _status(response, 400, 3)


async def test_an_unknown_query_parameter_is_400(http: httpx.AsyncClient) -> None:
    _status(await http.get("/v1/titles", params={"colour": "red"}), 400, 3)


async def test_an_upstream_that_is_down_is_503(http: httpx.AsyncClient) -> None:
    _status(await http.get(f"/v1/titles/{TITLE_ID}"), 503, 14)


async def test_a_cors_preflight_from_an_allowed_origin_is_answered(
    http: httpx.AsyncClient,
) -> None:
    headers = {"origin": "http://localhost:3000", "access-control-request-method": "GET"}
    response = await http.options("/v1/titles", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "authorization" in response.headers["access-control-allow-headers"]


async def test_a_cors_preflight_from_another_origin_is_not_allowed(
    http: httpx.AsyncClient,
) -> None:
    headers = {"origin": "https://evil.example", "access-control-request-method": "GET"}
    response = await http.options("/v1/titles", headers=headers)
    assert "access-control-allow-origin" not in response.headers


async def test_internal_rpcs_are_unimplemented_for_grpc_callers(
    edge: envoy.RunningEnvoy,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{edge.listener_port}") as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.CreateTitle(catalog_pb2.CreateTitleRequest(), timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_grpcurl_lists_every_service_through_the_edge(edge: envoy.RunningEnvoy) -> None:
    grpcurl = shutil.which("grpcurl")
    if grpcurl is None:
        pytest.fail("grpcurl is not on PATH: run `make tools`")
    result = await asyncio.to_thread(
        subprocess.run,
        [grpcurl, "-plaintext", f"127.0.0.1:{edge.listener_port}", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.split())
    assert {spec.grpc_service for spec in SERVICES} <= listed
