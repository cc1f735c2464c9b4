"""Concurrent-stream slots per account, in Redis, taken and freed atomically.

Keys (``<prefix>`` is the service's Redis prefix):

* ``<prefix>users:streams:<account>`` - a sorted set of the account's slots
  (playback ids) scored by the Unix ms at which each expires;
* ``<prefix>users:stream:<account>`` - a hash, playback id -> the slot as JSON
  (profile, session, title, device, start time).

Starting takes a slot in ONE Lua script: it drops the expired slots, counts
the live ones against the plan's limit and adds the new one, or answers with
the slots in the way. Redis runs a script alone, so 50 concurrent starts on a
2-stream plan admit exactly 2, across every process and replica. The script
also reads the device session's hash, so a session revoked a moment before
cannot take a slot.

A slot lives ``ttl`` past its start or its last heartbeat; a player that
crashes or loses its network stops beating and its slot is dropped by the
next start or check after that. Both keys expire ``ttl`` after the last
write, so an account that stops streaming leaves nothing behind.

Redis down: starting, beating and checking raise Unavailable (fail closed:
the streams cannot be counted, so none is admitted).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.runtime.errors import Unavailable

T = TypeVar("T")

# KEYS: slot zset, slot hash, session hash.
# ARGV: now ms, ttl ms, limit, playback id, profile id, session id, title id.
# Returns {1, slot json} when taken; {0, slot json...} of the live slots when
# the limit is reached; {-1} when the session is gone.
_START: Final = """
local now = tonumber(ARGV[1])
local device = redis.call('HMGET', KEYS[3], 'device_type', 'device_name')
if not device[1] then return {-1} end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local live = redis.call('ZRANGE', KEYS[1], 0, -1)
  local result = {0}
  for _, id in ipairs(live) do table.insert(result, redis.call('HGET', KEYS[2], id) or '') end
  return result
end
local slot = cjson.encode({id = ARGV[4], profile = ARGV[5], session = ARGV[6], title = ARGV[7],
  device_type = tonumber(device[1]), device_name = device[2] or '', start = now})
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[4])
redis.call('HSET', KEYS[2], ARGV[4], slot)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, slot}
"""

# KEYS: slot zset, slot hash. ARGV: now ms, ttl ms, playback id.
# Returns the slot's JSON with its new expiry, or false when it is gone.
_HEARTBEAT: Final = """
local now = tonumber(ARGV[1])
local expires = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not expires or tonumber(expires) <= now then
  redis.call('ZREM', KEYS[1], ARGV[3])
  redis.call('HDEL', KEYS[2], ARGV[3])
  return false
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('HGET', KEYS[2], ARGV[3])
"""

# KEYS: slot zset, slot hash. ARGV: session id ('' for every slot).
# Frees the slots of a session (or all of them); returns how many.
_RELEASE: Final = """
local freed = 0
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  local id = entries[i]
  if ARGV[1] == '' or cjson.decode(entries[i + 1]).session == ARGV[1] then
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[1], id)
    freed = freed + 1
  end
end
return freed
"""


@dataclass(frozen=True)
class Slot:
    playback_id: str
    profile_id: str
    session_id: str
    title_id: str
    device_type: int
    device_name: str
    start_ms: int
    expire_ms: int


@dataclass(frozen=True)
class Refused:
    """The limit is reached: the slots in use."""

    in_use: list[Slot]


class SessionGone(Exception):
    """The device session asking for a slot has been revoked or has expired."""


def _slot(raw: Any, expire_ms: int) -> Slot:
    fields = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    return Slot(
        playback_id=str(fields.get("id", "")),
        profile_id=str(fields.get("profile", "")),
        session_id=str(fields.get("session", "")),
        title_id=str(fields.get("title", "")),
        device_type=int(fields.get("device_type", 0)),
        device_name=str(fields.get("device_name", "")),
        start_ms=int(fields.get("start", 0)),
        expire_ms=expire_ms,
    )


class StreamSlots:
    """The accounts' stream slots (see the module docstring)."""

    def __init__(
        self, redis: Redis, *, prefix: str, ttl_seconds: int, session_key_prefix: str
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}users:"
        self._session_key_prefix = session_key_prefix
        self.ttl_ms = ttl_seconds * 1000
        self._start = redis.register_script(_START)
        self._heartbeat = redis.register_script(_HEARTBEAT)
        self._release = redis.register_script(_RELEASE)

    def _keys(self, account_id: int) -> list[str]:
        return [f"{self._prefix}streams:{account_id}", f"{self._prefix}stream:{account_id}"]

    async def _redis_call(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except RedisError as err:
            raise Unavailable(
                "stream slots cannot be counted right now", reason="STREAM_SLOTS_UNAVAILABLE"
            ) from err

    async def start(
        self, account_id: int, *, limit: int, profile_id: str, session_id: str, title_id: str
    ) -> Slot | Refused:
        """A new slot, or Refused with the slots in use; SessionGone for a revoked session."""
        now = int(time.time() * 1000)
        playback_id = secrets.token_urlsafe(12)
        result = await self._redis_call(
            self._start(
                keys=[*self._keys(account_id), f"{self._session_key_prefix}{session_id}"],
                args=[now, self.ttl_ms, limit, playback_id, profile_id, session_id, title_id],
            )
        )
        status = int(result[0])
        if status == -1:
            raise SessionGone(session_id)
        if status == 0:
            return Refused([_slot(raw, 0) for raw in result[1:] if raw])
        return _slot(result[1], now + self.ttl_ms)

    async def heartbeat(self, account_id: int, playback_id: str) -> Slot | None:
        """The slot with its new expiry; None when it was stopped or has expired."""
        now = int(time.time() * 1000)
        raw = await self._redis_call(
            self._heartbeat(keys=self._keys(account_id), args=[now, self.ttl_ms, playback_id])
        )
        return None if raw is None else _slot(raw, now + self.ttl_ms)

    async def stop(self, account_id: int, playback_id: str) -> None:
        zset, slots = self._keys(account_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(zset, playback_id)
            pipe.hdel(slots, playback_id)
            await self._redis_call(pipe.execute())

    async def live(self, account_id: int) -> list[Slot]:
        """The account's live slots, oldest first."""
        now = int(time.time() * 1000)
        zset, slots = self._keys(account_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrangebyscore(zset, now + 1, "+inf", withscores=True)
            pipe.hgetall(slots)
            scored, stored = await self._redis_call(pipe.execute())
        by_id = {(k.decode() if isinstance(k, bytes) else k): v for k, v in stored.items()}
        found = []
        for member, score in scored:
            playback_id = member.decode() if isinstance(member, bytes) else member
            raw = by_id.get(playback_id)
            if raw is not None:
                found.append(_slot(raw, int(score)))
        return found

    async def release(self, account_id: int, session_id: str = "") -> int:
        """Frees the slots of a session, or every slot of the account."""
        return int(
            await self._redis_call(self._release(keys=self._keys(account_id), args=[session_id]))
        )
