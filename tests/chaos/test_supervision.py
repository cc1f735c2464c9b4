"""``streammesh up``'s supervision (devtools/supervisor.py through devtools/up.py):
a killed service comes back and serves, replicas share a port and cover for
each other, and only a crash-looping service stops the mesh, named.

The supervised service is the diagnostic echo server (devtools/echo), started
by up.py's own ``_start_service`` as a real process on a free port, so the
test exercises the same path as the mesh's services without their stores.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devtools import up
from devtools.supervisor import RestartPolicy, read_events, read_processes
from services.kit import clients
from services.registry import ServiceSpec
from services.runtime.config import ServerConfig
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.chaos.meshproc import free_port

# Fast restarts so the test waits for supervision, not for backoff.
FAST = RestartPolicy(
    initial_backoff_seconds=0.05,
    max_backoff_seconds=0.2,
    stable_after_seconds=30.0,
    max_consecutive_crashes=3,
    ready_timeout_seconds=30.0,
)
# Bound on each wait for a process to (re)start and serve.
WAIT_SECONDS = 45.0


class EchoSpec(ServiceSpec):
    """The echo server as if it were a service of the registry."""

    @property
    def package(self) -> str:
        return "devtools.echo"


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> EchoSpec:
    port, metrics = free_port(), free_port()
    monkeypatch.setenv("STREAMMESH_ECHO_PORT", str(port))
    monkeypatch.setenv("STREAMMESH_ECHO_ADDR", f"127.0.0.1:{port}")
    monkeypatch.setenv("STREAMMESH_ECHO_METRICS_PORT", str(metrics))
    monkeypatch.setenv("STREAMMESH_ECHO_ACCESS_LOG", "false")
    return EchoSpec("echo", "streammesh.echo.v1.EchoService", port, metrics)


async def _mesh(tmp_path: Path, replicas: int = 1) -> up.Mesh:
    mesh = up.Mesh(tmp_path, "embedded", replicas=replicas, restart_policy=FAST)
    mesh.logs.mkdir(parents=True)
    return mesh


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[list[up.Mesh]]:
    meshes: list[up.Mesh] = []
    yield meshes
    for mesh in meshes:
        await mesh.stop()


async def _echo(spec: EchoSpec) -> str:
    """One Echo through the mesh's client channel. gRPC shares subchannels
    between the channels of a process, so this one may start on the connection
    the supervisor's health checks opened to the replica just killed: it is
    reset, and the subchannel reconnects after its backoff (about 1 s) to the
    survivor. ``wait_for_ready`` waits for that within the deadline instead of
    failing at once, as a client riding out a restart does."""
    async with clients.channel(spec.address(), ServerConfig(service="test")) as channel:
        reply = await echo_pb2_grpc.EchoServiceStub(channel).Echo(
            echo_pb2.EchoRequest(message="still there?"), timeout=5, wait_for_ready=True
        )
    return str(reply.message)


def _has_exited(pid: int) -> bool:
    """Gone, or a zombie its parent has not reaped yet (its sockets are closed)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "zombie" in state or "dead" in state


async def _until_exited(pid: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        if _has_exited(pid):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"process {pid} still runs {WAIT_SECONDS} s after SIGKILL")


async def _until_pids(mesh: up.Mesh, name: str, check: object) -> list[int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        replicas = read_processes(mesh.state_dir).get(name, [])
        pids = [r["pid"] for r in replicas if r["serving"]]
        if len(pids) == len(replicas) and callable(check) and check(pids):
            return pids
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}: {read_processes(mesh.state_dir)} never passed the check")


async def test_a_service_killed_with_sigkill_is_restarted_and_serves_again(
    tmp_path: Path, echo: EchoSpec, running: list[up.Mesh]
) -> None:
    mesh = await _mesh(tmp_path)
    running.append(mesh)
    await up._start_service(mesh, echo)
    await up._wait_serving(mesh, echo)
    [first] = await _until_pids(mesh, "echo", lambda pids: len(pids) == 1)

    os.kill(first, signal.SIGKILL)
    [second] = await _until_pids(mesh, "echo", lambda pids: pids[0] != first)

    assert second != first
    assert await _echo(echo) == "still there?"
    exits = [e for e in read_events(tmp_path) if e["event"] == "exited"]
    assert [(e["pid"], e["exit_code"]) for e in exits] == [(first, -signal.SIGKILL)]
    assert mesh.failure() is None


async def test_replicas_share_the_port_and_one_serves_while_the_other_restarts(
    tmp_path: Path, echo: EchoSpec, running: list[up.Mesh]
) -> None:
    mesh = await _mesh(tmp_path, replicas=2)
    running.append(mesh)
    await up._start_service(mesh, echo)
    await up._wait_serving(mesh, echo)
    # Both bound the one port (gRPC sets SO_REUSEPORT) and serve.
    pids = await _until_pids(mesh, "echo", lambda pids: len(pids) == 2)
    assert len(set(pids)) == 2

    os.kill(pids[0], signal.SIGKILL)
    # Once the killed process has exited (its listening socket closed: a
    # connection the kernel queued on it in the meantime is reset, see _echo),
    # the survivor answers, long before the killed one is back.
    await _until_exited(pids[0])
    assert await _echo(echo) == "still there?"
    await _until_pids(mesh, "echo", lambda now: pids[0] not in now and pids[1] in now)

    # One metrics endpoint for the service, summed over its replicas.
    url = f"http://127.0.0.1:{echo.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    assert b"grpc_server" in body


async def test_a_crash_looping_service_stops_the_mesh_and_is_named(
    tmp_path: Path, running: list[up.Mesh]
) -> None:
    mesh = await _mesh(tmp_path)
    running.append(mesh)
    await mesh.supervise("flaky", sys.executable, "-c", "raise SystemExit(3)")

    code = await asyncio.wait_for(up._supervise(mesh, asyncio.Event()), WAIT_SECONDS)

    assert code == 1
    assert mesh.supervisor is not None
    assert mesh.supervisor.failure is not None
    assert mesh.supervisor.failure.service == "flaky"
    assert mesh.supervisor.failure.exit_code == 3
    message = mesh.failure() or ""
    assert message.startswith("flaky is crash-looping")
    assert "3 times in a row" in message
    starts = [e for e in read_events(tmp_path) if e["event"] == "started"]
    assert len(starts) == FAST.max_consecutive_crashes
