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
    # Set while an account-deletion saga deletes the account (no sign-in).
    deletion_saga_id: str = ""


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
    language_code: str = ""
    # The latest profile-update saga of the profile ("" when none).
    settings_saga_id: str = ""


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
    language_code: str = ""


@dataclass(frozen=True)
class NewSaga:
    """A saga's first record, written in the transaction of the change that starts it
    (services/users/sagas/log.py reads and advances it from there)."""

    saga_id: str
    saga_type: str
    subject_id: str
    account_id: int
    # JSON: what the steps need (services/users/sagas/definitions.py).
    payload: str
    # Steps made by the starting transaction itself (the saga resumes after them).
    done_at_start: int = 1


@dataclass(frozen=True)
class OutboxEvent:
    """One row of the outbox: a serialized ``streammesh.events.v1.Event``."""

    event_id: str
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: bytes
    created_at: datetime


@dataclass(frozen=True)
class Price:
    currency_code: str
    amount_minor: int


@dataclass(frozen=True)
class PlanRecord:
    plan_id: str
    display_name: str
    max_streams: int
    # "SD", "HD", "UHD".
    max_quality: str
    # The monthly price in the country it was read for.
    price: Price


@dataclass(frozen=True)
class SubscriptionRecord:
    account_id: int
    plan: PlanRecord  # priced in the account's country
    # "ACTIVE", "PAST_DUE", "CANCELLED".
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class BillingRecord:
    billing_record_id: int
    account_id: int
    # "STARTED", "PLAN_CHANGED", "STATUS_CHANGED".
    kind: str
    plan_id: str
    status: str
    price: Price
    payment_reference: str
    created_at: datetime


@dataclass(frozen=True)
class SubscriptionChange:
    """What a subscription write sets: a plan, a status, and what the provider said."""

    plan_id: str
    status: str
    kind: str
    payment_reference: str


# Event builders: called inside the transaction with the rows as written, so
# the event carries server-assigned ids and timestamps.
AccountCreatedEventFactory = Callable[[AccountRecord, ProfileRecord], OutboxEvent]
ProfileEventFactory = Callable[[ProfileRecord], OutboxEvent]
PreferenceEventFactory = Callable[[PreferenceRecord], OutboxEvent]
# Builds user.subscription.changed from the subscription before and after.
SubscriptionEventFactory = Callable[[SubscriptionRecord, SubscriptionRecord], OutboxEvent]
# Decides a subscription's change from its locked current row (None: no
# change, nothing written); raises a domain error to abort.
SubscriptionDecision = Callable[[SubscriptionRecord], SubscriptionChange | None]
# Decides a profile's new fields from its locked current row; raises a domain
# error (PermissionDenied, FailedPrecondition...) to abort the transaction.
ProfileUpdate = Callable[[ProfileRecord], ProfileFields]
# Checks the locked current row before a write; raises to abort it.
ProfileGuard = Callable[[ProfileRecord], None]
# Decides, from the locked current row and its new fields, whether the change
# starts a saga (None: a plain update).
SagaStart = Callable[[ProfileRecord, ProfileFields], NewSaga | None]


class UserStore(Protocol):
    async def create_account(
        self,
        account: NewAccount,
        primary_profile: ProfileFields,
        event: AccountCreatedEventFactory,
        *,
        plan_id: str = "basic",
        payment_reference: str = "not-collected",
    ) -> tuple[AccountRecord, ProfileRecord]:
        """Inserts the account, its primary profile, its active subscription on
        ``plan_id`` with a "started" billing record, and the event atomically.

        AlreadyExists when the (normalised) e-mail address is taken.
        """
        ...

    async def get_account(self, account_id: int) -> AccountRecord | None: ...

    async def start_account_deletion(
        self, account_id: int, saga: Callable[[list[int]], NewSaga], event: OutboxEvent
    ) -> str:
        """Marks the account as being deleted by the saga ``saga(profile ids)`` builds
        (no sign-in from now on) and writes the saga's first record and ``event``,
        in one transaction (the account row locked: no profile is added meanwhile).
        Returns the deleting saga's id: an earlier one's when the account is
        already being deleted (nothing written then). NotFound when it does not exist.
        """
        ...

    async def delete_account(self, account_id: int, event: OutboxEvent) -> bool:
        """Deletes the account with its profiles, preferences, subscription and
        billing history, and writes ``event``; False when it was already gone."""
        ...

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
        self,
        profile_id: int,
        update: ProfileUpdate,
        event: ProfileEventFactory,
        *,
        saga: SagaStart | None = None,
    ) -> ProfileRecord:
        """Locks the profile, asks ``update`` for its new fields and writes them.

        When ``saga`` returns a saga, its first record is written in the same
        transaction and becomes the profile's ``settings_saga_id``; while the
        profile's previous saga still runs that is refused with
        FailedPrecondition (reason PROFILE_SAGA_IN_PROGRESS).

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

    # -- plans and subscriptions -------------------------------------------

    async def list_plans(self, country_code: str) -> list[PlanRecord]:
        """Every plan, cheapest first, priced in ``country_code`` (else in "ZZ")."""
        ...

    async def get_plan(self, plan_id: str, country_code: str) -> PlanRecord | None: ...

    async def get_subscription(self, account_id: int) -> SubscriptionRecord | None:
        """The account's subscription, its plan priced in the account's country."""
        ...

    async def change_subscription(
        self,
        account_id: int,
        decide: SubscriptionDecision,
        event: SubscriptionEventFactory,
    ) -> SubscriptionRecord:
        """Locks the account, asks ``decide`` for the change and writes it with a
        billing record and the event; returns the subscription as it is then.

        NotFound (ACCOUNT_NOT_FOUND, PLAN_NOT_FOUND); whatever ``decide`` raises.
        """
        ...

    async def list_billing_records(
        self, account_id: int, *, before_id: int, limit: int
    ) -> list[BillingRecord]:
        """At most ``limit`` records with ids below ``before_id`` (0: from the
        newest), newest first."""
        ...

    async def close(self) -> None:
        """Releases the connection pool."""
        ...
