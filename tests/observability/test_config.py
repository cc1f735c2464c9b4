"""The Prometheus configuration `streammesh infra up` runs: valid, and complete."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from devtools.infra import endpoints
from devtools.infra.backends.monitoring import Prometheus
from devtools.infra.settings import InfraSettings
from devtools.observability import prometheus_config
from services.registry import EDGE_ADMIN_PORT, SERVICES


def _infra_config(tmp_path: Path) -> Path:
    backend = Prometheus(InfraSettings(tmp_path, tmp_path / "cache"))
    backend.prepare()
    return backend.config_path


def test_promtool_rejects_a_config_with_a_missing_rule_file(promtool: Path, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        prometheus_config.render(
            prometheus_config.mesh_jobs(), rules_dir=tmp_path / "no-such-folder-of-rules"
        ).replace("*.yml", "rules.yml")
    )
    result = subprocess.run(
        [str(promtool), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0


def test_the_infra_config_passes_promtool_with_the_repository_rules(
    promtool: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(promtool), "check", "config", str(_infra_config(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_infra_config_scrapes_every_service_envoy_and_every_database(
    tmp_path: Path,
) -> None:
    config = yaml.safe_load(_infra_config(tmp_path).read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for spec in SERVICES:
        job = jobs[f"service-{spec.name}"]
        assert job["static_configs"][0]["targets"] == [f"127.0.0.1:{spec.metrics_port}"]
        assert job["static_configs"][0]["labels"] == {"service": spec.name}
    assert jobs["edge-envoy"]["metrics_path"] == "/stats/prometheus"
    assert jobs["edge-envoy"]["static_configs"][0]["targets"] == [f"127.0.0.1:{EDGE_ADMIN_PORT}"]
    for database, port in (
        ("mariadb", endpoints.MYSQLD_EXPORTER_PORT),
        ("redis", endpoints.REDIS_EXPORTER_PORT),
        ("postgres", endpoints.POSTGRES_EXPORTER_PORT),
        ("opensearch", endpoints.OPENSEARCH_EXPORTER_PORT),
        ("cassandra", endpoints.CASSANDRA_METRICS_PORT),
    ):
        static = jobs[f"db-{database}"]["static_configs"][0]
        assert static == {"targets": [f"127.0.0.1:{port}"], "labels": {"database": database}}
        disk = jobs[f"disk-{database}"]
        kept = [rule["regex"] for rule in disk["metric_relabel_configs"]]
        assert kept[0] == "node_filesystem_(avail|size)_bytes"
        assert kept[1].startswith("/")
    # Everything on loopback.
    for job in config["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            assert target.startswith("127.0.0.1:"), target


def test_mount_point_is_the_longest_mounted_prefix(tmp_path: Path) -> None:
    assert prometheus_config.mount_point(Path("/")) == "/"
    inner = prometheus_config.mount_point(tmp_path)
    assert str(tmp_path.resolve()).startswith(inner)
    # /proc is its own filesystem on Linux.
    assert prometheus_config.mount_point(Path("/proc/self")) == "/proc"
