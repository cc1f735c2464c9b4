"""Bringing the backends up and down, all of them at once.

Each backend goes through install -> prepare -> spawn -> wait-until-it-answers
on its own task, so the slow ones (the JVMs) boot side by side. Debian
packages are installed by one apt run shared by every backend that needs one;
Maven fetches run one at a time because they share ~/.m2.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devtools.infra import procs, tooling
from devtools.infra.backend import Backend, NotReadyYet
from devtools.infra.errors import InfraError

# Pause between two readiness probes of a booting server.
PROBE_INTERVAL_SECONDS = 0.5
# Bound on one probe, so a half-open server cannot hang the wait.
PROBE_TIMEOUT_SECONDS = 10.0
# Bound on the quick port check that tells "nobody listens" from "someone else does".
PORT_CHECK_TIMEOUT_SECONDS = 1.0

Report = Callable[[Backend, str], None]


@dataclass(frozen=True)
class BackendStatus:
    """What ``status`` shows for one backend."""

    backend: Backend
    # running: ours and answering; starting: ours, not answering yet;
    # external: answers on our port but was started elsewhere (another checkout);
    # busy: something else holds the port; stopped: nothing listens.
    state: str
    version: str | None
    pid: int | None


@dataclass(frozen=True)
class Outcome:
    """What ``up`` did for one backend."""

    backend: Backend
    ok: bool
    detail: str
    version: str | None = None
    seconds: float = 0.0
    log_tail: str = ""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe_socket:
        probe_socket.settimeout(PORT_CHECK_TIMEOUT_SECONDS)
        return probe_socket.connect_ex((host, port)) == 0


async def try_probe(backend: Backend) -> str | None:
    """The server's version if it answers a real query now, else None."""
    not_ready: tuple[type[Exception], ...] = (
        TimeoutError,
        OSError,
        NotReadyYet,
        *backend.not_ready_errors,
    )
    try:
        return await asyncio.wait_for(backend.probe(), PROBE_TIMEOUT_SECONDS)
    except not_ready:
        return None


async def status_of(backend: Backend) -> BackendStatus:
    record = procs.running_record(backend.pidfile)
    if record is not None:
        version = await try_probe(backend)
        state = "running" if version is not None else "starting"
        return BackendStatus(backend, state, version, record.pid)
    if await asyncio.to_thread(port_in_use, backend.port, backend.host):
        version = await try_probe(backend)
        return BackendStatus(backend, "external" if version else "busy", version, None)
    return BackendStatus(backend, "stopped", None, None)


async def status(backends: Sequence[Backend]) -> list[BackendStatus]:
    return list(await asyncio.gather(*(status_of(backend) for backend in backends)))


class _Installer:
    """One apt run for every missing package, and Maven fetches one at a time."""

    def __init__(self, backends: Sequence[Backend], report: Report) -> None:
        self._backends = backends
        self._report = report
        self._apt_task: asyncio.Task[None] | None = None
        self._maven_lock = asyncio.Lock()

    async def _apt(self) -> None:
        wanted = sorted({package for b in self._backends for package in b.apt_packages})
        missing = await asyncio.to_thread(tooling.missing_debian_packages, wanted)
        if not missing:
            return
        for backend in self._backends:
            if set(backend.apt_packages) & set(missing):
                self._report(backend, f"apt-get install {' '.join(missing)}")
        log = self._backends[0].install_log_path
        await tooling.install_debian_packages(missing, log)

    async def ensure(self, backend: Backend) -> None:
        if self._apt_task is None:
            self._apt_task = asyncio.create_task(self._apt())
        if backend.apt_packages:
            await asyncio.shield(self._apt_task)
        async with self._maven_lock:
            await backend.fetch(lambda text: self._report(backend, text))


async def _wait_ready(backend: Backend, child: procs.Child | None) -> str:
    deadline = time.monotonic() + backend.ready_timeout_seconds
    while True:
        version = await try_probe(backend)
        if version is not None:
            return version
        if child is not None and child.poll() is not None:
            raise InfraError(f"{backend.title} exited ({child.returncode}) while starting")
        if child is None and procs.running_record(backend.pidfile) is None:
            raise InfraError(f"{backend.title} exited while starting")
        if time.monotonic() > deadline:
            raise InfraError(
                f"{backend.title} did not answer within {backend.ready_timeout_seconds:.0f}s"
            )
        await asyncio.sleep(PROBE_INTERVAL_SECONDS)


async def _bring_up(backend: Backend, installer: _Installer, report: Report) -> Outcome:
    started = time.monotonic()
    record = procs.running_record(backend.pidfile)
    child: procs.Child | None = None
    if record is not None:
        version = await try_probe(backend)
        if version is not None:
            await backend.refresh()
            return Outcome(backend, True, "already running", version)
        report(backend, "already started, waiting until it answers")
    else:
        if await asyncio.to_thread(port_in_use, backend.port, backend.host):
            version = await try_probe(backend)
            if version is not None:
                # Another checkout's server (same accounts): use it, never stop it.
                await backend.refresh()
                return Outcome(backend, True, "already running, started elsewhere", version)
            raise InfraError(
                f"port {backend.port} is taken by a process `streammesh infra` did not start; "
                f"stop it (or its system service) and run `streammesh infra up` again"
            )
        await installer.ensure(backend)
        report(backend, "configuring")
        await asyncio.to_thread(backend.prepare)
        report(backend, "starting")
        child = procs.spawn(
            backend.command(),
            pidfile=backend.pidfile,
            log_path=backend.log_path,
            cwd=backend.home,
            env=backend.environment(),
            user=backend.run_as(),
        )
    report(backend, "waiting until it answers queries")
    version = await _wait_ready(backend, child)
    report(backend, "provisioning")
    await backend.provision()
    detail = "started" if child is not None else "was starting, now answers"
    return Outcome(backend, True, detail, version, time.monotonic() - started)


def _failure_tail(backend: Backend, error: InfraError) -> str:
    paths = [error.log_path] if error.log_path is not None else list(backend.failure_logs())
    return "\n".join(f"--- {path}\n{procs.tail(path)}" for path in paths if path is not None)


async def up(backends: Sequence[Backend], report: Report) -> list[Outcome]:
    """Starts every backend that is not running; a second call is a no-op."""
    installer = _Installer(backends, report)
    loop = asyncio.get_running_loop()
    answered: dict[str, asyncio.Future[bool]] = {b.name: loop.create_future() for b in backends}

    async def one(backend: Backend) -> Outcome:
        outcome = await _one(backend)
        answered[backend.name].set_result(outcome.ok)
        return outcome

    async def _one(backend: Backend) -> Outcome:
        before = answered.get(backend.start_after or "")
        if before is not None:
            report(backend, f"waiting for {backend.start_after}")
            if not await before:
                return Outcome(backend, False, f"{backend.start_after} did not start")
        started = time.monotonic()
        try:
            return await _bring_up(backend, installer, report)
        except InfraError as error:
            return Outcome(
                backend,
                False,
                str(error),
                seconds=time.monotonic() - started,
                log_tail=_failure_tail(backend, error),
            )

    return list(await asyncio.gather(*(one(backend) for backend in backends)))


async def down(backends: Sequence[Backend]) -> list[tuple[Backend, str]]:
    """Stops the processes our pidfiles name, gracefully, then by SIGKILL."""

    async def one(backend: Backend) -> tuple[Backend, str]:
        result = await asyncio.to_thread(
            procs.stop,
            backend.pidfile,
            sig=backend.stop_signal,
            grace_seconds=backend.stop_grace_seconds,
        )
        return backend, result

    return list(await asyncio.gather(*(one(backend) for backend in backends)))


async def reset(backends: Sequence[Backend]) -> list[tuple[Backend, str]]:
    """Stops everything and deletes every backend's data (downloads are kept)."""
    results = await down(backends)
    for backend in backends:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(shutil.rmtree, backend.home)
        backend.install_log_path.unlink(missing_ok=True)
    return results
