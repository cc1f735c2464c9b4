"""CatalogService over gRPC: unpack the request, call the domain, return its message.

Field rules of the contract are enforced by the validation interceptor; errors
are domain errors mapped to status codes by the error interceptor. Reads are
public; the writes are internal (the edge routes none of them).
"""

from __future__ import annotations

from typing import Final

import grpc

from services.catalog.domain import CatalogDomain
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc

SERVICE_NAME: Final = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, domain: CatalogDomain) -> None:
        self._domain = domain

    async def GetTitle(
        self, request: catalog_pb2.GetTitleRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.Title:
        return await self._domain.get_title(request.title_id)

    async def BatchGetTitles(
        self, request: catalog_pb2.BatchGetTitlesRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.BatchGetTitlesResponse:
        titles, missing = await self._domain.batch_get_titles(request.title_ids)
        return catalog_pb2.BatchGetTitlesResponse(titles=titles, missing_title_ids=missing)

    async def ListTitles(
        self, request: catalog_pb2.ListTitlesRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListTitlesResponse:
        return await self._domain.list_titles(request)

    async def CreateTitle(
        self, request: catalog_pb2.CreateTitleRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.Title:
        return await self._domain.create_title(request)

    async def UpdateTitle(
        self, request: catalog_pb2.UpdateTitleRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.Title:
        return await self._domain.update_title(request)

    async def GetTitleMetadata(
        self, request: catalog_pb2.GetTitleMetadataRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.TitleMetadata:
        return await self._domain.get_metadata(request.title_id)

    async def UpdateTitleMetadata(
        self, request: catalog_pb2.UpdateTitleMetadataRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.TitleMetadata:
        return await self._domain.update_metadata(request.metadata)

    async def CreateArtworkUpload(
        self,
        request: catalog_pb2.CreateArtworkUploadRequest,
        context: grpc.aio.ServicerContext,
    ) -> catalog_pb2.CreateArtworkUploadResponse:
        return await self._domain.create_artwork_upload(request)

    async def CompleteArtworkUpload(
        self,
        request: catalog_pb2.CompleteArtworkUploadRequest,
        context: grpc.aio.ServicerContext,
    ) -> catalog_pb2.CompleteArtworkUploadResponse:
        return await self._domain.complete_artwork_upload(request)

    async def ListTitleAvailability(
        self,
        request: catalog_pb2.ListTitleAvailabilityRequest,
        context: grpc.aio.ServicerContext,
    ) -> catalog_pb2.ListTitleAvailabilityResponse:
        return await self._domain.list_availability(request)
