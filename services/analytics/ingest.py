"""The loaders: one consumer group per stream, events loaded in micro-batches.

Three consumer groups, ``analytics-users``, ``analytics-catalog`` and
``analytics-history``, on ``streammesh.users``, ``streammesh.catalog`` and
``streammesh.history``, each a :class:`~services.events.consumer.ConsumerRunner`
(lease, claims, retries, dead letters, lag and pending metrics are its). Its
handler, :meth:`MicroBatcher.handle`, turns the event into rows
(services/analytics/facts.py), adds them to the stream's open batch and
waits until that batch is committed; only then does the runner ack the
entry. The batch is loaded (``store.load``: COPY/Appender into staging, then
an insert that skips loaded event ids) when it holds ``max_events`` events or
its oldest has waited ``max_wait_seconds``; the runner's ``max_concurrency``
(set to ``max_events``) bounds the events in hand.

Exactly-once effect: the ledger of loaded event ids is committed with the
rows (services/analytics/store.py), so the runner's Redis dedupe marker is
not needed (:class:`WarehouseLedger` skips it): a redelivered, re-published
or replayed event is skipped by the load.

Warehouse outages: a load that raises ``Unavailable`` is retried, the same
batch, with a capped exponential backoff for up to ``outage_retry_seconds``;
its handlers keep waiting, so nothing is acked and nothing is lost. Past that
bound the events fail back to the runner, which retries them (and after its
``max_deliveries`` dead-letters them).

Metrics: ``streammesh_analytics_ingest_lag_seconds`` (per stream: from the
event's timestamp, when the producer committed it, to the commit of its row
in the warehouse), ``streammesh_analytics_rows_total`` (loaded / skipped) and
``streammesh_analytics_batch_events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from prometheus_client import Counter, Histogram

from services.analytics.facts import rows_of
from services.analytics.store import Batch, LoadResult, WarehouseStore
from services.events.consumer import Delivery
from services.runtime.errors import Unavailable
from streammesh.events.v1 import event_pb2

log = logging.getLogger(__name__)

# The streams' domains and the group each is read by.
STREAMS: Final = ("users", "catalog", "history")


def group_of(domain: str) -> str:
    return f"analytics-{domain}"


INGEST_LAG: Final = Histogram(
    "streammesh_analytics_ingest_lag_seconds",
    "Seconds from an event's timestamp (its producer's commit) to its row committed "
    "in the warehouse.",
    ["stream"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
ROWS: Final = Counter(
    "streammesh_analytics_rows_total",
    "Warehouse rows by outcome: loaded, or skipped (their event was already loaded).",
    ["stream", "outcome"],
)
BATCH_EVENTS: Final = Histogram(
    "streammesh_analytics_batch_events",
    "Events per loaded micro-batch.",
    ["stream"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)
# Retry pauses while the warehouse is unavailable: base * 2**n, capped.
RETRY_BASE_SECONDS: Final = 0.2
RETRY_MAX_PAUSE_SECONDS: Final = 5.0


class WarehouseLedger:
    """The runner's :class:`~services.events.dedupe.Deduplicator`: nothing in Redis.

    The warehouse's ``loaded_events`` ledger, committed with the rows, is the
    dedupe; a Redis marker written after it would add two round trips per
    event and no guarantee.
    """

    async def is_processed(self, event_id: str) -> bool:
        return False

    async def mark_processed(self, event_id: str) -> None:
        return None


@dataclass
class _Pending:
    rows: Batch
    done: asyncio.Future[None]


@dataclass
class _Open:
    items: list[_Pending] = field(default_factory=list)
    first_at: float = 0.0


class MicroBatcher:
    """Collects one stream's events into batches and loads each in one transaction."""

    def __init__(
        self,
        store: WarehouseStore,
        stream: str,
        *,
        max_events: int = 500,
        max_wait_seconds: float = 0.2,
        outage_retry_seconds: float = 120.0,
    ) -> None:
        if max_events < 1 or max_wait_seconds < 0 or outage_retry_seconds < 0:
            raise ValueError("max_events >= 1, max_wait_seconds >= 0, outage_retry_seconds >= 0")
        self._store = store
        self._stream = stream
        self._max_events = max_events
        self._max_wait = max_wait_seconds
        self._outage_retry = outage_retry_seconds
        self._open = _Open()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"analytics-batcher-{self._stream}")

    async def stop(self) -> None:
        """Loads what is open (its handlers are waiting), then stops."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def handle(self, event: event_pb2.Event, delivery: Delivery) -> None:
        """The consumer's handler: returns once the event's rows are committed."""
        rows = rows_of(event)
        if not len(rows):
            return
        if self._stopping:
            raise Unavailable("the analytics loader is stopping")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._open.items:
            self._open.first_at = time.monotonic()
        self._open.items.append(_Pending(rows, done))
        self._wake.set()
        await done

    async def _run(self) -> None:
        while True:
            if not self._open.items:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            waited = time.monotonic() - self._open.first_at
            full = len(self._open.items) >= self._max_events
            if not (full or self._stopping) and waited < self._max_wait:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._max_wait - waited)
                continue
            taken = self._open.items[: self._max_events]
            rest = self._open.items[self._max_events :]
            self._open = _Open(rest, time.monotonic() if rest else 0.0)
            await self._flush(taken)

    async def _flush(self, items: list[_Pending]) -> None:
        live = [item for item in items if not item.done.done()]
        if not live:
            return
        batch = Batch(
            views=[v for item in live for v in item.rows.views],
            signups=[s for item in live for s in item.rows.signups],
            profile_changes=[p for item in live for p in item.rows.profile_changes],
            titles=[t for item in live for t in item.rows.titles],
        )
        try:
            result = await self._load(batch)
        except Exception as err:  # noqa: BLE001 - handed to each waiting handler, which fails its entry
            for item in live:
                if not item.done.done():
                    item.done.set_exception(err)
            return
        committed = datetime.now(UTC)
        lag = INGEST_LAG.labels(self._stream)
        for row in batch.rows():
            if row.event_id in result.loaded:
                lag.observe(max((committed - row.event_time).total_seconds(), 0.0))
        ROWS.labels(self._stream, "loaded").inc(len(result.loaded))
        ROWS.labels(self._stream, "skipped").inc(result.skipped)
        BATCH_EVENTS.labels(self._stream).observe(len(live))
        for item in live:
            if not item.done.done():
                item.done.set_result(None)

    async def _load(self, batch: Batch) -> LoadResult:
        """``store.load`` retried while the warehouse is unavailable, up to the bound."""
        deadline = time.monotonic() + self._outage_retry
        attempt = 0
        while True:
            try:
                return await self._store.load(batch)
            except Unavailable:
                attempt += 1
                pause = min(RETRY_MAX_PAUSE_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempt - 1))
                if time.monotonic() + pause > deadline:
                    raise
                log.warning(
                    "analytics loader %s: warehouse unavailable (try %d); retrying in %.1fs",
                    self._stream,
                    attempt,
                    pause,
                )
                await asyncio.sleep(pause)
