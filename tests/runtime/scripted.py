"""A scripted EchoService for runtime tests: failures, bugs, delays and forwarding on demand."""

from __future__ import annotations

import asyncio
import collections
import logging
import random

import grpc.aio

from services.runtime import errors
from streammesh.echo.v1 import echo_pb2, echo_pb2_grpc

log = logging.getLogger("tests.scripted")


class ScriptedEcho(echo_pb2_grpc.EchoServiceServicer):
    """Echo whose behaviour the test sets: ``bug`` raises, ``sleep:<s>`` waits
    (on the last hop: a forwarding server passes the request on at once).

    ``fail_first`` answers the first N calls of each method with ``failure``;
    ``failure_rate`` fails that share of calls (seeded, so runs repeat).
    """

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.fail_first = 0
        self.failure: errors.DomainError = errors.Unavailable("injected failure")
        self.failure_rate = 0.0
        self.random = random.Random(1234)
        self.forward: echo_pb2_grpc.EchoServiceStub | None = None
        self.seen_time_remaining: list[float | None] = []

    def _maybe_fail(self, method: str) -> None:
        self.calls[method] += 1
        if self.calls[method] <= self.fail_first:
            raise self.failure
        if self.failure_rate and self.random.random() < self.failure_rate:
            raise self.failure

    async def Echo(
        self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext
    ) -> echo_pb2.EchoResponse:
        self.seen_time_remaining.append(context.time_remaining())
        self._maybe_fail("Echo")
        if request.message == "bug":
            raise ZeroDivisionError("a handler bug the caller must never see")
        if self.forward is not None:
            response: echo_pb2.EchoResponse = await self.forward.Echo(request)
            return response
        if request.message.startswith("sleep:"):
            log.info("slow call started")
            await asyncio.sleep(float(request.message.removeprefix("sleep:")))
        return echo_pb2.EchoResponse(message=request.message)

    async def EchoOnce(
        self, request: echo_pb2.EchoOnceRequest, context: grpc.aio.ServicerContext
    ) -> echo_pb2.EchoOnceResponse:
        self._maybe_fail("EchoOnce")
        return echo_pb2.EchoOnceResponse(message=request.message, count=self.calls["EchoOnce"])
