"""L1: a near cache in each service process, in front of the Redis cache (L3).

The layers are numbered as the case study numbers them: L1 the application's
own memory, L3 the edge (CDN), L3 the database cache in Redis.

The case study's application cache: entries are the same serialized contract
messages the Redis cache holds, kept in process memory so a warm read costs a
dict lookup instead of a Redis round trip.

Bounds (all named below):

* Memory: at most ``max_bytes`` (the case study's 100 MB) of keys and values
  per process, least recently used first out.
* Age: an entry lives at most ``ttl_seconds``; a backstop only, since writes
  invalidate.
* Staleness: a write made through ANY process is never read from another
  process's near cache later than :data:`STALENESS_BOUND_SECONDS` after the
  writer's ``invalidate`` returned.

How the staleness bound holds. ``Cache.invalidate`` publishes the keys on one
Redis pub/sub channel in the same MULTI that deletes them from Redis, so the
message exists as soon as the write is visible in L3. Every process listens on
that channel with one connection, and on the same connection sends a PING
every :data:`HEARTBEAT_INTERVAL_SECONDS`. Redis answers a connection in order,
so when the answer to a PING sent at time t arrives, every invalidation
published before t has been received and applied. The near cache serves an
entry only while the last answered PING was sent less than
:data:`STALENESS_BOUND_SECONDS` ago; otherwise (the link is slow, broken, or
the loop is starved) reads fall through to Redis as if L1 were empty. A lost
connection also empties L1, since messages may have been missed. Typical
delivery is well under a millisecond on loopback; the bound is the guarantee.

A fill racing an invalidation must not put the old value back: a reader takes
a fence before reading L3, and any invalidation of that key (or of its
namespace, or a reconnect) breaks the fence, so the put is dropped.

redis-py 8.1.0 has server-assisted client-side caching (``CLIENT TRACKING``,
``cache_config``) for its synchronous client only; the asyncio client the
services use has none, hence the explicit channel. It also covers the
versioned listings, which tracking of single keys could not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

DEFAULT_MAX_BYTES: Final = 100 * 1024 * 1024
# Below L3's 300 s: a backstop for memory, not for correctness (writes invalidate).
DEFAULT_TTL_SECONDS: Final = 60.0
HEARTBEAT_INTERVAL_SECONDS: Final = 0.025
# A near-cache entry is served only while the link proved itself this recently.
STALENESS_BOUND_SECONDS: Final = 0.1
# Book-keeping per entry (dict slot, tuple, floats) counted against max_bytes.
ENTRY_OVERHEAD_BYTES: Final = 200
# Waits between attempts to re-open a broken invalidation link.
RECONNECT_BACKOFF_SECONDS: Final = 0.5
# How long closing waits for the cancelled link task.
LINK_STOP_SECONDS: Final = 1.0
# Payload separating namespace and key; "*" as the key retires a namespace.
_SEPARATOR: Final = b"\x00"
_WHOLE_NAMESPACE: Final = b"*"

CACHE_LAYER_REQUESTS = Counter(
    "streammesh_cache_layer_requests_total",
    "Cache lookups per layer (l1: the process's near cache, l3: Redis) and result "
    "(hit or miss); hit ratio per layer = hit / (hit + miss).",
    ["namespace", "layer", "result"],
)
NEAR_CACHE_EVENTS = Counter(
    "streammesh_near_cache_events_total",
    "Near-cache events: evicted (LRU, over the byte bound), invalidated (by a message), "
    "link_lost (the invalidation link broke: L1 emptied).",
    ["event"],
)

log = logging.getLogger(__name__)


def invalidation_channel(prefix: str) -> str:
    """The pub/sub channel of every cache under ``prefix``."""
    return f"{prefix}cache:invalidate"


def invalidation_message(namespace: str, key: str | None) -> bytes:
    """One key of ``namespace``, or all of it when ``key`` is None."""
    suffix = _WHOLE_NAMESPACE if key is None else key.encode()
    return namespace.encode() + _SEPARATOR + suffix


@dataclass(frozen=True)
class Fence:
    """Taken before reading L3; the put is dropped if an invalidation came since."""

    slot: tuple[str, str]
    token: object
    namespace_epoch: int
    epoch: int


class _Entry:
    __slots__ = ("expires_at", "namespace_epoch", "size", "value")

    def __init__(self, value: bytes, expires_at: float, namespace_epoch: int, size: int) -> None:
        self.value = value
        self.expires_at = expires_at
        self.namespace_epoch = namespace_epoch
        self.size = size


class NearCache:
    """Bytes-bounded LRU with TTL, shared by every cache namespace of one process.

    Pure memory; :class:`InvalidationLink` feeds it the other processes'
    invalidations and tells it whether it may serve (:attr:`live_until`).
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._fences: dict[tuple[str, str], object] = {}
        self._namespace_epochs: dict[str, int] = {}
        self._epoch = 0
        self.bytes_used = 0
        # Until the link has answered a heartbeat, nothing is served.
        self.live_until = 0.0

    def live(self) -> bool:
        return self._clock() < self.live_until

    def get(self, namespace: str, key: str) -> bytes | None:
        if self._clock() >= self.live_until:
            return None
        slot = (namespace, key)
        entry = self._entries.get(slot)
        if entry is None:
            return None
        if entry.expires_at <= self._clock() or entry.namespace_epoch != self._namespace_epochs.get(
            namespace, 0
        ):
            self._remove(slot)
            return None
        self._entries.move_to_end(slot)
        return entry.value

    def fence(self, namespace: str, key: str) -> Fence:
        slot = (namespace, key)
        token = self._fences.setdefault(slot, object())
        return Fence(slot, token, self._namespace_epochs.get(namespace, 0), self._epoch)

    def put(self, fence: Fence, value: bytes, ttl_seconds: float | None = None) -> bool:
        """Stores ``value`` unless an invalidation broke ``fence``; True if stored.

        ``ttl_seconds`` shortens the cache's TTL for this entry (never lengthens it)."""
        slot = fence.slot
        if (
            self._fences.get(slot) is not fence.token
            or fence.epoch != self._epoch
            or fence.namespace_epoch != self._namespace_epochs.get(slot[0], 0)
        ):
            return False
        del self._fences[slot]
        size = len(value) + len(slot[0]) + len(slot[1]) + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes:
            return False
        self._remove(slot)
        ttl = self.ttl_seconds if ttl_seconds is None else min(ttl_seconds, self.ttl_seconds)
        self._entries[slot] = _Entry(value, self._clock() + ttl, fence.namespace_epoch, size)
        self.bytes_used += size
        while self.bytes_used > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes_used -= evicted.size
            NEAR_CACHE_EVENTS.labels("evicted").inc()
        return True

    def drop(self, namespace: str, key: str) -> None:
        slot = (namespace, key)
        self._fences.pop(slot, None)
        self._remove(slot)

    def drop_namespace(self, namespace: str) -> None:
        # Entries of older epochs are never served; they leave as they are met
        # or pushed out by the LRU.
        self._namespace_epochs[namespace] = self._namespace_epochs.get(namespace, 0) + 1

    def clear(self) -> None:
        self._entries.clear()
        self._fences.clear()
        self.bytes_used = 0
        self._epoch += 1

    def apply(self, message: bytes) -> None:
        """Applies one invalidation message (see :func:`invalidation_message`)."""
        namespace, _, key = message.partition(_SEPARATOR)
        NEAR_CACHE_EVENTS.labels("invalidated").inc()
        if key == _WHOLE_NAMESPACE:
            self.drop_namespace(namespace.decode())
        else:
            self.drop(namespace.decode(), key.decode())

    def _remove(self, slot: tuple[str, str]) -> None:
        entry = self._entries.pop(slot, None)
        if entry is not None:
            self.bytes_used -= entry.size


class InvalidationLink:
    """Listens for invalidations on one connection and proves it is current.

    Started lazily by the first cache read that wants L1 (a running loop is
    needed); :meth:`close` stops it.
    """

    def __init__(self, redis: Redis, prefix: str, near: NearCache) -> None:
        self._redis = redis
        self.prefix = prefix
        self._channel = invalidation_channel(prefix)
        self._near = near
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._answered = asyncio.Event()

    def ensure_started(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"near-cache-link:{self._channel}"
            )

    async def wait_live(self) -> None:
        """Returns once the near cache may serve (the caller bounds the wait)."""
        self.ensure_started()
        while not self._near.live():
            self._answered.clear()
            await self._answered.wait()

    async def close(self) -> None:
        self._closed = True
        self._near.live_until = 0.0
        if self._task is not None:
            self._task.cancel()
            # Bounded: a cancelled Redis read must not hold the service's shutdown.
            await asyncio.wait({self._task}, timeout=LINK_STOP_SECONDS)

    async def _run(self) -> None:
        while not self._closed:
            try:
                await self._listen()
            except (RedisError, OSError) as err:
                log.warning(
                    "near-cache invalidation link lost; L1 emptied", extra={"error": str(err)}
                )
            self._near.live_until = 0.0
            self._near.clear()
            NEAR_CACHE_EVENTS.labels("link_lost").inc()
            await asyncio.sleep(RECONNECT_BACKOFF_SECONDS)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        sent: dict[bytes, float] = {}
        heartbeats: asyncio.Task[None] | None = None
        try:
            await pubsub.subscribe(self._channel)
            # Anything cached before this subscription may have missed messages.
            self._near.clear()

            async def beat() -> None:
                sequence = 0
                while True:
                    sequence += 1
                    token = str(sequence).encode()
                    sent[token] = time.monotonic()
                    await pubsub.ping(token)
                    await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)

            heartbeats = asyncio.create_task(beat())
            while True:
                if heartbeats.done():
                    heartbeats.result()  # raises what broke it
                    return
                message = await pubsub.get_message(timeout=STALENESS_BOUND_SECONDS)
                if message is None:
                    continue
                kind = message["type"]
                if kind == "message":
                    self._near.apply(message["data"])
                elif kind == "pong":
                    sent_at = sent.pop(message["data"], None)
                    if sent_at is not None:
                        # Pongs come in order: older unanswered tokens are moot.
                        for token in [t for t, at in sent.items() if at < sent_at]:
                            del sent[token]
                        self._near.live_until = max(
                            self._near.live_until, sent_at + STALENESS_BOUND_SECONDS
                        )
                        self._answered.set()
        finally:
            if heartbeats is not None:
                heartbeats.cancel()
                with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                    await heartbeats
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()


@dataclass(frozen=True)
class NearCacheSettings:
    max_bytes: int = DEFAULT_MAX_BYTES
    ttl_seconds: float = DEFAULT_TTL_SECONDS


class _Attached:
    def __init__(self, settings: NearCacheSettings) -> None:
        self.settings = settings
        self.near = NearCache(max_bytes=settings.max_bytes, ttl_seconds=settings.ttl_seconds)
        # One prefix per client (a service has one): its link feeds the near cache.
        self.link: InvalidationLink | None = None


# The near cache of each Redis client the kit made with one (weak: a closed
# client's entry goes with it).
_attached: weakref.WeakKeyDictionary[Redis, _Attached] = weakref.WeakKeyDictionary()


def attach(redis: Redis, settings: NearCacheSettings) -> None:
    """Gives every cache on ``redis`` a near cache (the kit does it per process)."""
    if settings.max_bytes > 0 and settings.ttl_seconds > 0:
        _attached[redis] = _Attached(settings)


@dataclass(frozen=True)
class Layer:
    """What a cache on one Redis client needs: the process's near cache and its link."""

    near: NearCache
    link: InvalidationLink


def layer_for(redis: Redis, prefix: str) -> Layer | None:
    """The near cache for caches on ``redis`` under ``prefix``; None when not attached."""
    attached = _attached.get(redis)
    if attached is None:
        return None
    if attached.link is None:
        attached.link = InvalidationLink(redis, prefix, attached.near)
    elif attached.link.prefix != prefix:
        return None  # a second prefix on one client would need its own link: no L1
    return Layer(attached.near, attached.link)


async def detach(redis: Redis) -> None:
    """Stops the near cache's links on ``redis`` (before the client closes)."""
    attached = _attached.pop(redis, None)
    if attached is not None and attached.link is not None:
        await attached.link.close()


def publish_invalidation(pipe: Pipeline, prefix: str, namespace: str, key: str | None) -> None:
    """Queues the invalidation message on ``pipe`` (inside the writer's MULTI)."""
    pipe.publish(invalidation_channel(prefix), invalidation_message(namespace, key))
