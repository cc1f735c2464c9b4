"""AnalyticsService over gRPC: unpack the request, call the domain, return its message.

Field rules of the contract are enforced by the validation interceptor; errors
are domain errors mapped to status codes by the error interceptor.
"""

from __future__ import annotations

import grpc

from services.analytics.domain import AnalyticsDomain
from services.runtime.sagas import step_key
from streammesh.analytics.v1 import analytics_pb2, analytics_pb2_grpc


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, domain: AnalyticsDomain) -> None:
        self._domain = domain

    async def GetTitleStats(
        self, request: analytics_pb2.GetTitleStatsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.TitleStats:
        return await self._domain.title_stats(
            request.title_id, request.start_date, request.end_date
        )

    async def ListTopTitles(
        self, request: analytics_pb2.ListTopTitlesRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.ListTopTitlesResponse:
        return await self._domain.top_titles(
            request.country,
            request.genre,
            request.start_date,
            request.end_date,
            request.page_size,
            request.page_token,
        )

    async def ListDailyEngagement(
        self,
        request: analytics_pb2.ListDailyEngagementRequest,
        context: grpc.aio.ServicerContext,
    ) -> analytics_pb2.ListDailyEngagementResponse:
        return await self._domain.daily_engagement(
            request.start_date, request.end_date, request.page_size, request.page_token
        )

    async def AnonymiseAccountData(
        self, request: analytics_pb2.AnonymiseAccountDataRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.AnonymiseAccountDataResponse:
        # Internal like every RPC here: no auth interceptor, mesh-internal port.
        return await self._domain.anonymise_account(
            step_key(request.saga_id, request.step),
            request.account_id,
            list(request.profile_ids),
        )
