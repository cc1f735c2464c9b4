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
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from services.edge import envoy, webapp
from services.edge.reflection import create_server as create_reflection_server
from services.edge.render import EdgeConfig, listener_manager, render
from services.edge.routes import DESCRIPTOR_SET, ContractError, device_routes
from services.registry import SERVICES
from services.runtime.visibility import EXTENSION, INTERNAL, OWNER, PUBLIC
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.contracts.descriptors import methods
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


def _grpc_paths_by_visibility() -> dict[int, set[str]]:
    """The mesh services' RPCs by the visibility their contract declares."""
    served = {spec.grpc_service for spec in SERVICES}
    paths: dict[int, set[str]] = {PUBLIC: set(), OWNER: set(), INTERNAL: set()}
    for file, service, method, _, _ in methods():
        name = f"{file.package}.{service.name}"
        if name in served:
            paths[method.options.Extensions[EXTENSION]].add(f"/{name}/{method.name}")
    return paths


def _jwt_rule_paths(config: dict[str, Any]) -> set[str]:
    (jwt,) = [
        f
        for f in listener_manager(config)["http_filters"]
        if f["name"] == "envoy.filters.http.jwt_authn"
    ]
    return {rule["match"]["path"] for rule in jwt["typed_config"]["rules"]}


def _routed_paths(config: dict[str, Any]) -> set[str]:
    (host,) = listener_manager(config)["route_config"]["virtual_hosts"]
    return {r["match"]["path"] for r in host["routes"] if "path" in r["match"]}


def test_routes_and_jwt_rules_are_the_contracts_visibility() -> None:
    paths = _grpc_paths_by_visibility()
    config = render(EdgeConfig(otlp_collector=None))
    # Besides the RPCs, the local edge routes exactly the web app's files.
    app_paths = {path for path, _ in webapp.app_files(webapp.DIST)}
    assert _routed_paths(config) == paths[PUBLIC] | paths[OWNER] | app_paths
    assert _jwt_rule_paths(config) == paths[OWNER]
    assert not _routed_paths(config) & paths[INTERNAL]
    assert {r.grpc_path for r in device_routes() if r.public} == paths[PUBLIC]


def _edited_contracts(
    tmp_path: Path, rpc: str, edit: Callable[[descriptor_pb2.MethodOptions], None]
) -> EdgeConfig:
    """A copy of gen/streammesh.pb with one RPC's options edited, as the renderer's input."""
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(DESCRIPTOR_SET.read_bytes())
    service_name, method_name = rpc.rsplit(".", 1)
    found = [
        method
        for file in files.file
        for service in file.service
        if f"{file.package}.{service.name}" == service_name
        for method in service.method
        if method.name == method_name
    ]
    assert len(found) == 1, rpc
    edit(found[0].options)
    path = tmp_path / "edited.pb"
    path.write_bytes(files.SerializeToString())
    return EdgeConfig(contracts_descriptor_set=path, otlp_collector=None)


def test_declaring_a_public_rpc_owner_puts_it_behind_the_jwt_check(tmp_path: Path) -> None:
    def make_owner(options: descriptor_pb2.MethodOptions) -> None:
        options.Extensions[EXTENSION] = OWNER

    config = _edited_contracts(
        tmp_path, "streammesh.catalog.v1.CatalogService.GetTitle", make_owner
    )
    rules = _jwt_rule_paths(render(config))
    assert "/streammesh.catalog.v1.CatalogService/GetTitle" in rules
    assert rules == _grpc_paths_by_visibility()[OWNER] | {
        "/streammesh.catalog.v1.CatalogService/GetTitle"
    }


def test_an_internal_rpc_with_an_http_rule_fails_rendering(tmp_path: Path) -> None:
    def add_rule(options: descriptor_pb2.MethodOptions) -> None:
        options.Extensions[annotations_pb2.http].post = "/v1/titles"

    config = _edited_contracts(
        tmp_path, "streammesh.catalog.v1.CatalogService.CreateTitle", add_rule
    )
    with pytest.raises(
        ContractError,
        match=r"CatalogService\.CreateTitle is VISIBILITY_INTERNAL but has a google\.api\.http",
    ):
        render(config)


def test_a_device_rpc_without_an_http_rule_fails_rendering(tmp_path: Path) -> None:
    def drop_rule(options: descriptor_pb2.MethodOptions) -> None:
        options.ClearExtension(annotations_pb2.http)

    config = _edited_contracts(tmp_path, "streammesh.users.v1.UserService.GetAccount", drop_rule)
    with pytest.raises(
        ContractError, match=r"UserService\.GetAccount is VISIBILITY_OWNER but has no google"
    ):
        render(config)


def test_an_rpc_without_a_visibility_fails_rendering(tmp_path: Path) -> None:
    def undeclare(options: descriptor_pb2.MethodOptions) -> None:
        options.ClearExtension(EXTENSION)

    config = _edited_contracts(
        tmp_path, "streammesh.history.v1.HistoryService.ListTrending", undeclare
    )
    with pytest.raises(ContractError, match=r"HistoryService\.ListTrending declares no visibility"):
        render(config)


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
