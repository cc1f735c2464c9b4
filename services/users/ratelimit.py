"""Failed sign-in limits per account and per client address, in Redis.

Fixed windows: the first attempt in a window starts a counter that expires
after ``window_seconds``. An attempt is counted BEFORE its password is
checked (one Lua script increments both counters and compares them to the
limits atomically), so a burst of concurrent guesses cannot all slip in
before the first failure is recorded; a successful sign-in takes its count
back and clears the account's counter.

Counters live in Redis so every process of the service (and every replica)
shares them. When Redis cannot be reached sign-in fails with UNAVAILABLE
rather than running unlimited: guessing must never get cheaper because a
cache is down.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.runtime.errors import ResourceExhausted, Unavailable
from services.users.config import LoginLimits

log = logging.getLogger(__name__)

# Returns 0 when the attempt may proceed, else the milliseconds until the
# exceeded window ends.
_ADMIT: Final = """
local account = redis.call('INCR', KEYS[1])
if account == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local address = redis.call('INCR', KEYS[2])
if address == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
local wait = 0
if account > tonumber(ARGV[2]) then wait = math.max(wait, redis.call('PTTL', KEYS[1])) end
if address > tonumber(ARGV[3]) then wait = math.max(wait, redis.call('PTTL', KEYS[2])) end
return wait
"""

# Deletes the account counter and takes one attempt back from the address's,
# unless that window has already ended (a DECR would then create a key
# without expiry).
_SUCCEEDED: Final = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECR', KEYS[2]) end
return 0
"""


class LoginLimiter:
    def __init__(self, redis: Redis, limits: LoginLimits, *, prefix: str = "streammesh:") -> None:
        self._redis = redis
        self._limits = limits
        self._prefix = f"{prefix}users:login-failures:"
        self._admit = redis.register_script(_ADMIT)
        self._succeeded = redis.register_script(_SUCCEEDED)

    def _keys(self, email: str, address: str) -> list[str]:
        # Hashed: key names show up in monitoring; addresses need not.
        account = hashlib.sha256(email.encode()).hexdigest()[:32]
        return [f"{self._prefix}account:{account}", f"{self._prefix}address:{address or 'unknown'}"]

    async def admit(self, email: str, address: str) -> None:
        """Counts an attempt; RESOURCE_EXHAUSTED (with retry_after) past a limit."""
        try:
            wait_ms = int(
                await self._admit(
                    keys=self._keys(email, address),
                    args=[
                        self._limits.window_seconds * 1000,
                        self._limits.account_failures,
                        self._limits.address_failures,
                    ],
                )
            )
        except RedisError as err:
            log.warning("login limiter unavailable", extra={"error": type(err).__name__})
            raise Unavailable(
                "sign-in is temporarily unavailable", reason="RATE_LIMITER_DOWN"
            ) from err
        if wait_ms > 0:
            raise ResourceExhausted(
                "too many failed sign-in attempts; retry later",
                reason="LOGIN_RATE_LIMITED",
                retry_after_seconds=max(1.0, wait_ms / 1000),
            )

    async def succeeded(self, email: str, address: str) -> None:
        """Takes back a successful attempt and forgives the account's failures."""
        try:
            await self._succeeded(keys=self._keys(email, address), args=[])
        except RedisError as err:
            # The sign-in succeeded; a counter left one too high only tightens
            # the limit until the window ends.
            log.warning("login limiter reset failed", extra={"error": type(err).__name__})
