"""EchoService handlers."""

from __future__ import annotations

import grpc.aio

from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc

SERVICE_NAME: str = echo_pb2.DESCRIPTOR.services_by_name["EchoService"].full_name


class EchoServicer(echo_pb2_grpc.EchoServiceServicer):
    """Echoes locally, or through ``forward`` (another EchoService) when given one."""

    def __init__(self, forward: echo_pb2_grpc.EchoServiceStub | None = None) -> None:
        self._forward = forward
        self._count = 0

    async def Echo(
        self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext
    ) -> echo_pb2.EchoResponse:
        if self._forward is not None:
            response: echo_pb2.EchoResponse = await self._forward.Echo(request)
            return response
        return echo_pb2.EchoResponse(message=request.message)

    async def EchoOnce(
        self, request: echo_pb2.EchoOnceRequest, context: grpc.aio.ServicerContext
    ) -> echo_pb2.EchoOnceResponse:
        self._count += 1
        return echo_pb2.EchoOnceResponse(message=request.message, count=self._count)
