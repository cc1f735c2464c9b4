"""SIGTERM on a real server process: NOT_SERVING first, in-flight calls finish, exit 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.echo.servicer import SERVICE_NAME
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
# Every wait on the child is bounded; none of these is a speed claim.
STEP_TIMEOUT = 30.0


async def _next_log(stderr: asyncio.StreamReader, wanted: str) -> dict[str, Any]:
    while True:
        raw = await asyncio.wait_for(stderr.readline(), timeout=STEP_TIMEOUT)
        if not raw:
            raise AssertionError(f"server exited before logging {wanted!r}")
        try:
            line: dict[str, Any] = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if wanted in line.get("msg", ""):
            return line


async def test_sigterm_drains_in_flight_calls_and_exits_zero() -> None:
    env = dict(
        os.environ,
        STREAMMESH_SLOWECHO_PORT="0",
        STREAMMESH_SLOWECHO_METRICS_PORT="0",
        STREAMMESH_SLOWECHO_SHUTDOWN_GRACE_SECONDS="20",
        OTEL_TRACES_EXPORTER="none",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.runtime.slow_server",
        cwd=REPO,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        port = (await _next_log(process.stderr, "serving"))["port"]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME)
            )
            updates = watch.__aiter__()
            first = await asyncio.wait_for(updates.__anext__(), timeout=STEP_TIMEOUT)
            assert first.status == health_pb2.HealthCheckResponse.SERVING

            slow = asyncio.ensure_future(
                echo_pb2_grpc.EchoServiceStub(channel).Echo(
                    echo_pb2.EchoRequest(message="sleep:1.5"), timeout=STEP_TIMEOUT
                )
            )
            await _next_log(process.stderr, "slow call started")
            process.send_signal(signal.SIGTERM)

            second = await asyncio.wait_for(updates.__anext__(), timeout=STEP_TIMEOUT)
            assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert not slow.done(), "health must turn NOT_SERVING before in-flight calls end"
            watch.cancel()

            reply = await asyncio.wait_for(slow, timeout=STEP_TIMEOUT)
            assert reply.message == "sleep:1.5"

            # Once stopping, the server takes no new calls.
            with pytest.raises(grpc.aio.AioRpcError) as late:
                await echo_pb2_grpc.EchoServiceStub(channel).Echo(
                    echo_pb2.EchoRequest(message="late"), timeout=STEP_TIMEOUT
                )
            assert late.value.code() == grpc.StatusCode.UNAVAILABLE
        await _next_log(process.stderr, "stopped")
        assert await asyncio.wait_for(process.wait(), timeout=STEP_TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
