"""The backends ``streammesh infra`` runs, in start order."""

from __future__ import annotations

from devtools.infra.backend import Backend
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


def all_backends(settings: InfraSettings) -> list[Backend]:
    return [backend_type(settings) for backend_type in BACKEND_TYPES]
