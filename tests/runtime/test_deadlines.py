"""An incoming deadline bounds the calls a handler makes; other calls get the default."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from services.kit import clients
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.runtime.conftest import StartEcho, server_config

# Long enough that a loaded machine still gets the call to both hops; far below
# the 30 s default, so the downstream's remaining time shows which one it got.
INCOMING_DEADLINE_SECONDS = 1.0


async def test_incoming_1s_deadline_bounds_the_downstream_call(start_echo: StartEcho) -> None:
    back, back_port = await start_echo("back")
    front, front_port = await start_echo("front")
    config = server_config("front", default_deadline_seconds=30.0, deadline_margin_seconds=0.05)
    async with clients.channel(f"127.0.0.1:{back_port}", config) as to_back:
        front.forward = echo_pb2_grpc.EchoServiceStub(to_back)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front_port}") as channel:
            echo = echo_pb2_grpc.EchoServiceStub(channel)
            # Both connections are made first, with no deadline to spend: on a loaded
            # machine their handshakes alone could outlast the deadline.
            await echo.Echo(echo_pb2.EchoRequest(message="warm"), wait_for_ready=True)
            front.seen_time_remaining.clear()
            back.seen_time_remaining.clear()
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                # "sleep:5" makes the downstream hop outlive the caller's 1 s.
                await echo.Echo(
                    echo_pb2.EchoRequest(message="sleep:5"), timeout=INCOMING_DEADLINE_SECONDS
                )
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert front.seen_time_remaining, "the front never got the call within its deadline"
    (front_remaining,) = front.seen_time_remaining
    assert front_remaining is not None
    # gRPC rounds the timeout it sends up a little (to 10 ms units at this size).
    assert front_remaining <= INCOMING_DEADLINE_SECONDS + 0.02
    assert back.seen_time_remaining, "the downstream never got the call within the deadline"
    (back_remaining,) = back.seen_time_remaining
    assert back_remaining is not None
    # The downstream got the incoming deadline less the 50 ms margin, not the 30 s
    # default. (gRPC rounds the timeout it sends up a little: hence 30 ms, not 50.)
    assert 0 < back_remaining <= front_remaining - 0.03


async def test_call_outside_any_deadline_gets_the_default(start_echo: StartEcho) -> None:
    back, back_port = await start_echo("back")
    config = server_config("front", default_deadline_seconds=7.0)
    async with clients.channel(f"127.0.0.1:{back_port}", config) as channel:
        await echo_pb2_grpc.EchoServiceStub(channel).Echo(echo_pb2.EchoRequest(message="x"))
    (remaining,) = back.seen_time_remaining
    assert remaining is not None
    # gRPC rounds a timeout up a little on the wire (coarser for longer ones).
    assert 6.0 < remaining <= 7.1


async def test_caller_timeout_shorter_than_default_wins(start_echo: StartEcho) -> None:
    back, back_port = await start_echo("back")
    config = server_config("front", default_deadline_seconds=7.0)
    async with clients.channel(f"127.0.0.1:{back_port}", config) as channel:
        await echo_pb2_grpc.EchoServiceStub(channel).Echo(
            echo_pb2.EchoRequest(message="x"), timeout=2.0
        )
    (remaining,) = back.seen_time_remaining
    assert remaining is not None
    assert 1.0 < remaining <= 2.1
