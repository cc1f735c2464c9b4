"""``streammesh up``: run every service of this checkout as its own process.

Services whose package has not landed yet are listed as missing instead of
failing, so ``make up`` works on any checkout. Each process writes JSON log
lines to ``.streammesh/logs/<service>.log``; Ctrl-C (or SIGTERM) stops them all
with SIGTERM and waits for their graceful shutdown.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.table import Table

from services.catalogue import SERVICES, ServiceSpec

STATE_DIR = Path(".streammesh")
# How long a stopping service may take to drain before it is killed.
STOP_GRACE_SECONDS = 15.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("up", help="run the whole mesh on this machine")
    parser.add_argument(
        "--backends",
        choices=("embedded", "real"),
        default="embedded",
        help="embedded: SQLite files and a private redis-server; "
        "real: the servers of `streammesh infra up`",
    )
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.set_defaults(handler=run)


def _spawn(spec: ServiceSpec, backends: str, logs: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, STREAMMESH_BACKENDS=backends)
    log = (logs / f"{spec.name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", f"{spec.package}.server"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def run(args: argparse.Namespace) -> int:
    console = Console()
    logs = args.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    present = [s for s in SERVICES if s.implemented()]
    missing = [s for s in SERVICES if not s.implemented()]

    table = Table(title=f"StreamMesh ({args.backends} backends)")
    for column in ("service", "gRPC", "metrics", "log"):
        table.add_column(column)
    for spec in present:
        table.add_row(
            spec.name,
            f"127.0.0.1:{spec.grpc_port}",
            f"http://127.0.0.1:{spec.metrics_port}/metrics",
            str(logs / f"{spec.name}.log"),
        )
    console.print(table)
    if missing:
        names = ", ".join(s.name for s in missing)
        console.print(f"[yellow]not in this checkout yet:[/] {names}")
    if not present:
        console.print("Nothing to run yet; the contracts are in protos/ and gen/.")
        return 0

    processes = {spec.name: _spawn(spec, args.backends, logs) for spec in present}
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    console.print("running; Ctrl-C stops everything")
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                console.print(f"[red]{name} exited with {process.returncode}[/]; see its log")
                stopping, exit_code = True, 1
        time.sleep(0.5)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    console.print("stopped")
    return exit_code
