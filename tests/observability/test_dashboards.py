"""The Grafana dashboards: generated, every panel's query runs on a real
Prometheus, and no panel reads a metric that nothing in the mesh exports."""

from __future__ import annotations

import importlib
import json
import re
import urllib.error

import prometheus_client
import pytest
import yaml

from devtools.infra import endpoints
from devtools.observability import dashboards
from tests.conftest import backend_unavailable
from tests.observability.conftest import RULES_DIR, ObservedMesh
from tests.observability.prometheus_api import PrometheusAPI

# A metric name right before a selector's brace, or a recording rule's name.
_SELECTED = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
_RECORDED = re.compile(r"\b([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b")
# The modules that declare the mesh's metrics (the rest come from exporters).
_DECLARING_MODULES = (
    "interceptors.metrics",
    "interceptors.retry",
    "services.events.consumer",
    "services.events.relay",
    "services.runtime.cache",
    "services.runtime.store_metrics",
)
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def _exprs() -> list[tuple[str, str, str]]:
    return [
        (name, panel["title"], target["expr"])
        for name, board in dashboards.all_dashboards().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def _declared_in_code() -> set[str]:
    """Sample names of the metrics the services declare (prometheus_client)."""
    for module in _DECLARING_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in prometheus_client.REGISTRY.collect():
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def _recorded() -> set[str]:
    names = {"ALERTS", "up"}
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def test_the_committed_dashboards_are_the_generated_ones() -> None:
    boards = dashboards.all_dashboards()
    on_disk = {path.name for path in dashboards.DASHBOARDS_DIR.glob("*.json")}
    assert on_disk == set(boards), "run `python -m devtools.observability.dashboards`"
    for name, board in boards.items():
        assert (dashboards.DASHBOARDS_DIR / name).read_text() == dashboards.render(board), name


def test_there_is_an_overview_one_dashboard_per_service_and_per_database() -> None:
    from services.registry import SERVICES

    names = set(dashboards.all_dashboards())
    assert "mesh-overview.json" in names
    assert {f"service-{spec.name}.json" for spec in SERVICES} <= names
    for database in ("mariadb", "redis", "postgres", "opensearch", "cassandra"):
        board = json.loads((dashboards.DASHBOARDS_DIR / f"database-{database}.json").read_text())
        assert board["__inputs"][0]["pluginId"] == "prometheus"
        assert any("Disk" in panel["title"] for panel in board["panels"])


def test_a_broken_query_is_caught(observed_mesh: ObservedMesh) -> None:
    with pytest.raises(urllib.error.HTTPError):
        observed_mesh.api.query("sum(rate(grpc_server_handled_total[5m])")


def test_every_panel_query_runs_without_error(observed_mesh: ObservedMesh) -> None:
    failures = []
    for board, title, expr in _exprs():
        try:
            observed_mesh.api.query(expr)
        except urllib.error.HTTPError as error:
            failures.append(f"{board} / {title}: {error.read().decode()}")
    assert failures == []


def test_no_panel_reads_a_metric_nothing_exports(observed_mesh: ObservedMesh) -> None:
    """Known names: what the echo process and Envoy export, what the service code
    declares, the recording rules, and what the infra Prometheus' exporters export."""
    infra = PrometheusAPI(endpoints.prometheus_url())
    try:
        exporters = set(infra.get("/api/v1/label/__name__/values"))
    except (urllib.error.URLError, ConnectionError) as error:
        backend_unavailable("Prometheus", endpoints.prometheus_url(), error)
    known = (
        set(observed_mesh.api.get("/api/v1/label/__name__/values"))
        | exporters
        | _declared_in_code()
        | _recorded()
    )
    unknown = []
    for board, title, expr in _exprs():
        for name in set(_SELECTED.findall(expr)) | set(_RECORDED.findall(expr)):
            if name not in known:
                unknown.append(f"{board} / {title}: {name}")
    assert unknown == []
