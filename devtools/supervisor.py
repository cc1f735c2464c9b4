"""Keeps the mesh's processes running, as a kubelet keeps a pod's containers.

``streammesh up`` hands each service (and each helper process it can start
again: the edge's reflection server, the media origin, the embedded Redis) to
a :class:`Supervisor` as a :class:`Unit`: how to start one replica and how to
tell that it serves. For every replica the supervisor then loops:

1. start the process; wait until it serves (the standard gRPC health check
   for a service) within ``ready_timeout_seconds``, or kill it and count a
   crash;
2. wait for it to exit; an exit while the mesh runs is a crash (SIGKILL, an
   uncaught error, exit 0 alike: a server is not supposed to return);
3. restart it after an exponential backoff: ``initial_backoff_seconds``,
   doubled per crash in a row up to ``max_backoff_seconds`` (kubelet's
   CrashLoopBackOff, scaled down to a developer's machine);
4. a replica that ran ``stable_after_seconds`` before it exited starts its
   count and its backoff afresh: one crash a day never stops the mesh.

A replica that crashes ``max_consecutive_crashes`` times in a row (each time
before it was stable) is crash-looping: the supervisor gives up, records a
:class:`CrashLoop` naming the service, its last exit code and its log's tail,
and ``streammesh up`` stops the whole mesh with that message.

While a replica is down the edge does not need telling: Envoy's active gRPC
health checks (services/edge/render.py) and connect-failure retries move
traffic, and the restarted process is routed to once it answers health
checks with SERVING.

Every start, exit and readiness is written to ``<state>/processes.json`` (the
live pids, for ``streammesh chaos`` and tests) and appended as one JSON line to
``<state>/supervisor.jsonl`` (what happened when, for recovery times).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("streammesh.supervisor")

PROCESSES_FILE = "processes.json"
EVENTS_FILE = "supervisor.jsonl"
# How often a starting replica is asked whether it serves.
READY_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class RestartPolicy:
    """Bounds of restarting (kubelet: 10 s doubling to 5 min, reset after 10 min;
    a developer's mesh restarts faster and gives up sooner)."""

    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    backoff_multiplier: float = 2.0
    # A replica that ran this long before exiting was healthy: not a crash loop.
    stable_after_seconds: float = 30.0
    # Crashes in a row (none stable) after which the service is declared
    # crash-looping and the mesh stops: with the backoffs above, about 15 s.
    max_consecutive_crashes: int = 5
    # A (re)started replica that does not serve within this is killed (a crash).
    ready_timeout_seconds: float = 60.0


StartReplica = Callable[[int], Awaitable[asyncio.subprocess.Process]]
IsServing = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Unit:
    """One supervised program: ``replicas`` copies of it, each started by ``start(index)``."""

    name: str
    start: StartReplica
    # None: running is serving (a helper process without a health check).
    is_serving: IsServing | None = None
    replicas: int = 1
    log: Path | None = None


@dataclass
class ReplicaState:
    unit: str
    index: int
    process: asyncio.subprocess.Process | None = None
    serving: bool = False
    restarts: int = 0
    consecutive_crashes: int = 0
    last_exit_code: int | None = None


class CrashLoop(RuntimeError):
    """A service kept crashing; the message names it and shows its log's tail."""

    def __init__(self, unit: Unit, replica: int, exit_code: int | None, crashes: int) -> None:
        self.service = unit.name
        self.exit_code = exit_code
        tail = tail_of(unit.log) if unit.log else ""
        super().__init__(
            f"{unit.name} is crash-looping: replica {replica} exited {crashes} times in a row "
            f"(last exit code {exit_code}), each time before it had run stably; "
            f"the mesh stops\n{tail}"
        )


@dataclass
class Supervisor:
    state_dir: Path
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    replicas: dict[tuple[str, int], ReplicaState] = field(default_factory=dict)
    failure: CrashLoop | None = None
    _units: dict[str, Unit] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False
    _failed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, unit: Unit) -> None:
        """Starts every replica of ``unit`` (without waiting for them to serve)
        and keeps them running from then on."""
        self._units[unit.name] = unit
        for index in range(unit.replicas):
            state = ReplicaState(unit.name, index)
            self.replicas[(unit.name, index)] = state
            process = await self._spawn(unit, state)
            self._tasks.append(
                asyncio.create_task(self._keep(unit, state, process), name=f"keep-{unit.name}")
            )

    def processes(self, name: str) -> list[asyncio.subprocess.Process]:
        """The live processes of a unit (tests, the mesh's shutdown)."""
        return [
            s.process
            for (unit, _), s in sorted(self.replicas.items())
            if unit == name and s.process is not None and s.process.returncode is None
        ]

    async def wait_failed(self) -> CrashLoop:
        await self._failed.wait()
        assert self.failure is not None
        return self.failure

    async def stop(self) -> None:
        """Stops supervising (the caller stops the processes themselves)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _spawn(self, unit: Unit, state: ReplicaState) -> asyncio.subprocess.Process:
        process = await unit.start(state.index)
        state.process = process
        state.serving = False
        self._event("started", state, pid=process.pid)
        return process

    async def _keep(
        self, unit: Unit, state: ReplicaState, process: asyncio.subprocess.Process
    ) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.policy.initial_backoff_seconds
        while True:
            started = loop.time()
            serving = await self._until_serving(unit, state, process)
            if not serving and process.returncode is None:
                process.kill()  # never served within ready_timeout_seconds: a crash
            code = await process.wait()
            if self._stopping:
                return
            ran = loop.time() - started
            if ran >= self.policy.stable_after_seconds:
                state.consecutive_crashes = 0
                backoff = self.policy.initial_backoff_seconds
            state.consecutive_crashes += 1
            state.last_exit_code = code
            state.serving = False
            self._event("exited", state, pid=process.pid, exit_code=code, ran_seconds=round(ran, 3))
            if state.consecutive_crashes >= self.policy.max_consecutive_crashes:
                self.failure = CrashLoop(unit, state.index, code, state.consecutive_crashes)
                self._event("crash-loop", state, exit_code=code)
                self._failed.set()
                return
            log.warning(
                "%s[%d] exited with %s after %.1f s; restarting in %.1f s (%d in a row)",
                unit.name,
                state.index,
                code,
                ran,
                backoff,
                state.consecutive_crashes,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * self.policy.backoff_multiplier, self.policy.max_backoff_seconds)
            if self._stopping:
                return
            state.restarts += 1
            process = await self._spawn(unit, state)

    async def _until_serving(
        self, unit: Unit, state: ReplicaState, process: asyncio.subprocess.Process
    ) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.ready_timeout_seconds
        while process.returncode is None and loop.time() < deadline:
            serving = True
            if unit.is_serving is not None:
                try:
                    serving = await asyncio.wait_for(unit.is_serving(), 1.0)
                except Exception:  # noqa: BLE001 - any failure to answer is "not yet"
                    serving = False
            if serving:
                state.serving = True
                self._event("serving", state, pid=process.pid)
                return True
            await asyncio.sleep(READY_POLL_SECONDS)
        return False

    def _event(self, what: str, state: ReplicaState, **fields: Any) -> None:
        record = {"at": time.time(), "event": what, "unit": state.unit, "replica": state.index}
        record.update(fields)
        try:
            with (self.state_dir / EVENTS_FILE).open("a") as out:
                out.write(json.dumps(record) + "\n")
            self._write_processes()
        except OSError:
            log.exception("cannot record supervisor state under %s", self.state_dir)

    def _write_processes(self) -> None:
        live: dict[str, list[dict[str, Any]]] = {}
        for (name, index), state in sorted(self.replicas.items()):
            process = state.process
            running = process is not None and process.returncode is None
            live.setdefault(name, []).append(
                {
                    "replica": index,
                    "pid": process.pid if running and process is not None else None,
                    "serving": state.serving and running,
                    "restarts": state.restarts,
                }
            )
        path = self.state_dir / PROCESSES_FILE
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(live, indent=1))
        # Readers (streammesh chaos) never see half a file.
        os.replace(partial, path)


def read_processes(state_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The live processes of a running mesh: ``{unit: [{replica, pid, serving, restarts}]}``."""
    try:
        data: dict[str, list[dict[str, Any]]] = json.loads((state_dir / PROCESSES_FILE).read_text())
    except FileNotFoundError:
        return {}
    return data


def read_events(state_dir: Path) -> list[dict[str, Any]]:
    """Every supervisor event of the mesh in ``state_dir``, oldest first."""
    try:
        lines = (state_dir / EVENTS_FILE).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def tail_of(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
