"""The backends ``streammesh infra`` runs, in start order."""

from __future__ import annotations

from services.infra.backend import Backend
from services.infra.backends.cassandra import Cassandra
from services.infra.backends.mariadb import MariaDB
from services.infra.backends.opensearch import OpenSearch
from services.infra.backends.postgres import Postgres
from services.infra.backends.redis import Redis
from services.infra.settings import InfraSettings

BACKEND_TYPES: tuple[type[Backend], ...] = (MariaDB, Redis, Cassandra, OpenSearch, Postgres)


def all_backends(settings: InfraSettings) -> list[Backend]:
    return [backend_type(settings) for backend_type in BACKEND_TYPES]
