"""RecommendationService over gRPC: unpack the request, call the domain, return its message.

Field rules are enforced by the validation interceptor, errors mapped by the
error interceptor. Every RPC forwards the caller's token to the users service,
which decides whether the caller owns the profile (services/recommendations/domain.py).
"""

from __future__ import annotations

import grpc

from interceptors.auth import require_account_id
from services.recommendations.domain import RecommendationsDomain
from services.runtime.callers import caller_metadata
from services.runtime.sagas import require_orchestrator, settings_of, step_key
from streammesh.recommendations.v1 import recommendations_pb2 as pb
from streammesh.recommendations.v1 import recommendations_pb2_grpc


class RecommendationServicer(recommendations_pb2_grpc.RecommendationServiceServicer):
    def __init__(self, domain: RecommendationsDomain) -> None:
        self._domain = domain

    async def ListRecommendations(
        self, request: pb.ListRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRecommendationsResponse:
        return await self._domain.list_recommendations(
            require_account_id(),
            request.profile_id,
            request.page_size,
            request.page_token,
            caller_metadata(context),
        )

    async def ListSimilarTitles(
        self, request: pb.ListSimilarTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSimilarTitlesResponse:
        return await self._domain.list_similar(
            require_account_id(),
            request.profile_id,
            request.title_id,
            request.page_size,
            request.page_token,
            caller_metadata(context),
        )

    async def RefreshRecommendations(
        self, request: pb.RefreshRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefreshRecommendationsResponse:
        return await self._domain.refresh(
            require_account_id(), request.profile_id, caller_metadata(context)
        )

    async def ApplyProfileSettings(
        self, request: pb.ApplyProfileSettingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApplyProfileSettingsResponse:
        require_orchestrator(require_account_id())
        return await self._domain.apply_profile_settings(
            step_key(request.saga_id, request.step),
            request.profile_id,
            settings_of(request.settings),
        )

    async def PurgeAccountData(
        self, request: pb.PurgeAccountDataRequest, context: grpc.aio.ServicerContext
    ) -> pb.PurgeAccountDataResponse:
        require_orchestrator(require_account_id())
        return await self._domain.purge_account(
            step_key(request.saga_id, request.step), list(request.profile_ids)
        )
