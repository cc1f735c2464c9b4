"""Every RPC declares who may call it, once, in its contract.

``option (streammesh.options.v1.visibility)`` is what the edge renders its
routes and JWT rules from and what the services' auth interceptor reads, so
these tests hold the contracts to it: read from ``gen/streammesh.pb`` (what
the edge reads) and from the generated Python modules (what the services
read), which must agree.
"""

from __future__ import annotations

import importlib
from pathlib import PurePosixPath

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from services.runtime import visibility
from services.runtime.visibility import (
    DECLARED,
    EXTENSION,
    INTERNAL,
    OWNER,
    PUBLIC,
    UndeclaredVisibilityError,
    UnknownMethodError,
    methods_with,
    visibility_of,
)
from streammesh.options.v1 import visibility_pb2
from tests.contracts.descriptors import descriptor_set, methods, streammesh_files
from tests.contracts.rest_table import REST_TABLE

# The RPCs anyone may call without a token; every other device-facing RPC is
# an owner RPC. Changing this list is a decision about the product's security.
PUBLIC_RPCS = frozenset(
    {
        "streammesh.users.v1.UserService.CreateAccount",
        "streammesh.users.v1.UserService.Login",
        "streammesh.users.v1.UserService.GetJwks",
        # The refresh token is the credential; plans and prices are the shop window.
        "streammesh.users.v1.UserService.RefreshSession",
        "streammesh.users.v1.UserService.ListPlans",
        "streammesh.catalog.v1.CatalogService.GetTitle",
        "streammesh.catalog.v1.CatalogService.ListTitles",
        "streammesh.catalog.v1.CatalogService.GetTitleMetadata",
        "streammesh.history.v1.HistoryService.ListTrending",
        "streammesh.search.v1.SearchService.Search",
        "streammesh.search.v1.SearchService.Suggest",
    }
)
OPTION_FILE = "streammesh/options/v1/visibility.proto"


def _declared() -> dict[str, int]:
    """Visibility of every RPC of every StreamMesh service, from the descriptor set."""
    return {
        f"{file.package}.{service.name}.{method.name}": method.options.Extensions[EXTENSION]
        for file, service, method, _, _ in methods()
    }


def _has_http_rule(method: descriptor_pb2.MethodDescriptorProto) -> bool:
    return method.options.Extensions[annotations_pb2.http].WhichOneof("pattern") is not None


def _import_every_contract() -> None:
    """Puts every StreamMesh contract in the default pool, as the services' imports do."""
    for file in streammesh_files():
        module = PurePosixPath(file.name).with_suffix("").as_posix().replace("/", ".")
        importlib.import_module(f"{module}_pb2")


def test_the_option_is_an_in_house_method_option() -> None:
    files = {f.name: f for f in descriptor_set().file}
    option_file = files[OPTION_FILE]
    (extension,) = option_file.extension
    assert extension.extendee == ".google.protobuf.MethodOptions"
    assert extension.name == "visibility"
    assert 50000 <= extension.number <= 99999
    assert extension.number == visibility_pb2.visibility.number
    (enum,) = option_file.enum_type
    assert {v.name: v.number for v in enum.value} == {
        "VISIBILITY_UNSPECIFIED": 0,
        "VISIBILITY_PUBLIC": 1,
        "VISIBILITY_OWNER": 2,
        "VISIBILITY_INTERNAL": 3,
    }


def test_every_rpc_of_every_service_declares_a_visibility() -> None:
    declared = _declared()
    services = {rpc.rsplit(".", 1)[0] for rpc in declared}
    # users, catalog, history, recommendations, search, analytics, browse and echo
    assert len(services) == 8, sorted(services)
    missing = sorted(rpc for rpc, value in declared.items() if value not in DECLARED)
    assert not missing, f"RPCs without a visibility: {missing}"


def test_device_facing_rpcs_and_only_they_have_an_http_rule() -> None:
    wrong = []
    for file, service, method, _, _ in methods():
        value = method.options.Extensions[EXTENSION]
        routed = value in (PUBLIC, OWNER)
        if routed != _has_http_rule(method):
            wrong.append(f"{file.package}.{service.name}.{method.name}")
    assert not wrong, f"visibility and google.api.http rule disagree: {wrong}"


def test_the_public_rpcs_are_exactly_the_anonymous_ones() -> None:
    declared = _declared()
    assert {rpc for rpc, value in declared.items() if value == PUBLIC} == PUBLIC_RPCS


def test_internal_rpcs_include_the_catalog_writes() -> None:
    declared = _declared()
    for method in ("CreateTitle", "UpdateTitle", "UpdateTitleMetadata", "BatchGetTitles"):
        assert declared[f"streammesh.catalog.v1.CatalogService.{method}"] == INTERNAL, method


def test_the_rest_table_owner_column_is_the_contracts_owner_visibility() -> None:
    declared = _declared()
    for route in REST_TABLE:
        assert (declared[route.rpc] == OWNER) == route.owner_only, route.rpc


def test_the_generated_modules_read_the_same_visibility_as_the_descriptor_set() -> None:
    _import_every_contract()
    for rpc, value in _declared().items():
        service, method = rpc.rsplit(".", 1)
        assert visibility_of(f"/{service}/{method}") == value, rpc


def test_methods_with_partitions_each_service() -> None:
    _import_every_contract()
    for file in streammesh_files():
        for service in file.service:
            name = f"{file.package}.{service.name}"
            parts = [methods_with(name, value) for value in (PUBLIC, OWNER, INTERNAL)]
            every = {f"/{name}/{method.name}" for method in service.method}
            assert set().union(*parts) == every, name
            assert sum(len(part) for part in parts) == len(every), name
    assert methods_with("streammesh.users.v1.UserService", PUBLIC) == {
        "/streammesh.users.v1.UserService/CreateAccount",
        "/streammesh.users.v1.UserService/Login",
        "/streammesh.users.v1.UserService/GetJwks",
        "/streammesh.users.v1.UserService/RefreshSession",
        "/streammesh.users.v1.UserService/ListPlans",
    }


def test_a_method_without_a_declaration_or_outside_the_contracts_is_an_error() -> None:
    # The stock health service is in the default pool but declares nothing.
    from grpc_health.v1 import health_pb2

    assert health_pb2.DESCRIPTOR.services_by_name["Health"]
    with pytest.raises(UndeclaredVisibilityError, match=r"grpc\.health\.v1\.Health\.Check"):
        visibility_of("/grpc.health.v1.Health/Check")
    with pytest.raises(UndeclaredVisibilityError):
        methods_with("grpc.health.v1.Health", PUBLIC)
    with pytest.raises(UnknownMethodError, match="has no method"):
        visibility_of("/streammesh.users.v1.UserService/DropAllAccounts")
    with pytest.raises(UnknownMethodError, match="not in the default descriptor pool"):
        visibility_of("/streammesh.nowhere.v1.NoService/Call")
    with pytest.raises(UnknownMethodError, match="not a full method name"):
        visibility_of("streammesh.users.v1.UserService.Login")
    assert visibility.name(PUBLIC) == "VISIBILITY_PUBLIC"
