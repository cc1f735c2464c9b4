"""The search service's use cases: search, suggestions, and the internal index writes.

Ratings (services/ratings.py): a request's ``max_maturity`` allows the
ratings at or below it (none given: every rating). With a ``profile_id`` the
profile's own limit caps them further, whatever ``max_maturity`` says: the
profile is read from the users service WITH THE CALLER'S OWN TOKEN
(services/runtime/callers.py), so a profile of another account is refused
there (PERMISSION_DENIED, or NOT_FOUND for one that does not exist) and the
refusal comes back to our caller as it was; a ``profile_id`` without a token
is UNAUTHENTICATED. The limit is read on every call, so a lowered limit
applies at once. The index never returns a title rated otherwise, in hits,
facets or suggestions (services/search/store.py).

Page tokens are bound to the query (its text, filters and allowed ratings)
and carry the offset of the next page; a token of another query is refused
with INVALID_ARGUMENT. Paging stops at the index's window (MAX_WINDOW).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from services import ratings
from services.runtime import callers, page_tokens
from services.runtime.errors import InvalidArgument, Unauthenticated
from services.runtime.sagas import ProfileSettings, StepKey, stricter_limit
from services.search.store import (
    MAX_LIMIT,
    MAX_SUGGESTIONS,
    MAX_WINDOW,
    Facets,
    SearchIndex,
    SearchQuery,
    TitleDoc,
)
from streammesh.search.v1 import search_pb2
from streammesh.users.v1 import users_pb2, users_pb2_grpc

if TYPE_CHECKING:
    from services.search.config import Config

# The kind of page token Search issues.
_SEARCH: Final = "search"
_OFFSET_BYTES: Final = 4
_KINDS: Final = {
    "title": search_pb2.SUGGESTION_KIND_TITLE,
    "person": search_pb2.SUGGESTION_KIND_PERSON,
}


@dataclass(frozen=True)
class Limits:
    """The bounds the domain applies (services/search/config.py)."""

    default_page_size: int = 20
    max_page_size: int = MAX_LIMIT
    default_suggestions: int = 10
    max_suggestions: int = MAX_SUGGESTIONS
    dependency_timeout_seconds: float = 2.0

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(
            default_page_size=config.default_page_size,
            max_page_size=min(config.max_page_size, MAX_LIMIT),
            default_suggestions=config.default_suggestions,
            max_suggestions=min(config.max_suggestions, MAX_SUGGESTIONS),
            dependency_timeout_seconds=config.dependency_timeout_seconds,
        )


class SearchDomain:
    def __init__(
        self,
        index: SearchIndex,
        users: users_pb2_grpc.UserServiceStub,
        limits: Limits | None = None,
    ) -> None:
        self._index = index
        self._users = users
        self._limits = limits or Limits()

    # ---------------------------------------------------------------- Search
    async def search(
        self, request: search_pb2.SearchRequest, caller: callers.Metadata
    ) -> search_pb2.SearchResponse:
        """One page of the titles matching the request, best first, with facets."""
        if (
            request.release_year_min
            and request.release_year_max
            and request.release_year_min > request.release_year_max
        ):
            raise InvalidArgument.for_field(
                "release_year_max",
                "is before release_year_min",
                reason="INVALID_YEAR_RANGE",
            )
        allowed = await self._allowed(request.max_maturity, request.profile_id, caller)
        fingerprint = page_tokens.fingerprint(
            _SEARCH,
            request.q,
            request.country,
            _ratings_key(allowed),
            request.content_type,
            request.genre,
            str(request.release_year_min),
            str(request.release_year_max),
        )
        offset = _offset(page_tokens.decode(request.page_token, fingerprint))
        size = request.page_size or self._limits.default_page_size
        limit = min(size, self._limits.max_page_size, MAX_WINDOW - offset)
        if limit < 1:
            raise InvalidArgument.for_field(
                "page_token", f"is past the last page (at most {MAX_WINDOW} results)"
            )
        page = await self._index.search(
            SearchQuery(
                text=request.q,
                country=request.country,
                allowed_ratings=allowed,
                content_type=request.content_type,
                genre=request.genre,
                year_min=request.release_year_min,
                year_max=request.release_year_max,
                limit=limit,
                offset=offset,
            )
        )
        following = offset + len(page.hits)
        next_token = ""
        if page.hits and following < min(page.total, MAX_WINDOW):
            next_token = page_tokens.encode(fingerprint, following.to_bytes(_OFFSET_BYTES, "big"))
        return search_pb2.SearchResponse(
            results=[
                search_pb2.SearchResult(
                    title_id=hit.title_id,
                    title=hit.title,
                    content_type=hit.content_type,
                    release_year=hit.release_year,
                    maturity_rating=hit.maturity_rating,
                    highlight=hit.highlight,
                    score=hit.score,
                )
                for hit in page.hits
            ],
            next_page_token=next_token,
            total_size=page.total,
            facets=facet_messages(page.facets),
        )

    # --------------------------------------------------------------- Suggest
    async def suggest(
        self, request: search_pb2.SuggestRequest, caller: callers.Metadata
    ) -> search_pb2.SuggestResponse:
        """Completions of the prefix: titles first, then people; same rating rules."""
        allowed = await self._allowed(request.max_maturity, request.profile_id, caller)
        size = request.page_size or self._limits.default_suggestions
        found = await self._index.suggest(
            request.prefix, allowed, request.country, min(size, self._limits.max_suggestions)
        )
        return search_pb2.SuggestResponse(
            suggestions=[
                search_pb2.Suggestion(
                    text=suggestion.text, title_id=suggestion.title_id, kind=_KINDS[suggestion.kind]
                )
                for suggestion in found
            ]
        )

    # ------------------------------------------------------------ internal
    async def index_title(self, document: search_pb2.TitleDocument) -> None:
        """Adds or replaces one title's document (searchable once this returns)."""
        await self._index.upsert([doc_of_message(document)])

    async def delete_title(self, title_id: str) -> None:
        """Removes one title's document (an id not indexed is ignored)."""
        await self._index.delete([title_id.lower()])

    # ------------------------------------------------------------ ratings
    async def _allowed(
        self, max_maturity: str, profile_id: str, caller: callers.Metadata
    ) -> frozenset[str] | None:
        """The ratings the request may see: those at or below ``max_maturity`` (None: every
        rating), capped by the profile's limit when ``profile_id`` is given."""
        allowed = frozenset(ratings.allowed_ratings(max_maturity)) if max_maturity else None
        if not profile_id:
            return allowed
        if not caller:
            raise Unauthenticated(
                "profile_id needs the profile owner's access token", reason="TOKEN_REQUIRED"
            )
        profile = await callers.call(
            self._users.GetProfile(
                users_pb2.GetProfileRequest(profile_id=profile_id),
                metadata=caller,
                timeout=self._limits.dependency_timeout_seconds,
            ),
            service="users",
        )
        # The stricter of the live profile and this service's copy of its
        # settings: while a profile-update saga runs, neither shows more.
        copy = await self._index.profile_settings(profile_id)
        capped = frozenset(ratings.allowed_ratings(stricter_limit(limit_of(profile), copy)))
        return capped if allowed is None else allowed & capped

    # ------------------------------------------------------------ saga steps
    async def apply_profile_settings(
        self, key: StepKey, profile_id: str, settings: ProfileSettings
    ) -> search_pb2.ApplyProfileSettingsResponse:
        replayed = await self._index.apply_profile_settings(key, profile_id, settings)
        return search_pb2.ApplyProfileSettingsResponse(replayed=replayed)

    async def purge_account(
        self, key: StepKey, profile_ids: list[str]
    ) -> search_pb2.PurgeAccountDataResponse:
        deleted, replayed = await self._index.purge_profiles(key, profile_ids)
        return search_pb2.PurgeAccountDataResponse(deleted_count=deleted, replayed=replayed)


def limit_of(profile: users_pb2.Profile) -> str:
    """The profile's maturity limit; the default of its kind when it has none."""
    if ratings.is_known(profile.maturity_rating):
        return str(profile.maturity_rating)
    return ratings.KIDS_LIMIT if profile.kids_profile else ratings.DEFAULT_LIMIT


def facet_messages(facets: Facets) -> list[search_pb2.Facet]:
    """The index's facets as the contract's, in the contract's order."""
    fields: Sequence[tuple[str, list[tuple[str, int]]]] = (
        ("genre", facets.genre),
        ("content_type", facets.content_type),
        ("decade", facets.decade),
        ("maturity_rating", facets.maturity),
    )
    return [
        search_pb2.Facet(
            field=name,
            buckets=[search_pb2.FacetBucket(value=value, count=count) for value, count in buckets],
        )
        for name, buckets in fields
    ]


def doc_of_message(document: search_pb2.TitleDocument) -> TitleDoc:
    return TitleDoc(
        title_id=document.title_id.lower(),
        title=document.title,
        description=document.description,
        release_year=document.release_year,
        content_type=document.content_type,
        genres=tuple(document.genres),
        maturity_rating=document.maturity_rating,
        country_codes=tuple(document.country_codes),
        cast=tuple(document.cast),
        directors=tuple(document.directors),
    )


def _ratings_key(allowed: frozenset[str] | None) -> str:
    return "*" if allowed is None else ",".join(sorted(allowed))


def _offset(position: bytes | None) -> int:
    if position is None:
        return 0
    if len(position) != _OFFSET_BYTES:
        raise InvalidArgument.for_field(
            "page_token", "is not a token this service issued", reason="INVALID_PAGE_TOKEN"
        )
    return int.from_bytes(position, "big")
