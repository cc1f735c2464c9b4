"""The users store port: what the domain needs from a database.

Adapters live in ``stores/``; one contract suite (tests/users/test_store_contract.py)
runs against each of them. Every write runs in ONE transaction that also
inserts its outbox event, so a committed change always has its event and a
rolled-back one never does. Invariants that depend on other rows (the
profile limit, the undeletable primary profile, unique e-mail addresses) are
checked inside that transaction, after the rows they depend on are locked,
so concurrent writers cannot both pass them.

Errors are domain errors (services.runtime.errors): NotFound, AlreadyExists,
FailedPrecondition, Unavailable (database unreachable); never a driver error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class AccountRecord:
    account_id: int
    email: str
    password_hash: str
    first_name: str
    last_name: str
    country_code: str
    language_code: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ProfileRecord:
    profile_id: int
    account_id: int
    profile_name: str
    avatar_url: str
    maturity_rating: str
    kids_profile: bool
    primary: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PreferenceRecord:
    profile_id: int
    account_id: int
    key: str
    value: str
    updated_at: datetime


@dataclass(frozen=True)
class NewAccount:
    """A validated account to insert (e-mail already normalised, password hashed)."""

    email: str
    password_hash: str
    first_name: str
    last_name: str
    country_code: str
    language_code: str


@dataclass(frozen=True)
class ProfileFields:
    """The mutable fields of a profile, validated by the domain."""

    profile_name: str
    avatar_url: str
    maturity_rating: str
    kids_profile: bool


@dataclass(frozen=True)
class OutboxEvent:
    """One row of the outbox: a serialized ``streammesh.events.v1.Event``."""

    event_id: str
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: bytes
    created_at: datetime


# Event builders: called inside the transaction with the rows as written, so
# the event carries server-assigned ids and timestamps.
AccountCreatedEventFactory = Callable[[AccountRecord, ProfileRecord], OutboxEvent]
ProfileEventFactory = Callable[[ProfileRecord], OutboxEvent]
PreferenceEventFactory = Callable[[PreferenceRecord], OutboxEvent]
# Decides a profile's new fields from its locked current row; raises a domain
# error (PermissionDenied, FailedPrecondition...) to abort the transaction.
ProfileUpdate = Callable[[ProfileRecord], ProfileFields]
# Checks the locked current row before a write; raises to abort it.
ProfileGuard = Callable[[ProfileRecord], None]


class UserStore(Protocol):
    async def create_account(
        self,
        account: NewAccount,
        primary_profile: ProfileFields,
        event: AccountCreatedEventFactory,
    ) -> tuple[AccountRecord, ProfileRecord]:
        """Inserts the account, its primary profile and the event atomically.

        AlreadyExists when the (normalised) e-mail address is taken.
        """
        ...

    async def get_account(self, account_id: int) -> AccountRecord | None: ...

    async def find_account_by_email(self, email: str) -> AccountRecord | None:
        """The account with this normalised e-mail address, if any."""
        ...

    async def list_profiles(self, account_id: int) -> list[ProfileRecord]:
        """The account's profiles, primary first, then by creation."""
        ...

    async def get_profile(self, profile_id: int) -> ProfileRecord | None: ...

    async def create_profile(
        self,
        account_id: int,
        fields: ProfileFields,
        *,
        max_profiles: int,
        event: ProfileEventFactory,
    ) -> ProfileRecord:
        """Adds a non-primary profile.

        NotFound when the account does not exist; FailedPrecondition (reason
        PROFILE_LIMIT_REACHED) when it already has ``max_profiles`` profiles.
        """
        ...

    async def update_profile(
        self, profile_id: int, update: ProfileUpdate, event: ProfileEventFactory
    ) -> ProfileRecord:
        """Locks the profile, asks ``update`` for its new fields and writes them.

        NotFound when the profile does not exist; whatever ``update`` raises.
        """
        ...

    async def delete_profile(
        self, profile_id: int, guard: ProfileGuard, event: ProfileEventFactory
    ) -> ProfileRecord:
        """Deletes a non-primary profile and its preferences; returns it as it was.

        NotFound when absent; FailedPrecondition (reason PRIMARY_PROFILE) for
        the primary profile; whatever ``guard`` raises.
        """
        ...

    async def list_preferences(
        self, profile_id: int, *, after_key: str, limit: int
    ) -> list[PreferenceRecord]:
        """At most ``limit`` preferences with keys greater than ``after_key``, by key."""
        ...

    async def set_preference(
        self,
        profile_id: int,
        key: str,
        value: str,
        guard: ProfileGuard,
        event: PreferenceEventFactory,
    ) -> PreferenceRecord:
        """Creates or replaces one preference. NotFound when the profile is absent."""
        ...

    async def close(self) -> None:
        """Releases the connection pool."""
        ...
