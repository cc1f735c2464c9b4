"""Fixtures of the monitoring tests: the Prometheus tools of .tools/bin, and a
small real mesh under a private Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.infra import endpoints, manager
from devtools.infra.backends.monitoring import Prometheus
from devtools.infra.settings import InfraSettings
from devtools.observability import prometheus_config
from devtools.observability.jaeger import Jaeger
from services.edge import envoy
from services.edge.render import EdgeConfig, render
from tests.mesh import unused_port
from tests.observability.prometheus_api import PrometheusAPI, wait_for

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "bin"
RULES_DIR = REPO / "monitoring" / "rules"
RULE_TESTS_DIR = REPO / "monitoring" / "tests"


def tool(name: str) -> Path:
    """A tool the Makefile builds; skips without it (fails under CI: no passing by skipping)."""
    found = shutil.which(name, path=str(TOOLS_BIN))
    if found is None:
        message = f"{name} is not built: run `make observability-tools`"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return Path(found)


@pytest.fixture(scope="session")
def promtool() -> Path:
    return tool("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    return tool("prometheus")


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    tool("jaeger")
    settings = InfraSettings(tmp_path_factory.mktemp("jaeger"), InfraSettings.from_env().cache_dir)
    backend = Jaeger(
        settings,
        query_port=unused_port(),
        otlp_grpc_port=unused_port(),
        otlp_http_port=unused_port(),
        query_grpc_port=unused_port(),
        health_port=unused_port(),
    )
    outcome = asyncio.run(manager.up([backend], lambda _backend, _text: None))[0]
    assert outcome.ok, outcome.log_tail
    try:
        yield backend
    finally:
        asyncio.run(manager.down([backend]))


# ------------------------------------------------ a small mesh under a private Prometheus


@contextlib.contextmanager
def private_prometheus(
    jobs: Sequence[prometheus_config.ScrapeJob], home: Path
) -> Iterator[PrometheusAPI]:
    """A Prometheus of the test's own (port, data under ``home``) scraping ``jobs`` and
    evaluating the repository's rules every SCRAPE_SECONDS, started and stopped by
    the infra code that runs the shared one."""

    def config(backend: Prometheus) -> str:
        return prometheus_config.render(
            jobs,
            scrape_interval_seconds=SCRAPE_SECONDS,
            evaluation_interval_seconds=SCRAPE_SECONDS,
            self_address=f"{endpoints.HOST}:{backend.port}",
        )

    settings = InfraSettings(home / "infra", InfraSettings.from_env().cache_dir)
    prometheus = Prometheus(settings, port=unused_port(), config_text=config)
    try:
        outcome = asyncio.run(manager.up([prometheus], lambda _backend, _text: None))[0]
        assert outcome.ok, outcome.log_tail
        yield PrometheusAPI(prometheus.url)
    finally:
        asyncio.run(manager.down([prometheus]))


# Scrape and evaluate every second: tests wait for seconds, not minutes.
SCRAPE_SECONDS = 1
# Bound on each wait of the fixtures below.
FIXTURE_WAIT_SECONDS = 60.0


@dataclass
class ObservedMesh:
    """The echo service and an Envoy edge, scraped by a private Prometheus."""

    api: PrometheusAPI
    echo_port: int
    echo_metrics_port: int
    envoy_admin_port: int


@pytest.fixture(scope="session")
def observed_mesh(
    prometheus_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObservedMesh]:
    """echo (devtools/echo: the full server kit and interceptor chain) as its own
    process with its /metrics port, a real Envoy edge, and a private Prometheus
    (own port and data) scraping both as the infra one would (job service-echo
    with service="echo", job edge-envoy) and loading the repository's rules."""
    home = tmp_path_factory.mktemp("observed-mesh")
    echo_port, echo_metrics_port = unused_port(), unused_port()
    echo = subprocess.Popen(
        [sys.executable, "-m", "devtools.echo.server"],
        cwd=REPO,
        env=dict(
            os.environ,
            STREAMMESH_ECHO_PORT=str(echo_port),
            STREAMMESH_ECHO_METRICS_PORT=str(echo_metrics_port),
            OTEL_TRACES_EXPORTER="none",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    edge_config = envoy.write_config(
        render(EdgeConfig(port=0, admin_port=0, otlp_collector=None)), home / "envoy.json"
    )
    edge = asyncio.run(envoy.start(edge_config, home / "edge", home / "edge.log"))
    jobs = [
        prometheus_config.ScrapeJob(
            "service-echo", (f"{endpoints.HOST}:{echo_metrics_port}",), labels={"service": "echo"}
        ),
        prometheus_config.ScrapeJob(
            "edge-envoy",
            (f"{endpoints.HOST}:{edge.admin_port}",),
            metrics_path="/stats/prometheus",
            labels={"service": "edge"},
        ),
    ]

    try:
        with private_prometheus(jobs, home) as api:
            wait_for(
                lambda: len(api.query('up{job=~"service-echo|edge-envoy"} == 1')) == 2,
                "echo and Envoy scraped",
                FIXTURE_WAIT_SECONDS,
            )
            yield ObservedMesh(api, echo_port, echo_metrics_port, edge.admin_port)
    finally:
        for pid in (edge.process.pid, echo.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        echo.wait(timeout=30)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(edge.process.pid, 0)
