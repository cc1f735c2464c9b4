"""What every backend provides to the manager that installs, starts and stops it."""

from __future__ import annotations

import abc
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devtools.infra.settings import InfraSettings


class NotReadyYet(Exception):
    """A probe reached the server, but it cannot serve queries yet."""


class Backend(abc.ABC):
    """One server process of ours: how to install, configure, start and probe it."""

    name: str
    title: str
    port: int
    apt_packages: tuple[str, ...] = ()
    stop_signal: signal.Signals = signal.SIGTERM
    # How long a graceful stop may take before SIGKILL.
    stop_grace_seconds: float = 30.0
    # How long a fresh process may take to answer queries.
    ready_timeout_seconds: float = 60.0
    # What the client library raises while the server is still booting.
    not_ready_errors: tuple[type[Exception], ...] = ()
    # The address it listens on (the nodes of a local cluster: 127.0.0.n).
    host: str = "127.0.0.1"
    # Another backend (by name) that must answer before this one starts: a
    # cluster's node joins through its seed.
    start_after: str | None = None

    def __init__(self, settings: InfraSettings) -> None:
        self.settings = settings
        self.home = settings.state_dir / self.name

    @property
    def pidfile(self) -> Path:
        return self.home / "server.pid.json"

    @property
    def log_path(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.home / "logs" / "console.log"

    @property
    def install_log_path(self) -> Path:
        return self.settings.state_dir / "install.log"

    def failure_logs(self) -> Sequence[Path]:
        """Logs worth showing when the server fails to start, most telling first."""
        return (self.log_path,)

    async def fetch(self, report: Callable[[str], None]) -> None:  # noqa: B027 - optional hook
        """Downloads what apt does not provide (jars); idempotent; reports slow steps."""

    @abc.abstractmethod
    def prepare(self) -> None:
        """Writes configuration and initialises the data folder (blocking; idempotent)."""

    @abc.abstractmethod
    def command(self) -> Sequence[str]:
        """The argv of the foreground server process."""

    def environment(self) -> Mapping[str, str] | None:
        """The server's environment, or None to inherit ours."""
        return None

    def run_as(self) -> str | None:
        """The OS user to run the server as, or None for ours."""
        return None

    @abc.abstractmethod
    async def probe(self) -> str:
        """Runs a real query and returns the server's version; raises while not ready."""

    async def provision(self) -> None:  # noqa: B027 - optional hook
        """After the first successful probe: databases, users (idempotent)."""

    async def refresh(self) -> None:  # noqa: B027 - optional hook
        """When ``up`` finds the server already running: take up what changed in the
        checkout since it started (configuration or rule files it reads)."""
