"""The device-facing RPCs, read from the contracts.

A device-facing RPC is one with a ``google.api.http`` rule. The edge routes
exactly these (plus reflection) and nothing else, so internal RPCs such as
``CatalogService.CreateTitle`` are unreachable from outside the mesh.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from services.registry import SERVICES, ServiceSpec

DESCRIPTOR_SET = Path(__file__).resolve().parents[2] / "gen" / "streammesh.pb"

# RPCs anyone may call without a token. Every other device-facing RPC acts on
# an account's data and needs a valid access token (the services check again
# that the token's account owns the resource).
PUBLIC_RPCS: frozenset[str] = frozenset(
    {
        "streammesh.users.v1.UserService.CreateAccount",
        "streammesh.users.v1.UserService.Login",
        "streammesh.users.v1.UserService.GetJwks",
        "streammesh.catalog.v1.CatalogService.GetTitle",
        "streammesh.catalog.v1.CatalogService.ListTitles",
        "streammesh.catalog.v1.CatalogService.GetTitleMetadata",
        "streammesh.history.v1.HistoryService.ListTrending",
        "streammesh.search.v1.SearchService.Search",
        "streammesh.search.v1.SearchService.Suggest",
    }
)


@dataclass(frozen=True)
class DeviceRoute:
    """One RPC reachable through the edge."""

    service: ServiceSpec
    method: str
    http_method: str
    http_path: str
    read_only: bool

    @property
    def rpc(self) -> str:
        return f"{self.service.grpc_service}.{self.method}"

    @property
    def grpc_path(self) -> str:
        return f"/{self.service.grpc_service}/{self.method}"

    @property
    def public(self) -> bool:
        return self.rpc in PUBLIC_RPCS


@functools.cache
def device_routes(descriptor_set: Path = DESCRIPTOR_SET) -> tuple[DeviceRoute, ...]:
    """Every RPC with an HTTP rule, in contract order."""
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(descriptor_set.read_bytes())
    by_name = {spec.grpc_service: spec for spec in SERVICES}
    routes = []
    for file in files.file:
        for service in file.service:
            spec = by_name.get(f"{file.package}.{service.name}")
            if spec is None:
                continue
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                pattern = rule.WhichOneof("pattern")
                if pattern is None:
                    continue
                routes.append(
                    DeviceRoute(
                        service=spec,
                        method=method.name,
                        http_method=pattern.upper(),
                        http_path=getattr(rule, pattern),
                        read_only=method.options.idempotency_level
                        == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
                    )
                )
    return tuple(routes)
