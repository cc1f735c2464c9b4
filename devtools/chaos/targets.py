"""Backends that ``streammesh chaos`` can restart or pause.

* :class:`MeshRedis`: the embedded redis-server of a ``streammesh up`` mesh,
  a supervised process: a kill is undone by the mesh's supervisor.
* :class:`InfraServer`: a server of ``streammesh infra`` (its pidfile, its
  probe, ``infra up`` to start it again). The chaos suite builds these for
  private servers (their own ports and data folders); the command builds
  them for the shared ones only when asked by name.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from devtools.infra import manager, procs
from devtools.infra.backend import Backend
from devtools.infra.errors import InfraError
from devtools.supervisor import read_processes

# Bound on waiting for a killed process to be gone.
KILL_WAIT_SECONDS = 10.0
# Bound on waiting, after that, for its listening port to close, and the pause
# between two checks: the pid of a many-threaded server (mariadbd, a JVM) shows
# as a zombie while its other threads still exit and hold its sockets, and
# `infra up` refuses a port that still answers.
PORT_RELEASE_SECONDS = 10.0
PORT_POLL_SECONDS = 0.05


@dataclass
class MeshRedis:
    """The mesh's embedded Redis (unit ``redis`` of its supervisor)."""

    state_dir: Path
    port: int
    name: str = "redis"

    def pid(self) -> int | None:
        for entry in read_processes(self.state_dir).get("redis", []):
            if entry["pid"]:
                return int(entry["pid"])
        return None

    async def kill(self) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    async def start(self) -> None:
        """The mesh's supervisor starts it again."""

    async def ready(self) -> bool:
        client = Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()


@dataclass
class InfraServer:
    """A server that devtools/infra runs (by pidfile), shared or private."""

    backend: Backend

    @property
    def name(self) -> str:
        return self.backend.name

    def pid(self) -> int | None:
        record = procs.running_record(self.backend.pidfile)
        return record.pid if record is not None else None

    async def kill(self) -> None:
        await asyncio.to_thread(
            procs.stop, self.backend.pidfile, sig=signal.SIGKILL, grace_seconds=KILL_WAIT_SECONDS
        )
        await self._port_released()

    async def _port_released(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PORT_RELEASE_SECONDS
        port, host = self.backend.port, self.backend.host
        while await asyncio.to_thread(manager.port_in_use, port, host):
            if loop.time() > deadline:
                raise InfraError(
                    f"{self.backend.title}: port {port} still answers "
                    f"{PORT_RELEASE_SECONDS:.0f} s after SIGKILL"
                )
            await asyncio.sleep(PORT_POLL_SECONDS)

    async def start(self) -> None:
        [outcome] = await manager.up([self.backend], lambda backend, text: None)
        if not outcome.ok:
            raise InfraError(f"{self.backend.title} did not start again: {outcome.detail}")

    async def ready(self) -> bool:
        return await manager.try_probe(self.backend) is not None
