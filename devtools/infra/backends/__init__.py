"""The backends ``streammesh infra`` runs, in start order."""

from __future__ import annotations

from devtools.infra.backend import Backend
from devtools.infra.backends import cassandra
from devtools.infra.backends.cassandra import Cassandra
from devtools.infra.backends.mariadb import MariaDB
from devtools.infra.backends.monitoring import MONITORING_BACKENDS
from devtools.infra.backends.opensearch import OpenSearch
from devtools.infra.backends.postgres import Postgres
from devtools.infra.backends.redis import Redis
from devtools.infra.backends.s3proxy import S3Proxy
from devtools.infra.settings import InfraSettings

BACKEND_TYPES: tuple[type[Backend], ...] = (
    MariaDB,
    Redis,
    Cassandra,
    OpenSearch,
    Postgres,
    S3Proxy,
    # Prometheus and the exporters it reads the databases through (issue 19).
    *MONITORING_BACKENDS,
)


def all_backends(settings: InfraSettings, cassandra_nodes: int = 1) -> list[Backend]:
    """Every backend; with ``cassandra_nodes`` > 1 Cassandra is that many nodes."""
    backends: list[Backend] = []
    for backend_type in BACKEND_TYPES:
        if backend_type is Cassandra:
            backends += cassandra.cluster(settings, cassandra_nodes)
        else:
            backends.append(backend_type(settings))
    return backends
