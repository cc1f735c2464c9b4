"""GetHome's rows, reused across requests: the home screen as a cached, composed page.

Two kinds of rows, kept in the process's near cache (services/runtime/near_cache.py,
the same 100 MB LRU as every cache of the process):

* Shared rows, the same for every profile with the same country and maturity
  limit: "New in <country>" and the genre rows (catalog listings), and
  "Trending in <country>". Keyed by row, country, limit and size, so a
  profile whose limit was lowered reads other entries at once. The catalog
  rows live in the catalog's listings namespace: every catalog write that
  retires its listing cache (``VersionedCache.invalidate_all``) retires
  these rows in every browse process too, within the near cache's
  staleness bound. Trending changes with every view; its row lives
  ``trending_ttl_seconds`` (the history caches its list as long).
* The profile's own rows ("Continue watching", the top picks and their
  "Because you watched" rows), keyed by profile and stored with the limit and
  size they were built for (another limit or size is a miss). A view the
  profile records (the history's ``history.view.recorded`` event, read from
  its stream by every browse process) drops them; ``profile_ttl_seconds``
  bounds them otherwise (a recommendations refresh, a lost event).

Only rows that were built without a failure are kept, and a cached row is
filtered by the profile's limit once more when served (defence in depth).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final, cast

from google.protobuf.message import DecodeError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services import ratings
from services.events import streams
from services.events.envelope import InvalidEvent, unpack
from services.runtime.near_cache import CACHE_LAYER_REQUESTS, Layer
from streammesh.browse.v1 import browse_pb2
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import events_pb2

log = logging.getLogger(__name__)

# The catalog's listing namespace (services/catalog/domain.py LISTINGS_NAMESPACE):
# its invalidations retire the catalog rows here too.
CATALOG_LISTINGS: Final = "catalog.listing"
TRENDING_ROWS: Final = "browse.trending-row"
PROFILE_ROWS: Final = "browse.profile-rows"
VIEW_RECORDED: Final = "history.view.recorded"
# The stream tail: entries per read, and how long one read blocks (below the
# Redis client's 1 s socket timeout).
TAIL_BATCH: Final = 200
TAIL_BLOCK_MS: Final = 500
TAIL_RETRY_SECONDS: Final = 1.0

# XREAD's answer on a client without decode_responses.
_XReadAnswer = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
RowsLoader = Callable[[], Awaitable[list[browse_pb2.Row] | None]]


class RowCache:
    """The near-cache entries of GetHome's rows (see the module's docstring)."""

    def __init__(
        self,
        layer: Layer,
        *,
        shared_ttl_seconds: float,
        trending_ttl_seconds: float,
        profile_ttl_seconds: float,
    ) -> None:
        self._layer = layer
        self._shared_ttl = shared_ttl_seconds
        self._trending_ttl = trending_ttl_seconds
        self._profile_ttl = profile_ttl_seconds
        self._counts = {
            (namespace, result): CACHE_LAYER_REQUESTS.labels(namespace, "l1", result)
            for namespace in (CATALOG_LISTINGS, TRENDING_ROWS, PROFILE_ROWS)
            for result in ("hit", "miss")
        }

    async def shared(
        self,
        row_id: str,
        country: str,
        limit: str,
        cards: int,
        trending: bool,
        build: RowsLoader,
    ) -> list[browse_pb2.Row] | None:
        namespace = TRENDING_ROWS if trending else CATALOG_LISTINGS
        ttl = self._trending_ttl if trending else self._shared_ttl
        key = f"browse-row|{row_id}|{country}|{limit}|{cards}"
        return await self._cached(namespace, key, f"{limit}|{cards}", ttl, limit, build)

    async def profile(
        self, profile_id: str, limit: str, cards: int, build: RowsLoader
    ) -> list[browse_pb2.Row] | None:
        return await self._cached(
            PROFILE_ROWS, profile_id, f"{limit}|{cards}", self._profile_ttl, limit, build
        )

    def forget_profile(self, profile_id: str) -> None:
        self._layer.near.drop(PROFILE_ROWS, profile_id)

    async def _cached(
        self,
        namespace: str,
        key: str,
        built_for: str,
        ttl: float,
        limit: str,
        build: RowsLoader,
    ) -> list[browse_pb2.Row] | None:
        """The rows from the near cache, else ``build()``'s, kept when it gave any
        (None: a row failed, nothing is kept)."""
        near = self._layer.near
        self._layer.link.ensure_started()
        cached = near.get(namespace, key)
        if cached is not None:
            header, _, body = cached.partition(b"\n")
            if header.decode() == built_for:
                self._counts[namespace, "hit"].inc()
                page = browse_pb2.Home.FromString(body)
                return [_within(row, limit) for row in page.rows]
        self._counts[namespace, "miss"].inc()
        fence = near.fence(namespace, key)
        rows = await build()
        if rows is not None and ttl > 0:
            body = browse_pb2.Home(rows=rows).SerializeToString()
            near.put(fence, built_for.encode() + b"\n" + body, ttl_seconds=ttl)
        return rows


def _within(row: browse_pb2.Row, limit: str) -> browse_pb2.Row:
    """``row`` without any card above ``limit`` (a cached row is checked again)."""
    allowed = [card for card in row.cards if ratings.allows(limit, card.maturity_rating)]
    if len(allowed) != len(row.cards):
        del row.cards[:]
        row.cards.extend(allowed)
    return row


class ViewTail:
    """Follows the history's stream (XREAD, every process sees every entry) and
    drops a profile's cached rows when it records a view."""

    def __init__(self, redis: Redis, stream: str, rows: RowCache) -> None:
        self._redis = redis
        self._stream = stream
        self._rows = rows

    async def run(self, stop: asyncio.Event) -> None:
        last: bytes | str = "$"
        while not stop.is_set():
            try:
                answer = cast(
                    _XReadAnswer,
                    await self._redis.xread(
                        {self._stream: last}, count=TAIL_BATCH, block=TAIL_BLOCK_MS
                    ),
                )
            except (RedisError, OSError) as err:
                log.warning("history stream tail failed; retrying", extra={"error": str(err)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TAIL_RETRY_SECONDS)
                continue
            for _stream, entries in answer or ():
                for entry_id, fields in entries:
                    last = entry_id
                    self._apply(streams.StreamEntry.from_redis(entry_id, fields))

    def _apply(self, entry: streams.StreamEntry) -> None:
        if entry.text(streams.EVENT_TYPE) != VIEW_RECORDED:
            return
        try:
            event = event_pb2.Event.FromString(entry.fields.get(streams.PAYLOAD, b""))
            data = unpack(event, events_pb2.ViewRecordedEvent)
        except (DecodeError, InvalidEvent) as err:
            log.warning("unreadable view event %s: %s", entry.entry_id, err)
            return
        assert isinstance(data, events_pb2.ViewRecordedEvent)
        self._rows.forget_profile(data.view.profile_id)
