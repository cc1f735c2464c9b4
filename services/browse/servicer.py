"""BrowseService: validate, compose, map (the composing is in home.py)."""

from __future__ import annotations

import grpc

from interceptors.auth import require_account_id
from services.browse.home import HomeComposer
from streammesh.browse.v1 import browse_pb2, browse_pb2_grpc


class BrowseServicer(browse_pb2_grpc.BrowseServiceServicer):
    def __init__(self, composer: HomeComposer, default_cards_per_row: int) -> None:
        self._composer = composer
        self._default_cards = default_cards_per_row

    async def GetHome(
        self, request: browse_pb2.GetHomeRequest, context: grpc.aio.ServicerContext
    ) -> browse_pb2.Home:
        account_id = require_account_id()
        # The caller's token goes along, so the users service decides ownership.
        caller = [
            (key, value)
            for key, value in context.invocation_metadata() or ()
            if key == "authorization" and isinstance(value, str)
        ]
        return await self._composer.home(
            request.profile_id,
            account_id,
            request.cards_per_row or self._default_cards,
            caller,
        )
