"""The catalog as the models see it, read from the catalog service.

The recommendations service keeps no copy of the catalog in its store: it
pages the whole catalog through CatalogService.ListTitles (public, newest
first, PAGE_SIZE titles a page, each call with a deadline) when it starts and
when ``streammesh recs train`` runs, and builds the TF-IDF matrix from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from services.recommendations.models import CatalogTitle
from services.runtime import callers
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc

# Titles per ListTitles call: the catalog's maximum page.
PAGE_SIZE: Final = 100
# Pages read at most: 50,000 titles, far above the 8,807 of the real catalog.
MAX_PAGES: Final = 500


def title_of(title: catalog_pb2.Title) -> CatalogTitle:
    return CatalogTitle(
        title_id=title.title_id,
        title=title.title,
        genres=tuple(title.genres),
        maturity_rating=title.maturity_rating,
        country_codes=tuple(title.country_codes),
        cast=tuple(title.cast),
        directors=tuple(title.directors),
        description=title.description,
    )


async def read_catalog(
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    *,
    timeout_seconds: float,
    on_page: Callable[[int], None] | None = None,
) -> list[CatalogTitle]:
    """Every title of the catalog, newest first."""
    titles: list[CatalogTitle] = []
    token = ""
    for _ in range(MAX_PAGES):
        page = await callers.call(
            catalog.ListTitles(
                catalog_pb2.ListTitlesRequest(page_size=PAGE_SIZE, page_token=token),
                timeout=timeout_seconds,
            ),
            service="catalog",
        )
        titles.extend(title_of(t) for t in page.titles)
        if on_page is not None:
            on_page(len(titles))
        token = page.next_page_token
        if not token:
            break
    return titles
