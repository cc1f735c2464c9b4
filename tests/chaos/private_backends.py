"""Private real backends for a chaos test: devtools/infra's servers on ports and
in folders of their own, and the environment that points a mesh at them.

The shared servers of ``streammesh infra up`` (127.0.0.1:3306, 6379, 9042,
9200, 5432) serve other test runs at the same time, so a test that restarts a
backend restarts one of these instead. Each is the very Backend that ``infra
up`` runs (same configuration, same start command, same probe), built with a
free port; :class:`devtools.chaos.targets.InfraServer` kills and starts it by
its pidfile, which lives in the private state folder.

OpenSearch's transport port and cluster name are fixed in its configuration;
the subclass here gives the private node its own, and changes nothing else.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from devtools.infra import endpoints
from devtools.infra.backend import Backend
from devtools.infra.backends import cassandra, opensearch, postgres
from devtools.infra.backends.mariadb import MARIADBD, MariaDB
from devtools.infra.backends.redis import REDIS_SERVER, Redis
from devtools.infra.settings import InfraSettings
from tests.chaos.meshproc import free_port

# The five real backends of issue 21, in the order the test restarts them.
NATIVE = ("redis", "mariadb", "postgres")
JVM = ("cassandra", "opensearch")
ALL = (*NATIVE, *JVM)
# A JVM on a busy 2-core machine, beside the other JVM and the mesh.
JVM_READY_SECONDS = 300.0
# Half the shared node's heap: two JVMs and a mesh share the machine.
CASSANDRA_HEAP = "512M"
CLUSTER_NAME = "streammesh-chaos-restarts"


class PrivateOpenSearch(opensearch.OpenSearch):
    """OpenSearch on its own HTTP and transport ports (the shared node holds 9300)."""

    transport_port: int = opensearch.TRANSPORT_PORT

    def prepare(self) -> None:
        super().prepare()
        config = self.config_dir / "opensearch.yml"
        # Rewriting the file in place keeps the owner prepare() gave it.
        config.write_text(
            config.read_text()
            .replace(
                f"transport.port: {opensearch.TRANSPORT_PORT}\n",
                f"transport.port: {self.transport_port}\n",
            )
            .replace("cluster.name: streammesh\n", f"cluster.name: {CLUSTER_NAME}\n")
        )


def missing(names: Sequence[str], cache_dir: Path) -> list[str]:
    """What is not installed for ``names`` (``make infra-up`` installs it)."""
    wanted = {
        "redis": Path(REDIS_SERVER),
        "mariadb": Path(MARIADBD),
        "postgres": Path("/usr/lib/postgresql"),
        "cassandra": cache_dir / f"cassandra-{cassandra.CASSANDRA_VERSION}",
        "opensearch": cache_dir / f"opensearch-{opensearch.OPENSEARCH_VERSION}" / "home",
    }
    absent = [name for name in names if not wanted[name].exists()]
    if "postgres" in names and not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        absent.append("postgres")
    if any(name in JVM for name in names) and shutil.which("java") is None:
        absent.append("java")
    return sorted(set(absent))


def state_folder() -> Path:
    """The servers' folder: outside pytest's tmp_path, whose parents are 0700 (pytest
    resets them on every session start), because as root PostgreSQL runs as
    ``postgres`` and OpenSearch as ``streammesh``, and both must reach their data."""
    folder = Path(tempfile.mkdtemp(prefix="streammesh-chaos-backends-"))
    folder.chmod(0o755)
    return folder


def private_servers(settings: InfraSettings, names: Sequence[str]) -> dict[str, Backend]:
    """The backends ``names`` (see ALL), each on free ports, in ``settings.state_dir``."""
    servers: dict[str, Backend] = {}
    for name in names:
        server: Backend
        if name == "redis":
            server = Redis(settings)
        elif name == "mariadb":
            server = MariaDB(settings)
        elif name == "postgres":
            server = postgres.Postgres(settings)
        elif name == "cassandra":
            server = cassandra.Cassandra(
                settings,
                port=free_port(),
                storage_port=free_port(),
                jmx_port=free_port(),
                cluster_name=CLUSTER_NAME,
                heap=CASSANDRA_HEAP,
            )
            server.ready_timeout_seconds = JVM_READY_SECONDS
        elif name == "opensearch":
            search = PrivateOpenSearch(settings)
            search.transport_port = free_port()
            search.ready_timeout_seconds = JVM_READY_SECONDS
            server = search
        else:
            raise ValueError(f"unknown backend {name!r} (known: {', '.join(ALL)})")
        if name != "cassandra":
            # Backend.port is a class attribute; this instance gets its own.
            server.port = free_port()
        servers[name] = server
    return servers


def mesh_environment(servers: Mapping[str, Backend]) -> dict[str, str]:
    """The variables that point a mesh's services at ``servers``.

    Each store-owning service is told its own backend kind
    (``STREAMMESH_<SVC>_BACKENDS``, read before the host's STREAMMESH_BACKENDS),
    so a service whose store has no private server keeps its embedded file;
    ``streammesh up`` itself stays in embedded mode, because its real mode runs
    ``streammesh infra up``, which acts on the shared servers.
    """
    env: dict[str, str] = {}
    if "redis" in servers:
        # Every service's Redis (streams, caches, login limits, stream slots),
        # the relays' and consumers' too: STREAMMESH_REDIS_URL is every
        # config's fallback for its redis_url.
        env["STREAMMESH_REDIS_URL"] = f"redis://{endpoints.HOST}:{servers['redis'].port}/0"
    if "mariadb" in servers:
        env["STREAMMESH_USERS_BACKENDS"] = "real"
        # The users account and database that MariaDB's provisioning creates.
        env["STREAMMESH_USERS_DATABASE_URL"] = (
            f"mysql+aiomysql://users:users@{endpoints.HOST}:{servers['mariadb'].port}/users"
        )
    if "postgres" in servers:
        env["STREAMMESH_ANALYTICS_BACKENDS"] = "real"
        env["STREAMMESH_ANALYTICS_POSTGRES_URL"] = (
            f"postgresql://analytics:analytics@{endpoints.HOST}:{servers['postgres'].port}"
            "/analytics"
        )
    if "cassandra" in servers:
        for service in ("catalog", "history", "recommendations"):
            env[f"STREAMMESH_{service.upper()}_BACKENDS"] = "real"
            env[f"STREAMMESH_{service.upper()}_CASSANDRA_PORT"] = str(servers["cassandra"].port)
        # Artwork stays in files: the real media store is the shared s3proxy.
        env["STREAMMESH_CATALOG_MEDIA_STORE"] = "embedded"
    if "opensearch" in servers:
        env["STREAMMESH_SEARCH_BACKENDS"] = "real"
        env["STREAMMESH_SEARCH_OPENSEARCH_URL"] = (
            f"http://{endpoints.HOST}:{servers['opensearch'].port}"
        )
    return env
