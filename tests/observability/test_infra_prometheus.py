"""The Prometheus of `streammesh infra up`: it reads every database through its
exporter, with the case study's metrics, and has the repository's rules loaded."""

from __future__ import annotations

import urllib.error
from typing import Any

import pytest
import yaml

from devtools.infra import endpoints
from tests.conftest import backend_unavailable
from tests.observability.conftest import RULES_DIR
from tests.observability.prometheus_api import PrometheusAPI, wait_for

pytestmark = pytest.mark.real

DATABASES = ("mariadb", "redis", "postgres", "opensearch", "cassandra")
# Two scrape intervals (5 s) and a slow JMX scrape of a busy Cassandra.
SCRAPED_TIMEOUT_SECONDS = 45.0
# The case study's metrics, per database: connections, latency, disk, health.
CASE_STUDY_METRICS = {
    "mariadb": (
        "mysql_global_status_threads_connected",
        "mysql_global_status_slow_queries",
        "mysql_global_status_innodb_row_lock_waits",
    ),
    "redis": (
        "redis_memory_used_bytes",
        "redis_keyspace_hits_total",
        "redis_connected_clients",
        "redis_commands_duration_seconds_total",
        "redis_expired_keys_total",
    ),
    "postgres": ("pg_stat_database_numbackends", "pg_stat_activity_max_tx_duration"),
    "opensearch": (
        "elasticsearch_indices_search_query_time_seconds",
        "elasticsearch_filesystem_data_available_bytes",
    ),
    "cassandra": (
        "cassandra_clientrequest_latency_seconds",
        "cassandra_compaction_pending_tasks",
        "cassandra_storage_load_bytes",
    ),
}


@pytest.fixture(scope="module")
def prometheus() -> PrometheusAPI:
    api = PrometheusAPI(endpoints.prometheus_url())
    try:
        api.get("/api/v1/status/buildinfo")
    except (urllib.error.URLError, ConnectionError) as error:
        backend_unavailable("Prometheus", endpoints.prometheus_url(), error)
    return api


def _healthy_targets(api: PrometheusAPI) -> set[str] | None:
    up = api.query('up{job=~"db-.+|disk-.+"} == 1')
    jobs = {sample["metric"]["job"] for sample in up}
    wanted = {f"{kind}-{database}" for kind in ("db", "disk") for database in DATABASES}
    return jobs if wanted <= jobs else None


def test_every_database_exporter_is_scraped_and_reaches_its_database(
    prometheus: PrometheusAPI,
) -> None:
    wait_for(
        lambda: _healthy_targets(prometheus), "every exporter scraped", SCRAPED_TIMEOUT_SECONDS
    )
    for promql in (
        "mysql_up",
        "redis_up",
        "pg_up",
        "elasticsearch_cluster_health_up",
    ):
        samples = prometheus.query(promql)
        assert [sample["value"][1] for sample in samples] == ["1"], promql
    assert prometheus.query("jmx_scrape_error")[0]["value"][1] == "0"


def test_the_case_study_metrics_of_each_database_are_there(prometheus: PrometheusAPI) -> None:
    wait_for(
        lambda: _healthy_targets(prometheus), "every exporter scraped", SCRAPED_TIMEOUT_SECONDS
    )
    for database, names in CASE_STUDY_METRICS.items():
        for name in names:
            samples = prometheus.query(f'{name}{{database="{database}"}}')
            assert samples, f"{name} of {database}"
    disk = '{job=~"disk-.+"}'
    usage = prometheus.query(
        f"1 - node_filesystem_avail_bytes{disk} / node_filesystem_size_bytes{disk}"
    )
    assert {sample["metric"]["database"] for sample in usage} == set(DATABASES)
    assert all(0 < float(sample["value"][1]) < 1 for sample in usage)


def test_the_repository_rules_are_loaded(prometheus: PrometheusAPI) -> None:
    loaded: set[str] = set()
    for group in prometheus.get("/api/v1/rules")["groups"]:
        loaded.update(rule["name"] for rule in group["rules"])
    wanted: set[str] = set()
    for path in RULES_DIR.glob("*.yml"):
        document: dict[str, Any] = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            wanted.update(rule.get("alert") or rule["record"] for rule in group["rules"])
    assert wanted <= loaded
