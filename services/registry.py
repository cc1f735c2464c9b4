"""The mesh's services, their contracts and their default ports, in one place.

Everything that needs to know "which services exist" (the CLI, the Envoy
renderer, the Kubernetes manifests' tests, the contract tests) reads this
table instead of keeping its own list.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    """Static facts about one service of the mesh."""

    name: str
    grpc_service: str
    grpc_port: int
    metrics_port: int
    # Writes events to an outbox that a relay publishes to the stream
    # ``streammesh.<name>``; the service's ``outbox`` module opens it
    # (services/events/sources.py).
    produces_events: bool = False
    # The call graph: the services this one calls (gRPC, through the kit's
    # channels; a token verifier calls users) and the stores it opens (the
    # backends' Kubernetes Service names). k8s/'s NetworkPolicies are generated
    # from these (devtools/k8s/network_policies.py); tests/k8s checks them
    # against each service's code.
    calls: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()

    @property
    def package(self) -> str:
        """The Python package that implements the service."""
        return f"services.{self.name}"

    @property
    def addr_env(self) -> str:
        """The variable that overrides where callers reach this service."""
        return f"STREAMMESH_{self.name.upper()}_ADDR"

    def address(self) -> str:
        """Where callers reach the service: ``STREAMMESH_<NAME>_ADDR`` or loopback."""
        return os.environ.get(self.addr_env, f"127.0.0.1:{self.grpc_port}")

    def implemented(self) -> bool:
        """Whether the service's server module exists in this checkout."""
        if importlib.util.find_spec(self.package) is None:
            return False
        return importlib.util.find_spec(f"{self.package}.server") is not None


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "users",
        "streammesh.users.v1.UserService",
        50051,
        9101,
        produces_events=True,
        stores=("mariadb", "redis"),
    ),
    ServiceSpec(
        "catalog",
        "streammesh.catalog.v1.CatalogService",
        50052,
        9102,
        produces_events=True,
        stores=("cassandra", "redis", "s3proxy"),
    ),
    ServiceSpec(
        "history",
        "streammesh.history.v1.HistoryService",
        50053,
        9103,
        produces_events=True,
        calls=("users", "catalog"),
        stores=("cassandra", "redis"),
    ),
    ServiceSpec(
        "recommendations",
        "streammesh.recommendations.v1.RecommendationService",
        50054,
        9104,
        calls=("users", "catalog"),
        stores=("cassandra", "redis"),
    ),
    ServiceSpec(
        "search",
        "streammesh.search.v1.SearchService",
        50055,
        9105,
        calls=("users",),
        stores=("opensearch", "redis"),
    ),
    ServiceSpec(
        "analytics",
        "streammesh.analytics.v1.AnalyticsService",
        50056,
        9106,
        stores=("postgres", "redis"),
    ),
    ServiceSpec(
        "browse",
        "streammesh.browse.v1.BrowseService",
        50057,
        9107,
        calls=("users", "catalog", "history", "recommendations"),
        stores=("redis",),
    ),
)

EDGE_PORT = 8080
EDGE_ADMIN_PORT = 9901


def service(name: str) -> ServiceSpec:
    """Looks a service up by name; raises KeyError naming the known ones."""
    for spec in SERVICES:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in SERVICES)
    raise KeyError(f"unknown service {name!r} (known: {known})")
