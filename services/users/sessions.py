"""Device sessions in Redis: sign-in, refresh-token rotation with reuse detection, revocation.

A session is one signed-in device. Keys (``<prefix>`` is the service's Redis prefix):

* ``<prefix>users:session:<sid>`` - a hash: ``account``, ``device_type``,
  ``device_name``, ``created`` and ``last_seen`` (Unix ms), ``generation`` of
  the current refresh token and ``key``, the session's own 32-byte MAC key.
  It expires ``refresh_ttl_seconds`` after the last sign-in or refresh.
* ``<prefix>users:sessions:<account>`` - a sorted set of the account's
  session ids by creation time, for listing and "sign out everywhere"; ids
  whose hash has expired are pruned when it is read.

A refresh token is ``<sid>.<generation>.<mac>`` with ``mac`` =
HMAC-SHA256(session key, ``<sid>.<generation>``). Only the current
generation is accepted, and a refresh moves the session to the next one in
one Lua script that compares the generation first, so of two refreshes with
one token exactly one wins. A token whose MAC is right but whose generation
is older is a rotated token used again: the session is revoked (reuse
detection: either the device or a thief holds a copy, and the server cannot
tell which). A token with a wrong MAC is just refused: guessing at a session
id must not let anyone sign a device out. Nothing but the MAC key is stored,
so the session store holds no token that works.

Revocation deletes the hash: a revoked session is simply absent, so its
refresh tokens fail at once, and its access tokens fail as soon as the
checking process asks again (interceptors/auth.py, ``SessionCheck``: within
the revocation bound). Revoking also frees the session's stream slots
(services/users/streams.py).

Redis is the store of sessions, not a cache: with AOF on (fsync every
second, as ``streammesh infra`` and the deployment run it) sessions survive
a restart. A restart may lose the last second's rotations; a device then
presents a generation ahead of the stored one, whose MAC proves it was
issued, and it is accepted (never taken for reuse). A session created in
that last second is lost: its device signs in again. When Redis cannot be
reached every operation here raises Unavailable: sign-in, refresh and
revocation fail closed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.runtime.errors import NotFound, Unauthenticated, Unavailable

log = logging.getLogger(__name__)
# The pause before the one retry of an idempotent session store call.
IDEMPOTENT_RETRY_PAUSE_SECONDS: Final = 0.05

T = TypeVar("T")

# last_seen is written at most this often by token checks (one HSET per
# session per minute, not one per call).
LAST_SEEN_RESOLUTION_MS: Final = 60_000
# Sessions one account may hold; the oldest is revoked past it, so the index
# (and ListSessions) stays bounded.
MAX_SESSIONS_PER_ACCOUNT: Final = 100
DEVICE_NAME_MAX: Final = 64

# KEYS: session hash, account index. ARGV: fields..., ttl ms, now ms, sid, max sessions.
# Returns the session ids revoked to stay within the bound.
_CREATE: Final = """
redis.call('HSET', KEYS[1], 'account', ARGV[1], 'device_type', ARGV[2], 'device_name', ARGV[3],
  'created', ARGV[4], 'last_seen', ARGV[4], 'generation', '1', 'key', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[8])
local evicted = {}
if extra > 0 then
  evicted = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  for _, sid in ipairs(evicted) do
    redis.call('DEL', ARGV[9] .. sid)
    redis.call('ZREM', KEYS[2], sid)
  end
end
return evicted
"""

# KEYS: session hash, account index. ARGV: presented generation, now ms, ttl ms, sid.
# Returns {1, new generation} on rotation, {0} when the session is gone,
# {-1} when the generation was already rotated (the session is then revoked).
# A generation AHEAD of the stored one (its MAC checked by the caller) can
# only be a rotation Redis lost in a crash (AOF everysec): it is accepted, so
# a restart never signs a device out.
_ROTATE: Final = """
local current = redis.call('HGET', KEYS[1], 'generation')
if not current then return {0} end
local presented = tonumber(ARGV[1])
if presented < tonumber(current) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {-1}
end
redis.call('HSET', KEYS[1], 'generation', presented)
local next = redis.call('HINCRBY', KEYS[1], 'generation', 1)
redis.call('HSET', KEYS[1], 'last_seen', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, next}
"""

# KEYS: session hash. ARGV: now ms, resolution ms. The session's account, or false.
_TOUCH: Final = """
local fields = redis.call('HMGET', KEYS[1], 'account', 'last_seen')
if not fields[1] then return false end
if tonumber(ARGV[1]) - tonumber(fields[2] or '0') >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
end
return fields[1]
"""

# KEYS: account index. ARGV: session key prefix, sid or '' for all of them.
# Deletes the session(s) and returns the ids deleted.
_REVOKE: Final = """
local sids
if ARGV[2] == '' then sids = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return {} end
  sids = {ARGV[2]}
end
local revoked = {}
for _, sid in ipairs(sids) do
  if redis.call('DEL', ARGV[1] .. sid) == 1 then table.insert(revoked, sid) end
  redis.call('ZREM', KEYS[1], sid)
end
return revoked
"""


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    account_id: int
    device_type: int
    device_name: str
    created_ms: int
    last_seen_ms: int


@dataclass(frozen=True)
class IssuedRefresh:
    session_id: str
    account_id: int
    refresh_token: str
    refresh_expires_at: int  # Unix seconds


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(key: bytes, session_id: str, generation: int) -> str:
    digest = hmac.new(key, f"{session_id}.{generation}".encode(), hashlib.sha256).digest()
    return _b64(digest)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _refused() -> Unauthenticated:
    return Unauthenticated(
        "the refresh token is invalid, expired or revoked", reason="REFRESH_TOKEN_INVALID"
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


class SessionStore:
    """Device sessions of every account, in Redis (see the module docstring)."""

    def __init__(self, redis: Redis, *, prefix: str, refresh_ttl_seconds: int) -> None:
        self._redis = redis
        self._session_prefix = f"{prefix}users:session:"
        self._index_prefix = f"{prefix}users:sessions:"
        self._ttl_ms = refresh_ttl_seconds * 1000
        self._create = redis.register_script(_CREATE)
        self._rotate = redis.register_script(_ROTATE)
        self._touch = redis.register_script(_TOUCH)
        self._revoke = redis.register_script(_REVOKE)

    def session_key(self, session_id: str) -> str:
        return f"{self._session_prefix}{session_id}"

    def _index(self, account_id: int) -> str:
        return f"{self._index_prefix}{account_id}"

    async def _redis_call(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except RedisError as err:
            log.warning("session store call failed: %r", err)
            raise Unavailable(
                "the session store cannot be reached", reason="SESSION_STORE_UNAVAILABLE"
            ) from err

    async def _idempotent_redis_call(self, make_work: Callable[[], Awaitable[T]]) -> T:
        """``make_work()``, tried again once after a pause when the connection failed or
        timed out: the liveness check sits in front of every owner call, and one lost
        packet should not fail the call. Safe only for work that may run twice."""
        try:
            return await make_work()
        except (RedisConnectionError, RedisTimeoutError) as err:
            log.warning("session store call failed, trying once more: %r", err)
        await asyncio.sleep(IDEMPOTENT_RETRY_PAUSE_SECONDS)
        return await self._redis_call(make_work())

    async def create(self, account_id: int, device_type: int, device_name: str) -> IssuedRefresh:
        """A new session and its first refresh token."""
        session_id = secrets.token_urlsafe(12)
        key = secrets.token_bytes(32)
        now = _now_ms()
        await self._redis_call(
            self._create(
                keys=[self.session_key(session_id), self._index(account_id)],
                args=[
                    account_id,
                    device_type,
                    device_name,
                    now,
                    key.hex(),
                    self._ttl_ms,
                    session_id,
                    MAX_SESSIONS_PER_ACCOUNT,
                    self._session_prefix,
                ],
            )
        )
        return self._issued(session_id, account_id, key, 1, now)

    def _issued(
        self, session_id: str, account_id: int, key: bytes, generation: int, now_ms: int
    ) -> IssuedRefresh:
        token = f"{session_id}.{generation}.{_mac(key, session_id, generation)}"
        return IssuedRefresh(session_id, account_id, token, (now_ms + self._ttl_ms) // 1000)

    async def rotate(
        self, refresh_token: str, on_reuse: Callable[[str, int], Awaitable[None]]
    ) -> IssuedRefresh:
        """The next refresh token of the session ``refresh_token`` belongs to.

        Unauthenticated for anything but the current token; for a rotated one
        the session is revoked first and ``on_reuse(session_id, account_id)``
        runs (to free its slots and forget it locally).
        """
        session_id, _, rest = refresh_token.partition(".")
        generation_text, _, mac = rest.partition(".")
        if not session_id or not generation_text.isdigit() or not mac or len(session_id) > 64:
            raise _refused()
        generation = int(generation_text)
        stored = await self._redis_call(
            self._redis.hmget(self.session_key(session_id), ["account", "key"])
        )
        if stored[0] is None or stored[1] is None:
            raise _refused()
        account_id = int(_text(stored[0]))
        key = bytes.fromhex(_text(stored[1]))
        if not hmac.compare_digest(mac, _mac(key, session_id, generation)):
            raise _refused()
        now = _now_ms()
        outcome = await self._redis_call(
            self._rotate(
                keys=[self.session_key(session_id), self._index(account_id)],
                args=[generation, now, self._ttl_ms, session_id],
            )
        )
        status = int(outcome[0])
        if status == -1:
            await on_reuse(session_id, account_id)
            raise Unauthenticated(
                "this refresh token was already used; the session has been signed out",
                reason="REFRESH_TOKEN_REUSED",
            )
        if status != 1:
            raise _refused()
        return self._issued(session_id, account_id, key, int(outcome[1]), now)

    async def live_account(self, session_id: str) -> int | None:
        """The account of a live session (and its last_seen brought up to date), or None."""
        account = await self._idempotent_redis_call(
            lambda: self._touch(
                keys=[self.session_key(session_id)], args=[_now_ms(), LAST_SEEN_RESOLUTION_MS]
            )
        )
        return None if account is None else int(_text(account))

    async def expire(self, session_id: str, seconds: int) -> None:
        """Makes the session end ``seconds`` from now at the latest (never later than
        it would have): the account-deletion saga leaves the requesting device its
        poll window this way."""
        key = self.session_key(session_id)

        async def shorten() -> Any:
            remaining = await self._redis.pttl(key)
            if remaining < 0 or remaining > seconds * 1000:
                return await self._redis.pexpire(key, seconds * 1000)
            return None

        await self._idempotent_redis_call(shorten)

    async def of_account(self, account_id: int) -> list[SessionRecord]:
        """The account's live sessions, newest first (expired ids are pruned)."""
        index = self._index(account_id)
        session_ids = [
            _text(sid) for sid in await self._redis_call(self._redis.zrevrange(index, 0, -1))
        ]
        if not session_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid in session_ids:
                pipe.hgetall(self.session_key(sid))
            rows = await self._redis_call(pipe.execute())
        found: list[SessionRecord] = []
        gone: list[str] = []
        for sid, row in zip(session_ids, rows, strict=True):
            if not row:
                gone.append(sid)
                continue
            fields = {_text(k): _text(v) for k, v in row.items()}
            if int(fields.get("account", "0")) != account_id:
                continue
            found.append(
                SessionRecord(
                    session_id=sid,
                    account_id=account_id,
                    device_type=int(fields.get("device_type", "0")),
                    device_name=fields.get("device_name", ""),
                    created_ms=int(fields.get("created", "0")),
                    last_seen_ms=int(fields.get("last_seen", "0")),
                )
            )
        if gone:
            await self._redis_call(self._redis.zrem(index, *gone))
        return found

    async def get(self, account_id: int, session_id: str) -> SessionRecord:
        for session in await self.of_account(account_id):
            if session.session_id == session_id:
                return session
        raise NotFound(f"session {session_id} does not exist", reason="SESSION_NOT_FOUND")

    async def rename(self, account_id: int, session_id: str, device_name: str) -> SessionRecord:
        current = await self.get(account_id, session_id)
        # HSET only on an existing hash (a revoked session is not recreated).
        renamed = await self._redis_call(
            self._redis.eval(
                "if redis.call('EXISTS', KEYS[1]) == 1 then "
                "return redis.call('HSET', KEYS[1], 'device_name', ARGV[1]) end return -1",
                1,
                self.session_key(session_id),
                device_name,
            )
        )
        if int(renamed) == -1:
            raise NotFound(f"session {session_id} does not exist", reason="SESSION_NOT_FOUND")
        return SessionRecord(
            current.session_id,
            current.account_id,
            current.device_type,
            device_name,
            current.created_ms,
            current.last_seen_ms,
        )

    async def revoke(self, account_id: int, session_id: str = "") -> list[str]:
        """Deletes one session of the account (or every one, ``session_id`` empty);
        returns the ids deleted."""
        revoked = await self._redis_call(
            self._revoke(keys=[self._index(account_id)], args=[self._session_prefix, session_id])
        )
        return [_text(sid) for sid in revoked]
