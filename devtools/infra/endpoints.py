"""Where the real backends listen and how clients log in to them.

These are development servers bound to 127.0.0.1 only, so their credentials
are fixed and public: they protect nothing but keep each service inside its
own database, as production would.
"""

from __future__ import annotations

HOST = "127.0.0.1"

MARIADB_PORT = 3306
REDIS_PORT = 6379
CASSANDRA_PORT = 9042
OPENSEARCH_PORT = 9200
POSTGRES_PORT = 5432

# An administrator account for tooling and tests (creates and drops databases).
MARIADB_ADMIN_USER = "streammesh"
MARIADB_ADMIN_PASSWORD = "streammesh"  # loopback-only development server

# One database and one account per service that owns MySQL data.
MARIADB_SERVICE_DATABASES: tuple[str, ...] = ("users",)

POSTGRES_ADMIN_USER = "streammesh"
POSTGRES_ADMIN_PASSWORD = "streammesh"  # loopback-only development server
POSTGRES_SERVICE_DATABASES: tuple[str, ...] = ("analytics",)


def mariadb_admin_url(database: str = "") -> str:
    """SQLAlchemy URL of the administrator account (optionally on one database)."""
    return (
        f"mysql+aiomysql://{MARIADB_ADMIN_USER}:{MARIADB_ADMIN_PASSWORD}"
        f"@{HOST}:{MARIADB_PORT}/{database}"
    )


def mariadb_service_url(service: str) -> str:
    """SQLAlchemy URL a service uses for its own database (user = password = database)."""
    return f"mysql+aiomysql://{service}:{service}@{HOST}:{MARIADB_PORT}/{service}"


def redis_url(db: int = 0) -> str:
    return f"redis://{HOST}:{REDIS_PORT}/{db}"


def cassandra_contact() -> tuple[str, int]:
    return (HOST, CASSANDRA_PORT)


def opensearch_url() -> str:
    return f"http://{HOST}:{OPENSEARCH_PORT}"


def postgres_admin_url(database: str = "postgres", port: int | None = None) -> str:
    """asyncpg/libpq URL of the administrator account (of the server on ``port``,
    the shared one's by default)."""
    return (
        f"postgresql://{POSTGRES_ADMIN_USER}:{POSTGRES_ADMIN_PASSWORD}"
        f"@{HOST}:{POSTGRES_PORT if port is None else port}/{database}"
    )


def postgres_service_url(service: str) -> str:
    return f"postgresql://{service}:{service}@{HOST}:{POSTGRES_PORT}/{service}"


# s3proxy, the S3 API over files (the object store of artwork and backups).
S3_PORT = 9000
S3_ACCESS_KEY = "streammesh"
S3_SECRET_KEY = "streammesh-secret"  # loopback-only development server
S3_REGION = "us-east-1"


def s3_url() -> str:
    return f"http://{HOST}:{S3_PORT}"


# Monitoring (issue 19): Prometheus and the exporters it scrapes. The exporters
# listen on ports of our own, not their stock ones: the stock mysqld-exporter
# port 9104 is a service's metrics port here.
PROMETHEUS_PORT = 9090
MYSQLD_EXPORTER_PORT = 9191
REDIS_EXPORTER_PORT = 9192
POSTGRES_EXPORTER_PORT = 9193
OPENSEARCH_EXPORTER_PORT = 9194
# Cassandra's own metrics, served by the Prometheus JMX agent inside its JVM.
CASSANDRA_METRICS_PORT = 9195
# Filesystem usage of the databases' data folders (node exporter, filesystem only).
DISK_EXPORTER_PORT = 9196


def prometheus_url() -> str:
    return f"http://{HOST}:{PROMETHEUS_PORT}"
