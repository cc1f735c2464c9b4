"""Client side: the one place where a failed call becomes a domain error again.

A handler that calls another service and cannot handle its failure raises
``from_rpc_error(error, service="users")``; the error interceptor of its own
server then sends it on like any domain error. It is the inverse of
``interceptors.errors.status_for``: the code picks the class, and the
message, the ``ErrorInfo`` reason and metadata, the ``BadRequest`` field
violations and the ``RetryInfo`` delay come back as they were raised.

By the failed call's code (``service`` names the dependency in the
messages written here):

- INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION,
  UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED, and UNAVAILABLE
  with our ``ErrorInfo``: the domain class of that code, with the remote's
  message and details. Whether a dependency's refusal is also our caller's
  (browse passes the users service's on) is the handler's decision.
- OUT_OF_RANGE: InvalidArgument with the remote's message (reason
  ``OUT_OF_RANGE`` unless it sent one): the caller's mistake stays one.
- Every other code: DEADLINE_EXCEEDED, CANCELLED, ABORTED, INTERNAL,
  UNKNOWN, DATA_LOSS, UNIMPLEMENTED, and UNAVAILABLE without ``ErrorInfo``
  (the transport's: connection refused, a server going away): Unavailable
  ``"<service> failed (<CODE>)"``, reason ``DEPENDENCY_FAILED``, metadata
  ``dependency`` and ``code``, and none of the remote's message.

Why the last group is Unavailable: those codes say nothing about the
caller's request, only that the dependency could not answer it now, which
is what UNAVAILABLE means to our callers, and they retry it (an idempotent
method, within their deadline and their retry budget, see
interceptors.retry). A DEADLINE_EXCEEDED seen here is the dependency's own
per-call timeout more often than our caller's deadline (when that one is
gone, the caller's own clock has ended the call anyway). A dependency's
INTERNAL or UNKNOWN is its bug, not ours, and not our caller's mistake.
The remote's message is dropped for these codes: an INTERNAL or UNKNOWN
message may carry the remote's exception text (stock grpc puts it there),
and a transport error carries addresses.

The reason ``status_for`` writes for a domain error raised without one is
the code's name; it comes back as ``""``, so the round trip is exact.
Details that cannot be read (garbage bytes, a status of another code) are
ignored and the error keeps what the code and message say.

This module imports neither ``interceptors`` nor the server or clients
runtime, so anything may call it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from services.runtime import errors

# The trailer grpc-status (and interceptors.errors) carry google.rpc.Status in.
DETAILS_TRAILER = "grpc-status-details-bin"
# Milliseconds until a ResourceExhausted caller may come back (gRFC A6).
PUSHBACK_TRAILER = "grpc-retry-pushback-ms"
# ErrorInfo.reason of a dependency's failure that says nothing about the request.
DEPENDENCY_FAILED = "DEPENDENCY_FAILED"

# Every domain error class, by the status code it is sent as.
DOMAIN_CLASSES: tuple[type[errors.DomainError], ...] = (
    errors.InvalidArgument,
    errors.NotFound,
    errors.AlreadyExists,
    errors.FailedPrecondition,
    errors.Unauthenticated,
    errors.PermissionDenied,
    errors.ResourceExhausted,
    errors.Unavailable,
)


def code_of(kind: type[errors.DomainError]) -> grpc.StatusCode:
    """The status code a domain error class is sent as."""
    code: grpc.StatusCode = next(f for f in dataclasses.fields(kind) if f.name == "code").default
    return code


_BY_CODE: dict[grpc.StatusCode, type[errors.DomainError]] = {
    code_of(kind): kind for kind in DOMAIN_CLASSES
}
# A code no domain error is sent as, but that names the caller's mistake.
_CALLER_MISTAKES: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidArgument,
}
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


@dataclasses.dataclass
class _Details:
    """What the ``google.rpc`` details of a call say."""

    info: error_details_pb2.ErrorInfo | None = None
    violations: list[errors.FieldViolation] = dataclasses.field(default_factory=list)
    retry_after_seconds: float | None = None


def from_rpc_error(error: grpc.RpcError, *, service: str = "a dependency") -> errors.DomainError:
    """The domain error a failed call to ``service`` stands for (see the module docstring)."""
    code = _code(error)
    trailers = _trailers(error)
    details = _details(code, trailers)
    kind = _BY_CODE.get(code)
    if kind is errors.Unavailable and details.info is None:
        kind = None  # not one of our servers' Unavailable: a transport failure
    if kind is None:
        kind = _CALLER_MISTAKES.get(code)
    if kind is None:
        return errors.Unavailable(
            f"{service} failed ({code.name})",
            reason=DEPENDENCY_FAILED,
            metadata={"dependency": service, "code": code.name},
        )
    reason = "" if details.info is None else details.info.reason
    if reason == code.name:
        reason = ""  # status_for's stand-in for "no reason"
    if kind is not _BY_CODE.get(code):
        reason = reason or code.name  # OUT_OF_RANGE says so in the reason
    fields: dict[str, Any] = {
        "reason": reason,
        "metadata": {} if details.info is None else dict(details.info.metadata),
    }
    init = {f.name for f in dataclasses.fields(kind) if f.init}
    if "violations" in init:
        fields["violations"] = details.violations
    if "retry_after_seconds" in init:
        retry_after = details.retry_after_seconds
        if retry_after is None:
            retry_after = _pushback_seconds(trailers)
        fields["retry_after_seconds"] = retry_after
    return kind(_message(error), **fields)


def _code(error: grpc.RpcError) -> grpc.StatusCode:
    code_method = getattr(error, "code", None)
    raw = code_method() if callable(code_method) else None
    if isinstance(raw, grpc.StatusCode):
        return raw
    if isinstance(raw, int):
        return _BY_NUMBER.get(raw, grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.UNKNOWN


def _message(error: grpc.RpcError) -> str:
    details_method = getattr(error, "details", None)
    message = details_method() if callable(details_method) else None
    return message if isinstance(message, str) else ""


def _trailers(error: grpc.RpcError) -> tuple[tuple[str, str | bytes], ...]:
    trailers_method = getattr(error, "trailing_metadata", None)
    trailers = trailers_method() if callable(trailers_method) else None
    return tuple(trailers or ())


def _details(code: grpc.StatusCode, trailers: Iterable[tuple[str, str | bytes]]) -> _Details:
    found = _Details()
    status = _status(code, trailers)
    if status is None:
        return found
    for detail in status.details:
        try:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    found.info = info
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                if detail.Unpack(bad_request):
                    found.violations.extend(
                        errors.FieldViolation(v.field, v.description, v.reason)
                        for v in bad_request.field_violations
                    )
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry_info = error_details_pb2.RetryInfo()
                if detail.Unpack(retry_info):
                    found.retry_after_seconds = retry_info.retry_delay.ToNanoseconds() / 1e9
        except DecodeError:
            continue  # one unreadable detail does not spoil the others
    return found


def _status(
    code: grpc.StatusCode, trailers: Iterable[tuple[str, str | bytes]]
) -> status_pb2.Status | None:
    """The call's ``google.rpc.Status``, if it has one that is about this call."""
    for key, value in trailers:
        if key != DETAILS_TRAILER or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return None
        # Details of another code (a proxy rewrote the status) are not this error's.
        return status if status.code == code.value[0] else None
    return None


def _pushback_seconds(trailers: Iterable[tuple[str, str | bytes]]) -> float:
    for key, value in trailers:
        if key != PUSHBACK_TRAILER:
            continue
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        try:
            milliseconds = int(text)
        except ValueError:
            return 0.0
        return max(milliseconds, 0) / 1000
    return 0.0
