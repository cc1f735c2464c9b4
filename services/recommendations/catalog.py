"""The catalog as the models see it, read from the catalog service.

The recommendations service keeps no copy of the catalog in its store: it
pages the whole catalog through CatalogService.ListTitles (public, newest
first, PAGE_SIZE titles a page) when it starts and when ``streammesh recs
train`` runs, and builds the TF-IDF matrix from it. The whole read has one
deadline (``catalog_load_timeout_seconds``), each page whatever is left of it:
a catalog slow under load delays the start instead of failing it, and a page
refused as UNAVAILABLE (a catalog restarting) is asked again, PAGE_ATTEMPTS
times at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from services.recommendations.models import CatalogTitle
from services.runtime import callers
from services.runtime.errors import Unavailable
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc

# Titles per ListTitles call: the catalog's maximum page.
PAGE_SIZE: Final = 100
# Pages read at most: 50,000 titles, far above the 8,807 of the real catalog.
MAX_PAGES: Final = 500
# Tries of one page refused as UNAVAILABLE, and the pause before the second.
PAGE_ATTEMPTS: Final = 3
RETRY_PAUSE_SECONDS: Final = 0.5


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
    """Every title of the catalog, newest first, read within ``timeout_seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    titles: list[CatalogTitle] = []
    token = ""
    for _ in range(MAX_PAGES):
        request = catalog_pb2.ListTitlesRequest(page_size=PAGE_SIZE, page_token=token)
        for attempt in range(1, PAGE_ATTEMPTS + 1):
            left = deadline - loop.time()
            try:
                page = await callers.call(
                    catalog.ListTitles(request, timeout=max(left, 0.001)), service="catalog"
                )
                break
            except Unavailable:
                if attempt == PAGE_ATTEMPTS or left <= RETRY_PAUSE_SECONDS * attempt:
                    raise
                await asyncio.sleep(RETRY_PAUSE_SECONDS * attempt)
        titles.extend(title_of(t) for t in page.titles)
        if on_page is not None:
            on_page(len(titles))
        token = page.next_page_token
        if not token:
            break
    return titles
