"""A domain error raised behind a real server comes back equal from ``from_rpc_error``.

Real grpc.aio servers on port 0 with the full chain; a plain client channel
(no retries), so each test sees exactly one call's status.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from devtools.echo.servicer import SERVICE_NAME
from services.kit import server as runtime
from services.runtime import errors
from services.runtime.errors import FieldViolation
from services.runtime.rpc_errors import DEPENDENCY_FAILED, DETAILS_TRAILER, from_rpc_error
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc
from tests.runtime.conftest import StartEcho, server_config

# Every class a handler may raise, each with everything it can carry.
RAISED: list[errors.DomainError] = [
    errors.InvalidArgument(
        "invalid request: profile_id: must be a number",
        reason="INVALID_REQUEST",
        metadata={"request": "GetProfile"},
        violations=[
            FieldViolation("profile_id", "must be a number", "string.pattern"),
            FieldViolation("genres[2]", "must not be empty"),
        ],
    ),
    errors.NotFound("title 42 not found", reason="TITLE_NOT_FOUND", metadata={"title_id": "42"}),
    errors.AlreadyExists("taken"),
    errors.FailedPrecondition(
        "an account has at most 5 profiles",
        reason="PROFILE_LIMIT_REACHED",
        violations=[FieldViolation("profile", "at most 5 per account", "limit")],
    ),
    errors.Unauthenticated("the access token expired", reason="TOKEN_EXPIRED"),
    errors.PermissionDenied("not your profile", reason="NOT_OWNER", metadata={"owner": "other"}),
    errors.ResourceExhausted(
        "too many login attempts", reason="LOGIN_RATE_LIMITED", retry_after_seconds=1.25
    ),
    errors.ResourceExhausted("the queue is full"),
    errors.Unavailable("the users database is unavailable; retry later", reason="DB_DOWN"),
]

# A remote's message that must never travel further.
SECRET = 'Traceback (most recent call last): File "/srv/users/store.py", line 12: password=hunter2'


def _all_subclasses(kind: type[errors.DomainError]) -> set[type[errors.DomainError]]:
    found = set()
    for sub in kind.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def test_every_domain_error_class_is_in_the_round_trip() -> None:
    # A class added to services/runtime/errors.py must join RAISED (and the mapping).
    assert {type(error) for error in RAISED} == _all_subclasses(errors.DomainError)


class AbortingEcho(echo_pb2_grpc.EchoServiceServicer):
    """Echo that ends each call with the status the test scripted, details trailer and all."""

    def __init__(self) -> None:
        self.code = grpc.StatusCode.INTERNAL
        self.message = SECRET
        self.trailers: tuple[tuple[str, str | bytes], ...] = ()

    async def Echo(
        self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext
    ) -> echo_pb2.EchoResponse:
        await context.abort(self.code, self.message, self.trailers)
        raise AssertionError("unreachable: abort raises")


StartAborting = Callable[[], Awaitable[tuple[AbortingEcho, int]]]


@pytest.fixture
async def start_aborting() -> AsyncIterator[StartAborting]:
    servers: list[grpc.aio.Server] = []

    async def start() -> tuple[AbortingEcho, int]:
        servicer = AbortingEcho()
        server, port = await runtime.create_server(
            server_config(access_log=False),
            lambda s: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
        )
        servers.append(server)
        return servicer, port

    yield start
    for server in servers:
        await runtime.stop(server, grace=0)


async def _failed_call(port: int, *, once: bool = False, message: str = "x") -> grpc.RpcError:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        call = (
            stub.EchoOnce(echo_pb2.EchoOnceRequest(message=message), timeout=5)
            if once
            else stub.Echo(echo_pb2.EchoRequest(message=message), timeout=5)
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
    return raised.value


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


# ------------------------------------------------------------ bad input first


MESSAGE = "title_id: must be a uuid"
VIOLATION = error_details_pb2.BadRequest.FieldViolation(
    field="title_id", description="must be a uuid"
)


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        pytest.param(
            b"\xff\xfe\x00 not a google.rpc.Status",
            errors.InvalidArgument(MESSAGE),
            id="garbage",
        ),
        pytest.param(b"", errors.InvalidArgument(MESSAGE), id="empty"),
        pytest.param(
            status_pb2.Status(
                code=code_pb2.INVALID_ARGUMENT,
                message=MESSAGE,
                details=[
                    any_pb2.Any(
                        type_url="type.googleapis.com/google.rpc.ErrorInfo",
                        value=b"\xff\xff\xff\xff garbage inside a valid Any",
                    ),
                    _packed(error_details_pb2.BadRequest(field_violations=[VIOLATION])),
                ],
            ).SerializeToString(),
            errors.InvalidArgument(
                MESSAGE, violations=[FieldViolation("title_id", "must be a uuid")]
            ),
            id="one-detail-garbage",
        ),
    ],
)
async def test_unreadable_details_leave_the_code_message_and_readable_details(
    start_aborting: StartAborting, details: bytes, expected: errors.DomainError
) -> None:
    servicer, port = await start_aborting()
    servicer.code, servicer.message = grpc.StatusCode.INVALID_ARGUMENT, MESSAGE
    servicer.trailers = ((DETAILS_TRAILER, details),)
    call_error = await _failed_call(port)
    sent = tuple(call_error.trailing_metadata())
    assert sent == ((DETAILS_TRAILER, details),)
    assert from_rpc_error(call_error, service="catalog") == expected


async def test_details_of_another_code_are_not_believed(start_aborting: StartAborting) -> None:
    # A proxy rewrote the status but kept the trailer: the details are not this error's.
    servicer, port = await start_aborting()
    servicer.code, servicer.message = grpc.StatusCode.INTERNAL, SECRET
    foreign = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message=SECRET,
        details=[_packed(error_details_pb2.ErrorInfo(reason="LEAKED", metadata={"x": SECRET}))],
    )
    servicer.trailers = ((DETAILS_TRAILER, foreign.SerializeToString()),)
    error = from_rpc_error(await _failed_call(port), service="users")
    assert isinstance(error, errors.Unavailable)
    assert error.reason == DEPENDENCY_FAILED
    assert "hunter2" not in repr(error)


async def test_an_rpc_error_without_a_call_maps_too() -> None:
    # The base class promises no code(), details() or trailers.
    error = from_rpc_error(grpc.RpcError(), service="users")
    assert error == errors.Unavailable(
        "users failed (UNKNOWN)",
        reason=DEPENDENCY_FAILED,
        metadata={"dependency": "users", "code": "UNKNOWN"},
    )


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("raised", RAISED, ids=lambda e: f"{type(e).__name__}-{e.reason or '-'}")
async def test_a_domain_error_comes_back_equal(
    start_echo: StartEcho, raised: errors.DomainError
) -> None:
    servicer, port = await start_echo(access_log=False)
    servicer.fail_first = 1
    servicer.failure = raised
    call_error = await _failed_call(port, once=True)
    assert call_error.code() == raised.code
    back = from_rpc_error(call_error, service="echo")
    assert type(back) is type(raised)
    assert back == raised
    assert (back.message, back.reason, back.metadata) == (
        raised.message,
        raised.reason,
        raised.metadata,
    )
    assert getattr(back, "violations", None) == getattr(raised, "violations", None)
    assert getattr(back, "retry_after_seconds", None) == getattr(
        raised, "retry_after_seconds", None
    )


async def test_field_rule_violations_come_back_with_their_fields(start_echo: StartEcho) -> None:
    # The validation layer's own InvalidArgument, not one the handler raised.
    _, port = await start_echo(access_log=False)
    back = from_rpc_error(await _failed_call(port, message=""), service="echo")
    assert isinstance(back, errors.InvalidArgument)
    assert back.reason == "INVALID_REQUEST"
    assert [(v.field, v.reason) for v in back.violations] == [("message", "string.min_len")]


# ------------------------------------------- codes no domain error is sent as


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNAVAILABLE,
    ],
    ids=lambda code: code.name,
)
async def test_a_failure_that_names_no_domain_error_is_unavailable_without_its_message(
    start_aborting: StartAborting, code: grpc.StatusCode
) -> None:
    servicer, port = await start_aborting()
    servicer.code, servicer.message = code, SECRET
    call_error = await _failed_call(port)
    assert call_error.code() == code
    back = from_rpc_error(call_error, service="users")
    assert back == errors.Unavailable(
        f"users failed ({code.name})",
        reason=DEPENDENCY_FAILED,
        metadata={"dependency": "users", "code": code.name},
    )
    assert "hunter2" not in repr(back)


async def test_a_remote_bug_is_unavailable_without_its_trace(start_echo: StartEcho) -> None:
    _, port = await start_echo(access_log=False)
    call_error = await _failed_call(port, message="bug")
    assert call_error.code() == grpc.StatusCode.INTERNAL
    back = from_rpc_error(call_error, service="echo")
    assert back.code == grpc.StatusCode.UNAVAILABLE
    assert back.message == "echo failed (INTERNAL)"
    assert "trace" not in back.message


async def test_a_late_answer_is_unavailable(start_echo: StartEcho) -> None:
    _, port = await start_echo(access_log=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Echo(echo_pb2.EchoRequest(message="sleep:2"), timeout=0.1)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    back = from_rpc_error(raised.value, service="echo")
    assert (back.code, back.message) == (
        grpc.StatusCode.UNAVAILABLE,
        "echo failed (DEADLINE_EXCEEDED)",
    )


async def test_an_unreachable_server_is_unavailable_without_its_address() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    call_error = await _failed_call(port)
    assert call_error.code() == grpc.StatusCode.UNAVAILABLE
    back = from_rpc_error(call_error, service="users")
    assert back == errors.Unavailable(
        "users failed (UNAVAILABLE)",
        reason=DEPENDENCY_FAILED,
        metadata={"dependency": "users", "code": "UNAVAILABLE"},
    )
    assert str(port) not in back.message


async def test_out_of_range_stays_the_callers_mistake(start_aborting: StartAborting) -> None:
    servicer, port = await start_aborting()
    servicer.code, servicer.message = grpc.StatusCode.OUT_OF_RANGE, "page 9 is past the end"
    back = from_rpc_error(await _failed_call(port), service="catalog")
    assert back == errors.InvalidArgument("page 9 is past the end", reason="OUT_OF_RANGE")


# ------------------------------------------------------ through a second hop


class ForwardingEcho(echo_pb2_grpc.EchoServiceServicer):
    """Passes each call on to another EchoService, as browse does with users."""

    def __init__(self, forward: echo_pb2_grpc.EchoServiceStub) -> None:
        self._forward = forward

    async def EchoOnce(
        self, request: echo_pb2.EchoOnceRequest, context: grpc.aio.ServicerContext
    ) -> echo_pb2.EchoOnceResponse:
        try:
            response: echo_pb2.EchoOnceResponse = await self._forward.EchoOnce(request, timeout=5)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error, service="echo") from error
        return response


@pytest.mark.parametrize(
    "raised",
    [RAISED[3], RAISED[6]],
    ids=["FailedPrecondition", "ResourceExhausted"],
)
async def test_a_refusal_reaches_the_first_caller_as_it_was_raised_two_hops_away(
    start_echo: StartEcho, raised: errors.DomainError
) -> None:
    inner, inner_port = await start_echo(access_log=False)
    inner.fail_first = 1
    inner.failure = raised
    async with grpc.aio.insecure_channel(f"127.0.0.1:{inner_port}") as inner_channel:
        servicer = ForwardingEcho(echo_pb2_grpc.EchoServiceStub(inner_channel))
        outer, outer_port = await runtime.create_server(
            server_config("front", access_log=False),
            lambda s: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
        )
        try:
            call_error = await _failed_call(outer_port, once=True)
        finally:
            await runtime.stop(outer, grace=0)
    assert call_error.code() == raised.code
    assert from_rpc_error(call_error, service="front") == raised
