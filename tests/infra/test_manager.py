"""The manager's failure paths, with real (tiny) processes standing in for servers."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

import pytest

from devtools.infra import manager, procs
from devtools.infra.backend import Backend
from devtools.infra.settings import InfraSettings


class _ShellBackend(Backend):
    """A "server" that is a shell one-liner and never answers its probe."""

    name = "shell"
    title = "Shell"
    ready_timeout_seconds = 20.0

    def __init__(self, settings: InfraSettings, script: str, port: int) -> None:
        super().__init__(settings)
        self.script = script
        self.port = port

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)

    def command(self) -> Sequence[str]:
        return ["sh", "-c", self.script]

    async def probe(self) -> str:
        raise OSError("never answers")


@pytest.fixture
def settings(tmp_path: Path) -> InfraSettings:
    return InfraSettings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache")


@pytest.fixture
def free_port() -> int:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        return int(holder.getsockname()[1])


def _ignore(backend: Backend, text: str) -> None:
    del backend, text


async def test_a_server_that_dies_while_starting_is_reported_with_its_log_tail(
    settings: InfraSettings, free_port: int
) -> None:
    backend = _ShellBackend(settings, "echo 'bad config line 7' >&2; exit 3", free_port)
    [outcome] = await manager.up([backend], _ignore)
    assert not outcome.ok
    assert "exited (3)" in outcome.detail
    assert "bad config line 7" in outcome.log_tail


async def test_a_port_held_by_a_stranger_fails_up_without_starting_anything(
    settings: InfraSettings,
) -> None:
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = int(stranger.getsockname()[1])
        backend = _ShellBackend(settings, "sleep 60", port)
        [outcome] = await manager.up([backend], _ignore)
        [status] = await manager.status([backend])
    assert not outcome.ok
    assert f"port {port} is taken" in outcome.detail
    assert procs.running_record(backend.pidfile) is None
    assert status.state == "busy"


async def test_down_stops_a_started_server_and_a_second_down_finds_nothing(
    settings: InfraSettings, free_port: int
) -> None:
    backend = _ShellBackend(settings, "sleep 60", free_port)
    backend.ready_timeout_seconds = 0.5
    [outcome] = await manager.up([backend], _ignore)
    # It never answers, so up gives up on it, but the process is ours to stop.
    assert not outcome.ok
    assert "did not answer" in outcome.detail
    assert (await manager.status([backend]))[0].state == "starting"
    assert await manager.down([backend]) == [(backend, "stopped")]
    assert await manager.down([backend]) == [(backend, "not running")]
