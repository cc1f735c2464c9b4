"""The runtime's server: health, reflection, error mapping and validation on a real server."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from devtools.echo.servicer import SERVICE_NAME
from services.kit import clients
from services.runtime import errors
from services.runtime.errors import FieldViolation
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.runtime.conftest import LogCapture, StartEcho, server_config

GRPCURL = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "grpcurl"


def _details(error: grpc.aio.AioRpcError) -> dict[str, object]:
    status = rpc_status.from_call(error)
    assert status is not None, "no grpc-status-details-bin trailer"
    found: dict[str, object] = {}
    for detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.RetryInfo,
        ):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.DESCRIPTOR.name] = message
    return found


async def test_health_reports_each_service_serving(start_echo: StartEcho) -> None:
    _, port = await start_echo()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE_NAME):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.tools
async def test_grpcurl_lists_services_through_reflection(start_echo: StartEcho) -> None:
    if not GRPCURL.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{GRPCURL} missing: run `make tools`")
        pytest.skip(f"{GRPCURL} missing: run `make tools`")
    _, port = await start_echo()
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL),
        "-plaintext",
        f"127.0.0.1:{port}",
        "list",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    listed = set(stdout.decode().split())
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= listed


async def test_invalid_request_gets_invalid_argument_naming_the_field(
    start_echo: StartEcho,
) -> None:
    servicer, port = await start_echo()
    async with clients.channel(f"127.0.0.1:{port}", server_config()) as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Echo(echo_pb2.EchoRequest(message=""))
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "message" in (error.details() or "")
    details = _details(error)
    bad_request = details["BadRequest"]
    assert isinstance(bad_request, error_details_pb2.BadRequest)
    assert [(v.field, v.reason) for v in bad_request.field_violations] == [
        ("message", "string.min_len")
    ]
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.domain == "streammesh.echo"
    assert servicer.calls["Echo"] == 0, "the handler must not run for an invalid request"


async def test_handler_bug_is_internal_without_a_stack_trace(
    start_echo: StartEcho, json_logs: LogCapture
) -> None:
    _, port = await start_echo()
    async with clients.channel(f"127.0.0.1:{port}", server_config()) as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Echo(echo_pb2.EchoRequest(message="bug"))
    error = raised.value
    assert error.code() == grpc.StatusCode.INTERNAL
    message = error.details() or ""
    match = re.fullmatch(r"internal error \(trace ([0-9a-f]{32})\)", message)
    assert match, message
    everything_sent = message + repr(error.trailing_metadata())
    for leak in ("Traceback", "ZeroDivisionError", "scripted.py", "never see"):
        assert leak not in everything_sent
    logged = [line for line in json_logs.lines() if line.get("logger") == "streammesh.errors"]
    assert len(logged) == 1
    assert logged[0]["trace_id"] == match.group(1)
    assert "ZeroDivisionError" in logged[0]["exc"]


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (errors.NotFound("title 42 not found", reason="NO_TITLE"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("taken"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.PermissionDenied("not yours"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.Unauthenticated("no token"), grpc.StatusCode.UNAUTHENTICATED),
        (
            errors.FailedPrecondition(
                "too many profiles",
                reason="PROFILE_LIMIT_REACHED",
                violations=[FieldViolation("profile", "at most 5 per account")],
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
    ],
)
async def test_domain_errors_map_to_their_status_with_error_info(
    start_echo: StartEcho, failure: errors.DomainError, code: grpc.StatusCode
) -> None:
    servicer, port = await start_echo()
    servicer.fail_first = 1
    servicer.failure = failure
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.EchoOnce(echo_pb2.EchoOnceRequest(message="x"), timeout=5)
    assert raised.value.code() == code
    assert raised.value.details() == failure.message
    details = _details(raised.value)
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == (failure.reason or code.name)
    assert info.domain == "streammesh.echo"
    if getattr(failure, "violations", None):
        bad_request = details["BadRequest"]
        assert isinstance(bad_request, error_details_pb2.BadRequest)
        assert bad_request.field_violations[0].field == "profile"


async def test_resource_exhausted_carries_retry_info_and_pushback(start_echo: StartEcho) -> None:
    servicer, port = await start_echo()
    servicer.fail_first = 1
    servicer.failure = errors.ResourceExhausted("slow down", retry_after_seconds=1.5)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.EchoOnce(echo_pb2.EchoOnceRequest(message="x"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ("grpc-retry-pushback-ms", "1500") in tuple(raised.value.trailing_metadata() or ())
    retry_info = _details(raised.value)["RetryInfo"]
    assert isinstance(retry_info, error_details_pb2.RetryInfo)
    assert retry_info.retry_delay.ToMilliseconds() == 1500
