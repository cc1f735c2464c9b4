"""The mesh's NetworkPolicies, generated from the registry's call graph.

Every pod of the namespace is denied all traffic (``default-deny``), then
allowed exactly what the call graph needs:

* one ``allow-<caller>-to-<callee>`` per edge: ingress to the callee's pods
  from the caller's pods, on the callee's port;
* one ``egress-<caller>`` per caller: egress to each of its callees, the same
  edges seen from the other end (a NetworkPolicy selects the pods it applies
  to, so one object cannot open both ends);
* DNS for every pod, the edge's listener for anyone, each metrics port for
  Prometheus' namespace (``monitoring``), traces to the collector (``jaeger``).

The edges come from services/registry.py (``calls`` and ``stores`` of each
service), from the edge's routes (the services devices reach, read from the
contracts as the Envoy renderer does), and from the table of the processes
that are not services (the media origin, the saga orchestrator, the Jobs)
below. tests/k8s checks the committed file against this generator, and the
registry against each service's code.

    python -m devtools.k8s.network_policies [-o k8s/base/network-policies.yaml]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services import registry
from services.edge.routes import device_routes
from services.migrate import migratable

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "k8s" / "base" / "network-policies.yaml"
NAME_LABEL = "app.kubernetes.io/name"
# The namespace Prometheus runs in (kube-prometheus-stack's default in the README).
MONITORING_NAMESPACE = "monitoring"
# The trace collector the services and Envoy export OTLP/gRPC to.
TRACE_COLLECTOR = "jaeger"
OTLP_GRPC_PORT = 4317

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Port:
    number: int
    name: str


# What each callee listens on, by the name of its pods (and of its Service).
BACKEND_PORTS: dict[str, tuple[Port, ...]] = {
    "mariadb": (Port(3306, "mysql"),),
    "redis": (Port(6379, "redis"),),
    "cassandra": (Port(9042, "cql"),),
    "opensearch": (Port(9200, "http"),),
    "postgres": (Port(5432, "postgres"),),
    "s3proxy": (Port(9000, "s3"),),
    TRACE_COLLECTOR: (Port(OTLP_GRPC_PORT, "otlp-grpc"),),
}
MEDIA_ORIGIN_PORT = Port(8090, "http")
# Nodes of one backend talking to each other (the production overlay's clusters).
PEER_PORTS: dict[str, tuple[Port, ...]] = {
    "cassandra": (Port(7000, "intra-node"),),
    "opensearch": (Port(9300, "transport"),),
}
SAGA_ORCHESTRATOR_METRICS_PORT = 9109


@dataclass(frozen=True)
class Workload:
    """A process of ours: who it calls and which stores it opens."""

    name: str
    calls: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    metrics_port: int | None = None


def _service(name: str) -> registry.ServiceSpec:
    return registry.service(name)


def edge_calls() -> tuple[str, ...]:
    """The services the edge routes devices to (their PUBLIC and OWNER RPCs)."""
    return tuple(sorted({route.service.name for route in device_routes()}))


def workloads() -> tuple[Workload, ...]:
    """Every process of the mesh that calls something, or is called."""
    services = [
        Workload(spec.name, spec.calls, spec.stores, spec.metrics_port)
        for spec in registry.SERVICES
    ]
    catalog, users = _service("catalog"), _service("users")
    # `streammesh migrate` changes schemas only: no cache, stream or bucket.
    schema_stores = {
        store
        for name in migratable()
        for store in _service(name).stores
        if store not in ("redis", "s3proxy")
    }
    others = [
        Workload("edge", (*edge_calls(), "media-origin")),
        # services/catalog/media_origin.py: the catalog's titles and artwork.
        Workload("media-origin", stores=("cassandra", "s3proxy")),
        # services/users/sagas/process.py: the users service's stores, the
        # uploads bucket, and the participants it commands.
        Workload(
            "sagas",
            calls=("recommendations", "search", "history", "analytics"),
            stores=(*users.stores, "s3proxy"),
            metrics_port=SAGA_ORCHESTRATOR_METRICS_PORT,
        ),
        # The Jobs (k8s/base/jobs.yaml).
        Workload(
            "migrate",
            stores=tuple(sorted(schema_stores)),
        ),
        Workload("import-catalog", stores=catalog.stores),
        Workload("search-reindex", calls=("catalog",), stores=_service("search").stores),
        Workload(
            "train-recommendations",
            calls=_service("recommendations").calls,
            stores=_service("recommendations").stores,
        ),
    ]
    return (*services, *others)


def ports_of(callee: str) -> tuple[Port, ...]:
    if callee in BACKEND_PORTS:
        return BACKEND_PORTS[callee]
    if callee == "media-origin":
        return (MEDIA_ORIGIN_PORT,)
    return (Port(_service(callee).grpc_port, "grpc"),)


def edges(of: Iterable[Workload]) -> list[tuple[str, str]]:
    """Every (caller, callee) pair: calls, stores, traces and backend peers, sorted."""
    found: set[tuple[str, str]] = set()
    for workload in of:
        for callee in (*workload.calls, *workload.stores, TRACE_COLLECTOR):
            found.add((workload.name, callee))
    for backend in PEER_PORTS:
        found.add((backend, backend))
    return sorted(found)


def _selector(name: str) -> Manifest:
    return {"matchLabels": {NAME_LABEL: name}}


def _ports(ports: Iterable[Port]) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port.number} for port in ports]


def _policy(name: str, comment: str, spec: Manifest) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "annotations": {"streammesh.dev/why": comment}},
        "spec": spec,
    }


def _peer_ports(caller: str, callee: str) -> tuple[Port, ...]:
    if caller == callee:
        return PEER_PORTS[callee]
    return ports_of(callee)


def policies() -> list[Manifest]:
    graph = workloads()
    pairs = edges(graph)
    generated = [
        _policy(
            "default-deny",
            "nothing in or out unless a policy below allows it",
            {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        ),
        _policy(
            "allow-dns",
            "every pod resolves Service names",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    }
                ],
            },
        ),
        _policy(
            "allow-edge-from-anywhere",
            "devices reach the edge's listener (NodePort or a load balancer)",
            {
                "podSelector": _selector("edge"),
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": _ports([Port(registry.EDGE_PORT, "http")])}],
            },
        ),
    ]
    scraped = [w for w in graph if w.metrics_port is not None]
    for workload in scraped:
        assert workload.metrics_port is not None
        generated.append(
            _policy(
                f"allow-monitoring-to-{workload.name}",
                f"Prometheus (namespace {MONITORING_NAMESPACE}) scrapes {workload.name}",
                {
                    "podSelector": _selector(workload.name),
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {
                                            "kubernetes.io/metadata.name": MONITORING_NAMESPACE
                                        }
                                    }
                                }
                            ],
                            "ports": _ports([Port(workload.metrics_port, "metrics")]),
                        }
                    ],
                },
            )
        )
    for caller, callee in pairs:
        generated.append(
            _policy(
                f"allow-{caller}-to-{callee}",
                f"{caller} calls {callee}",
                {
                    "podSelector": _selector(callee),
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [{"podSelector": _selector(caller)}],
                            "ports": _ports(_peer_ports(caller, callee)),
                        }
                    ],
                },
            )
        )
    for caller in sorted({caller for caller, _ in pairs}):
        callees = [callee for c, callee in pairs if c == caller]
        generated.append(
            _policy(
                f"egress-{caller}",
                f"{caller} calls {', '.join(callees)}",
                {
                    "podSelector": _selector(caller),
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"podSelector": _selector(callee)}],
                            "ports": _ports(_peer_ports(caller, callee)),
                        }
                        for callee in callees
                    ],
                },
            )
        )
    return generated


HEADER = (
    "# GENERATED by `python -m devtools.k8s.network_policies` from services/registry.py's\n"
    "# call graph and the edge's routes: do not edit (tests/k8s fails when it is stale).\n"
)


def render() -> str:
    return HEADER + yaml.safe_dump_all(policies(), sort_keys=False, width=100)


def _documents(text: str) -> Iterator[Manifest]:
    return (doc for doc in yaml.safe_load_all(text) if doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    args.output.write_text(render())
    print(f"wrote {sum(1 for _ in _documents(render()))} NetworkPolicies to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
