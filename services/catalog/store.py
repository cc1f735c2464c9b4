"""The catalog's storage port; adapters live in :mod:`services.catalog.stores`.

Both adapters pass one contract suite (tests/catalog/test_store_contract.py),
so the embedded SQLite catalog behaves as the Cassandra one does. Messages are
the contract's own protobuf types: the store keeps what the API speaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.catalog.listing import Cursor, TitleFilter
from streammesh.catalog.v1 import catalog_pb2


@dataclass(frozen=True)
class TitlePage:
    titles: list[catalog_pb2.Title]
    # Where the next page starts; None when the listing is exhausted.
    next_cursor: Cursor | None


@dataclass(frozen=True)
class AvailabilityPage:
    availability: list[catalog_pb2.Availability]
    # The last country returned when more may follow.
    next_after_country: str | None


class CatalogStore(Protocol):
    async def get_title(self, title_id: str) -> catalog_pb2.Title | None:
        """The title, or None."""
        ...

    async def batch_get_titles(self, title_ids: Sequence[str]) -> dict[str, catalog_pb2.Title]:
        """The titles that exist among ``title_ids``, by id."""
        ...

    async def list_titles(
        self, title_filter: TitleFilter, page_size: int, after: Cursor | None, now_ms: int
    ) -> TitlePage:
        """Up to ``page_size`` matching titles after ``after``, newest first.

        A page may hold fewer titles than asked for (even none) while
        ``next_cursor`` is set: a store bounds the rows it reads per call.
        """
        ...

    async def create_title(
        self,
        title: catalog_pb2.Title,
        availability: Sequence[catalog_pb2.Availability] = (),
        metadata: catalog_pb2.TitleMetadata | None = None,
    ) -> catalog_pb2.Title:
        """Stores a new title with its availability, metadata and created event.

        Raises AlreadyExists when the id is taken.
        """
        ...

    async def update_title(
        self, patch: catalog_pb2.Title, paths: Sequence[str], *, allow_missing: bool = False
    ) -> tuple[catalog_pb2.Title, bool]:
        """Applies ``paths`` of ``patch`` (all fields when empty) and records the
        updated event; returns the title and whether it was created.

        Raises NotFound unless ``allow_missing``, InvalidArgument for a bad path.
        """
        ...

    async def get_metadata(self, title_id: str) -> catalog_pb2.TitleMetadata | None:
        """The title's metadata (empty fields if never set), or None if no title."""
        ...

    async def put_metadata(self, metadata: catalog_pb2.TitleMetadata) -> catalog_pb2.TitleMetadata:
        """Replaces the title's metadata. Raises NotFound when the title does not exist."""
        ...

    async def list_availability(
        self, title_id: str, page_size: int, after_country: str = ""
    ) -> AvailabilityPage:
        """The title's countries and windows, by country code. Raises NotFound."""
        ...

    async def close(self) -> None: ...
