"""SearchService over gRPC: unpack the request, call the domain, return its message.

Field rules of the contract are enforced by the validation interceptor; errors
are domain errors mapped to status codes by the error interceptor. Search and
Suggest are public; with a ``profile_id`` the caller's token is forwarded to
the users service, which decides whether the caller owns the profile
(services/search/domain.py).
"""

from __future__ import annotations

from typing import Final

import grpc

from services.runtime.callers import caller_metadata
from services.runtime.sagas import settings_of, step_key
from services.search.domain import SearchDomain
from streammesh.search.v1 import search_pb2, search_pb2_grpc

SERVICE_NAME: Final = search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, domain: SearchDomain) -> None:
        self._domain = domain

    async def Search(
        self, request: search_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.SearchResponse:
        return await self._domain.search(request, caller_metadata(context))

    async def Suggest(
        self, request: search_pb2.SuggestRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.SuggestResponse:
        return await self._domain.suggest(request, caller_metadata(context))

    async def IndexTitle(
        self, request: search_pb2.IndexTitleRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.IndexTitleResponse:
        await self._domain.index_title(request.document)
        return search_pb2.IndexTitleResponse()

    async def DeleteTitleDocument(
        self, request: search_pb2.DeleteTitleDocumentRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.DeleteTitleDocumentResponse:
        await self._domain.delete_title(request.title_id)
        return search_pb2.DeleteTitleDocumentResponse()

    # Saga commands (services/users/sagas). Like IndexTitle, internal RPCs of a
    # service without an auth interceptor: the edge never routes them and the
    # port is reachable only inside the mesh.
    async def ApplyProfileSettings(
        self, request: search_pb2.ApplyProfileSettingsRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.ApplyProfileSettingsResponse:
        return await self._domain.apply_profile_settings(
            step_key(request.saga_id, request.step),
            request.profile_id,
            settings_of(request.settings),
        )

    async def PurgeAccountData(
        self, request: search_pb2.PurgeAccountDataRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.PurgeAccountDataResponse:
        return await self._domain.purge_account(
            step_key(request.saga_id, request.step), list(request.profile_ids)
        )
