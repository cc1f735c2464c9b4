"""Prometheus' configuration: what it scrapes, how often, and which rule files it loads.

One renderer for every Prometheus we run: the one ``streammesh infra up``
starts beside the real backends, the one ``streammesh up --observability``
starts beside an embedded mesh, and the private ones of the alert tests. The
rules are always the repository's own files (monitoring/rules), so what the
tests prove is what runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devtools.infra import endpoints
from services.registry import EDGE_ADMIN_PORT, SERVICES

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = REPO_ROOT / "monitoring" / "rules"
# Scrape and rule evaluation cadence of a development Prometheus; the alert
# rules' `for:` durations are chosen against it (monitoring/rules).
SCRAPE_INTERVAL_SECONDS = 5
EVALUATION_INTERVAL_SECONDS = 5
# A scrape that takes longer is a failed scrape (up == 0).
SCRAPE_TIMEOUT_SECONDS = 4


@dataclass(frozen=True)
class ScrapeJob:
    """One ``scrape_configs`` entry with static targets."""

    name: str
    targets: tuple[str, ...]
    metrics_path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)
    # Only these metric names are kept (a regex); empty keeps everything.
    keep_metrics: str = ""
    # Only series of this filesystem are kept (the disk exporter's jobs).
    mountpoint: str = ""

    def to_config(self, scrape_timeout_seconds: float) -> dict[str, Any]:
        static: dict[str, Any] = {"targets": list(self.targets)}
        if self.labels:
            static["labels"] = dict(self.labels)
        config: dict[str, Any] = {
            "job_name": self.name,
            "metrics_path": self.metrics_path,
            "scrape_timeout": f"{scrape_timeout_seconds:g}s",
            "static_configs": [static],
        }
        relabel = []
        if self.keep_metrics:
            relabel.append(
                {"source_labels": ["__name__"], "regex": self.keep_metrics, "action": "keep"}
            )
        if self.mountpoint:
            relabel.append(
                {"source_labels": ["mountpoint"], "regex": self.mountpoint, "action": "keep"}
            )
        if relabel:
            config["metric_relabel_configs"] = relabel
        return config


def _loopback(port: int) -> str:
    return f"{endpoints.HOST}:{port}"


def mesh_jobs() -> list[ScrapeJob]:
    """Every service of the registry (its supervisor sums its workers) and Envoy."""
    jobs = [
        ScrapeJob(
            f"service-{spec.name}",
            (_loopback(spec.metrics_port),),
            labels={"service": spec.name},
        )
        for spec in SERVICES
    ]
    # The saga orchestrator (`streammesh sagas orchestrate`): the users service's sagas.
    jobs.append(
        ScrapeJob(
            "sagas-orchestrator",
            (_loopback(int(os.environ.get("STREAMMESH_SAGAS_ORCHESTRATOR_METRICS_PORT", 9109))),),
            labels={"service": "users", "component": "sagas"},
        )
    )
    admin_port = int(os.environ.get("STREAMMESH_EDGE_ADMIN_PORT", EDGE_ADMIN_PORT))
    jobs.append(
        ScrapeJob(
            "edge-envoy",
            (_loopback(admin_port),),
            metrics_path="/stats/prometheus",
            labels={"service": "edge"},
        )
    )
    return jobs


def mount_point(path: Path) -> str:
    """The mount point of the filesystem that holds ``path`` (longest /proc/mounts prefix)."""
    resolved = str(path.resolve())
    best = "/"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return best
    for line in mounts:
        parts = line.split()
        if len(parts) < 2:
            continue
        point = parts[1]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best = point
    return best


def database_jobs(
    data_dirs: Mapping[str, Path],
    *,
    mysqld_exporter: str | None = None,
    redis_exporter: str | None = None,
    postgres_exporter: str | None = None,
    opensearch_exporter: str | None = None,
    cassandra_metrics: str | None = None,
    disk_exporter: str | None = None,
) -> list[ScrapeJob]:
    """The exporters of the databases, each labelled ``database=<backend name>``.

    The disk exporter is scraped once per database, keeping only the
    filesystem that holds that database's data folder, so disk usage carries
    the same ``database`` label as the rest.
    """
    jobs: list[ScrapeJob] = []
    for job, target, database in (
        ("db-mariadb", mysqld_exporter, "mariadb"),
        ("db-redis", redis_exporter, "redis"),
        ("db-postgres", postgres_exporter, "postgres"),
        ("db-opensearch", opensearch_exporter, "opensearch"),
        ("db-cassandra", cassandra_metrics, "cassandra"),
    ):
        if target is not None:
            jobs.append(ScrapeJob(job, (target,), labels={"database": database}))
    if disk_exporter is not None:
        for database, data_dir in sorted(data_dirs.items()):
            jobs.append(
                ScrapeJob(
                    f"disk-{database}",
                    (disk_exporter,),
                    labels={"database": database},
                    keep_metrics="node_filesystem_(avail|size)_bytes",
                    mountpoint=mount_point(data_dir),
                )
            )
    return jobs


def real_backend_jobs(data_dirs: Mapping[str, Path]) -> list[ScrapeJob]:
    """The exporters ``streammesh infra up`` runs, on their fixed loopback ports."""
    return database_jobs(
        data_dirs,
        mysqld_exporter=_loopback(endpoints.MYSQLD_EXPORTER_PORT),
        redis_exporter=_loopback(endpoints.REDIS_EXPORTER_PORT),
        postgres_exporter=_loopback(endpoints.POSTGRES_EXPORTER_PORT),
        opensearch_exporter=_loopback(endpoints.OPENSEARCH_EXPORTER_PORT),
        cassandra_metrics=_loopback(endpoints.CASSANDRA_METRICS_PORT),
        disk_exporter=_loopback(endpoints.DISK_EXPORTER_PORT),
    )


def render(
    jobs: Sequence[ScrapeJob],
    *,
    scrape_interval_seconds: float = SCRAPE_INTERVAL_SECONDS,
    evaluation_interval_seconds: float = EVALUATION_INTERVAL_SECONDS,
    rules_dir: Path = RULES_DIR,
    self_address: str = f"{endpoints.HOST}:{endpoints.PROMETHEUS_PORT}",
) -> str:
    """prometheus.yml as text; scrape timeout never exceeds the interval."""
    timeout = min(SCRAPE_TIMEOUT_SECONDS, scrape_interval_seconds)
    config = {
        "global": {
            "scrape_interval": f"{scrape_interval_seconds:g}s",
            "evaluation_interval": f"{evaluation_interval_seconds:g}s",
            "external_labels": {"mesh": "streammesh"},
        },
        "rule_files": [str(rules_dir / "*.yml")],
        "scrape_configs": [
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [self_address]}],
            },
            *(job.to_config(timeout) for job in jobs),
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)
