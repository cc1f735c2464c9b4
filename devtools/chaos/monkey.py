"""The faults of ``streammesh chaos`` and the loop that injects them.

Faults:

* ``kill``: SIGKILL one process of a service of a running ``streammesh up``
  (its pids are in ``<state>/processes.json``, devtools/supervisor.py). The
  fault is over when the supervisor has a new process of that replica
  serving.
* ``restart``: a backend stops hard (SIGKILL, no final fsync) and starts
  again; over when it answers its probe.
* ``pause``: a backend is frozen (SIGSTOP) for ``pause_seconds``, then thawed
  (SIGCONT): connections stay open and calls hang, which is what a long GC
  pause or a stalled disk looks like to a client.

Backends are :class:`BackendTarget` s: the embedded Redis of a mesh (a
supervised process, so ``restart`` is a kill that the supervisor undoes), or
anything with a pid, a way to start and a probe, such as the private servers
the chaos suite starts for itself. ``streammesh chaos --backend NAME`` acts on
a server of ``streammesh infra``; other checkouts may be using those, so it
must be asked for by name.

Every fault is one JSON line appended to the log::

    {"at": 1764590000.1, "fault": "kill", "target": "users", "pid": 4242,
     "recovered": true, "recover_seconds": 1.37}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devtools.supervisor import read_processes

logger = logging.getLogger("streammesh.chaos")

FAULTS = ("kill", "restart", "pause")
# Bound on waiting for a target to serve again after a fault; a target that
# takes longer is logged as not recovered, and the run goes on.
RECOVER_TIMEOUT_SECONDS = 120.0
RECOVER_POLL_SECONDS = 0.05
# Units of a mesh that are not services (streammesh chaos kills services).
NOT_SERVICES = frozenset({"redis", "edge-reflection", "media-origin"})


class BackendTarget(Protocol):
    """A backend a fault can restart or pause."""

    @property
    def name(self) -> str:
        """What the log calls it."""

    def pid(self) -> int | None:
        """The server's pid while it runs."""

    async def kill(self) -> None:
        """SIGKILL, and wait until the process is gone."""

    async def start(self) -> None:
        """Start again (a no-op where something else restarts it)."""

    async def ready(self) -> bool:
        """Whether it answers queries."""


@dataclass(frozen=True)
class FaultRecord:
    fault: str
    target: str
    at: float
    pid: int | None
    recovered: bool
    recover_seconds: float | None
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


@dataclass
class ChaosLog:
    """The JSON-lines log of a chaos run (appended to, one line per fault)."""

    path: Path
    records: list[FaultRecord] = field(default_factory=list)

    def write(self, record: FaultRecord) -> None:
        self.records.append(record)
        with self.path.open("a") as out:
            out.write(record.to_json() + "\n")


def read_log(path: Path) -> list[FaultRecord]:
    """The faults of a chaos log, in the order they were done."""
    return [FaultRecord(**json.loads(line)) for line in path.read_text().splitlines() if line]


async def _until(check: Callable[[], Awaitable[bool]], within: float) -> float | None:
    """Seconds until ``check`` held, or None if it did not ``within`` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < within:
        if await _holds(check):
            return loop.time() - started
        await asyncio.sleep(RECOVER_POLL_SECONDS)
    return None


async def _holds(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except Exception as err:  # noqa: BLE001 - a target that cannot answer has not recovered
        logger.debug("not recovered yet: %r", err)
        return False


def services_of(state_dir: Path) -> list[str]:
    """The services of the mesh in ``state_dir`` with a live process."""
    live = read_processes(state_dir)
    return sorted(
        name
        for name, reps in live.items()
        if name not in NOT_SERVICES and any(r["pid"] for r in reps)
    )


async def kill_service(
    state_dir: Path,
    service: str,
    rng: random.Random | None = None,
    recover_timeout: float = RECOVER_TIMEOUT_SECONDS,
) -> FaultRecord:
    """SIGKILLs one process of ``service`` and waits until its replacement serves."""
    rng = rng or random.Random()
    replicas = [r for r in read_processes(state_dir).get(service, []) if r["pid"]]
    if not replicas:
        return FaultRecord("kill", service, time.time(), None, False, None, "no live process")
    victim = rng.choice(replicas)
    pid, replica = int(victim["pid"]), victim["replica"]
    at = time.time()
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return FaultRecord("kill", service, at, pid, False, None, "already gone")

    async def replaced() -> bool:
        for entry in read_processes(state_dir).get(service, []):
            if entry["replica"] == replica:
                return bool(entry["serving"] and entry["pid"] not in (None, pid))
        return False

    seconds = await _until(replaced, recover_timeout)
    return FaultRecord("kill", service, at, pid, seconds is not None, _rounded(seconds))


async def restart_backend(
    backend: BackendTarget, recover_timeout: float = RECOVER_TIMEOUT_SECONDS
) -> FaultRecord:
    """SIGKILL (no final fsync) and start again; over when the backend answers."""
    pid = backend.pid()
    at = time.time()
    await backend.kill()
    await backend.start()
    seconds = await _until(backend.ready, recover_timeout)
    return FaultRecord("restart", backend.name, at, pid, seconds is not None, _rounded(seconds))


async def pause_backend(
    backend: BackendTarget,
    pause_seconds: float,
    recover_timeout: float = RECOVER_TIMEOUT_SECONDS,
) -> FaultRecord:
    """SIGSTOP for ``pause_seconds``, then SIGCONT; over when the backend answers."""
    pid = backend.pid()
    at = time.time()
    if pid is None:
        return FaultRecord("pause", backend.name, at, None, False, None, "not running")
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(pause_seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
    seconds = await _until(backend.ready, recover_timeout)
    total = None if seconds is None else pause_seconds + seconds
    return FaultRecord(
        "pause", backend.name, at, pid, seconds is not None, _rounded(total), f"{pause_seconds}s"
    )


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


@dataclass(frozen=True)
class ChaosPlan:
    """What a chaos run may do, how often and for how long (all bounded)."""

    state_dir: Path
    faults: Sequence[str] = ("kill",)
    interval_seconds: float = 10.0
    duration_seconds: float = 60.0
    # Bound on faults, whatever the duration.
    max_faults: int = 100
    pause_seconds: float = 2.0
    services: Sequence[str] = ()
    backends: Sequence[BackendTarget] = ()
    seed: int | None = None


async def run(
    plan: ChaosPlan, log: ChaosLog, stop: asyncio.Event | None = None
) -> list[FaultRecord]:
    """Injects a random allowed fault every ``interval_seconds`` until
    ``duration_seconds`` or ``max_faults``; each fault waits for recovery
    before the interval starts again, so faults never pile up."""
    rng = random.Random(plan.seed)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.duration_seconds
    done: list[FaultRecord] = []
    while loop.time() < deadline and len(done) < plan.max_faults and not stop.is_set():
        record = await _one(plan, rng)
        if record is not None:
            log.write(record)
            done.append(record)
        remaining = deadline - loop.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, min(plan.interval_seconds, remaining)))
    return done


async def _one(plan: ChaosPlan, rng: random.Random) -> FaultRecord | None:
    choices: list[tuple[str, Any]] = []
    if "kill" in plan.faults:
        services = list(plan.services) or services_of(plan.state_dir)
        choices += [("kill", name) for name in services]
    for backend in plan.backends:
        choices += [(fault, backend) for fault in ("restart", "pause") if fault in plan.faults]
    if not choices:
        return None
    fault, target = rng.choice(choices)
    if fault == "kill":
        return await kill_service(plan.state_dir, target, rng)
    if fault == "restart":
        return await restart_backend(target)
    return await pause_backend(target, plan.pause_seconds)
