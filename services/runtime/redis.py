"""The Redis client every service uses: a bounded pool with bounded waits."""

from __future__ import annotations

from typing import Final

from redis.asyncio import BlockingConnectionPool, Redis

from services.runtime import store_metrics

# Redis connections per process; a caller waits at most REDIS_POOL_TIMEOUT
# for a free one, and each command at most REDIS_SOCKET_TIMEOUT.
REDIS_MAX_CONNECTIONS: Final = 64
REDIS_POOL_TIMEOUT_SECONDS: Final = 1.0
REDIS_SOCKET_TIMEOUT_SECONDS: Final = 1.0


def redis_client(url: str) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_POOL_TIMEOUT_SECONDS,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
    )
    store_metrics.watch_redis_pool(pool)
    # from_pool: closing the client closes the pool too.
    return Redis.from_pool(pool)
