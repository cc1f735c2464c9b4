"""A private mesh for the load: ``streammesh up`` from a checkout, on free ports.

``checkout`` may be another worktree (today's commit beside this one, to
measure both in the same run); its own code runs, with this checkout's
virtualenv. ``replicas`` is ``streammesh up --replicas``: processes per
service on one port (SO_REUSEPORT).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.loadgen import free_port

SERVICES = ("users", "catalog", "history", "search", "recommendations", "analytics", "browse")
READY_TIMEOUT_SECONDS = 420.0
# What `streammesh up` leaves after its first run's demo import and seeded views.
FIRST_RUN_MARKERS = ("demo-catalog-embedded.imported", "seed-views-embedded.done")
SAMPLE_CATALOG = Path("tests/e2e/data/titles_sample.csv")
STOP_TIMEOUT_SECONDS = 90.0


@dataclass(frozen=True)
class Mesh:
    edge: str  # http://127.0.0.1:PORT
    ports: dict[str, int]
    state: Path

    def grpc(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def pids(self, service: str) -> list[int]:
        """Live pids of ``service`` (``<state>/processes.json``, devtools/supervisor.py)."""
        live = json.loads((self.state / "processes.json").read_text())
        return [int(replica["pid"]) for replica in live.get(service, [])]


def _environment(checkout: Path) -> tuple[dict[str, str], dict[str, int]]:
    env = dict(
        os.environ,
        OTEL_TRACES_EXPORTER="none",
        STREAMMESH_LOG_LEVEL="WARNING",
        PYTHONPATH=f"{checkout}{os.pathsep}{checkout / 'gen'}",
        STREAMMESH_UP_READY_TIMEOUT_SECONDS=str(int(READY_TIMEOUT_SECONDS)),
    )
    ports = {name: free_port() for name in (*SERVICES, "edge", "admin", "reflection", "redis")}
    for name in SERVICES:
        upper = name.upper()
        env[f"STREAMMESH_{upper}_PORT"] = str(ports[name])
        env[f"STREAMMESH_{upper}_ADDR"] = f"127.0.0.1:{ports[name]}"
        env[f"STREAMMESH_{upper}_METRICS_PORT"] = str(free_port())
        # One JSON line per call would measure the log file, not the mesh.
        env[f"STREAMMESH_{upper}_ACCESS_LOG"] = "false"
    env["STREAMMESH_EDGE_PORT"] = str(ports["edge"])
    env["STREAMMESH_EDGE_ADMIN_PORT"] = str(ports["admin"])
    env["STREAMMESH_EDGE_REFLECTION_PORT"] = str(ports["reflection"])
    env["STREAMMESH_EMBEDDED_REDIS_PORT"] = str(ports["redis"])
    return env, ports


@contextmanager
def running(checkout: Path, replicas: int = 1) -> Iterator[Mesh]:
    env, ports = _environment(checkout)
    replicas_flag = ["--replicas", str(replicas)] if replicas > 1 else []
    with tempfile.TemporaryDirectory(prefix="streammesh-device-load-") as state:
        # The e2e sample catalog, seeded by the catalog itself, instead of the
        # first run's full demo import and seeded views (minutes on a loaded
        # machine); the load records its own views.
        for marker in FIRST_RUN_MARKERS:
            (Path(state) / marker).touch()
        env["STREAMMESH_CATALOG_SEED_CATALOG"] = str(checkout / SAMPLE_CATALOG)
        log = Path(state) / "up.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "up", "--state-dir", state, *replicas_flag],
                cwd=checkout,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            mesh = Mesh(f"http://127.0.0.1:{ports['edge']}", ports, Path(state))
            _wait_ready(mesh.edge, process, log)
            yield mesh
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(edge: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"streammesh up exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{edge}/v1/titles?page_size=1", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the mesh was not ready in {READY_TIMEOUT_SECONDS:.0f}s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    """The end of ``streammesh up``'s output (the state folder goes with the mesh)."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
