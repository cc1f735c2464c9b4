"""The recommendation service's use cases: list, similar titles, refresh.

Ownership is the users service's: every call first reads the profile (and its
account, for the country) from it WITH THE CALLER'S OWN TOKEN
(services/runtime/callers.py), so a profile of another account is refused
there (PERMISSION_DENIED, or NOT_FOUND) and that answer comes back as it is,
on this service's port as through the edge. The profile's answer carries its
maturity limit, read on every call, so a lowered limit applies at once.

Every item returned passes :meth:`Engine.visible` for the profile's current
context once more, whatever list it came from (a stored list, a title's
stored similar titles), so a kids profile never sees a title above its limit.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from services import ratings
from services.recommendations.engine import Engine
from services.recommendations.models import (
    BECAUSE_YOU_WATCHED,
    MORE_LIKE_GENRE,
    POPULAR_IN_COUNTRY,
    Context,
    Scored,
)
from services.recommendations.store import StoredList
from services.runtime import callers, page_tokens
from services.runtime.errors import NotFound
from services.runtime.sagas import ProfileSettings, StepKey, stricter_limit
from streammesh.recommendations.v1 import recommendations_pb2 as pb
from streammesh.users.v1 import users_pb2, users_pb2_grpc

if TYPE_CHECKING:
    from services.recommendations.config import Config

_OFFSET: Final = struct.Struct(">I")
_KINDS: Final = {
    BECAUSE_YOU_WATCHED: pb.REASON_KIND_BECAUSE_YOU_WATCHED,
    POPULAR_IN_COUNTRY: pb.REASON_KIND_POPULAR_IN_COUNTRY,
    MORE_LIKE_GENRE: pb.REASON_KIND_MORE_LIKE_GENRE,
}


@dataclass(frozen=True)
class Limits:
    default_page_size: int = 20
    max_page_size: int = 100
    dependency_timeout_seconds: float = 2.0

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(
            config.default_page_size, config.max_page_size, config.dependency_timeout_seconds
        )


class RecommendationsDomain:
    def __init__(
        self, engine: Engine, users: users_pb2_grpc.UserServiceStub, limits: Limits | None = None
    ) -> None:
        self._engine = engine
        self._users = users
        self._limits = limits or Limits()

    async def list_recommendations(
        self,
        account_id: str,
        profile_id: str,
        page_size: int,
        page_token: str,
        caller: callers.Metadata,
    ) -> pb.ListRecommendationsResponse:
        context = await self._context(account_id, profile_id, caller)
        query = page_tokens.fingerprint("recommendations", profile_id)
        offset = _offset(page_token, query)
        stored = await self._engine.store.get_list(profile_id)
        if stored is None or stored.context != context:
            stored = await self._engine.refresh(profile_id, context)
        items = [i for i in stored.items if self._engine.visible(i.title_id, context)]
        page, token = self._page(items, offset, page_size, query)
        return pb.ListRecommendationsResponse(
            recommendations=[_message(i, stored.compute_time_ms) for i in page],
            next_page_token=token,
        )

    async def list_similar(
        self,
        account_id: str,
        profile_id: str,
        title_id: str,
        page_size: int,
        page_token: str,
        caller: callers.Metadata,
    ) -> pb.ListSimilarTitlesResponse:
        title_id = title_id.lower()
        context = await self._context(account_id, profile_id, caller)
        if self._engine.catalog.title(title_id) is None:
            raise NotFound(
                f"title {title_id} is not in the catalog",
                reason="TITLE_NOT_FOUND",
                metadata={"title_id": title_id},
            )
        query = page_tokens.fingerprint("similar", profile_id, title_id)
        offset = _offset(page_token, query)
        watched = {i.title_id for i in self._engine.recommender.history(profile_id)}
        items = [
            i
            for i in await self._engine.similar(title_id)
            if i.title_id not in watched and self._engine.visible(i.title_id, context)
        ]
        page, token = self._page(items, offset, page_size, query)
        return pb.ListSimilarTitlesResponse(
            similar_titles=[_message(i, 0) for i in page], next_page_token=token
        )

    async def refresh(
        self, account_id: str, profile_id: str, caller: callers.Metadata
    ) -> pb.RefreshRecommendationsResponse:
        context = await self._context(account_id, profile_id, caller)
        stored = await self._engine.refresh(profile_id, context)
        response = pb.RefreshRecommendationsResponse(recommendation_count=len(stored.items))
        response.compute_time.FromMilliseconds(stored.compute_time_ms)
        return response

    # ------------------------------------------------------------ saga steps
    async def apply_profile_settings(
        self, key: StepKey, profile_id: str, settings: ProfileSettings
    ) -> pb.ApplyProfileSettingsResponse:
        """Keeps the profile's new settings (idempotent on ``key``) and drops the
        titles above their limit from its stored list at once; a raised limit
        takes effect at the list's next computation."""
        store = self._engine.store
        replayed = await store.apply_profile_settings(key, profile_id, settings)
        # A filter, so applying it again changes nothing: safe on a replay too.
        stored = await store.get_list(profile_id)
        current = await store.profile_settings(profile_id)
        if stored is not None and current is not None:
            limit = stricter_limit(stored.context.max_maturity, current)
            context = Context(limit, stored.context.country_code)
            kept = tuple(i for i in stored.items if self._engine.visible(i.title_id, context))
            if kept != stored.items or context != stored.context:
                await store.save_list(StoredList(profile_id, context, stored.compute_time_ms, kept))
        return pb.ApplyProfileSettingsResponse(replayed=replayed)

    async def purge_account(
        self, key: StepKey, profile_ids: list[str]
    ) -> pb.PurgeAccountDataResponse:
        deleted, replayed = await self._engine.store.purge_profiles(key, profile_ids)
        for profile_id in profile_ids:
            self._engine.recommender.forget(profile_id)
        return pb.PurgeAccountDataResponse(deleted_count=deleted, replayed=replayed)

    # ------------------------------------------------------------ helpers
    async def _context(self, account_id: str, profile_id: str, caller: callers.Metadata) -> Context:
        """The profile's limit and its account's country, if the caller owns it."""
        timeout = self._limits.dependency_timeout_seconds
        profile_call: Awaitable[users_pb2.Profile] = callers.call(
            self._users.GetProfile(
                users_pb2.GetProfileRequest(profile_id=profile_id),
                metadata=caller,
                timeout=timeout,
            ),
            service="users",
        )
        account_call: Awaitable[users_pb2.Account] = callers.call(
            self._users.GetAccount(
                users_pb2.GetAccountRequest(account_id=account_id),
                metadata=caller,
                timeout=timeout,
            ),
            service="users",
        )
        profile, account = await asyncio.gather(profile_call, account_call, return_exceptions=True)
        # The profile's refusal first: it says whether the caller owns it.
        if isinstance(profile, BaseException):
            raise profile
        if isinstance(account, BaseException):
            raise account
        # The stricter of the live profile and this service's copy: while a
        # profile-update saga runs, neither may show more than the other allows.
        copy = await self._engine.store.profile_settings(profile_id)
        return Context(stricter_limit(_limit_of(profile), copy), account.country_code)

    def _page(
        self, items: list[Scored], offset: int, page_size: int, query: bytes
    ) -> tuple[list[Scored], str]:
        size = page_size if page_size > 0 else self._limits.default_page_size
        size = min(size, self._limits.max_page_size)
        page = items[offset : offset + size]
        token = ""
        if offset + size < len(items):
            token = page_tokens.encode(query, _OFFSET.pack(offset + size))
        return page, token


def _offset(token: str, query: bytes) -> int:
    position = page_tokens.decode(token, query)
    if position is None:
        return 0
    if len(position) != _OFFSET.size:
        return 0
    return int(_OFFSET.unpack(position)[0])


def _limit_of(profile: users_pb2.Profile) -> str:
    """The profile's limit; the default of its kind when it has none (fail closed)."""
    if ratings.is_known(profile.maturity_rating):
        return str(profile.maturity_rating)
    return ratings.KIDS_LIMIT if profile.kids_profile else ratings.DEFAULT_LIMIT


def _message(item: Scored, compute_time_ms: int) -> pb.Recommendation:
    message = pb.Recommendation(
        title_id=item.title_id,
        score=item.score,
        reason=item.reason,
        reason_kind=_KINDS.get(item.kind, pb.REASON_KIND_UNSPECIFIED),
        source_title_id=item.source_title_id,
        reason_subject=item.subject,
    )
    if compute_time_ms:
        message.compute_time.FromMilliseconds(compute_time_ms)
    return message


__all__ = ["Limits", "RecommendationsDomain", "StoredList"]
