"""Retries: only what the contract declares safe, only on retryable codes, within a budget."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace

import grpc
import grpc.aio
import pytest
from prometheus_client import REGISTRY

from interceptors.retry import is_retry_safe
from services.kit import clients
from services.runtime import errors
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.runtime.conftest import FAST_RETRY, StartEcho, server_config


async def _code_of(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_retry_safety_comes_from_the_method_descriptor() -> None:
    assert is_retry_safe("/streammesh.echo.v1.EchoService/Echo")  # NO_SIDE_EFFECTS
    assert not is_retry_safe("/streammesh.echo.v1.EchoService/EchoOnce")  # unspecified
    assert not is_retry_safe("/no.such.Service/Method")


async def test_no_side_effects_method_recovers_from_unavailable(start_echo: StartEcho) -> None:
    servicer, port = await start_echo()
    servicer.fail_first = 2  # max_attempts is 3
    before = (
        REGISTRY.get_sample_value(
            "grpc_client_attempts_total",
            {
                "grpc_service": "streammesh.echo.v1.EchoService",
                "grpc_method": "Echo",
                "grpc_code": "UNAVAILABLE",
                "retry": "false",
            },
        )
        or 0.0
    )
    async with clients.channel(f"127.0.0.1:{port}", server_config()) as channel:
        reply = await echo_pb2_grpc.EchoServiceStub(channel).Echo(
            echo_pb2.EchoRequest(message="again")
        )
    assert reply.message == "again"
    assert servicer.calls["Echo"] == 3
    after = REGISTRY.get_sample_value(
        "grpc_client_attempts_total",
        {
            "grpc_service": "streammesh.echo.v1.EchoService",
            "grpc_method": "Echo",
            "grpc_code": "UNAVAILABLE",
            "retry": "false",
        },
    )
    assert after == before + 1


async def test_attempts_are_bounded_by_max_attempts(start_echo: StartEcho) -> None:
    servicer, port = await start_echo()
    servicer.fail_first = 10
    async with clients.channel(f"127.0.0.1:{port}", server_config()) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await echo_pb2_grpc.EchoServiceStub(channel).Echo(echo_pb2.EchoRequest(message="x"))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls["Echo"] == FAST_RETRY.max_attempts


async def test_non_idempotent_method_is_not_retried(start_echo: StartEcho) -> None:
    servicer, port = await start_echo()
    servicer.fail_first = 1
    async with clients.channel(f"127.0.0.1:{port}", server_config()) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await echo_pb2_grpc.EchoServiceStub(channel).EchoOnce(
                echo_pb2.EchoOnceRequest(message="once")
            )
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls["EchoOnce"] == 1


@pytest.mark.parametrize(
    ("failure", "attempts"),
    [
        (errors.NotFound("gone"), 1),
        (errors.InvalidArgument("bad"), 1),
        (errors.ResourceExhausted("busy, no pushback"), 1),
        (errors.ResourceExhausted("busy, come back", retry_after_seconds=0.01), 2),
    ],
)
async def test_only_retryable_codes_are_retried(
    start_echo: StartEcho, failure: errors.DomainError, attempts: int
) -> None:
    servicer, port = await start_echo()
    servicer.fail_first = 1
    servicer.failure = failure
    async with clients.channel(f"127.0.0.1:{port}", server_config()) as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        outcome = await _code_of(stub.Echo(echo_pb2.EchoRequest(message="x")))
    assert outcome == (failure.code if attempts == 1 else grpc.StatusCode.OK)
    assert servicer.calls["Echo"] == attempts


@pytest.mark.parametrize(("deadline", "attempts"), [(0.2, 1), (5.0, 2)])
async def test_retries_never_run_past_the_callers_deadline(
    start_echo: StartEcho, deadline: float, attempts: int
) -> None:
    servicer, port = await start_echo()
    servicer.fail_first = 1
    # The server asks for 300 ms: that fits in a 5 s deadline, not in 200 ms.
    servicer.failure = errors.ResourceExhausted("busy", retry_after_seconds=0.3)
    async with clients.channel(f"127.0.0.1:{port}", server_config()) as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        outcome = await _code_of(stub.Echo(echo_pb2.EchoRequest(message="x"), timeout=deadline))
    expected = grpc.StatusCode.RESOURCE_EXHAUSTED if attempts == 1 else grpc.StatusCode.OK
    assert outcome == expected
    assert servicer.calls["Echo"] == attempts


async def _attempts_for(start_echo: StartEcho, calls: int, max_tokens: float) -> int:
    servicer, port = await start_echo()
    servicer.failure_rate = 0.5
    config = server_config(retry=replace(FAST_RETRY, budget_max_tokens=max_tokens))
    async with clients.channel(f"127.0.0.1:{port}", config) as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)

        async def one() -> None:
            code = await _code_of(stub.Echo(echo_pb2.EchoRequest(message="x")))
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)

        for _ in range(calls // 10):  # ten in flight at a time
            await asyncio.gather(*(one() for _ in range(10)))
    return servicer.calls["Echo"]


async def test_retry_budget_holds_attempts_near_the_call_count(start_echo: StartEcho) -> None:
    calls = 200
    budgeted = await _attempts_for(start_echo, calls, max_tokens=10)
    unbudgeted = await _attempts_for(start_echo, calls, max_tokens=1e9)
    print(
        f"{calls} calls at 50% failures: {budgeted} attempts with the budget, {unbudgeted} without"
    )
    # Without a budget, 50% failures and 3 attempts mean ~1.75 attempts per call.
    assert unbudgeted >= 1.5 * calls
    # With it, retries stop once the tokens fall to half: a handful in all.
    assert calls < budgeted <= 1.3 * calls
