"""The contracts say what the REST table (rest_table.py) and the AIP rules require
(docs/architecture.md, Contracts first).

Everything here reads the generated descriptor set, so it also proves that
``gen/streammesh.pb`` carries the options Envoy and the interceptors rely on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from google.api import annotations_pb2, http_pb2
from google.longrunning import operations_pb2
from google.protobuf import descriptor_pb2

from services.registry import SERVICES
from tests.contracts.descriptors import leading_comment, methods, streammesh_files
from tests.contracts.rest_table import QUERY_PARAMETERS, REST_TABLE, Route

NO_SIDE_EFFECTS = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
IDEMPOTENT = descriptor_pb2.MethodOptions.IDEMPOTENT
READ_PREFIXES = ("Get", "List", "BatchGet", "Search", "Suggest")
STATUS_CODES = re.compile(
    r"\b(OK|INVALID_ARGUMENT|NOT_FOUND|ALREADY_EXISTS|PERMISSION_DENIED|UNAUTHENTICATED|"
    r"FAILED_PRECONDITION|RESOURCE_EXHAUSTED|UNAVAILABLE|INTERNAL|DEADLINE_EXCEEDED)\b"
)
OPENAPI = Path(__file__).resolve().parents[2] / "gen" / "openapi" / "streammesh.swagger.json"
# FileDescriptorProto field numbers, for source-info paths.
SERVICE_FIELD, METHOD_FIELD = 6, 2


def _rules_by_rpc() -> dict[str, list[tuple[str, str]]]:
    """(HTTP method, path template) of every rule, keyed by fully qualified RPC."""
    rules: dict[str, list[tuple[str, str]]] = {}
    for file, service, method, _, _ in methods():
        rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
        found = [rule, *rule.additional_bindings]
        key = f"{file.package}.{service.name}.{method.name}"
        for binding in found:
            pattern = binding.WhichOneof("pattern")
            if pattern is None:
                continue
            rules.setdefault(key, []).append((pattern.upper(), getattr(binding, pattern)))
    return rules


def _leaf_variables(template: str) -> str:
    """``/v1/profiles/{profile.profile_id}`` -> ``/v1/profiles/{profile_id}``."""
    return re.sub(r"\{([a-z_.]+?)(=[^}]*)?\}", lambda m: "{" + m[1].split(".")[-1] + "}", template)


@pytest.mark.parametrize("route", REST_TABLE, ids=lambda r: f"{r.method} {r.path}")
def test_every_rest_route_has_its_http_rule_on_the_named_rpc(route: Route) -> None:
    rules = _rules_by_rpc().get(route.rpc, [])
    assert (route.method, route.path) in [(m, _leaf_variables(p)) for m, p in rules], (
        f'{route.rpc} lacks `{route.method.lower()}: "{route.path}"`; it has {rules}'
    )


def test_no_rpc_outside_the_table_claims_a_route_of_the_table() -> None:
    table = {(r.method, r.path): r.rpc for r in REST_TABLE}
    for rpc, rules in _rules_by_rpc().items():
        for method, path in rules:
            owner = table.get((method, _leaf_variables(path)))
            assert owner in (None, rpc), f"{method} {path} is bound to {rpc} and {owner}"


@pytest.mark.parametrize(("rpc", "parameters"), QUERY_PARAMETERS.items())
def test_query_parameters_of_filtered_reads_are_request_fields(
    rpc: str, parameters: tuple[str, ...]
) -> None:
    for file, service, method, _, _ in methods():
        if f"{file.package}.{service.name}.{method.name}" != rpc:
            continue
        request_name = method.input_type.rsplit(".", 1)[-1]
        request = next(m for m in file.message_type if m.name == request_name)
        fields = {f.name for f in request.field}
        assert set(parameters) <= fields, f"{rpc} misses {set(parameters) - fields}"
        return
    pytest.fail(f"{rpc} not found")


def test_every_read_rpc_declares_no_side_effects() -> None:
    reads = [
        (s.name, m.name, m.options.idempotency_level)
        for _, s, m, _, _ in methods()
        if m.name.startswith(READ_PREFIXES)
    ]
    assert reads, "no read RPCs found"
    wrong = [(s, m) for s, m, level in reads if level != NO_SIDE_EFFECTS]
    assert not wrong, f"reads without NO_SIDE_EFFECTS: {wrong}"


def test_writes_that_are_safe_to_repeat_declare_idempotent() -> None:
    levels = {(s.name, m.name): m.options.idempotency_level for _, s, m, _, _ in methods()}
    for key in [
        ("UserService", "UpdateProfile"),
        ("UserService", "DeleteProfile"),
        ("UserService", "SetPreference"),
        ("CatalogService", "UpdateTitle"),
        ("HistoryService", "RecordView"),
    ]:
        assert levels[key] == IDEMPOTENT, key
    # Creating an account or logging in twice is not the same as once.
    assert levels[("UserService", "CreateAccount")] not in (IDEMPOTENT, NO_SIDE_EFFECTS)
    assert levels[("UserService", "Login")] not in (IDEMPOTENT, NO_SIDE_EFFECTS)


def test_every_rpc_comment_names_the_status_codes_it_returns() -> None:
    missing = []
    for file, service, method, s_index, m_index in methods():
        comment = leading_comment(file, (SERVICE_FIELD, s_index, METHOD_FIELD, m_index))
        if "Errors:" not in comment or not STATUS_CODES.search(comment.split("Errors:", 1)[1]):
            missing.append(f"{service.name}.{method.name}")
    assert not missing, f"RPCs whose comment names no status codes: {missing}"


def test_every_list_rpc_pages() -> None:
    checked = 0
    for file, _, method, _, _ in methods():
        if not method.name.startswith("List"):
            continue
        messages = {m.name: m for m in file.message_type}
        request = messages[method.input_type.rsplit(".", 1)[-1]]
        response = messages[method.output_type.rsplit(".", 1)[-1]]
        assert {"page_size", "page_token"} <= {f.name for f in request.field}, method.name
        assert "next_page_token" in {f.name for f in response.field}, method.name
        checked += 1
    assert checked >= 8


def test_every_enum_starts_with_an_unspecified_zero_value() -> None:
    enums = [e for f in streammesh_files() for e in f.enum_type] + [
        e for f in streammesh_files() for m in f.message_type for e in m.enum_type
    ]
    for enum in enums:
        zero = next(v for v in enum.value if v.number == 0)
        assert zero.name.endswith("_UNSPECIFIED"), f"{enum.name}: {zero.name}"


def test_every_rpc_has_its_own_request_and_returns_a_resource_or_its_response() -> None:
    requests: set[str] = set()
    for file, _, method, _, _ in methods():
        assert method.input_type == f".{file.package}.{method.name}Request", method.name
        assert method.input_type not in requests
        requests.add(method.input_type)
        if method.output_type == ".google.longrunning.Operation":
            # AIP-151: a long-running method answers an Operation (polled
            # through GetOperation), and names its response and metadata types.
            info = method.options.Extensions[operations_pb2.operation_info]
            assert method.name == "GetOperation" or info.response_type, method.name
            continue
        output = method.output_type.rsplit(".", 1)[-1]
        resources = {
            m.name for m in file.message_type if not m.name.endswith(("Request", "Response"))
        }
        assert output == f"{method.name}Response" or output in resources, (
            f"{method.name} returns {output}: neither its own response nor a resource"
        )


def test_each_service_of_the_design_has_a_contract() -> None:
    declared = {f"{f.package}.{s.name}" for f in streammesh_files() for s in f.service}
    assert {spec.grpc_service for spec in SERVICES} <= declared


def test_openapi_document_covers_every_route() -> None:
    document = json.loads(OPENAPI.read_text())
    documented = {
        (method.upper(), _leaf_variables(_snake(path)))
        for path, operations in document["paths"].items()
        for method in operations
    }
    missing = [f"{r.method} {r.path}" for r in REST_TABLE if (r.method, r.path) not in documented]
    assert not missing, f"routes missing from {OPENAPI.name}: {missing}"


def _snake(path: str) -> str:
    """OpenAPI names path variables by their JSON names: ``{profileId}``."""
    return re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), path)
