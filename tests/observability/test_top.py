"""``streammesh top`` against a real Prometheus scraping a real service process."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from devtools.infra import endpoints
from devtools.observability import top
from services import cli
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.mesh import unused_port
from tests.observability.conftest import FIXTURE_WAIT_SECONDS, ObservedMesh
from tests.observability.prometheus_api import wait_for

CALLS = 40


def _call_echo(grpc_port: int, calls_count: int) -> None:
    async def calls() -> None:
        async with grpc.aio.insecure_channel(f"{endpoints.HOST}:{grpc_port}") as channel:
            await channel.channel_ready()
            stub = echo_pb2_grpc.EchoServiceStub(channel)
            for index in range(calls_count):
                await stub.EchoOnce(echo_pb2.EchoOnceRequest(message=f"m{index}"), timeout=5)

    asyncio.run(asyncio.wait_for(calls(), FIXTURE_WAIT_SECONDS))


def _streammesh(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``streammesh ARGS`` in this process (the same parser and handler as the command),
    on a terminal wide enough that rich cuts no column."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "200")
        code = cli.main(list(args))
    return code, capsys.readouterr().out


def test_top_without_prometheus_says_so_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _streammesh(
        capsys, "top", "--once", "--prometheus", f"http://{endpoints.HOST}:{unused_port()}"
    )
    assert code == 1
    assert "Prometheus unavailable" in out


def test_top_shows_the_rate_and_latency_of_a_real_service(
    observed_mesh: ObservedMesh, capsys: pytest.CaptureFixture[str]
) -> None:
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

    code, out = _streammesh(capsys, "top", "--once", "--prometheus", api.url)
    assert code == 0, out
    assert "echo" in out
    assert "req/s" in out
