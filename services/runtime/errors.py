"""Domain errors: what handlers and stores raise instead of touching gRPC status.

One interceptor (``interceptors.errors``) turns these into a gRPC status with
``google.rpc`` details, and on the calling side
:func:`services.runtime.rpc_errors.from_rpc_error` turns a failed call back
into one; nothing else maps errors. Each class names the status it becomes,
so a handler reads as domain logic::

    raise FailedPrecondition("an account has at most 5 profiles",
                             reason="PROFILE_LIMIT_REACHED")
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field, as in ``google.rpc.BadRequest.FieldViolation``."""

    field: str
    description: str
    reason: str = ""


@dataclass
class DomainError(Exception):
    """Base of every error a caller may see; never carries a stack trace out."""

    message: str
    # Machine-readable cause for ``google.rpc.ErrorInfo.reason`` (UPPER_SNAKE).
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    code: grpc.StatusCode = field(default=grpc.StatusCode.UNKNOWN, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass
class InvalidArgument(DomainError):
    """The request is malformed; ``violations`` names each bad field."""

    violations: list[FieldViolation] = field(default_factory=list)
    code: grpc.StatusCode = field(default=grpc.StatusCode.INVALID_ARGUMENT, init=False)

    @classmethod
    def for_field(cls, name: str, description: str, reason: str = "") -> InvalidArgument:
        return cls(
            f"{name}: {description}",
            reason=reason or "INVALID_FIELD",
            violations=[FieldViolation(name, description, reason)],
        )


@dataclass
class NotFound(DomainError):
    code: grpc.StatusCode = field(default=grpc.StatusCode.NOT_FOUND, init=False)


@dataclass
class AlreadyExists(DomainError):
    code: grpc.StatusCode = field(default=grpc.StatusCode.ALREADY_EXISTS, init=False)


@dataclass
class FailedPrecondition(DomainError):
    """The request is valid but the system's state forbids it."""

    violations: list[FieldViolation] = field(default_factory=list)
    code: grpc.StatusCode = field(default=grpc.StatusCode.FAILED_PRECONDITION, init=False)


@dataclass
class Unauthenticated(DomainError):
    code: grpc.StatusCode = field(default=grpc.StatusCode.UNAUTHENTICATED, init=False)


@dataclass
class PermissionDenied(DomainError):
    code: grpc.StatusCode = field(default=grpc.StatusCode.PERMISSION_DENIED, init=False)


@dataclass
class ResourceExhausted(DomainError):
    """A limit was hit; ``retry_after_seconds`` becomes ``google.rpc.RetryInfo``
    and the ``grpc-retry-pushback-ms`` trailer clients honour."""

    retry_after_seconds: float = 0.0
    code: grpc.StatusCode = field(default=grpc.StatusCode.RESOURCE_EXHAUSTED, init=False)


@dataclass
class Unavailable(DomainError):
    """A dependency (database, another service) cannot be reached right now."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.UNAVAILABLE, init=False)
