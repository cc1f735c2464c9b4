"""Password hashing with Argon2id, off the event loop.

Why Argon2id (argon2-cffi) rather than hashlib.scrypt: it is the first choice
of RFC 9106 and OWASP's password storage guidance (our costs and why:
config.PasswordHashing), it resists both GPU and side-channel attacks, and
its PHC string ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>") carries the
salt (16 random bytes per hash) and the cost, so costs can rise later
without a migration. argon2-cffi compares digests in constant time and
releases the GIL while hashing, so a small thread pool really runs hashes in
parallel with the event loop.

The clear-text password is never logged, stored or returned: it lives in
the request message and in these calls only.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.runtime.errors import ResourceExhausted
from services.users.config import PasswordHashing

R = TypeVar("R")

# How long a caller refused for a full queue should wait.
BUSY_RETRY_AFTER_SECONDS: Final = 1.0


class PasswordHasherPool:
    """Argon2id hashing and verification in a bounded thread pool."""

    def __init__(self, settings: PasswordHashing) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_kib,
            parallelism=settings.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="argon2"
        )
        self._max_pending = settings.max_pending
        self._pending = 0
        # A hash of a random secret, verified when an e-mail address is
        # unknown so that a miss costs as much as a wrong password and the
        # response time does not reveal which addresses have accounts.
        self._decoy_hash = self._hasher.hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches; False (never an exception) on a malformed hash."""
        return await self._run(self._verify, password_hash, password)

    async def burn(self, password: str) -> None:
        """Spends one verification's time, for sign-ins with an unknown e-mail."""
        await self._run(self._verify, self._decoy_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _run(self, function: Callable[..., R], *args: str) -> R:
        if self._pending >= self._max_pending:
            raise ResourceExhausted(
                "too many sign-ins in progress; retry shortly",
                reason="PASSWORD_HASHING_BUSY",
                retry_after_seconds=BUSY_RETRY_AFTER_SECONDS,
            )
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
