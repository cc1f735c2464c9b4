"""A Redis lease: at most one holder of a key at a time, for a bounded TTL.

The relay of a source and the active consumer of a group each hold one, so
events are published and handled by one process at a time (which is what
keeps an aggregate's events in order). A holder that stops renewing (killed,
partitioned, paused) loses the lease after ``ttl_ms``, and a standby takes
over. The token is random per holder, so only the holder can renew or release.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

# Renew or release only when the key still holds our token.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """One holder's claim on ``key``; ``ttl_ms`` bounds how long a dead holder blocks others."""

    def __init__(self, redis: Redis, key: str, ttl_ms: int) -> None:
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = uuid.uuid4().hex
        self._redis = redis
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Takes the lease when it is free (or already ours); True when held."""
        if await self._redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extends the lease by ``ttl_ms``; False when it is no longer ours."""
        return bool(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        """Frees the lease now so a standby need not wait out the TTL."""
        await self._release(keys=[self.key], args=[self.token])
