"""Apache Cassandra 5.0 on JDK 17, from Maven Central jars, as one local node or a cluster.

There is no Debian package and no Docker here, so the jars of
``org.apache.cassandra:cassandra-all`` and its runtime dependencies are fetched
with Maven into the user's cache, and ``CassandraDaemon`` is started directly
with the JVM flags Cassandra's own ``conf/jvm17-server.options`` and
``cassandra-env.sh`` would give it, a ``cassandra.yaml`` written here and sized
for a shared 2-core machine.

A cluster (``streammesh infra up --cassandra-nodes 3``) is laid out as ccm lays
it out: node ``n`` listens on 127.0.0.``n`` (Linux routes all of 127/8 to the
loopback interface), every node on the same CQL and storage ports, JMX on a
port of its own, node 1 the seed. A fresh cluster starts fast: each node has
one fixed token (evenly spaced, node 1 keeping the single node's token 0) and
does not bootstrap (``auto_bootstrap: false``: there is no data to stream),
and hints are on so a node that was down gets the writes it missed.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cassandra import DriverException, OperationTimedOut
from cassandra.cluster import Cluster, NoHostAvailable

from devtools.infra import endpoints, tooling
from devtools.infra.backend import Backend
from devtools.infra.errors import InfraError
from devtools.infra.settings import InfraSettings

CASSANDRA_VERSION = "5.0.6"
HEAP = "1G"
# Each node of a cluster on one machine: three JVMs share its memory.
CLUSTER_NODE_HEAP = "512M"
STORAGE_PORT = 7000
# JMX on loopback only, without authentication (what cassandra-env.sh does with
# LOCAL_JMX=yes): nodetool needs it for flush, snapshot and import (backups).
# Node n of a cluster: JMX_PORT + 100 * (n - 1).
JMX_PORT = 7199
MAX_NODES = 9
CLUSTER_NAME = "streammesh"
# SimpleSnitch puts every node in this datacenter.
DATACENTER = "datacenter1"
# Bound on a probe's connection attempt.
_CONNECT_TIMEOUT_SECONDS = 3.0

# Java 17 module-system openings Cassandra needs (conf/jvm17-server.options, "JPMS").
JPMS_FLAGS: tuple[str, ...] = (
    *(
        f"--add-exports={export}=ALL-UNNAMED"
        for export in (
            "java.base/jdk.internal.misc",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "java.base/java.lang.ref",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
        )
    ),
    *(
        f"--add-opens={opening}=ALL-UNNAMED"
        for opening in (
            "java.base/java.lang.module",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.util.jar",
            "jdk.management/com.sun.management.internal",
            "java.base/sun.nio.ch",
            "java.base/java.io",
            "java.base/java.lang.reflect",
            "jdk.compiler/com.sun.tools.javac",
            "java.base/java.lang",
            "java.base/java.util",
        )
    ),
)

_LOGBACK_XML = """<configuration scan="false">
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>${cassandra.logdir}/system.log.%i.zip</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>20MB</maxFileSize>
    </triggeringPolicy>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG" />
    <appender-ref ref="STDOUT" />
  </root>
</configuration>
"""


def node_address(node: int) -> str:
    """Node ``n`` of a local cluster listens on 127.0.0.n (node 1 on 127.0.0.1)."""
    return f"127.0.0.{node}"


def node_token(node: int, nodes: int) -> int:
    """Evenly spaced Murmur3 tokens, node 1 at 0 (the single node's token)."""
    token = (node - 1) * (2**64 // nodes)
    return token - 2**64 if token >= 2**63 else token


class Cassandra(Backend):
    name = "cassandra"
    title = "Cassandra"
    port = endpoints.CASSANDRA_PORT
    stop_grace_seconds = 60.0
    ready_timeout_seconds = 240.0
    not_ready_errors = (NoHostAvailable, OperationTimedOut, DriverException)

    def __init__(
        self,
        settings: InfraSettings,
        *,
        node: int = 1,
        nodes: int = 1,
        port: int | None = None,
        storage_port: int = STORAGE_PORT,
        jmx_port: int = JMX_PORT,
        cluster_name: str = CLUSTER_NAME,
        heap: str | None = None,
    ) -> None:
        if not 1 <= node <= nodes <= MAX_NODES:
            raise ValueError(f"node {node} of {nodes}: 1 <= node <= nodes <= {MAX_NODES}")
        super().__init__(settings)
        self.node = node
        self.nodes = nodes
        if node > 1:
            # Node 1 keeps the single node's name and folder (its data stays).
            self.name = f"cassandra{node}"
            self.title = f"Cassandra {node}"
            self.home = settings.state_dir / self.name
            # Joins through the seed, node 1; the others may join together (fixed
            # tokens and no bootstrap streaming: nothing for them to race over).
            self.start_after = "cassandra"
        if port is not None:
            self.port = port
        self.host = node_address(node)
        self.storage_port = storage_port
        self.jmx_port = jmx_port + 100 * (node - 1)
        self.cluster_name = cluster_name
        self.heap = heap or (HEAP if nodes == 1 else CLUSTER_NODE_HEAP)

    @property
    def dist(self) -> Path:
        return self.settings.cache_dir / f"cassandra-{CASSANDRA_VERSION}"

    @property
    def lib(self) -> Path:
        return self.dist / "jars"

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    def failure_logs(self) -> Sequence[Path]:
        return (self.home / "logs" / "system.log", self.log_path)

    async def fetch(self, report: Callable[[str], None]) -> None:
        if (self.dist / tooling.COMPLETE_MARKER).exists():
            return
        if shutil.which("java") is None:
            raise InfraError("java (JDK 17) is not on PATH; Cassandra needs it")
        report(f"mvn: fetching cassandra-all {CASSANDRA_VERSION} and its dependencies")
        await tooling.maven_fetch(
            [f"org.apache.cassandra:cassandra-all:{CASSANDRA_VERSION}"],
            self.dist,
            self.install_log_path,
        )

    def prepare(self) -> None:
        data = self.home / "data"
        for folder in (self.conf, self.home / "logs", self.home / "triggers", data):
            folder.mkdir(parents=True, exist_ok=True)
        (self.conf / "logback.xml").write_text(_LOGBACK_XML)
        (self.conf / "cassandra.yaml").write_text(
            f"cluster_name: {self.cluster_name}\n"
            # One token per node, fixed: no token allocation, no bootstrap
            # streaming (a fresh cluster has no data to move).
            "num_tokens: 1\n"
            f"initial_token: {node_token(self.node, self.nodes)}\n"
            f"auto_bootstrap: {'false' if self.nodes > 1 else 'true'}\n"
            "partitioner: org.apache.cassandra.dht.Murmur3Partitioner\n"
            "authenticator: AllowAllAuthenticator\n"
            "authorizer: AllowAllAuthorizer\n"
            "role_manager: CassandraRoleManager\n"
            "endpoint_snitch: SimpleSnitch\n"
            "seed_provider:\n"
            "  - class_name: org.apache.cassandra.locator.SimpleSeedProvider\n"
            "    parameters:\n"
            f'      - seeds: "{node_address(1)}:{self.storage_port}"\n'
            f"listen_address: {self.host}\n"
            f"rpc_address: {self.host}\n"
            f"storage_port: {self.storage_port}\n"
            "start_native_transport: true\n"
            f"native_transport_port: {self.port}\n"
            f"data_file_directories: [{data / 'data'}]\n"
            f"commitlog_directory: {data / 'commitlog'}\n"
            f"saved_caches_directory: {data / 'saved_caches'}\n"
            f"hints_directory: {data / 'hints'}\n"
            f"cdc_raw_directory: {data / 'cdc_raw'}\n"
            # Group the commit log's fsyncs every 10 s instead of per write: no
            # fsync storms on a shared disk; a single dev node accepts the window.
            "commitlog_sync: periodic\n"
            "commitlog_sync_period: 10000ms\n"
            "commitlog_segment_size: 32MiB\n"
            # Two cores, shared with the mesh and the other servers.
            "concurrent_reads: 8\n"
            "concurrent_writes: 8\n"
            "concurrent_counter_writes: 4\n"
            "concurrent_materialized_view_writes: 2\n"
            "concurrent_compactors: 1\n"
            "memtable_heap_space: 128MiB\n"
            "memtable_offheap_space: 128MiB\n"
            "key_cache_size: 16MiB\n"
            # A single node has nobody to hold hints for; in a cluster, hints
            # give a node that was down the writes it missed (repair does the rest).
            f"hinted_handoff_enabled: {'true' if self.nodes > 1 else 'false'}\n"
            "max_hint_window: 3h\n"
            # Tests create and drop a keyspace per run: no snapshot per drop.
            "auto_snapshot: false\n"
            "disk_failure_policy: stop\n"
            "commit_failure_policy: stop\n"
            "storage_compatibility_mode: NONE\n"
        )

    def command(self) -> Sequence[str]:
        jamm = sorted(self.lib.glob("jamm-*.jar"))
        if not jamm:
            raise InfraError(f"no jamm agent jar in {self.lib}; delete {self.dist} and retry")
        logs = self.home / "logs"
        return [
            "java",
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-Xss256k",
            "-XX:+UseG1GC",
            "-XX:+ParallelRefProcEnabled",
            "-XX:MaxTenuringThreshold=1",
            "-XX:G1RSetUpdatingPauseTimePercent=5",
            "-XX:MaxGCPauseMillis=300",
            "-XX:+UseThreadPriorities",
            "-XX:+PerfDisableSharedMem",
            # A node that ran out of heap may corrupt data; let it die instead.
            "-XX:+ExitOnOutOfMemoryError",
            "-ea",
            "-da:net.openhft...",
            "-Djava.net.preferIPv4Stack=true",
            "-Djdk.attach.allowAttachSelf=true",
            *JPMS_FLAGS,
            "-Dio.netty.tryReflectionSetAccessible=true",
            "-Dio.netty.allocator.useCacheForAllThreads=true",
            "-Dio.netty.allocator.maxOrder=11",
            f"-javaagent:{jamm[-1]}",
            f"-Dcassandra.config=file://{self.conf / 'cassandra.yaml'}",
            f"-Dcassandra.storagedir={self.home / 'data'}",
            f"-Dcassandra.logdir={logs}",
            f"-Dcassandra.triggers_dir={self.home / 'triggers'}",
            f"-Dlogback.configurationFile={self.conf / 'logback.xml'}",
            "-Dcassandra-foreground=yes",
            "-Dcassandra.available_processors=2",
            # A single node has nobody to gossip with, and the nodes of a fresh
            # cluster have fixed tokens: do not wait for the ring to settle.
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            # Also the shadow round's bound, in which a joining node must hear
            # from the seed: a loaded machine needs far more than a second.
            f"-Dcassandra.ring_delay_ms={1000 if self.nodes == 1 else 30000}",
            "-Dcassandra.superuser_setup_delay_ms=0",
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            "-cp",
            f"{self.conf}:{self.lib}/*",
            "org.apache.cassandra.service.CassandraDaemon",
            "-f",
        ]

    def _release_version(self) -> str:
        cluster = Cluster(
            [self.host],
            port=self.port,
            protocol_version=5,
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            control_connection_timeout=_CONNECT_TIMEOUT_SECONDS,
        )
        try:
            session = cluster.connect()
            row = session.execute(
                "SELECT release_version FROM system.local", timeout=_CONNECT_TIMEOUT_SECONDS
            ).one()
        finally:
            cluster.shutdown()
        return str(row.release_version)

    async def probe(self) -> str:
        # The driver blocks; keep it off the event loop.
        return await asyncio.to_thread(self._release_version)


def cluster(settings: InfraSettings, nodes: int, **options: Any) -> list[Cassandra]:
    """The nodes of a local cluster (``nodes`` = 1: the single node)."""
    return [Cassandra(settings, node=n, nodes=nodes, **options) for n in range(1, nodes + 1)]


def service_environment(nodes: int, port: int = endpoints.CASSANDRA_PORT) -> dict[str, str]:
    """What the services need to use a cluster of ``nodes``: every node as a contact
    point, replication factor 3 (or the node count), LOCAL_QUORUM both ways."""
    if nodes == 1:
        return {}
    return {
        "STREAMMESH_CASSANDRA_CONTACT_POINTS": ",".join(
            node_address(n) for n in range(1, nodes + 1)
        ),
        "STREAMMESH_CASSANDRA_PORT": str(port),
        "STREAMMESH_CASSANDRA_REPLICATION_FACTOR": str(min(nodes, 3)),
        "STREAMMESH_CASSANDRA_CONSISTENCY": "LOCAL_QUORUM",
        "STREAMMESH_CASSANDRA_DATACENTER": DATACENTER,
    }
