"""Prometheus and the exporters it scrapes the databases through (issue 19).

The exporters are the standard ones, from their Debian packages, each run as
our own process on a loopback port of ours (endpoints.py), like the databases.
Prometheus itself is built from its Go module by the Makefile into
.tools/bin (``make observability-tools``); its configuration is rendered by
devtools.observability.prometheus_config and loads the repository's alert
rules (monitoring/rules).

Credentials: the exporters log in with the loopback-only administrator
accounts of endpoints.py; a production exporter gets an account of its own
with the monitoring grants only (k8s/ does so).
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devtools.infra import endpoints
from devtools.infra.backend import Backend, NotReadyYet
from devtools.infra.errors import InfraError
from devtools.infra.settings import InfraSettings

# Bound on one readiness probe's HTTP request.
_HTTP_TIMEOUT_SECONDS = 3.0
# Where the Makefile builds Prometheus (the repository's .tools/bin).
REPO_ROOT = Path(__file__).resolve().parents[3]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
# How long Prometheus keeps samples on a development machine.
RETENTION = "7d"

_BUILD_INFO = re.compile(r'_build_info\{[^}]*version="([^"]+)"')


def http_get(url: str, timeout: float = _HTTP_TIMEOUT_SECONDS) -> bytes:
    """A blocking GET of a loopback URL (probes run it in a thread)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def http_post(url: str, timeout: float = _HTTP_TIMEOUT_SECONDS) -> None:
    """A blocking, empty POST to a loopback URL (Prometheus' lifecycle API)."""
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


class Exporter(Backend):
    """A Debian-packaged Prometheus exporter serving ``/metrics`` on our port."""

    binary: str
    # The exporter's readiness: its own build-info metric is served.
    ready_timeout_seconds = 20.0
    stop_grace_seconds = 5.0
    not_ready_errors = (urllib.error.URLError, ConnectionError)

    def __init__(self, settings: InfraSettings, *, port: int | None = None) -> None:
        super().__init__(settings)
        if port is not None:
            self.port = port

    @property
    def listen_address(self) -> str:
        return f"{endpoints.HOST}:{self.port}"

    def prepare(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)

    def arguments(self) -> Sequence[str]:
        return [f"--web.listen-address={self.listen_address}"]

    def command(self) -> Sequence[str]:
        return [self.binary, *self.arguments()]

    async def probe(self) -> str:
        body = await asyncio.to_thread(http_get, f"http://{self.listen_address}/metrics")
        match = _BUILD_INFO.search(body.decode("utf-8", errors="replace"))
        if match is None:
            raise NotReadyYet(f"{self.title} serves no build info yet")
        return match.group(1)


class MysqldExporter(Exporter):
    name = "mysqld-exporter"
    title = "mysqld-exp"
    port = endpoints.MYSQLD_EXPORTER_PORT
    apt_packages = ("prometheus-mysqld-exporter",)
    binary = "/usr/bin/prometheus-mysqld-exporter"
    target_port = endpoints.MARIADB_PORT

    def __init__(
        self, settings: InfraSettings, *, port: int | None = None, target_port: int | None = None
    ) -> None:
        super().__init__(settings, port=port)
        if target_port is not None:
            self.target_port = target_port

    def environment(self) -> Mapping[str, str]:
        user, password = endpoints.MARIADB_ADMIN_USER, endpoints.MARIADB_ADMIN_PASSWORD
        return {"DATA_SOURCE_NAME": f"{user}:{password}@({endpoints.HOST}:{self.target_port})/"}

    def arguments(self) -> Sequence[str]:
        return [
            *super().arguments(),
            # Lock waits and query performance beyond the default global status.
            "--collect.info_schema.innodb_metrics",
            "--collect.global_status",
            "--collect.global_variables",
            "--collect.slave_status",
        ]


class RedisExporter(Exporter):
    name = "redis-exporter"
    title = "redis-exp"
    port = endpoints.REDIS_EXPORTER_PORT
    apt_packages = ("prometheus-redis-exporter",)
    binary = "/usr/bin/prometheus-redis-exporter"

    def arguments(self) -> Sequence[str]:
        return [
            f"--web.listen-address={self.listen_address}",
            f"--redis.addr=redis://{endpoints.HOST}:{endpoints.REDIS_PORT}",
        ]


class PostgresExporter(Exporter):
    name = "postgres-exporter"
    title = "pg-exp"
    port = endpoints.POSTGRES_EXPORTER_PORT
    apt_packages = ("prometheus-postgres-exporter",)
    binary = "/usr/bin/prometheus-postgres-exporter"

    def environment(self) -> Mapping[str, str]:
        return {"DATA_SOURCE_NAME": endpoints.postgres_admin_url() + "?sslmode=disable"}


class OpenSearchExporter(Exporter):
    name = "opensearch-exporter"
    title = "os-exp"
    port = endpoints.OPENSEARCH_EXPORTER_PORT
    apt_packages = ("prometheus-elasticsearch-exporter",)
    binary = "/usr/bin/prometheus-elasticsearch-exporter"

    def arguments(self) -> Sequence[str]:
        return [
            *super().arguments(),
            f"--es.uri={endpoints.opensearch_url()}",
            # Per-node disk, JVM and search latency, and per-index sizes.
            "--es.all",
            "--es.indices",
        ]


class DiskExporter(Exporter):
    """node_exporter with the filesystem collector only: the databases' disk usage."""

    name = "disk-exporter"
    title = "disk-exp"
    port = endpoints.DISK_EXPORTER_PORT
    apt_packages = ("prometheus-node-exporter",)
    binary = "/usr/bin/prometheus-node-exporter"

    def arguments(self) -> Sequence[str]:
        return [
            *super().arguments(),
            "--collector.disable-defaults",
            "--collector.filesystem",
        ]


JMX_EXPORTER_VERSION = "1.0.1"
# Cassandra's JMX port (loopback, no authentication: devtools/infra/backends/cassandra.py).
CASSANDRA_JMX_PORT = 7199
# The exporter's rules: which MBeans, renamed how (read by the alerts and dashboards).
CASSANDRA_JMX_RULES = REPO_ROOT / "monitoring" / "cassandra-jmx.yml"


class CassandraJmxExporter(Backend):
    """The Prometheus JMX exporter reading Cassandra's metric MBeans over loopback JMX.

    The same collector as the JMX agent (io.prometheus.jmx 1.0.1), run beside
    the JVM rather than inside it, so it attaches to a running Cassandra without
    a restart. When Cassandra is down it still answers, with
    ``jmx_scrape_error 1``: the connection-failure alert reads both.
    """

    name = "cassandra-exporter"
    title = "cass-exp"
    port = endpoints.CASSANDRA_METRICS_PORT
    ready_timeout_seconds = 60.0
    stop_grace_seconds = 10.0
    not_ready_errors = (urllib.error.URLError, ConnectionError)
    # A small collector JVM on a shared 2-core machine.
    heap = "64m"

    @property
    def jar_dir(self) -> Path:
        return self.settings.cache_dir / f"jmx-prometheus-{JMX_EXPORTER_VERSION}"

    @property
    def jar(self) -> Path:
        return self.jar_dir / f"jmx_prometheus_httpserver-{JMX_EXPORTER_VERSION}.jar"

    @property
    def config_path(self) -> Path:
        return self.home / "jmx-exporter.yaml"

    async def fetch(self, report: Callable[[str], None]) -> None:
        from devtools.infra import tooling

        if (self.jar_dir / tooling.COMPLETE_MARKER).exists():
            return
        report(f"mvn: fetching jmx_prometheus_httpserver {JMX_EXPORTER_VERSION}")
        await tooling.maven_copy(
            f"io.prometheus.jmx:jmx_prometheus_httpserver:{JMX_EXPORTER_VERSION}",
            self.jar_dir,
            self.install_log_path,
        )

    def prepare(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            f"hostPort: {endpoints.HOST}:{CASSANDRA_JMX_PORT}\n" + CASSANDRA_JMX_RULES.read_text()
        )

    def command(self) -> Sequence[str]:
        return [
            "java",
            f"-Xmx{self.heap}",
            "-jar",
            str(self.jar),
            f"{endpoints.HOST}:{self.port}",
            str(self.config_path),
        ]

    async def probe(self) -> str:
        body = await asyncio.to_thread(http_get, f"http://{endpoints.HOST}:{self.port}/metrics")
        match = _BUILD_INFO.search(body.decode("utf-8", errors="replace"))
        if match is None:
            raise NotReadyYet("the JMX exporter serves no build info yet")
        return match.group(1)


class Prometheus(Backend):
    """Prometheus on loopback, scraping the mesh, Envoy and the exporters."""

    name = "prometheus"
    title = "Prometheus"
    port = endpoints.PROMETHEUS_PORT
    ready_timeout_seconds = 60.0
    stop_grace_seconds = 20.0
    not_ready_errors = (urllib.error.URLError, ConnectionError)

    def __init__(
        self,
        settings: InfraSettings,
        *,
        port: int | None = None,
        config_text: Callable[[Prometheus], str] | None = None,
    ) -> None:
        super().__init__(settings)
        if port is not None:
            self.port = port
        self._config_text = config_text

    @property
    def binary(self) -> Path:
        return TOOLS_BIN / "prometheus"

    @property
    def config_path(self) -> Path:
        return self.home / "prometheus.yml"

    @property
    def url(self) -> str:
        return f"http://{endpoints.HOST}:{self.port}"

    async def fetch(self, report: Callable[[str], None]) -> None:
        if not self.binary.exists():
            raise InfraError(
                f"{self.binary} is missing: build it once with `make observability-tools`"
            )

    def _default_config(self) -> str:
        from devtools.observability import prometheus_config

        state = self.settings.state_dir
        data_dirs = {
            name: state / name
            for name in ("mariadb", "redis", "cassandra", "opensearch", "postgres")
        }
        jobs = [
            *prometheus_config.mesh_jobs(),
            *prometheus_config.real_backend_jobs(data_dirs),
        ]
        return prometheus_config.render(jobs, self_address=f"{endpoints.HOST}:{self.port}")

    def prepare(self) -> None:
        for folder in ("data", "logs"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        text = self._config_text(self) if self._config_text else self._default_config()
        self.config_path.write_text(text)

    def command(self) -> Sequence[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address={endpoints.HOST}:{self.port}",
            # POST /-/reload after the configuration or the rules change.
            "--web.enable-lifecycle",
        ]

    async def refresh(self) -> None:
        # A Prometheus started before the rules changed (a long-running infra, a
        # newer checkout) would alert on the old ones: reload them and the config.
        await asyncio.to_thread(http_post, f"{self.url}/-/reload")

    async def probe(self) -> str:
        await asyncio.to_thread(http_get, f"{self.url}/-/ready")
        body = await asyncio.to_thread(http_get, f"{self.url}/api/v1/status/buildinfo")
        # A `go install` build carries no version stamp (the release Makefile sets it).
        return str(json.loads(body)["data"]["version"] or "module build")


MONITORING_BACKENDS: tuple[type[Backend], ...] = (
    MysqldExporter,
    RedisExporter,
    PostgresExporter,
    OpenSearchExporter,
    CassandraJmxExporter,
    DiskExporter,
    Prometheus,
)
