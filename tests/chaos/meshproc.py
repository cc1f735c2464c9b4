"""A whole ``streammesh up`` mesh as a child process, on ports of its own.

The chaos suite needs the real thing: every service a process of its own
under the supervisor, the embedded Redis, Envoy in front. Every port is a
free one (services, metrics, edge, admin, reflection, media origin, Redis),
so it runs beside the shared mesh and other tests; its state (SQLite files,
AOF, logs, processes.json) lives in the test's folder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.supervisor import read_processes
from services.registry import SERVICES
from tests.events.conftest import free_port

__all__ = ["MeshProcess", "free_port", "mesh_process"]

REPO = Path(__file__).resolve().parents[2]
# Bound on the mesh's first start (migrations, the demo catalog, seeding).
READY_TIMEOUT_SECONDS = 600.0
STOP_TIMEOUT_SECONDS = 60.0


@dataclass
class MeshProcess:
    state_dir: Path
    env: dict[str, str]
    ports: dict[str, int]
    process: asyncio.subprocess.Process | None = None
    started_seconds: float = 0.0
    services: list[str] = field(default_factory=list)

    @property
    def edge(self) -> str:
        return f"127.0.0.1:{self.ports['edge']}"

    @property
    def log(self) -> Path:
        return self.state_dir / "up.log"

    async def start(self, *extra: str) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.cli",
                "up",
                "--state-dir",
                str(self.state_dir),
                *extra,
                env=self.env,
                cwd=self.state_dir,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        await self._until_ready()
        self.started_seconds = time.monotonic() - began

    async def _until_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_SECONDS
        assert self.process is not None
        while loop.time() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(
                    f"streammesh up exited with {self.process.returncode}:\n{_tail(self.log)}"
                )
            if "running; Ctrl-C" in _tail(self.log, 5) and await self.edge_serving():
                live = read_processes(self.state_dir)
                self.services = [s.name for s in SERVICES if s.name in live]
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(
            f"the mesh was not up in {READY_TIMEOUT_SECONDS:.0f} s:\n{_tail(self.log)}"
        )

    async def command(self, *argv: str) -> None:
        """A ``streammesh`` subcommand with the mesh's environment, to completion."""
        with self.log.open("ab") as out:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.cli",
                *argv,
                env=self.env,
                cwd=self.state_dir,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        code = await asyncio.wait_for(child.wait(), READY_TIMEOUT_SECONDS)
        if code != 0:
            raise RuntimeError(f"streammesh {' '.join(argv)} failed ({code}):\n{_tail(self.log)}")

    def skip_demo_data(self) -> None:
        """No demo catalog and no demo views on first start (a test brings its own)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for marker in ("demo-catalog-embedded.imported", "seed-views-embedded.done"):
            (self.state_dir / marker).touch()

    async def edge_serving(self) -> bool:
        try:
            async with grpc.aio.insecure_channel(self.edge) as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                )
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
        except grpc.aio.AioRpcError:
            # The edge answers health only for routed services: any gRPC answer is up.
            return True
        except OSError:
            return False

    async def stop(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


def mesh_process(state_dir: Path) -> MeshProcess:
    """A mesh on free ports, embedded backends, quiet logs (warnings and errors)."""
    env = dict(os.environ, OTEL_TRACES_EXPORTER="none", STREAMMESH_LOG_LEVEL="WARNING")
    env["STREAMMESH_BACKENDS"] = "embedded"
    ports: dict[str, int] = {}
    for spec in SERVICES:
        port = free_port()
        ports[spec.name] = port
        upper = spec.name.upper()
        env[f"STREAMMESH_{upper}_PORT"] = str(port)
        env[f"STREAMMESH_{upper}_ADDR"] = f"127.0.0.1:{port}"
        env[f"STREAMMESH_{upper}_METRICS_PORT"] = str(free_port())
        env[f"STREAMMESH_{upper}_ACCESS_LOG"] = "false"
    for name in ("edge", "edge_admin", "edge_reflection", "embedded_redis", "media_origin"):
        ports[name] = free_port()
        env[f"STREAMMESH_{name.upper()}_PORT"] = str(ports[name])
    # Every embedded file under the mesh's folder (the paths `streammesh up`
    # gives its services, stated here so one-off commands use the same ones).
    state = state_dir.resolve()
    env["STREAMMESH_REDIS_URL"] = f"redis://127.0.0.1:{ports['embedded_redis']}/0"
    env["STREAMMESH_USERS_DATA_DIR"] = str(state / "users")
    env["STREAMMESH_CATALOG_SQLITE_PATH"] = str(state / "catalog" / "catalog.db")
    env["STREAMMESH_CATALOG_OBJECTS_ROOT"] = str(state / "objects")
    env["STREAMMESH_HISTORY_SQLITE_PATH"] = str(state / "history" / "history.db")
    env["STREAMMESH_RECOMMENDATIONS_SQLITE_PATH"] = str(state / "recommendations" / "rec.db")
    env["STREAMMESH_SEARCH_SQLITE_PATH"] = str(state / "search" / "search.db")
    env["STREAMMESH_ANALYTICS_DUCKDB_PATH"] = str(state / "analytics" / "analytics.duckdb")
    env["PYTHONPATH"] = str(REPO)
    # Seven Python services starting at once on a loaded 2-core machine.
    env["STREAMMESH_UP_READY_TIMEOUT_SECONDS"] = "300"
    return MeshProcess(state_dir, env, ports)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
