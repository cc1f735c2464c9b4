"""Multi-core: worker processes share one port (SO_REUSEPORT); the supervisor sums metrics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Any

import grpc.aio

from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 30.0
CONNECTIONS = 24


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        body: bytes = reply.read()
        return body.decode()


async def test_two_workers_share_the_port_and_stop_cleanly() -> None:
    port, metrics_port = _free_port(), _free_port()
    env = dict(
        os.environ,
        STREAMMESH_ECHO_PORT=str(port),
        STREAMMESH_ECHO_METRICS_PORT=str(metrics_port),
        STREAMMESH_ECHO_PROCESSES="2",
        OTEL_TRACES_EXPORTER="none",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devtools.echo.server",
        cwd=REPO,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[dict[str, Any]] = []

    async def read_until(predicate: Any) -> None:
        while not predicate():
            raw = await asyncio.wait_for(process.stderr.readline(), timeout=STEP_TIMEOUT)  # type: ignore[union-attr]
            if not raw:
                raise AssertionError("supervisor exited early")
            lines.append(json.loads(raw))

    try:
        await read_until(lambda: sum("serving echo" in line["msg"] for line in lines) == 2)
        worker_pids = {line["pid"] for line in lines if "serving echo" in line["msg"]}
        assert len(worker_pids) == 2
        # Each channel is its own connection; the kernel spreads connections over workers.
        for _ in range(CONNECTIONS):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await echo_pb2_grpc.EchoServiceStub(channel).Echo(
                    echo_pb2.EchoRequest(message="x"), timeout=STEP_TIMEOUT
                )
        await read_until(
            lambda: sum(line["logger"] == "streammesh.rpc" for line in lines) == CONNECTIONS
        )
        serving_pids = {line["pid"] for line in lines if line["logger"] == "streammesh.rpc"}
        assert serving_pids == worker_pids

        metrics = await asyncio.to_thread(_scrape, metrics_port)
        handled = [
            line
            for line in metrics.splitlines()
            if line.startswith("grpc_server_handled_total{") and 'grpc_method="Echo"' in line
        ]
        assert len(handled) == 1
        assert float(handled[0].rsplit(" ", 1)[1]) == CONNECTIONS

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=STEP_TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
