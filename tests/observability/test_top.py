"""``streammesh top`` against a real Prometheus scraping a real service process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import grpc

from devtools.infra import endpoints
from devtools.observability import top
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.mesh import unused_port
from tests.observability.conftest import FIXTURE_WAIT_SECONDS, REPO, ObservedMesh
from tests.observability.prometheus_api import wait_for

CALLS = 40
CLI_TIMEOUT_SECONDS = 60


def _call_echo(grpc_port: int, calls_count: int) -> None:
    async def calls() -> None:
        async with grpc.aio.insecure_channel(f"{endpoints.HOST}:{grpc_port}") as channel:
            await channel.channel_ready()
            stub = echo_pb2_grpc.EchoServiceStub(channel)
            for index in range(calls_count):
                await stub.EchoOnce(echo_pb2.EchoOnceRequest(message=f"m{index}"), timeout=5)

    asyncio.run(asyncio.wait_for(calls(), FIXTURE_WAIT_SECONDS))


def _streammesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
        env=dict(os.environ, COLUMNS="140"),
    )


def test_top_without_prometheus_says_so_and_fails() -> None:
    result = _streammesh(
        "top", "--once", "--prometheus", f"http://{endpoints.HOST}:{unused_port()}"
    )
    assert result.returncode == 1
    assert "Prometheus unavailable" in result.stdout


def test_top_shows_the_rate_and_latency_of_a_real_service(observed_mesh: ObservedMesh) -> None:
    api = observed_mesh.api
    # A counter's first scraped value is no increase to rate(): one call makes
    # the series exist and be scraped, then the measured calls follow.
    _call_echo(observed_mesh.echo_port, 1)
    wait_for(
        lambda: api.query('grpc_server_handled_total{service="echo", grpc_method="EchoOnce"}'),
        "the EchoOnce counter scraped",
        FIXTURE_WAIT_SECONDS,
    )
    _call_echo(observed_mesh.echo_port, CALLS)
    wait_for(
        lambda: api.query(
            'sum(rate(grpc_server_handled_total{service="echo", grpc_method="EchoOnce"}[1m])) > 0'
        ),
        "a request rate from the echo calls",
        FIXTURE_WAIT_SECONDS,
    )
    rows = {row.service: row for row in top.snapshot(api.url)}
    echo = rows["echo"].values
    assert echo["up"] == 1
    assert echo["rate"] > 0
    assert echo["errors"] == 0
    assert 0 < echo["p99"] < 5

    result = _streammesh("top", "--once", "--prometheus", api.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "echo" in result.stdout
    assert "req/s" in result.stdout
