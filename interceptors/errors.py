"""Server side: the one place where exceptions become gRPC status.

- A :class:`~services.runtime.errors.DomainError` becomes its status code and
  message, with ``google.rpc`` details in ``grpc-status-details-bin``:
  ``ErrorInfo`` (reason, domain ``streammesh.<service>``, metadata) always,
  ``BadRequest`` field violations for InvalidArgument/FailedPrecondition, and
  ``RetryInfo`` plus the ``grpc-retry-pushback-ms`` trailer for
  ResourceExhausted (our clients' retry honours it, see interceptors.retry).
- A failed downstream call the handler did not handle keeps UNAVAILABLE and
  DEADLINE_EXCEEDED (the caller may retry or give up the same way); any other
  code becomes INTERNAL, because the downstream's NOT_FOUND is not ours.
- Anything else is a bug: the stack is logged with the trace id, and the
  caller gets INTERNAL "internal error (trace <id>)" and nothing more.

The inverse, a failed call back to a domain error on the calling side, is
:func:`services.runtime.rpc_errors.from_rpc_error`; tests/runtime/
test_error_roundtrip.py holds the two to each other.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
import grpc.aio
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from interceptors._base import UnaryBehavior, Wrap
from services.runtime import errors
from services.runtime.rpc_errors import PUSHBACK_TRAILER
from services.runtime.telemetry import current_trace_id

log = logging.getLogger("streammesh.errors")

# Downstream codes a handler may let escape as they are.
_PASS_THROUGH = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_for(error: errors.DomainError, domain: str) -> tuple[grpc.Status, float | None]:
    """The gRPC status (with details trailer) for a domain error, and its pushback."""
    code = error.code
    details = [
        _packed(
            error_details_pb2.ErrorInfo(
                reason=error.reason or code.name,
                domain=domain,
                metadata=dict(error.metadata),
            )
        )
    ]
    violations = getattr(error, "violations", None)
    if violations:
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description, reason=v.reason
                        )
                        for v in violations
                    ]
                )
            )
        )
    pushback: float | None = None
    if isinstance(error, errors.ResourceExhausted) and error.retry_after_seconds > 0:
        pushback = error.retry_after_seconds
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(pushback * 1e9))
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    status = rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=error.message, details=details)
    )
    return status, pushback


def wrapper(service: str) -> Wrap:
    """A wrap that maps what a handler raises to a status, with ``google.rpc`` details."""
    domain = f"streammesh.{service}"

    def wrap(behavior: UnaryBehavior, full_method: str) -> UnaryBehavior:
        async def mapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await behavior(request, context)
            except grpc.aio.AbortError:
                # The handler (or a stock servicer) set its own status already.
                raise
            except errors.DomainError as error:
                status, pushback = status_for(error, domain)
                trailers = tuple(status.trailing_metadata)
                if pushback is not None:
                    trailers += ((PUSHBACK_TRAILER, str(int(pushback * 1000))),)
                await context.abort(status.code, status.details, trailers)
            except grpc.aio.AioRpcError as error:
                if error.code() in _PASS_THROUGH:
                    await context.abort(
                        error.code(), f"dependency failed: {error.details() or error.code().name}"
                    )
                await _abort_internal(context, full_method, error)
            except Exception as error:  # noqa: BLE001 - the one catch-all: a bug becomes INTERNAL
                await _abort_internal(context, full_method, error)
            raise AssertionError("unreachable: abort raises")  # pragma: no cover

        return mapped

    return wrap


async def _abort_internal(
    context: grpc.aio.ServicerContext, full_method: str, error: BaseException
) -> None:
    trace_id = current_trace_id() or "none"
    log.error(
        "unhandled %s in %s",
        type(error).__name__,
        full_method,
        exc_info=error,
        extra={"method": full_method},
    )
    status = rpc_status.to_status(
        status_pb2.Status(
            code=code_pb2.INTERNAL,
            message=f"internal error (trace {trace_id})",
        )
    )
    await context.abort(status.code, status.details, tuple(status.trailing_metadata))
