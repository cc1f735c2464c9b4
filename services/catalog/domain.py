"""The catalog's use cases: the store behind a title cache, page tokens, rules
the contract cannot express. The gRPC servicer only unpacks requests."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf.timestamp_pb2 import Timestamp

from services.catalog import artwork
from services.catalog.listing import (
    TitleFilter,
    decode_page_token,
    encode_page_token,
    page_size_of,
)
from services.catalog.store import CatalogStore
from services.runtime.cache import Cache, VersionedCache
from services.runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from services.runtime.object_store import ObjectInfo, ObjectStore
from streammesh.catalog.v1 import catalog_pb2

# Cache namespaces, shared with the importer, which writes around the service.
TITLES_NAMESPACE: Final = "catalog.title"
LISTINGS_NAMESPACE: Final = "catalog.listing"
DEFAULT_AVAILABILITY_PAGE: Final = 100
MAX_AVAILABILITY_PAGE: Final = 300
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
_AVAILABILITY_TOKEN_PREFIX: Final = b"after:"


@dataclass(frozen=True)
class Media:
    """Where artwork lives (services/catalog/artwork.py) and where devices load it."""

    objects: ObjectStore
    bucket: str
    # The edge's /media prefix as devices reach it, e.g. http://127.0.0.1:8080/media.
    base: str


class CatalogDomain:
    def __init__(
        self,
        store: CatalogStore,
        titles: Cache,
        listings: VersionedCache | None = None,
        media: Media | None = None,
    ) -> None:
        self._store = store
        self._titles = titles
        # Without it titles carry no artwork and uploads are UNAVAILABLE.
        self._media = media
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
            if title is None:
                return None
            await self._fill_artwork([title])
            return title.SerializeToString()

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
            await self._fill_artwork(page.titles)
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
        if self._media is not None:
            created.artwork.CopyFrom(artwork.artwork_of(created, metadata, self._media.base))
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
        await self._fill_artwork([updated])
        await self._titles.invalidate(updated.title_id)
        await self._retire_listings()
        return updated

    async def _retire_listings(self) -> None:
        if self._listings is not None:
            await self._listings.invalidate_all()

    async def _fill_artwork(self, titles: Sequence[catalog_pb2.Title]) -> None:
        """Sets each title's artwork URLs from its metadata (one read per title)."""
        media = self._media
        if media is None or not titles:
            return
        found = await asyncio.gather(*(self._store.get_metadata(t.title_id) for t in titles))
        for title, metadata in zip(titles, found, strict=True):
            title.artwork.CopyFrom(artwork.artwork_of(title, metadata, media.base))

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
        saved = await self._store.put_metadata(stored)
        # Titles carry their poster's URL: the cached ones are stale now.
        await self._titles.invalidate(stored.title_id)
        await self._retire_listings()
        return saved

    # ------------------------------------------------------------- artwork
    def _require_media(self) -> Media:
        if self._media is None:
            raise Unavailable("artwork uploads are not configured", reason="NO_OBJECT_STORE")
        return self._media

    async def create_artwork_upload(
        self, request: catalog_pb2.CreateArtworkUploadRequest
    ) -> catalog_pb2.CreateArtworkUploadResponse:
        media = self._require_media()
        title_id = canonical_id(request.title_id)
        if request.content_type not in artwork.IMAGE_TYPES:
            raise InvalidArgument.for_field(
                "content_type", "must be image/png, image/jpeg or image/webp", "UNSUPPORTED_TYPE"
            )
        if not 0 < request.content_length <= artwork.MAX_UPLOAD_BYTES:
            raise InvalidArgument.for_field(
                "content_length",
                f"must be between 1 and {artwork.MAX_UPLOAD_BYTES} bytes",
                "ARTWORK_TOO_LARGE",
            )
        lifetime = min(
            request.expires_in_seconds or artwork.MAX_UPLOAD_SECONDS, artwork.MAX_UPLOAD_SECONDS
        )
        if await self._store.get_title(title_id) is None:
            raise NotFound(f"title {title_id} does not exist", reason="TITLE_NOT_FOUND")
        await media.objects.ensure_bucket(media.bucket)
        upload_id = str(uuid.uuid4())
        key = f"{artwork.UPLOADS}{title_id}/{upload_id}"
        promise = {
            "content_type": request.content_type,
            "content_length": request.content_length,
            "expires_at": time.time() + lifetime,
        }
        await media.objects.put(
            media.bucket, f"{key}.json", json.dumps(promise).encode(), "application/json"
        )
        signed = await media.objects.presign_put(
            media.bucket, key, request.content_type, request.content_length, lifetime
        )
        expire_time = Timestamp()
        expire_time.FromSeconds(int(signed.expires_at))
        return catalog_pb2.CreateArtworkUploadResponse(
            upload_id=upload_id,
            upload_url=signed.url,
            headers=signed.headers,
            expire_time=expire_time,
        )

    async def complete_artwork_upload(
        self, request: catalog_pb2.CompleteArtworkUploadRequest
    ) -> catalog_pb2.CompleteArtworkUploadResponse:
        media = self._require_media()
        title_id = canonical_id(request.title_id)
        upload_id = str(uuid.UUID(request.upload_id))
        key = f"{artwork.UPLOADS}{title_id}/{upload_id}"
        try:
            raw, _ = await media.objects.get(media.bucket, f"{key}.json")
        except NotFound:
            raise NotFound(
                f"upload {upload_id} of title {title_id} does not exist",
                reason="UPLOAD_NOT_FOUND",
            ) from None
        promise = json.loads(raw)
        try:
            data, _ = await self._uploaded(media, key, promise)
            await artwork.check_image_async(data, promise["content_type"])
        except FailedPrecondition:
            # The title keeps its poster; the refused bytes are not kept.
            await media.objects.delete(media.bucket, key)
            await media.objects.delete(media.bucket, f"{key}.json")
            raise
        extension = artwork.IMAGE_TYPES[promise["content_type"]][1]
        digest = hashlib.sha256(data).hexdigest()[:16]
        published = f"{artwork.PUBLISHED}posters/{title_id}/{digest}.{extension}"
        await media.objects.put(media.bucket, published, data, promise["content_type"])
        metadata = await self._store.get_metadata(title_id)
        if metadata is None:
            raise NotFound(f"title {title_id} does not exist", reason="TITLE_NOT_FOUND")
        metadata.poster_url = artwork.reference(media.bucket, published)
        await self.update_metadata(metadata)
        await media.objects.delete(media.bucket, key)
        await media.objects.delete(media.bucket, f"{key}.json")
        title = await self.get_title(title_id)
        return catalog_pb2.CompleteArtworkUploadResponse(artwork=title.artwork, metadata=metadata)

    async def _uploaded(
        self, media: Media, key: str, promise: dict[str, Any]
    ) -> tuple[bytes, ObjectInfo]:
        """The uploaded bytes, when they are what the upload promised."""
        info = await media.objects.head(media.bucket, key)
        if info is None:
            raise FailedPrecondition(
                "nothing was uploaded to this upload's URL", reason="NO_UPLOAD"
            )
        if info.size != promise["content_length"] or info.size > artwork.MAX_UPLOAD_BYTES:
            raise FailedPrecondition(
                f"the upload is {info.size} bytes, declared {promise['content_length']}",
                reason="ARTWORK_SIZE_MISMATCH",
            )
        return await media.objects.get(media.bucket, key)

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
