"""``streammesh top``: a live terminal view of the mesh, read from Prometheus.

Per service: request rate, server-error ratio, p99 latency, cache hit ratio,
the largest consumer lag, the p99 of its slowest store and its store pools'
connections in use (of all), from the same series the alert rules read
(monitoring/rules/mesh.yml). For people without Grafana.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from devtools.infra import endpoints

# Window of every rate; short, so the view follows the mesh within seconds.
WINDOW = "1m"
REFRESH_SECONDS = 2.0
# Bound on one Prometheus request.
REQUEST_TIMEOUT_SECONDS = 5.0
SERVER_ERRORS = "Unknown|Internal|Unavailable|DataLoss|DeadlineExceeded"

QUERIES: dict[str, str] = {
    "up": 'max by (service) (up{job=~"service-.+"})',
    "rate": f"sum by (service) (rate(grpc_server_handled_total[{WINDOW}]))",
    # A service with traffic and no error shows 0, not "-".
    "errors": (
        "(sum by (service) "
        f'(rate(grpc_server_handled_total{{grpc_code=~"{SERVER_ERRORS}"}}[{WINDOW}]))'
        f" or 0 * sum by (service) (rate(grpc_server_handled_total[{WINDOW}])))"
        f" / sum by (service) (rate(grpc_server_handled_total[{WINDOW}]))"
    ),
    "p99": (
        "histogram_quantile(0.99, sum by (service, le) "
        f"(rate(grpc_server_handling_seconds_bucket[{WINDOW}])))"
    ),
    "cache_hit": (
        f'sum by (service) (rate(streammesh_cache_requests_total{{result="hit"}}[{WINDOW}]))'
        f" / sum by (service) (rate(streammesh_cache_requests_total[{WINDOW}]))"
    ),
    "lag": "max by (service) (streammesh_events_consumer_lag)",
    # The slowest of a service's stores, as the service sees it (store_metrics).
    "store_p99": (
        "max by (service) (histogram_quantile(0.99, sum by (service, store, le) "
        f"(rate(streammesh_store_query_seconds_bucket[{WINDOW}]))))"
    ),
    "pool_in_use": 'sum by (service) (streammesh_store_pool_connections{state="in_use"})',
    "pool": "sum by (service) (streammesh_store_pool_connections)",
}


class PrometheusUnavailable(RuntimeError):
    """Prometheus did not answer or refused a query."""


@dataclass
class ServiceRow:
    service: str
    values: dict[str, float] = field(default_factory=dict)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    address = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(address, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        raise PrometheusUnavailable(f"{url}: {err}") from err
    if body.get("status") != "success":
        raise PrometheusUnavailable(f"{promql}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def snapshot(url: str) -> list[ServiceRow]:
    """One reading of every query, by service, sorted by name."""
    rows: dict[str, ServiceRow] = {}
    for key, promql in QUERIES.items():
        for sample in query(url, promql):
            service = sample["metric"].get("service", "?")
            value = float(sample["value"][1])
            rows.setdefault(service, ServiceRow(service)).values[key] = value
    return [rows[name] for name in sorted(rows)]


def _number(value: float | None, fmt: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    return fmt.format(value)


def _ms(seconds: float | None) -> str:
    return _number(None if seconds is None else seconds * 1000, "{:.1f} ms")


def _pool(in_use: float | None, total: float | None) -> str:
    """Connections in use of all the service's store pools: "3/12"."""
    if in_use is None or total is None:
        return "-"
    return f"{in_use:.0f}/{total:.0f}"


def render(rows: list[ServiceRow], url: str) -> Table:
    table = Table(title=f"StreamMesh top — {url} — rates over {WINDOW}")
    for column, justify in (
        ("service", "left"),
        ("up", "center"),
        ("req/s", "right"),
        ("errors", "right"),
        ("p99", "right"),
        ("cache hit", "right"),
        ("consumer lag", "right"),
        ("store p99", "right"),
        ("pool in use", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        up = row.values.get("up")
        errors = row.values.get("errors")
        table.add_row(
            row.service,
            "[green]up[/]" if up == 1 else "[red]down[/]" if up == 0 else "-",
            _number(row.values.get("rate"), "{:.1f}"),
            ("[red]" if errors and errors > 0.01 else "") + _number(errors, "{:.2%}"),
            _ms(row.values.get("p99")),
            _number(row.values.get("cache_hit"), "{:.0%}"),
            _number(row.values.get("lag"), "{:.0f}"),
            ("[red]" if (row.values.get("store_p99") or 0) > 1 else "")
            + _ms(row.values.get("store_p99")),
            _pool(row.values.get("pool_in_use"), row.values.get("pool")),
        )
    return table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "top",
        help="live per-service rate, errors, p99, cache hit ratio, consumer lag and store "
        "latency and pools (Prometheus)",
    )
    parser.add_argument(
        "--prometheus",
        default=os.environ.get("STREAMMESH_PROMETHEUS_URL", endpoints.prometheus_url()),
        help="Prometheus to read (default: the one of `streammesh infra up`)",
    )
    parser.add_argument("--once", action="store_true", help="print one reading and exit")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    try:
        if args.once:
            console.print(render(snapshot(args.prometheus), args.prometheus))
            return 0
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(render(snapshot(args.prometheus), args.prometheus), refresh=True)
                time.sleep(REFRESH_SECONDS)
    except PrometheusUnavailable as err:
        console.print(f"[red]Prometheus unavailable:[/] {err}")
        return 1
    except KeyboardInterrupt:
        return 0
