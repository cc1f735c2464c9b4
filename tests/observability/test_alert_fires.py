"""The case study's connection-failure alert, firing for real and resolving.

A private MariaDB (its own data folder and port, never the shared one), the
standard mysqld exporter in front of it and a private Prometheus loading the
repository's rule files, all started through the project's own infra code
(devtools.infra.manager) exactly as ``streammesh infra up`` starts them. The
test stops MariaDB, reads Prometheus' API until MariaDBConnectionFailure goes
pending and then firing, starts MariaDB again and sees the alert resolve.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.infra import endpoints, manager
from devtools.infra.backend import Backend
from devtools.infra.backends.mariadb import MariaDB
from devtools.infra.backends.monitoring import MysqldExporter, Prometheus
from devtools.infra.settings import InfraSettings
from devtools.observability import prometheus_config
from tests.mesh import unused_port
from tests.observability.prometheus_api import PrometheusAPI, wait_for

ALERT = "MariaDBConnectionFailure"
# Scrape and evaluate every second so the rule's 30 s `for:` dominates the wait.
SCRAPE_SECONDS = 1
# Bounds of each phase: `for:` (30 s) plus scrape, evaluation and boot slack.
START_TIMEOUT_SECONDS = 60.0
FIRE_TIMEOUT_SECONDS = 90.0
RESOLVE_TIMEOUT_SECONDS = 60.0


@dataclass
class PrivateStack:
    mariadb: MariaDB
    exporter: MysqldExporter
    prometheus: Prometheus
    api: PrometheusAPI


def _up(backends: list[Backend]) -> None:
    outcomes = asyncio.run(manager.up(backends, lambda backend, text: None))
    failed = [f"{o.backend.title}: {o.detail}\n{o.log_tail}" for o in outcomes if not o.ok]
    assert not failed, "\n".join(failed)


def _down(backends: list[Backend]) -> None:
    asyncio.run(manager.down(backends))


@pytest.fixture(scope="module")
def stack(
    prometheus_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateStack]:
    settings = InfraSettings(
        state_dir=tmp_path_factory.mktemp("alert-infra"),
        cache_dir=InfraSettings.from_env().cache_dir,
    )
    mariadb = MariaDB(settings)
    mariadb.port = unused_port()
    exporter = MysqldExporter(settings, port=unused_port(), target_port=mariadb.port)
    prometheus_port = unused_port()

    def config(prometheus: Prometheus) -> str:
        jobs = prometheus_config.database_jobs(
            {}, mysqld_exporter=f"{endpoints.HOST}:{exporter.port}"
        )
        return prometheus_config.render(
            jobs,
            scrape_interval_seconds=SCRAPE_SECONDS,
            evaluation_interval_seconds=SCRAPE_SECONDS,
            self_address=f"{endpoints.HOST}:{prometheus.port}",
        )

    prometheus = Prometheus(settings, port=prometheus_port, config_text=config)
    backends: list[Backend] = [mariadb, exporter, prometheus]
    try:
        _up(backends)
        yield PrivateStack(mariadb, exporter, prometheus, PrometheusAPI(prometheus.url))
    finally:
        _down(backends)


def test_the_exporter_scrape_carries_the_database_label(stack: PrivateStack) -> None:
    series = wait_for(
        lambda: stack.api.query('mysql_up{job="db-mariadb"} == 1'),
        "mysql_up == 1 scraped from the private MariaDB",
        START_TIMEOUT_SECONDS,
    )
    assert series[0]["metric"]["database"] == "mariadb"
    # A scrape taken while the exporter was still starting may have left the
    # alert pending; the next evaluation with MariaDB up clears it.
    _wait_quiet(stack)


def _wait_quiet(stack: PrivateStack) -> None:
    wait_for(
        lambda: not stack.api.alerts(ALERT) or None,
        f"{ALERT} quiet while MariaDB is up",
        START_TIMEOUT_SECONDS,
    )


def test_connection_failure_fires_when_mariadb_stops_and_resolves_when_it_returns(
    stack: PrivateStack,
) -> None:
    wait_for(
        lambda: stack.api.query('mysql_up{job="db-mariadb"} == 1'),
        "MariaDB up before the test",
        START_TIMEOUT_SECONDS,
    )
    _wait_quiet(stack)

    _down([stack.mariadb])
    pending = wait_for(
        lambda: [a for a in stack.api.alerts(ALERT) if a["state"] == "pending"],
        f"{ALERT} pending after MariaDB stopped",
        FIRE_TIMEOUT_SECONDS,
    )
    assert pending[0]["labels"]["severity"] == "critical"
    firing = wait_for(
        lambda: [a for a in stack.api.alerts(ALERT) if a["state"] == "firing"],
        f"{ALERT} firing after its `for:`",
        FIRE_TIMEOUT_SECONDS,
    )
    assert firing[0]["labels"]["page"] == "true"
    assert firing[0]["labels"]["instance"] == f"{endpoints.HOST}:{stack.exporter.port}"
    assert "runbook" in firing[0]["annotations"]

    _up([stack.mariadb])
    wait_for(
        lambda: not stack.api.alerts(ALERT) or None,
        f"{ALERT} resolved after MariaDB came back",
        RESOLVE_TIMEOUT_SECONDS,
    )
    assert stack.api.query('mysql_up{job="db-mariadb"}')[0]["value"][1] == "1"
