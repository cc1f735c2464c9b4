"""What ``streammesh up --observability`` adds to the mesh: Jaeger and a Prometheus.

Jaeger (when built: ``make observability-tools``) starts before the services,
which then export their spans over OTLP to it (``OTEL_TRACES_EXPORTER=otlp``);
Envoy's default collector is the same address. With ``--backends real`` the
Prometheus of ``streammesh infra up`` already scrapes the services, Envoy and
the databases' exporters, so no second one starts. With the embedded backends
the mesh starts its own Prometheus, on :data:`MESH_PROMETHEUS_PORT` beside any
infra one, scraping the services and Envoy. Both stop with the mesh.
"""

from __future__ import annotations

import asyncio
import os
import urllib.error
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from devtools.infra import endpoints
from devtools.infra.backend import Backend
from devtools.infra.backends.monitoring import TOOLS_BIN, http_get
from devtools.infra.settings import InfraSettings
from devtools.observability import prometheus_config

MESH_PROMETHEUS_PORT = int(os.environ.get("STREAMMESH_MESH_PROMETHEUS_PORT", "9089"))
READY_TIMEOUT_SECONDS = 60.0
_POLL_SECONDS = 0.2

Spawn = Callable[..., Awaitable[Any]]


class ObservabilityError(RuntimeError):
    """Prometheus could not be started; the message says why."""


def prometheus_command(config: Path, data: Path, port: int) -> list[str]:
    return [
        str(TOOLS_BIN / "prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={endpoints.HOST}:{port}",
        "--web.enable-lifecycle",
    ]


async def wait_ready(url: str, timeout_seconds: float = READY_TIMEOUT_SECONDS) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    while loop.time() < deadline:
        try:
            await asyncio.to_thread(http_get, f"{url}/-/ready")
            return
        except (urllib.error.URLError, ConnectionError):
            await asyncio.sleep(_POLL_SECONDS)
    raise ObservabilityError(f"Prometheus at {url} was not ready within {timeout_seconds:.0f}s")


async def start_tracing(spawn: Spawn, state_dir: Path) -> dict[str, str]:
    """Starts Jaeger and points the services' OTLP exporter at it (before they start)."""
    from devtools.observability.jaeger import Jaeger

    home = await asyncio.to_thread(state_dir.resolve)
    jaeger = Jaeger(InfraSettings(home, home))
    if not await asyncio.to_thread(jaeger.binary.exists):
        return {}
    await asyncio.to_thread(jaeger.prepare)
    await spawn("jaeger", *jaeger.command())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_SECONDS
    while await _probe_version(jaeger) is None:
        if loop.time() > deadline:
            raise ObservabilityError(f"Jaeger was not ready within {READY_TIMEOUT_SECONDS:.0f}s")
        await asyncio.sleep(_POLL_SECONDS)
    # Inherited by every process the mesh starts after this.
    os.environ["OTEL_TRACES_EXPORTER"] = "otlp"
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://{jaeger.otlp_grpc_endpoint}"
    os.environ["OTEL_EXPORTER_OTLP_INSECURE"] = "true"
    return {"Jaeger API": jaeger.url, "OTLP in": jaeger.otlp_grpc_endpoint}


async def _probe_version(backend: Backend) -> str | None:
    try:
        return await backend.probe()
    except (urllib.error.URLError, ConnectionError):
        return None


async def start(spawn: Spawn, state_dir: Path, backends: str) -> dict[str, str]:
    """Starts the mesh's Prometheus (embedded backends); returns name -> address."""
    if backends == "real":
        url = endpoints.prometheus_url()
        await wait_ready(url)
        return {"Prometheus (infra)": url}
    if not (TOOLS_BIN / "prometheus").exists():
        raise ObservabilityError("Prometheus is not built: run `make observability-tools`")
    home = (state_dir / "prometheus").resolve()
    await asyncio.to_thread((home / "data").mkdir, parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    text = prometheus_config.render(
        prometheus_config.mesh_jobs(),
        self_address=f"{endpoints.HOST}:{MESH_PROMETHEUS_PORT}",
    )
    await asyncio.to_thread(config.write_text, text)
    await spawn("prometheus", *prometheus_command(config, home / "data", MESH_PROMETHEUS_PORT))
    url = f"http://{endpoints.HOST}:{MESH_PROMETHEUS_PORT}"
    await wait_ready(url)
    return {"Prometheus": url}
