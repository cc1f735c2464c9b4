"""The NetworkPolicies: generated from the registry's call graph, and that graph true.

The committed k8s/base/network-policies.yaml must be the generator's output
today; the registry's ``calls`` and ``stores`` must be what each service's code
opens; and evaluated the way a CNI does (a connection needs an egress rule of
the caller AND an ingress rule of the callee), the rendered policies let every
edge of the graph through and nothing else: no service reaches a database it
does not own.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.k8s import network_policies
from services import registry
from tests.k8s.test_manifests import OVERLAY, PRODUCTION, _kustomize_build

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "streammesh"
NAME = network_policies.NAME_LABEL
DATABASES = ("mariadb", "cassandra", "opensearch", "postgres")

Manifest = dict[str, Any]


# ---------------------------------------------------------------- a CNI's reading


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # all the generator writes
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: Manifest, namespace: str, labels: dict[str, str], here: str) -> bool:
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": namespace}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif namespace != here:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], labels)


def _port_matches(rule: Manifest, port: int) -> bool:
    ports = rule.get("ports")
    return ports is None or any(p["port"] == port and p["protocol"] == "TCP" for p in ports)


def _allowed_one_way(
    policies: list[Manifest],
    direction: str,
    pod: dict[str, str],
    peer_namespace: str,
    peer: dict[str, str],
    port: int,
) -> bool:
    kind, peers_key = ("Egress", "to") if direction == "egress" else ("Ingress", "from")
    selecting = [
        p
        for p in policies
        if kind in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], pod)
    ]
    if not selecting:
        return True  # a pod no policy selects is not isolated
    for policy in selecting:
        for rule in policy["spec"].get(direction, []):
            peers = rule.get(peers_key)
            if _port_matches(rule, port) and (
                peers is None
                or any(_peer_matches(p, peer_namespace, peer, NAMESPACE) for p in peers)
            ):
                return True
    return False


def reachable(policies: list[Manifest], caller: str, callee: str, port: int) -> bool:
    """Whether a pod named ``caller`` may open a TCP connection to ``callee``:``port``."""
    src, dst = {NAME: caller}, {NAME: callee}
    return _allowed_one_way(policies, "egress", src, NAMESPACE, dst, port) and _allowed_one_way(
        policies, "ingress", dst, NAMESPACE, src, port
    )


@pytest.fixture(scope="module", params=[OVERLAY, PRODUCTION], ids=["kind", "production"])
def policies(request: pytest.FixtureRequest) -> list[Manifest]:
    rendered = _kustomize_build(request.param)
    return [m for m in rendered if m["kind"] == "NetworkPolicy"]


def _port(callee: str) -> int:
    return network_policies.ports_of(callee)[0].number


# ---------------------------------------------------------------- generated, not written


def test_the_committed_policies_are_the_generators_output() -> None:
    assert network_policies.OUTPUT.read_text() == network_policies.render(), (
        "k8s/base/network-policies.yaml is stale: run `python -m devtools.k8s.network_policies`"
    )


def test_every_pod_is_denied_by_default(policies: list[Manifest]) -> None:
    (deny,) = (p for p in policies if p["metadata"]["name"] == "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


# ---------------------------------------------------------------- the graph is the code's


def _channel_targets(path: Path) -> set[str]:
    """Services a module opens channels to: ``kit.channel("x")``, ``channel("x", ...)``,
    a comprehension over a tuple of names, and ``kit.users_token_verifier()``."""
    names = {spec.name for spec in registry.SERVICES}
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        attr = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if attr == "users_token_verifier":
            found.add("users")
        if attr != "channel" or not node.args:
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and first.value in names:
            found.add(first.value)
    for node in ast.walk(tree):
        if isinstance(node, ast.DictComp | ast.ListComp | ast.SetComp):
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
            if any(getattr(c.func, "attr", "") == "channel" for c in calls):
                for generator in node.generators:
                    if isinstance(generator.iter, ast.Tuple):
                        found |= {
                            e.value
                            for e in generator.iter.elts
                            if isinstance(e, ast.Constant) and e.value in names
                        }
    return found


# A config field's name -> the store it opens (the backends' Service names).
_STORE_FIELDS = {
    "database_url": "mariadb",
    "redis_url": "redis",
    "cassandra": "cassandra",
    "opensearch_url": "opensearch",
    "postgres_url": "postgres",
    "objects": "s3proxy",
}


def _stores_of_config(name: str) -> set[str]:
    config = importlib.import_module(f"services.{name}.config").Config
    return {
        _STORE_FIELDS[field.name]
        for field in dataclasses.fields(config)
        if field.name in _STORE_FIELDS
    }


@pytest.mark.parametrize("spec", registry.SERVICES, ids=lambda spec: spec.name)
def test_the_registry_declares_what_each_service_calls_and_opens(
    spec: registry.ServiceSpec,
) -> None:
    assert spec.implemented()
    server = ROOT / "services" / spec.name / "server.py"
    assert _channel_targets(server) == set(spec.calls), spec.name
    assert _stores_of_config(spec.name) == set(spec.stores), spec.name


def test_the_saga_orchestrators_edges_are_its_codes() -> None:
    (orchestrator,) = (w for w in network_policies.workloads() if w.name == "sagas")
    process = ROOT / "services" / "users" / "sagas" / "process.py"
    assert _channel_targets(process) == set(orchestrator.calls)
    assert set(orchestrator.stores) == set(registry.service("users").stores) | {"s3proxy"}


def test_the_edge_reaches_exactly_the_services_devices_call() -> None:
    (edge,) = (w for w in network_policies.workloads() if w.name == "edge")
    routed = set(network_policies.edge_calls())
    assert "browse" in routed
    assert "analytics" not in routed  # internal RPCs only: the edge never routes them
    assert set(edge.calls) == routed | {"media-origin"}


# ---------------------------------------------------------------- what gets through


def _edges() -> Iterator[tuple[str, str]]:
    return iter(network_policies.edges(network_policies.workloads()))


def test_every_edge_of_the_call_graph_is_allowed(policies: list[Manifest]) -> None:
    checked = 0
    for caller, callee in _edges():
        for port in network_policies._peer_ports(caller, callee):
            assert reachable(policies, caller, callee, port.number), (caller, callee, port)
            checked += 1
    assert checked > 50


def test_a_service_cannot_reach_another_services_database(policies: list[Manifest]) -> None:
    for spec in registry.SERVICES:
        for database in DATABASES:
            allowed = reachable(policies, spec.name, database, _port(database))
            assert allowed == (database in spec.stores), (spec.name, database)
    # Named cases, so a reader sees what the loop proves.
    assert not reachable(policies, "users", "cassandra", 9042)
    assert not reachable(policies, "analytics", "mariadb", 3306)
    assert not reachable(policies, "search", "postgres", 5432)
    assert not reachable(policies, "browse", "mariadb", 3306)
    assert reachable(policies, "users", "mariadb", 3306)


def test_nothing_outside_the_graph_gets_through(policies: list[Manifest]) -> None:
    workloads = network_policies.workloads()
    allowed = set(_edges())
    # Everything that listens: the services, the media origin and every store.
    callees = {callee for _, callee in allowed} | {spec.name for spec in registry.SERVICES}
    for caller in {w.name for w in workloads}:
        for callee in callees:
            if (caller, callee) in allowed:
                continue
            assert not reachable(policies, caller, callee, _port(callee)), (caller, callee)
    # Right pods, wrong port: a database's other ports stay closed.
    assert not reachable(policies, "users", "mariadb", 4444)
    assert not reachable(policies, "browse", "users", registry.service("users").metrics_port)


def test_devices_reach_only_the_edge(policies: list[Manifest]) -> None:
    outside = {NAME: "device"}
    for callee in ("edge", "users", "browse", "mariadb"):
        port = registry.EDGE_PORT if callee == "edge" else _port(callee)
        ingress = _allowed_one_way(policies, "ingress", {NAME: callee}, "default", outside, port)
        assert ingress == (callee == "edge"), callee


def test_prometheus_scrapes_metrics_ports_only(policies: list[Manifest]) -> None:
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    for spec in registry.SERVICES:
        scrape = _allowed_one_way(
            policies, "ingress", {NAME: spec.name}, "monitoring", prometheus, spec.metrics_port
        )
        call = _allowed_one_way(
            policies, "ingress", {NAME: spec.name}, "monitoring", prometheus, spec.grpc_port
        )
        assert (scrape, call) == (True, False), spec.name


def test_every_address_a_pod_waits_for_is_open_to_it() -> None:
    """The init containers' wait-for-tcp lists (k8s/components/wait-for-backends, the
    Jobs) name what each process opens first: the policies must let each through."""
    rendered = _kustomize_build(OVERLAY)
    policies = [m for m in rendered if m["kind"] == "NetworkPolicy"]
    checked = 0
    for workload in rendered:
        if workload["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        name = workload["metadata"]["name"]
        for container in workload["spec"]["template"]["spec"].get("initContainers", []):
            command = container.get("command", [])
            if command[:1] != ["wait-for-tcp"]:
                continue
            for address in (arg for arg in command[1:] if ":" in arg):
                host, _, port = address.rpartition(":")
                assert reachable(policies, name, host, int(port)), (name, address)
                checked += 1
    assert checked >= 20
