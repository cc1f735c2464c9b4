"""The catalog's use cases: the store behind a title cache, page tokens, rules
the contract cannot express. The gRPC servicer only unpacks requests."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
import uuid
from collections.abc import Sequence
from typing import Final

from services.catalog.listing import (
    TitleFilter,
    decode_page_token,
    encode_page_token,
    page_size_of,
)
from services.catalog.store import CatalogStore
from services.runtime.cache import Cache, VersionedCache
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound
from streammesh.catalog.v1 import catalog_pb2

# Cache namespaces, shared with the importer, which writes around the service.
TITLES_NAMESPACE: Final = "catalog.title"
LISTINGS_NAMESPACE: Final = "catalog.listing"
DEFAULT_AVAILABILITY_PAGE: Final = 100
MAX_AVAILABILITY_PAGE: Final = 300
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
_AVAILABILITY_TOKEN_PREFIX: Final = b"after:"


class CatalogDomain:
    def __init__(
        self, store: CatalogStore, titles: Cache, listings: VersionedCache | None = None
    ) -> None:
        self._store = store
        self._titles = titles
        # ListTitles pages: the home screen reads several per view. Any title
        # write retires them all; availability windows that open or close
        # meanwhile show up within the TTL.
        self._listings = listings

    # ------------------------------------------------------------------ titles
    async def get_title(self, title_id: str) -> catalog_pb2.Title:
        title_id = canonical_id(title_id)
        title = await self._cached_title(title_id)
        if title is None:
            raise NotFound(f"title {title_id} does not exist", reason="TITLE_NOT_FOUND")
        return title

    async def batch_get_titles(
        self, title_ids: Sequence[str]
    ) -> tuple[list[catalog_pb2.Title], list[str]]:
        """The titles in request order (each id once) and the ids that do not exist."""
        unique = list(dict.fromkeys(canonical_id(title_id) for title_id in title_ids))
        found = await asyncio.gather(*(self._cached_title(title_id) for title_id in unique))
        titles = [title for title in found if title is not None]
        missing = [title_id for title_id, title in zip(unique, found, strict=True) if title is None]
        return titles, missing

    async def _cached_title(self, title_id: str) -> catalog_pb2.Title | None:
        async def load() -> bytes | None:
            title = await self._store.get_title(title_id)
            return None if title is None else title.SerializeToString()

        payload = await self._titles.get_or_load(title_id, load)
        return None if payload is None else catalog_pb2.Title.FromString(payload)

    async def list_titles(
        self, request: catalog_pb2.ListTitlesRequest
    ) -> catalog_pb2.ListTitlesResponse:
        title_filter = TitleFilter(
            country=request.country,
            max_maturity=request.max_maturity,
            content_type=request.content_type,
            genre=request.genre,
        )
        after = decode_page_token(request.page_token, title_filter)
        page_size = page_size_of(request.page_size)

        async def load() -> bytes:
            page = await self._store.list_titles(title_filter, page_size, after, _now_ms())
            token = (
                ""
                if page.next_cursor is None
                else encode_page_token(page.next_cursor, title_filter)
            )
            response = catalog_pb2.ListTitlesResponse(titles=page.titles, next_page_token=token)
            return response.SerializeToString()

        if self._listings is None:
            return catalog_pb2.ListTitlesResponse.FromString(await load())
        key = "|".join(
            (
                request.country,
                request.max_maturity,
                request.content_type,
                request.genre,
                str(page_size),
                request.page_token,
            )
        )
        payload = await self._listings.get_or_load(key, load)
        return catalog_pb2.ListTitlesResponse.FromString(payload or b"")

    async def create_title(self, request: catalog_pb2.CreateTitleRequest) -> catalog_pb2.Title:
        title = catalog_pb2.Title()
        title.CopyFrom(request.title)
        title.title_id = canonical_id(title.title_id) if title.title_id else str(uuid.uuid4())
        _check_availability(request.availability)
        metadata = None
        if request.HasField("metadata"):
            if canonical_id(request.metadata.title_id) != title.title_id:
                raise InvalidArgument.for_field(
                    "metadata.title_id", "must be the title's id", reason="TITLE_ID_MISMATCH"
                )
            metadata = catalog_pb2.TitleMetadata()
            metadata.CopyFrom(request.metadata)
            metadata.title_id = title.title_id
        created = await self._store.create_title(title, request.availability, metadata)
        # A miss is never cached, but a reader may be filling right now.
        await self._titles.invalidate(created.title_id)
        await self._retire_listings()
        return created

    async def update_title(self, request: catalog_pb2.UpdateTitleRequest) -> catalog_pb2.Title:
        if not request.title.title_id:
            raise InvalidArgument.for_field("title.title_id", "is required", reason="REQUIRED")
        patch = catalog_pb2.Title()
        patch.CopyFrom(request.title)
        patch.title_id = canonical_id(patch.title_id)
        updated, _ = await self._store.update_title(
            patch, list(request.update_mask.paths), allow_missing=request.allow_missing
        )
        await self._titles.invalidate(updated.title_id)
        await self._retire_listings()
        return updated

    async def _retire_listings(self) -> None:
        if self._listings is not None:
            await self._listings.invalidate_all()

    # ------------------------------------------------------ metadata, windows
    async def get_metadata(self, title_id: str) -> catalog_pb2.TitleMetadata:
        title_id = canonical_id(title_id)
        metadata = await self._store.get_metadata(title_id)
        if metadata is None:
            raise NotFound(f"title {title_id} does not exist", reason="TITLE_NOT_FOUND")
        return metadata

    async def update_metadata(
        self, metadata: catalog_pb2.TitleMetadata
    ) -> catalog_pb2.TitleMetadata:
        stored = catalog_pb2.TitleMetadata()
        stored.CopyFrom(metadata)
        stored.title_id = canonical_id(metadata.title_id)
        return await self._store.put_metadata(stored)

    async def list_availability(
        self, request: catalog_pb2.ListTitleAvailabilityRequest
    ) -> catalog_pb2.ListTitleAvailabilityResponse:
        size = request.page_size or DEFAULT_AVAILABILITY_PAGE
        page = await self._store.list_availability(
            canonical_id(request.title_id),
            min(size, MAX_AVAILABILITY_PAGE),
            _decode_availability_token(request.page_token),
        )
        token = ""
        if page.next_after_country is not None:
            raw = _AVAILABILITY_TOKEN_PREFIX + page.next_after_country.encode("ascii")
            token = base64.urlsafe_b64encode(raw).decode("ascii")
        return catalog_pb2.ListTitleAvailabilityResponse(
            availability=page.availability, next_page_token=token
        )


def canonical_id(title_id: str) -> str:
    """The lower-case hyphenated form, so every store and cache key agrees on
    one spelling of an id (the contract accepts any UUID spelling)."""
    try:
        return str(uuid.UUID(title_id))
    except ValueError as err:
        raise InvalidArgument.for_field("title_id", "is not a UUID", reason="INVALID_ID") from err


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_availability(entries: Sequence[catalog_pb2.Availability]) -> None:
    """Rules the contract leaves to the service: codes, order of bounds, repeats."""
    violations = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"availability[{index}]"
        if not _COUNTRY.match(entry.country_code):
            violations.append(
                FieldViolation(f"{where}.country_code", "must be an ISO 3166-1 alpha-2 code")
            )
        elif entry.country_code in seen:
            violations.append(FieldViolation(f"{where}.country_code", "is listed twice"))
        seen.add(entry.country_code)
        if (
            entry.HasField("available_from")
            and entry.HasField("available_until")
            and entry.available_until.ToMilliseconds() <= entry.available_from.ToMilliseconds()
        ):
            violations.append(
                FieldViolation(f"{where}.available_until", "must be after available_from")
            )
    if violations:
        raise InvalidArgument(
            "availability is invalid", reason="INVALID_AVAILABILITY", violations=violations
        )


def _decode_availability_token(token: str) -> str:
    if not token:
        return ""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as err:
        raise InvalidArgument.for_field(
            "page_token", "is not a token this service issued", reason="INVALID_PAGE_TOKEN"
        ) from err
    country = raw.removeprefix(_AVAILABILITY_TOKEN_PREFIX)
    if country == raw or not _COUNTRY.match(country.decode("ascii", "replace")):
        raise InvalidArgument.for_field(
            "page_token", "is not a token this service issued", reason="INVALID_PAGE_TOKEN"
        )
    return country.decode("ascii")
