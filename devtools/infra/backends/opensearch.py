"""OpenSearch 2 from Maven Central jars, laid out like the distribution, as one node.

There is no Debian package and no Docker, and the tarball is not on Maven
Central, but every piece of it is: the server jar with its dependencies goes to
``lib/``, and each module a node needs for HTTP and text analysis goes to
``modules/<name>/`` with the ``plugin-descriptor.properties`` (and, where the
module needs extra permissions, the ``plugin-security.policy``) that the
distribution's build would have written. No security plugin: plain HTTP on
loopback.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from opensearchpy import AsyncOpenSearch
from opensearchpy import exceptions as opensearch_errors

from devtools.infra import endpoints, tooling
from devtools.infra.backend import Backend, NotReadyYet
from devtools.infra.errors import InfraError

OPENSEARCH_VERSION = "2.19.6"
HEAP = "512m"
TRANSPORT_PORT = 9300
# OpenSearch refuses to run as root; when we are root it runs as this system user.
SERVICE_USER = "streammesh"
# Optional dependencies of the server jar that the distribution ships in lib/.
LIB_EXTRAS: tuple[str, ...] = (
    "org.apache.logging.log4j:log4j-core:2.25.4",
    "org.locationtech.spatial4j:spatial4j:0.7",
    "org.locationtech.jts:jts-core:1.15.0",
    f"org.opensearch:opensearch-plugin-classloader:{OPENSEARCH_VERSION}",
)
_REQUEST_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Module:
    """One module of the distribution: its Maven artifact and its descriptor facts."""

    name: str
    artifact: str
    classname: str
    description: str
    extends: tuple[str, ...] = ()
    # Permissions beyond the server's own, in Java policy syntax.
    permissions: tuple[str, ...] = ()


MODULES: tuple[Module, ...] = (
    Module(
        "transport-netty4",
        "org.opensearch.plugin:transport-netty4-client",
        "org.opensearch.transport.Netty4Plugin",
        "Netty 4 based transport and HTTP server",
        permissions=(
            'java.io.FilePermission "/proc/sys/net/core/somaxconn", "read"',
            'java.net.SocketPermission "*", "accept,connect"',
            'java.lang.RuntimePermission "*", "setContextClassLoader"',
            'java.lang.RuntimePermission "getClassLoader"',
            'java.util.PropertyPermission "sun.nio.ch.bugLevel", "write"',
        ),
    ),
    Module(
        "lang-painless",
        "org.opensearch.plugin:lang-painless",
        "org.opensearch.painless.PainlessPlugin",
        "Painless scripting (script scores, update scripts, ingest)",
        permissions=(
            'java.lang.RuntimePermission "createClassLoader"',
            'java.lang.RuntimePermission "getClassLoader"',
        ),
    ),
    Module(
        "mapper-extras",
        "org.opensearch.plugin:mapper-extras-client",
        "org.opensearch.index.mapper.MapperExtrasPlugin",
        "search_as_you_type, rank_feature, scaled_float and token_count fields",
    ),
    Module(
        "analysis-common",
        "org.opensearch.plugin:analysis-common",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "Analyzers, tokenizers and token filters (edge n-grams, synonyms, stemmers)",
        extends=("lang-painless",),
    ),
    Module(
        "rank-eval",
        "org.opensearch.plugin:rank-eval-client",
        "org.opensearch.index.rankeval.RankEvalPlugin",
        "The _rank_eval API (search relevance: nDCG, MRR, precision over rated queries)",
    ),
)

_LOG4J2_PROPERTIES = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %marker%m%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = warn
appender.rolling.type = RollingFile
appender.rolling.name = rolling
appender.rolling.fileName = ${sys:opensearch.logs.base_path}${sys:file.separator}server.log
appender.rolling.filePattern = ${sys:opensearch.logs.base_path}${sys:file.separator}server-%i.log.gz
appender.rolling.layout.type = PatternLayout
appender.rolling.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %marker%m%n
appender.rolling.policies.type = Policies
appender.rolling.policies.size.type = SizeBasedTriggeringPolicy
appender.rolling.policies.size.size = 20MB
appender.rolling.strategy.type = DefaultRolloverStrategy
appender.rolling.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
rootLogger.appenderRef.rolling.ref = rolling
"""


def _descriptor(module: Module) -> str:
    lines = [
        f"name={module.name}",
        f"description={module.description}",
        f"version={OPENSEARCH_VERSION}",
        f"opensearch.version={OPENSEARCH_VERSION}",
        "java.version=11",
        f"classname={module.classname}",
        f"extended.plugins={','.join(module.extends)}",
        "has.native.controller=false",
    ]
    return "\n".join(lines) + "\n"


def _policy(module: Module) -> str:
    grants = "".join(f"  permission {permission};\n" for permission in module.permissions)
    return f"grant {{\n{grants}}};\n"


class OpenSearch(Backend):
    name = "opensearch"
    title = "OpenSearch"
    port = endpoints.OPENSEARCH_PORT
    stop_grace_seconds = 60.0
    ready_timeout_seconds = 240.0
    not_ready_errors = (opensearch_errors.ConnectionError, opensearch_errors.TransportError)

    @property
    def dist(self) -> Path:
        return self.settings.cache_dir / f"opensearch-{OPENSEARCH_VERSION}"

    @property
    def opensearch_home(self) -> Path:
        """The distribution-shaped folder: lib/, modules/, plugins/."""
        return self.dist / "home"

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    def failure_logs(self) -> Sequence[Path]:
        return (self.home / "logs" / "server.log", self.log_path)

    async def fetch(self, report: Callable[[str], None]) -> None:
        # An install made before a module was added to MODULES is completed (the parts
        # already fetched are kept); the node sees the module from its next start.
        if (self.opensearch_home / tooling.COMPLETE_MARKER).exists() and all(
            (self.opensearch_home / "modules" / module.name).is_dir() for module in MODULES
        ):
            return
        if shutil.which("java") is None:
            raise InfraError("java (JDK 17) is not on PATH; OpenSearch needs it")
        report(f"mvn: fetching opensearch {OPENSEARCH_VERSION} and its modules")
        parts = self.dist / "fetched"
        await tooling.maven_fetch(
            [f"org.opensearch:opensearch:{OPENSEARCH_VERSION}", *LIB_EXTRAS],
            parts / "lib",
            self.install_log_path,
        )
        for module in MODULES:
            await tooling.maven_fetch(
                [f"{module.artifact}:{OPENSEARCH_VERSION}"],
                parts / module.name,
                self.install_log_path,
            )
        self._assemble(parts)

    def _assemble(self, parts: Path) -> None:
        staging = self.dist / "home.partial"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "lib").mkdir(parents=True)
        # The node checks that the distribution's bin/ and plugins/ exist.
        (staging / "bin").mkdir()
        (staging / "plugins").mkdir()
        lib_jars = {jar.name for jar in (parts / "lib" / "jars").glob("*.jar")}
        for name in lib_jars:
            shutil.copy2(parts / "lib" / "jars" / name, staging / "lib" / name)
        for module in MODULES:
            folder = staging / "modules" / module.name
            folder.mkdir(parents=True)
            # A module carries only what the server does not: a class in both
            # would trip OpenSearch's jar-hell check.
            for jar in (parts / module.name / "jars").glob("*.jar"):
                if jar.name not in lib_jars:
                    shutil.copy2(jar, folder / jar.name)
            (folder / "plugin-descriptor.properties").write_text(_descriptor(module))
            if module.permissions:
                (folder / "plugin-security.policy").write_text(_policy(module))
        # Readable by the unprivileged user the node runs as.
        for path in staging.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        staging.chmod(0o755)
        (staging / tooling.COMPLETE_MARKER).write_text("")
        shutil.rmtree(self.opensearch_home, ignore_errors=True)
        staging.rename(self.opensearch_home)

    def run_as(self) -> str | None:
        return SERVICE_USER if os.geteuid() == 0 else None

    def _ensure_service_user(self) -> None:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_USER,
                ],
                check=True,
                capture_output=True,
            )

    def prepare(self) -> None:
        for folder in ("config", "data", "logs", "tmp"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        (self.config_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)
        (self.config_dir / "opensearch.yml").write_text(
            "cluster.name: streammesh\n"
            "node.name: streammesh-1\n"
            f"path.data: {self.home / 'data'}\n"
            f"path.logs: {self.home / 'logs'}\n"
            f"network.host: {endpoints.HOST}\n"
            f"http.port: {self.port}\n"
            f"transport.port: {TRANSPORT_PORT}\n"
            "discovery.type: single-node\n"
            # A development disk may be fuller than production watermarks allow;
            # indices must not turn read-only under the tests.
            "cluster.routing.allocation.disk.threshold_enabled: false\n"
            # Tests drop their indices by prefix (test-<run>-*).
            "action.destructive_requires_name: false\n"
        )
        user = self.run_as()
        if user is None:
            return
        self._ensure_service_user()
        uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(user).gr_gid
        os.chown(self.home, uid, gid)
        for path in self.home.rglob("*"):
            os.chown(path, uid, gid, follow_symlinks=False)
        if not os.access(self.opensearch_home, os.R_OK | os.X_OK):
            raise InfraError(f"{self.opensearch_home} must be readable by the user {user}")

    def environment(self) -> Mapping[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
        }

    def command(self) -> Sequence[str]:
        return [
            "java",
            f"-Xms{HEAP}",
            f"-Xmx{HEAP}",
            "-Xss1m",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:-OmitStackTraceInFastThrow",
            "-XX:+ShowCodeDetailsInExceptionMessages",
            "-Djava.awt.headless=true",
            "-Dfile.encoding=UTF-8",
            "-Djna.nosys=true",
            "-Djava.locale.providers=SPI,COMPAT",
            "-Dio.netty.noUnsafe=true",
            "-Dio.netty.noKeySetOptimization=true",
            "-Dio.netty.recycler.maxCapacityPerThread=0",
            "-Dlog4j.shutdownHookEnabled=false",
            "-Dlog4j2.disable.jmx=true",
            f"-Djava.io.tmpdir={self.home / 'tmp'}",
            f"-Dopensearch.path.home={self.opensearch_home}",
            f"-Dopensearch.path.conf={self.config_dir}",
            "-Dopensearch.distribution.type=tar",
            "-Dopensearch.bundled_jdk=false",
            "-cp",
            f"{self.opensearch_home / 'lib'}/*",
            "org.opensearch.bootstrap.OpenSearch",
        ]

    async def probe(self) -> str:
        client = AsyncOpenSearch(
            hosts=[f"http://{endpoints.HOST}:{self.port}"], timeout=_REQUEST_TIMEOUT_SECONDS
        )
        try:
            info = await client.info()
            # Answering GET / is not enough: indices need an elected, recovered node.
            health = await client.cluster.health()
            if health["status"] == "red":
                raise NotReadyYet(f"cluster health is {health['status']}")
        finally:
            await client.close()
        return str(info["version"]["number"])
