"""HistoryService over gRPC: unpack the request, call the domain, return its message.

Field rules of the contract are enforced by the validation interceptor; errors
are domain errors mapped to status codes by the error interceptor. The owner
RPCs forward the caller's token to the users service, which decides whether
the caller owns the profile (services/history/domain.py).
"""

from __future__ import annotations

from typing import Final

import grpc

from interceptors.auth import require_account_id
from services.history.domain import HistoryDomain
from services.runtime.callers import caller_metadata
from services.runtime.sagas import require_orchestrator, step_key
from streammesh.history.v1 import history_pb2, history_pb2_grpc

SERVICE_NAME: Final = history_pb2.DESCRIPTOR.services_by_name["HistoryService"].full_name


class HistoryServicer(history_pb2_grpc.HistoryServiceServicer):
    def __init__(self, domain: HistoryDomain) -> None:
        self._domain = domain

    async def RecordView(
        self, request: history_pb2.RecordViewRequest, context: grpc.aio.ServicerContext
    ) -> history_pb2.View:
        return await self._domain.record_view(
            require_account_id(), request.profile_id, request.view, caller_metadata(context)
        )

    async def ListHistory(
        self, request: history_pb2.ListHistoryRequest, context: grpc.aio.ServicerContext
    ) -> history_pb2.ListHistoryResponse:
        require_account_id()
        return await self._domain.list_history(
            request.profile_id, request.page_size, request.page_token, caller_metadata(context)
        )

    async def ListContinueWatching(
        self, request: history_pb2.ListContinueWatchingRequest, context: grpc.aio.ServicerContext
    ) -> history_pb2.ListContinueWatchingResponse:
        require_account_id()
        return await self._domain.list_continue_watching(
            request.profile_id, request.page_size, request.page_token, caller_metadata(context)
        )

    async def ListTrending(
        self, request: history_pb2.ListTrendingRequest, context: grpc.aio.ServicerContext
    ) -> history_pb2.ListTrendingResponse:
        return await self._domain.list_trending(
            request.country,
            request.date,
            request.window,
            request.max_maturity,
            request.page_size,
            request.page_token,
        )

    async def PurgeAccountData(
        self, request: history_pb2.PurgeAccountDataRequest, context: grpc.aio.ServicerContext
    ) -> history_pb2.PurgeAccountDataResponse:
        require_orchestrator(require_account_id())
        return await self._domain.purge_account(
            step_key(request.saga_id, request.step), list(request.profile_ids)
        )
