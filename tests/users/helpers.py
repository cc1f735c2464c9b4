"""Reading gRPC errors the way a client does: code, reason and field violations."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class RpcFailure:
    code: grpc.StatusCode
    message: str
    reason: str
    fields: list[str]
    retry_after_seconds: float


async def rpc_error(call: Awaitable[object]) -> RpcFailure:
    """Awaits ``call``, which must fail, and decodes its status details."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    error = raised.value
    reason, retry_after = "", 0.0
    fields: list[str] = []
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToTimedelta().total_seconds()
    return RpcFailure(error.code(), error.details() or "", reason, fields, retry_after)
