"""Cache-aside in Redis, as the case study prescribes (TTL 300 s).

Reads go through :meth:`Cache.get_or_load`: a hit is served from Redis; a miss
runs the loader (the store) once per key however many callers are waiting, and
writes the result back with a TTL. Writers call :meth:`Cache.invalidate` after
their transaction commits.

Two races are closed here rather than in every service:

* Stampede: in one process, concurrent misses on a key share one in-flight
  load (a future per key). Across processes a short Redis lock (``SET NX PX``)
  elects one loader; the others poll for its result for a bounded time and then
  load themselves rather than wait forever.
* Stale fill: a reader that loaded the old row before a writer's invalidate
  must not put that old row back. Every key has a generation counter that
  ``invalidate`` bumps; the fill is a Lua script that writes only when the
  generation is still the one seen before loading.

Redis is an optimisation, never a dependency of correctness: when it is down
the loader's result is returned uncached and the error is counted.

L1: when the kit attached a near cache to the Redis client (every service
process, by configuration: ``near_cache_max_bytes``), each cache reads its
process's near cache first (services/runtime/near_cache.py: bounded in bytes
and TTL, invalidated across processes within a stated bound). ``invalidate``
publishes the invalidation in the same MULTI that deletes the Redis entry.
Hit and miss per layer: ``streammesh_cache_layer_requests_total``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from services.runtime import near_cache
from services.runtime.near_cache import CACHE_LAYER_REQUESTS

DEFAULT_TTL_SECONDS: Final = 300.0
# How long one process holds the right to load a key for everybody.
LOAD_LOCK_MS: Final = 2_000
# How long others wait for that loader's result before loading themselves.
LOCK_WAIT_SECONDS: Final = 1.0
LOCK_POLL_SECONDS: Final = 0.01
# An invalidation that fails leaves the old value readable for up to a TTL
# after a write was acknowledged, so it is retried on a lost connection: 5
# retries pause 0.2 + 0.4 + 0.8 + 1 + 1 s, past a Redis restart (measured
# here: answering again within about 1 s).
INVALIDATION_RETRY: Final = Retry(ExponentialBackoff(cap=1.0, base=0.1), retries=5)

Loader = Callable[[], Awaitable[bytes | None]]

CACHE_REQUESTS = Counter(
    "streammesh_cache_requests_total",
    "Cache-aside lookups by result: hit, miss (loaded from the store) or error (Redis down).",
    ["namespace", "result"],
)

log = logging.getLogger(__name__)

# Writes the value only if the key's generation is unchanged since the read.
_FILL_IF_CURRENT = """
local current = redis.call('GET', KEYS[2])
if (current == false and ARGV[1] == '') or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


class Cache:
    """Cache-aside for one namespace of keys (``profile``, ``title`` ...)."""

    def __init__(
        self,
        redis: Redis,
        namespace: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        prefix: str = "streammesh:",
        near: bool = True,
    ) -> None:
        self._redis = redis
        self._namespace = namespace
        self._ttl_ms = int(ttl_seconds * 1000)
        self._ttl_seconds = ttl_seconds
        self._base_prefix = prefix
        self._prefix = f"{prefix}cache:{namespace}:"
        self._in_flight: dict[str, asyncio.Future[bytes | None]] = {}
        self._fill = redis.register_script(_FILL_IF_CURRENT)
        # L1 when the client has one attached (``near=False``: never, e.g. for
        # versioned keys whose namespace-wide retirement is handled above).
        self._layer = near_cache.layer_for(redis, prefix) if near else None
        self._counts = _LayerCounts(namespace)

    async def get_or_load(self, key: str, loader: Loader) -> bytes | None:
        """The cached bytes of ``key``: from L1, else Redis, else ``loader``.

        ``loader`` returns None when the entity does not exist; that answer is
        passed through and not cached.
        """
        if self._layer is None:
            return await self._get_or_load_redis(key, loader)
        return await _through_near(
            self._layer,
            self._counts,
            self._namespace,
            key,
            self._get_or_load_redis,
            loader,
            self._ttl_seconds,
        )

    def redis_key(self, key: str) -> str:
        """Where the entry for ``key`` lives in Redis."""
        return self._prefix + key

    def _generation_key(self, key: str) -> str:
        return self._prefix + key + ":gen"

    def _lock_key(self, key: str) -> str:
        return self._prefix + key + ":lock"

    async def _get_or_load_redis(self, key: str, loader: Loader) -> bytes | None:
        try:
            cached = await self._redis.get(self.redis_key(key))
        except RedisError as err:
            self._counts.error.inc()
            log.warning("cache read failed, loading from the store", extra={"error": str(err)})
            return await loader()
        if cached is not None:
            self._counts.redis_hit.inc()
            return _as_bytes(cached)
        self._counts.redis_miss.inc()
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            value = await self._load_once(key, loader)
        except BaseException as err:
            future.set_exception(err)
            # The waiters see the error; this caller re-raises it.
            future.exception()
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._in_flight[key]

    async def _load_once(self, key: str, loader: Loader) -> bytes | None:
        try:
            generation = await self._redis.get(self._generation_key(key))
            elected = await self._redis.set(self._lock_key(key), b"1", nx=True, px=LOAD_LOCK_MS)
            if not elected:
                waited = await self._wait_for_other_loader(key)
                if waited is not None:
                    return waited
        except RedisError as err:
            CACHE_REQUESTS.labels(self._namespace, "error").inc()
            log.warning("cache unavailable, loading from the store", extra={"error": str(err)})
            return await loader()
        value = await loader()
        try:
            if value is not None:
                await self._fill(
                    keys=[self.redis_key(key), self._generation_key(key)],
                    args=[b"" if generation is None else generation, value, self._ttl_ms],
                )
            await self._redis.delete(self._lock_key(key))
        except RedisError as err:
            CACHE_REQUESTS.labels(self._namespace, "error").inc()
            log.warning("cache fill failed", extra={"error": str(err)})
        return value

    async def _wait_for_other_loader(self, key: str) -> bytes | None:
        deadline = asyncio.get_running_loop().time() + LOCK_WAIT_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(LOCK_POLL_SECONDS)
            cached = await self._redis.get(self.redis_key(key))
            if cached is not None:
                return _as_bytes(cached)
            if not await self._redis.exists(self._lock_key(key)):
                return None  # the other loader finished without a value, or died
        return None

    async def invalidate(self, *keys: str) -> None:
        """Drops ``keys`` and fences out fills that read before this call.

        Call it after the write has committed. A Redis error propagates: the
        caller decides whether a stale cache (bounded by the TTL) is acceptable.
        """
        if not keys:
            return

        async def invalidate_in_redis() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.incr(self._generation_key(key))
                    # The generation outlives any value filled under the old one.
                    pipe.pexpire(self._generation_key(key), self._ttl_ms * 2)
                    pipe.delete(self.redis_key(key))
                    # Also from writers without L1 (the import CLI): others have one.
                    near_cache.publish_invalidation(pipe, self._base_prefix, self._namespace, key)
                await pipe.execute()

        try:
            # Retrying bumps a generation twice, which fences the same fills.
            await INVALIDATION_RETRY.call_with_retry(invalidate_in_redis, _retrying_invalidation)
        finally:
            # This process's own L1 at once: the writer reads its write.
            if self._layer is not None:
                for key in keys:
                    self._layer.near.drop(self._namespace, key)


async def _through_near(
    layer: near_cache.Layer,
    counts: _LayerCounts,
    namespace: str,
    key: str,
    from_redis: Callable[[str, Loader], Awaitable[bytes | None]],
    loader: Loader,
    ttl_seconds: float,
) -> bytes | None:
    """L1 first; on a miss ``from_redis`` (Redis, then the store), put back unless
    an invalidation came in the meantime. An entry stays in L1 no longer than
    the cache's own TTL (data only a TTL refreshes, like trending, stays
    within twice it)."""
    layer.link.ensure_started()
    value = layer.near.get(namespace, key)
    if value is not None:
        counts.l1_hit.inc()
        return value
    counts.l1_miss.inc()
    fence = layer.near.fence(namespace, key)
    value = await from_redis(key, loader)
    if value is not None:
        layer.near.put(fence, value, ttl_seconds=ttl_seconds)
    return value


class _LayerCounts:
    """The namespace's counter children, looked up once (the hit path is hot)."""

    def __init__(self, namespace: str) -> None:
        self.l1_hit = CACHE_LAYER_REQUESTS.labels(namespace, "l1", "hit")
        self.l1_miss = CACHE_LAYER_REQUESTS.labels(namespace, "l1", "miss")
        self.redis_hit = _Both(
            CACHE_REQUESTS.labels(namespace, "hit"),
            CACHE_LAYER_REQUESTS.labels(namespace, "l3", "hit"),
        )
        self.redis_miss = _Both(
            CACHE_REQUESTS.labels(namespace, "miss"),
            CACHE_LAYER_REQUESTS.labels(namespace, "l3", "miss"),
        )
        self.error = CACHE_REQUESTS.labels(namespace, "error")


class _Both:
    """Counts in the original per-namespace counter and the per-layer one."""

    def __init__(self, *counters: Counter) -> None:
        self._counters = counters

    def inc(self) -> None:
        for counter in self._counters:
            counter.inc()


def _as_bytes(value: bytes | str) -> bytes:
    # Clients built with decode_responses=True hand back str.
    return value.encode() if isinstance(value, str) else value


# Reads the namespace's version and the entry under it in one round trip.
_GET_VERSIONED = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2])}
"""


class VersionedCache:
    """Cache-aside for results that any write in a namespace may change.

    A listing page depends on every title in it, so no single key can be
    invalidated when one title changes. Entries live under the namespace's
    version instead; :meth:`invalidate_all` bumps it after a write commits,
    and the old entries are never read again (they expire with their TTL).
    A hit costs one round trip (a Lua script reads version and entry
    together); a miss loads through :class:`Cache`, with its one loader per
    key. A fill racing a bump lands under the old version, where nobody reads.
    """

    def __init__(
        self,
        redis: Redis,
        namespace: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        prefix: str = "streammesh:",
    ) -> None:
        self._redis = redis
        self._entries = Cache(redis, namespace, ttl_seconds=ttl_seconds, prefix=prefix, near=False)
        self._namespace = namespace
        self._prefix = prefix
        self._ttl_seconds = ttl_seconds
        self._version_key = f"{prefix}cache:{namespace}:version"
        self._get = redis.register_script(_GET_VERSIONED)
        self._layer = near_cache.layer_for(redis, prefix)
        self._counts = _LayerCounts(namespace)

    async def get_or_load(self, key: str, loader: Loader) -> bytes | None:
        if self._layer is None:
            return await self._get_or_load_redis(key, loader)
        return await _through_near(
            self._layer,
            self._counts,
            self._namespace,
            key,
            self._get_or_load_redis,
            loader,
            self._ttl_seconds,
        )

    async def _get_or_load_redis(self, key: str, loader: Loader) -> bytes | None:
        try:
            version, cached = await self._get(
                keys=[self._version_key], args=[self._entries.redis_key(""), key]
            )
        except RedisError as err:
            self._counts.error.inc()
            log.warning("cache read failed, loading from the store", extra={"error": str(err)})
            return await loader()
        if cached is not None:
            self._counts.redis_hit.inc()
            return _as_bytes(cached)
        versioned_key = f"{_as_bytes(version).decode()}:{key}"
        return await self._entries.get_or_load(versioned_key, loader)

    async def invalidate_all(self) -> None:
        """Retires every entry of the namespace; call it after the write commits."""

        async def retire_in_redis() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(self._version_key)
                near_cache.publish_invalidation(pipe, self._prefix, self._namespace, None)
                await pipe.execute()

        try:
            await INVALIDATION_RETRY.call_with_retry(retire_in_redis, _retrying_invalidation)
        finally:
            if self._layer is not None:
                self._layer.near.drop_namespace(self._namespace)


async def _retrying_invalidation(error: Exception) -> None:
    log.warning("cache invalidation failed, retrying", extra={"error": str(error)})
