"""Installing what the backends need: Debian packages and Maven Central jars."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from devtools.infra.errors import InfraError

# Bounds on the slow steps of a first run.
APT_UPDATE_TIMEOUT_SECONDS = 300.0
APT_INSTALL_TIMEOUT_SECONDS = 600.0
MAVEN_TIMEOUT_SECONDS = 600.0

# Written into a fetched folder once it is complete, so a half download is redone.
COMPLETE_MARKER = ".complete"


def missing_debian_packages(packages: Iterable[str]) -> list[str]:
    missing = []
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


async def _run(argv: Sequence[str], *, limit_seconds: float, log_path: Path, what: str) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        try:
            returncode = await asyncio.wait_for(process.wait(), limit_seconds)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise InfraError(f"{what} took longer than {limit_seconds:.0f}s", log_path) from None
    if returncode != 0:
        raise InfraError(f"{what} failed (exit {returncode})", log_path)


async def install_debian_packages(packages: Sequence[str], log_path: Path) -> None:
    """``apt-get update`` once, then installs the packages without recommends."""
    if not packages:
        return
    if shutil.which("apt-get") is None:
        raise InfraError(f"apt-get not found; install {' '.join(packages)} by hand")
    prefix: list[str] = [] if os.geteuid() == 0 else ["sudo", "-n"]
    await _run(
        [*prefix, "apt-get", "update", "-q"],
        limit_seconds=APT_UPDATE_TIMEOUT_SECONDS,
        log_path=log_path,
        what="apt-get update",
    )
    await _run(
        [*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        limit_seconds=APT_INSTALL_TIMEOUT_SECONDS,
        log_path=log_path,
        what=f"apt-get install {' '.join(packages)}",
    )


def _pom(artifacts: Sequence[str]) -> str:
    dependencies = []
    for coordinate in artifacts:
        group, artifact, version = coordinate.split(":")
        dependencies.append(
            "    <dependency>"
            f"<groupId>{escape(group)}</groupId>"
            f"<artifactId>{escape(artifact)}</artifactId>"
            f"<version>{escape(version)}</version>"
            "</dependency>"
        )
    body = "\n".join(dependencies)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>local.streammesh</groupId>\n"
        "  <artifactId>fetch</artifactId>\n"
        "  <version>1</version>\n"
        "  <packaging>pom</packaging>\n"
        f"  <dependencies>\n{body}\n  </dependencies>\n"
        "</project>\n"
    )


async def maven_fetch(artifacts: Sequence[str], dest: Path, log_path: Path) -> None:
    """Copies the artifacts and their runtime dependencies into ``dest`` (once).

    A small generated pom lists the artifacts; ``mvn dependency:copy-dependencies``
    resolves them through the user's ~/.m2 repository. The folder is filled
    beside its final place and renamed, so an interrupted run leaves no half folder.
    """
    if (dest / COMPLETE_MARKER).exists():
        return
    if shutil.which("mvn") is None:
        raise InfraError("mvn (Apache Maven) is not on PATH; it fetches the server jars")
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    pom = staging / "pom.xml"
    pom.write_text(_pom(artifacts))
    await _run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging / 'jars'}",
        ],
        limit_seconds=MAVEN_TIMEOUT_SECONDS,
        log_path=log_path,
        what=f"mvn fetch of {', '.join(artifacts)}",
    )
    (staging / COMPLETE_MARKER).write_text("")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)


async def maven_copy(coordinate: str, dest: Path, log_path: Path) -> None:
    """Copies one artifact (``group:artifact:version[:type[:classifier]]``) into ``dest``.

    For self-contained jars (a jar-with-dependencies): no dependency resolution.
    Like :func:`maven_fetch`, it fills a folder beside ``dest`` and renames it.
    """
    if (dest / COMPLETE_MARKER).exists():
        return
    if shutil.which("mvn") is None:
        raise InfraError("mvn (Apache Maven) is not on PATH; it fetches the server jars")
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    await _run(
        [
            "mvn",
            "-B",
            "-q",
            "dependency:copy",
            f"-Dartifact={coordinate}",
            f"-DoutputDirectory={staging}",
        ],
        limit_seconds=MAVEN_TIMEOUT_SECONDS,
        log_path=log_path,
        what=f"mvn copy of {coordinate}",
    )
    (staging / COMPLETE_MARKER).write_text("")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
