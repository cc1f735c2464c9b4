"""The search indexer: the catalog's title events, made searchable.

A consumer group ("search-indexer") on the catalog's stream
(``streammesh.catalog`` under the mesh's stream prefix) runs
:meth:`Indexer.handle` for every event; ``catalog.title.created`` and
``catalog.title.updated`` carry the whole title as it is after the change
(services/catalog/events.py), so the title is upserted as it comes, without a
call back to the catalog. Other event types are ignored.

An upsert replaces the title's document, so an event delivered twice or
replayed changes nothing; the consumer also skips event ids it has already
handled, and one title's events are consumed in order (the aggregate is the
title), so an older version never overwrites a newer one.

The handlers of events in flight at once (different titles) share their index
writes: :class:`UpsertBatcher` gathers the documents that arrive within a few
milliseconds into one bulk upsert. OpenSearch makes a write searchable at its
next refresh (every second) and the adapter waits for it
(``refresh=wait_for``), so one document per write would cap the indexer at
about ``indexer_concurrency`` titles per second; one bulk per refresh is what
lets a whole catalog's events (a first start on the real backends) be indexed
in seconds rather than minutes.

``streammesh_search_index_delay_seconds`` observes, per indexed event, the
time from the catalog's change (the event's timestamp) to the moment the
title is searchable (the upsert returned): what "the catalog and search are
in step" costs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from prometheus_client import Histogram

from services.events.consumer import Delivery
from services.events.envelope import unpack
from services.search.store import SearchIndex, TitleDoc
from streammesh.catalog.v1 import catalog_pb2, events_pb2
from streammesh.events.v1 import event_pb2

# The consumer group of the indexer on the catalog's stream.
GROUP: Final = "search-indexer"
# The stream's domain (services/catalog/events.py writes it).
CATALOG: Final = "catalog"
TITLE_CREATED: Final = "catalog.title.created"
TITLE_UPDATED: Final = "catalog.title.updated"

INDEX_DELAY: Final = Histogram(
    "streammesh_search_index_delay_seconds",
    "Seconds from a catalog title event's timestamp to the title being searchable.",
    ["event_type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def doc_of(title: catalog_pb2.Title) -> TitleDoc:
    """The search document of a catalog title."""
    return TitleDoc(
        title_id=title.title_id,
        title=title.title,
        description=title.description,
        release_year=title.release_year,
        content_type=title.content_type,
        genres=tuple(title.genres),
        maturity_rating=title.maturity_rating,
        country_codes=tuple(title.country_codes),
        cast=tuple(title.cast),
        directors=tuple(title.directors),
    )


INDEX_BATCH_SIZE: Final = Histogram(
    "streammesh_search_index_batch_documents",
    "Documents per index write of the search indexer.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
)


class UpsertBatcher:
    """One index write for the documents upserted within ``linger_seconds`` of each
    other, at most ``max_batch`` at once; each caller returns when its own
    document is written, or raises what the write raised (so the consumer
    retries exactly the events whose write failed)."""

    def __init__(self, index: SearchIndex, *, max_batch: int, linger_seconds: float) -> None:
        self._index = index
        self._max_batch = max_batch
        self._linger_seconds = linger_seconds
        self._pending: list[tuple[TitleDoc, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()

    async def upsert(self, doc: TitleDoc) -> None:
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self._pending.append((doc, written))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._linger_seconds, self._flush)
        await written

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            write = asyncio.create_task(self._write(batch))
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)

    async def _write(self, batch: list[tuple[TitleDoc, asyncio.Future[None]]]) -> None:
        INDEX_BATCH_SIZE.observe(len(batch))
        try:
            await self._index.upsert([doc for doc, _ in batch])
        except Exception as error:  # noqa: BLE001 - handed to every waiting handler
            for _, written in batch:
                if not written.done():
                    written.set_exception(error)
        else:
            for _, written in batch:
                if not written.done():
                    written.set_result(None)


class Indexer:
    """The handler of the "search-indexer" consumer group."""

    def __init__(self, index: SearchIndex, *, max_batch: int, linger_seconds: float) -> None:
        self._writes = UpsertBatcher(index, max_batch=max_batch, linger_seconds=linger_seconds)

    async def handle(self, event: event_pb2.Event, delivery: Delivery) -> None:
        """Indexes the title a created/updated event carries; ignores other events."""
        title = title_of(event)
        if title is None:
            return
        await self._writes.upsert(doc_of(title))
        delay = time.time() - event.timestamp.ToNanoseconds() / 1e9
        INDEX_DELAY.labels(event_type=event.event_type).observe(max(delay, 0.0))


def title_of(event: event_pb2.Event) -> catalog_pb2.Title | None:
    """The title a created/updated event carries; None for any other event."""
    if event.event_type == TITLE_CREATED:
        created = unpack(event, events_pb2.TitleCreatedEvent)
        assert isinstance(created, events_pb2.TitleCreatedEvent)
        return created.title
    if event.event_type == TITLE_UPDATED:
        updated = unpack(event, events_pb2.TitleUpdatedEvent)
        assert isinstance(updated, events_pb2.TitleUpdatedEvent)
        return updated.title
    return None
