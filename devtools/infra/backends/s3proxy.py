"""s3proxy: the S3 API over files, from its jar-with-dependencies on Maven Central.

It keeps objects under ``<state>/s3proxy/data`` (jclouds' filesystem
provider), checks every request's signature (``aws-v2-or-v4``) against one
fixed loopback account, and answers multipart uploads and presigned URLs as
S3 does. Buckets are created by the code that uses them
(services/runtime/object_store.py), not here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp

from devtools.infra import endpoints, tooling
from devtools.infra.backend import Backend, NotReadyYet
from devtools.infra.errors import InfraError

S3PROXY_VERSION = "4.1.0"
ARTIFACT = f"org.gaul:s3proxy:{S3PROXY_VERSION}:jar:jar-with-dependencies"
HEAP = "256m"
_PROBE_TIMEOUT_SECONDS = 3.0


class S3Proxy(Backend):
    name = "s3proxy"
    title = "s3proxy"
    port = endpoints.S3_PORT
    ready_timeout_seconds = 60.0
    not_ready_errors = (aiohttp.ClientError,)

    @property
    def dist(self) -> Path:
        return self.settings.cache_dir / f"s3proxy-{S3PROXY_VERSION}"

    @property
    def jar(self) -> Path:
        return self.dist / f"s3proxy-{S3PROXY_VERSION}-jar-with-dependencies.jar"

    @property
    def data(self) -> Path:
        return self.home / "data"

    async def fetch(self, report: Callable[[str], None]) -> None:
        if (self.dist / tooling.COMPLETE_MARKER).exists():
            return
        if shutil.which("java") is None:
            raise InfraError("java (JDK 17) is not on PATH; s3proxy needs it")
        report(f"mvn: fetching s3proxy {S3PROXY_VERSION} (jar-with-dependencies)")
        await tooling.maven_copy(ARTIFACT, self.dist, self.install_log_path)

    def prepare(self) -> None:
        for folder in (self.data, self.home / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        (self.home / "s3proxy.conf").write_text(
            f"s3proxy.endpoint=http://{endpoints.HOST}:{self.port}\n"
            "s3proxy.authorization=aws-v2-or-v4\n"
            f"s3proxy.identity={endpoints.S3_ACCESS_KEY}\n"
            f"s3proxy.credential={endpoints.S3_SECRET_KEY}\n"
            "jclouds.provider=filesystem\n"
            f"jclouds.filesystem.basedir={self.data}\n"
        )

    def command(self) -> Sequence[str]:
        return [
            "java",
            f"-Xmx{HEAP}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            str(self.jar),
            "--properties",
            str(self.home / "s3proxy.conf"),
        ]

    async def probe(self) -> str:
        # An anonymous request: s3proxy answers 403 AccessDenied once it serves
        # S3, which is all a probe needs (it proves signature checking is on).
        timeout = aiohttp.ClientTimeout(total=_PROBE_TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://{endpoints.HOST}:{self.port}/") as response,
        ):
            body = await response.text()
        if response.status != 403 or "AccessDenied" not in body:
            raise NotReadyYet(f"s3proxy answered {response.status}")
        return S3PROXY_VERSION
