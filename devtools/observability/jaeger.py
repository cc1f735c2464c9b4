"""Jaeger all-in-one (v2, built into .tools/bin by the Makefile) as a process of ours.

Its ports are set in a configuration file written here, so they never collide
with the mesh: OTLP in on :data:`OTLP_GRPC_PORT` (where Envoy and the
services export: services/edge/render.py's default collector), the query API
on :data:`QUERY_HTTP_PORT`. Storage is in memory, bounded by
:data:`MAX_TRACES`. Only the API serves (the UI's assets are not in a module
build): ``streammesh trace TRACE_ID`` reads it.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from devtools.infra import endpoints
from devtools.infra.backend import Backend
from devtools.infra.backends.monitoring import TOOLS_BIN, http_get
from devtools.infra.errors import InfraError
from devtools.infra.settings import InfraSettings

OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
QUERY_HTTP_PORT = 16686
QUERY_GRPC_PORT = 16685
HEALTH_PORT = 13133
# Traces kept in memory; the oldest go first.
MAX_TRACES = 20_000


class Jaeger(Backend):
    name = "jaeger"
    title = "Jaeger"
    port = QUERY_HTTP_PORT
    ready_timeout_seconds = 60.0
    stop_grace_seconds = 10.0
    not_ready_errors = (urllib.error.URLError, ConnectionError)

    def __init__(
        self,
        settings: InfraSettings,
        *,
        query_port: int | None = None,
        otlp_grpc_port: int = OTLP_GRPC_PORT,
        otlp_http_port: int = OTLP_HTTP_PORT,
        query_grpc_port: int = QUERY_GRPC_PORT,
        health_port: int = HEALTH_PORT,
    ) -> None:
        super().__init__(settings)
        if query_port is not None:
            self.port = query_port
        self.otlp_grpc_port = otlp_grpc_port
        self.otlp_http_port = otlp_http_port
        self.query_grpc_port = query_grpc_port
        self.health_port = health_port

    @property
    def binary(self) -> Path:
        return TOOLS_BIN / "jaeger"

    @property
    def url(self) -> str:
        return f"http://{endpoints.HOST}:{self.port}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"{endpoints.HOST}:{self.otlp_grpc_port}"

    @property
    def config_path(self) -> Path:
        return self.home / "jaeger.yaml"

    async def fetch(self, report: Callable[[str], None]) -> None:
        if not self.binary.exists():
            raise InfraError(f"{self.binary} is missing: build it with `make observability-tools`")

    def config(self) -> dict[str, object]:
        host = endpoints.HOST
        return {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["batch"],
                        "exporters": ["jaeger_storage_exporter"],
                    }
                },
                # Jaeger's own metrics would take :8888; none needed here.
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
            },
            "extensions": {
                "healthcheckv2": {
                    "use_v2": True,
                    "http": {"endpoint": f"{host}:{self.health_port}"},
                },
                "jaeger_query": {
                    "storage": {"traces": "memory_store"},
                    "http": {"endpoint": f"{host}:{self.port}"},
                    "grpc": {"endpoint": f"{host}:{self.query_grpc_port}"},
                },
                "jaeger_storage": {
                    "backends": {"memory_store": {"memory": {"max_traces": MAX_TRACES}}}
                },
            },
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"{host}:{self.otlp_grpc_port}"},
                        "http": {"endpoint": f"{host}:{self.otlp_http_port}"},
                    }
                }
            },
            "processors": {"batch": {}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory_store"}},
        }

    def prepare(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    def command(self) -> Sequence[str]:
        return [str(self.binary), "--config", f"file:{self.config_path}"]

    async def probe(self) -> str:
        body = await asyncio.to_thread(http_get, f"{self.url}/api/services")
        json.loads(body)
        return "v2"
