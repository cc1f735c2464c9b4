"""Grafana dashboards of the mesh, generated: a mesh overview, one per service,
one per database, written to monitoring/dashboards/*.json.

Generated rather than hand-edited so every panel's query comes from one table
(and the test, tests/observability/test_dashboards.py, runs each of them
against a real Prometheus). The JSON is Grafana's dashboard model (schema 39)
with a ``DS_PROMETHEUS`` data-source input, the form platform teams import.

    python -m devtools.observability.dashboards        # rewrite the files
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.registry import SERVICES

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "monitoring" / "dashboards"
SCHEMA_VERSION = 39
SERVER_ERRORS = "Unknown|Internal|Unavailable|DataLoss|DeadlineExceeded"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


@dataclass(frozen=True)
class Panel:
    title: str
    # PromQL; $service / $database are filled per dashboard.
    expr: str
    unit: str = "short"
    legend: str = ""


def _red(selector: str) -> list[Panel]:
    return [
        Panel(
            "Requests per second by method",
            f"sum by (grpc_method) (rate(grpc_server_handled_total{{{selector}}}[5m]))",
            "reqps",
            "{{grpc_method}}",
        ),
        Panel(
            "Server-error ratio (SLO 1 %)",
            f'sum(rate(grpc_server_handled_total{{{selector}, grpc_code=~"{SERVER_ERRORS}"}}[5m]))'
            f" / sum(rate(grpc_server_handled_total{{{selector}}}[5m]))",
            "percentunit",
        ),
        Panel(
            "p99 latency by method (SLO 500 ms)",
            "histogram_quantile(0.99, sum by (grpc_method, le) "
            f"(rate(grpc_server_handling_seconds_bucket{{{selector}}}[5m])))",
            "s",
            "{{grpc_method}}",
        ),
        Panel(
            "Outgoing calls by callee and code",
            f"sum by (grpc_service, grpc_code) (rate(grpc_client_handled_total{{{selector}}}[5m]))",
            "reqps",
            "{{grpc_service}} {{grpc_code}}",
        ),
        Panel(
            "Cache hit ratio by namespace",
            "sum by (namespace) "
            f'(rate(streammesh_cache_requests_total{{{selector}, result="hit"}}[5m]))'
            f" / sum by (namespace) (rate(streammesh_cache_requests_total{{{selector}}}[5m]))",
            "percentunit",
            "{{namespace}}",
        ),
        Panel(
            "Consumer lag by group",
            f"max by (stream, group) (streammesh_events_consumer_lag{{{selector}}})",
            "short",
            "{{group}} on {{stream}}",
        ),
        Panel(
            "Relay leaders by source",
            f"sum by (source) (streammesh_events_relay_leader{{{selector}}})",
            "short",
            "{{source}}",
        ),
        # The service's own view of its stores (services/runtime/store_metrics.py).
        Panel(
            "Store p99 latency by store and operation (alert at 1000 ms)",
            "histogram_quantile(0.99, sum by (store, operation, le) "
            f"(rate(streammesh_store_query_seconds_bucket{{{selector}}}[5m])))",
            "s",
            "{{store}} {{operation}}",
        ),
        Panel(
            "Store operations by outcome",
            "sum by (store, outcome) "
            f"(rate(streammesh_store_query_seconds_count{{{selector}}}[5m]))",
            "ops",
            "{{store}} {{outcome}}",
        ),
        Panel(
            "Store pool connections in use and idle",
            f"sum by (store, state) (streammesh_store_pool_connections{{{selector}}})",
            "short",
            "{{store}} {{state}}",
        ),
    ]


OVERVIEW = [
    Panel(
        "Targets up", 'sum by (job) (up{job=~"service-.+|edge-envoy|db-.+"})', "short", "{{job}}"
    ),
    Panel(
        "Requests per second by service",
        "sum by (service) (rate(grpc_server_handled_total[5m]))",
        "reqps",
        "{{service}}",
    ),
    Panel(
        "Server-error ratio by service",
        "service:grpc_server_error_ratio:rate5m",
        "percentunit",
        "{{service}}",
    ),
    Panel(
        "p99 latency by service",
        "service:grpc_server_latency_seconds:p99_5m",
        "s",
        "{{service}}",
    ),
    Panel(
        "Store p99 latency by service and store (alert at 1000 ms)",
        "service_store:streammesh_store_query_seconds:p99_1m",
        "s",
        "{{service}} {{store}}",
    ),
    Panel(
        "Edge: downstream requests by response class",
        "sum by (envoy_response_code_class) "
        '(rate(envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix=~".+"}[5m]))',
        "reqps",
        "{{envoy_response_code_class}}xx",
    ),
    Panel(
        "Firing alerts",
        'sum by (alertname) (ALERTS{alertstate="firing"})',
        "short",
        "{{alertname}}",
    ),
]

DATABASE_PANELS: dict[str, list[Panel]] = {
    "mariadb": [
        Panel("Connected", 'mysql_global_status_threads_connected{database="mariadb"}'),
        Panel(
            "Statements per second",
            'rate(mysql_global_status_queries{database="mariadb"}[5m])',
            "ops",
        ),
        Panel(
            "Slow statements (> 1 s) per second",
            'rate(mysql_global_status_slow_queries{database="mariadb"}[5m])',
            "ops",
        ),
        Panel(
            "InnoDB row lock waits per second",
            'rate(mysql_global_status_innodb_row_lock_waits{database="mariadb"}[5m])',
            "ops",
        ),
    ],
    "redis": [
        Panel("Memory used", 'redis_memory_used_bytes{database="redis"}', "bytes"),
        Panel(
            "Hit ratio",
            'rate(redis_keyspace_hits_total{database="redis"}[5m]) / '
            '(rate(redis_keyspace_hits_total{database="redis"}[5m])'
            ' + rate(redis_keyspace_misses_total{database="redis"}[5m]))',
            "percentunit",
        ),
        Panel("Clients", 'redis_connected_clients{database="redis"}'),
        Panel(
            "Mean command time by command",
            'rate(redis_commands_duration_seconds_total{database="redis"}[5m])'
            ' / rate(redis_commands_total{database="redis"}[5m])',
            "s",
            "{{cmd}}",
        ),
        Panel(
            "Expired keys per second",
            'rate(redis_expired_keys_total{database="redis"}[5m])',
            "ops",
        ),
    ],
    "postgres": [
        Panel(
            "Backends by database",
            'pg_stat_database_numbackends{database="postgres", datname!=""}',
            "short",
            "{{datname}}",
        ),
        Panel(
            "Longest transaction",
            'max by (datname) (pg_stat_activity_max_tx_duration{database="postgres"})',
            "s",
            "{{datname}}",
        ),
    ],
    "opensearch": [
        Panel("Cluster health up", 'elasticsearch_cluster_health_up{database="opensearch"}'),
        Panel(
            "Mean search time",
            'sum(rate(elasticsearch_indices_search_query_time_seconds{database="opensearch"}[5m]))'
            ' / sum(rate(elasticsearch_indices_search_query_total{database="opensearch"}[5m]))',
            "s",
        ),
        Panel(
            "Data path used",
            '1 - elasticsearch_filesystem_data_available_bytes{database="opensearch"}'
            ' / elasticsearch_filesystem_data_size_bytes{database="opensearch"}',
            "percentunit",
        ),
    ],
    "cassandra": [
        Panel(
            "Client request p99 latency",
            'cassandra_clientrequest_latency_seconds{database="cassandra", quantile="0.99"}',
            "s",
            "{{request}}",
        ),
        Panel(
            "Client requests per second",
            'rate(cassandra_clientrequest_requests_total{database="cassandra"}[5m])',
            "ops",
            "{{request}}",
        ),
        Panel("Pending compactions", 'cassandra_compaction_pending_tasks{database="cassandra"}'),
        Panel("Load on disk", 'cassandra_storage_load_bytes{database="cassandra"}', "bytes"),
    ],
}


def _disk_panel(database: str) -> Panel:
    return Panel(
        "Disk used (alert at 85 %)",
        f'1 - node_filesystem_avail_bytes{{database="{database}"}}'
        f' / node_filesystem_size_bytes{{database="{database}"}}',
        "percentunit",
    )


def _panel_json(panel: Panel, index: int) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "expr": panel.expr,
                "legendFormat": panel.legend,
            }
        ],
    }


def dashboard(uid: str, title: str, panels: list[Panel]) -> dict[str, Any]:
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "uid": uid,
        "title": title,
        "tags": ["streammesh"],
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "editable": True,
        "panels": [_panel_json(panel, index) for index, panel in enumerate(panels)],
    }


def all_dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard."""
    boards = {
        "mesh-overview.json": dashboard("streammesh-overview", "StreamMesh overview", OVERVIEW)
    }
    for spec in SERVICES:
        boards[f"service-{spec.name}.json"] = dashboard(
            f"streammesh-service-{spec.name}",
            f"StreamMesh service: {spec.name}",
            _red(f'service="{spec.name}"'),
        )
    for database, panels in DATABASE_PANELS.items():
        boards[f"database-{database}.json"] = dashboard(
            f"streammesh-database-{database}",
            f"StreamMesh database: {database}",
            [*panels, _disk_panel(database)],
        )
    return boards


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
    for name, board in all_dashboards().items():
        (DASHBOARDS_DIR / name).write_text(render(board))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
