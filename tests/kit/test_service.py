"""The service kit: parts open in order, close in reverse after the server stops, and a
build that fails half-way closes what it had opened. Real servers on port 0."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest

from devtools.echo.config import Config as EchoConfig
from devtools.echo.servicer import SERVICE_NAME, EchoServicer
from services.kit import Kit, Served, Service
from services.kit import server as runtime
from services.runtime.config import ServerConfig
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc


def echo_config() -> EchoConfig:
    return EchoConfig(server=ServerConfig(service="echo", port=0, access_log=False))


def recording_service(events: list[str], *, fail_after: str | None = None) -> Service[EchoConfig]:
    """An echo service whose parts record when they open and close."""

    @contextlib.asynccontextmanager
    async def part(name: str) -> AsyncIterator[str]:
        events.append(f"open {name}")
        try:
            yield name
        finally:
            events.append(f"close {name}")

    async def build(config: EchoConfig, kit: Kit) -> Served:
        await kit.enter(part("store"))
        if fail_after == "store":
            raise RuntimeError("the cache cannot be reached")
        kit.closing("cache", lambda: events.append("close cache"))
        events.append("open cache")
        await kit.enter(part("relay"))
        return Served(EchoServicer())

    return Service(
        "echo",
        echo_config,
        build,
        echo_pb2_grpc.add_EchoServiceServicer_to_server,
        grpc_service=SERVICE_NAME,
    )


async def test_parts_close_in_reverse_after_the_server_stops() -> None:
    events: list[str] = []
    server, port = await recording_service(events).create_server(echo_config())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await echo_pb2_grpc.EchoServiceStub(channel).Echo(
            echo_pb2.EchoRequest(message="hi")
        )
    assert reply.message == "hi"
    assert events == ["open store", "open cache", "open relay"]
    await runtime.stop(server, grace=0.5)
    assert events[3:] == ["close relay", "close cache", "close store"]


async def test_a_build_that_fails_half_way_closes_what_it_opened() -> None:
    events: list[str] = []
    with pytest.raises(RuntimeError, match="cannot be reached"):
        await recording_service(events, fail_after="store").create_server(echo_config())
    assert events == ["open store", "close store"]


async def test_an_address_that_cannot_be_bound_closes_the_parts() -> None:
    events: list[str] = []
    # An address this host does not have (TEST-NET-1, RFC 5737).
    unbindable = EchoConfig(
        server=ServerConfig(service="echo", host="192.0.2.1", port=0, access_log=False)
    )
    with pytest.raises(RuntimeError, match="bind"):
        await recording_service(events).create_server(unbindable)
    assert events == [
        "open store",
        "open cache",
        "open relay",
        "close relay",
        "close cache",
        "close store",
    ]


async def test_the_declared_service_answers_health_and_reflection() -> None:
    server, port = await recording_service([]).create_server(echo_config())
    try:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await runtime.stop(server, grace=0.5)


async def test_a_service_with_owner_rpcs_and_no_verifier_is_refused() -> None:
    from services.browse.config import Config as BrowseConfig
    from services.browse.servicer import BrowseServicer
    from streammesh.browse.v1 import browse_pb2_grpc

    events: list[str] = []

    async def build(config: BrowseConfig, kit: Kit) -> Served:
        kit.closing("channel", lambda: events.append("closed"))
        return Served(BrowseServicer(None, 1))  # type: ignore[arg-type]

    unguarded = Service(
        "browse", BrowseConfig, build, browse_pb2_grpc.add_BrowseServiceServicer_to_server
    )
    config = BrowseConfig(server=ServerConfig(service="browse", port=0))
    with pytest.raises(
        TypeError, match=r"owner RPCs \(/streammesh.browse.v1.BrowseService/GetHome"
    ):
        await unguarded.create_server(config)
    assert events == ["closed"]
