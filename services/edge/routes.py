"""The device-facing RPCs, read from the contracts.

Which RPCs the edge routes, and which of them need a token, is declared once,
in each RPC's contract: ``option (streammesh.options.v1.visibility)``
(``protos/streammesh/options/v1/visibility.proto``). The edge routes every
PUBLIC and OWNER RPC (by its ``google.api.http`` rule, and by its gRPC path),
requires a JWT on the OWNER ones only, and never routes an INTERNAL one, so
RPCs such as ``CatalogService.CreateTitle`` are unreachable from outside the
mesh. The option is read from the descriptor set the routes are built from
(``gen/streammesh.pb``), the same file Envoy's transcoder loads.

The contract must be consistent, or rendering fails naming the method: an
RPC of a routed service that declares no visibility, an INTERNAL RPC with an
HTTP rule, or a PUBLIC/OWNER RPC without one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from services.registry import SERVICES, ServiceSpec
from services.runtime.visibility import (
    DECLARED,
    EXTENSION,
    INTERNAL,
    OPTION,
    OWNER,
    PUBLIC,
    name,
    undeclared_message,
)
from streammesh.options.v1 import visibility_pb2

DESCRIPTOR_SET = Path(__file__).resolve().parents[2] / "gen" / "streammesh.pb"


class ContractError(ValueError):
    """An RPC's visibility and its HTTP rule disagree, or it declares no visibility."""


@dataclass(frozen=True)
class DeviceRoute:
    """One RPC reachable through the edge (its contract says PUBLIC or OWNER)."""

    service: ServiceSpec
    method: str
    http_method: str
    http_path: str
    read_only: bool
    visibility: visibility_pb2.Visibility

    @property
    def rpc(self) -> str:
        return f"{self.service.grpc_service}.{self.method}"

    @property
    def grpc_path(self) -> str:
        return f"/{self.service.grpc_service}/{self.method}"

    @property
    def public(self) -> bool:
        """Anyone may call it: no JWT rule at the edge."""
        return self.visibility == PUBLIC

    @property
    def requires_token(self) -> bool:
        """Owner RPC: the edge's JWT filter requires a valid access token."""
        return self.visibility == OWNER


@functools.cache
def device_routes(descriptor_set: Path = DESCRIPTOR_SET) -> tuple[DeviceRoute, ...]:
    """Every PUBLIC and OWNER RPC of the mesh's services, in contract order.

    Raises :class:`ContractError` naming the first RPC whose visibility is
    missing or disagrees with its HTTP rule.
    """
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
                rpc = f"{spec.grpc_service}.{method.name}"
                visibility = method.options.Extensions[EXTENSION]
                if visibility not in DECLARED:
                    raise ContractError(undeclared_message(rpc, visibility, file.name))
                rule = method.options.Extensions[annotations_pb2.http]
                pattern = rule.WhichOneof("pattern")
                if visibility == INTERNAL:
                    if pattern is not None:
                        raise ContractError(
                            f"{rpc} is {name(visibility)} but has a google.api.http rule "
                            f"({file.name}): internal RPCs are never routed by the edge; "
                            f"remove the rule or change its ({OPTION})"
                        )
                    continue
                if pattern is None:
                    raise ContractError(
                        f"{rpc} is {name(visibility)} but has no google.api.http rule "
                        f"({file.name}): device-facing RPCs need one; add it or declare "
                        "VISIBILITY_INTERNAL"
                    )
                routes.append(
                    DeviceRoute(
                        service=spec,
                        method=method.name,
                        http_method=pattern.upper(),
                        http_path=getattr(rule, pattern),
                        read_only=method.options.idempotency_level
                        == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
                        visibility=visibility,
                    )
                )
    return tuple(routes)
