"""The users domain's events, as outbox rows in the ``streammesh.events.v1.Event`` envelope.

Every event of an account (its creation and its profiles' and preferences'
changes) has ``aggregate_type`` "account" and the account id as
``aggregate_id``, so a consumer receives one account's events in order.
The producing request's W3C trace context rides along, so a consumer's span
joins the trace of the request that caused the event.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from services.events.envelope import new_event
from services.users import mapping
from services.users.store import (
    AccountRecord,
    OutboxEvent,
    PreferenceRecord,
    ProfileEventFactory,
    ProfileRecord,
    SubscriptionRecord,
)
from streammesh.users.v1 import events_pb2

SOURCE: Final = "users"
AGGREGATE_TYPE: Final = "account"
EVENT_VERSION: Final = 1

ACCOUNT_CREATED: Final = "user.account.created"
PROFILE_CREATED: Final = "user.profile.created"
PROFILE_UPDATED: Final = "user.profile.updated"
PROFILE_DELETED: Final = "user.profile.deleted"
PREFERENCE_UPDATED: Final = "user.preference.updated"
SUBSCRIPTION_CHANGED: Final = "user.subscription.changed"
ACCOUNT_DELETION_REQUESTED: Final = "user.account.deletion_requested"
ACCOUNT_DELETED: Final = "user.account.deleted"


@dataclass(frozen=True)
class RequestIds:
    """Correlation ids of the request being served (from its metadata)."""

    request_id: str = ""
    correlation_id: str = ""


# Set by the servicer for the duration of a call.
request_ids: ContextVar[RequestIds | None] = ContextVar("users_request_ids", default=None)


def _envelope(event_type: str, account_id: int, data: Message) -> OutboxEvent:
    now = datetime.now(UTC)
    ids = request_ids.get() or RequestIds()
    envelope = new_event(
        event_type=event_type,
        data=data,
        source=SOURCE,
        aggregate_type=AGGREGATE_TYPE,
        aggregate_id=str(account_id),
        event_version=EVENT_VERSION,
        request_id=ids.request_id,
        # A request that starts a flow is its own correlation.
        correlation_id=ids.correlation_id or ids.request_id,
        occurred_at=now,
    )
    return OutboxEvent(
        event_id=envelope.event_id,
        aggregate_type=AGGREGATE_TYPE,
        aggregate_id=str(account_id),
        event_type=event_type,
        payload=envelope.SerializeToString(),
        created_at=now,
    )


def account_created(account: AccountRecord, primary: ProfileRecord) -> OutboxEvent:
    return _envelope(
        ACCOUNT_CREATED,
        account.account_id,
        events_pb2.AccountCreatedEvent(
            account=mapping.account_to_proto(account),
            primary_profile=mapping.profile_to_proto(primary),
        ),
    )


def profile_created(profile: ProfileRecord) -> OutboxEvent:
    return _envelope(
        PROFILE_CREATED,
        profile.account_id,
        events_pb2.ProfileCreatedEvent(profile=mapping.profile_to_proto(profile)),
    )


def profile_updated(paths: list[str]) -> ProfileEventFactory:
    def build(profile: ProfileRecord) -> OutboxEvent:
        return _envelope(
            PROFILE_UPDATED,
            profile.account_id,
            events_pb2.ProfileUpdatedEvent(
                profile=mapping.profile_to_proto(profile),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
        )

    return build


def profile_deleted(profile: ProfileRecord) -> OutboxEvent:
    return _envelope(
        PROFILE_DELETED,
        profile.account_id,
        events_pb2.ProfileDeletedEvent(
            profile_id=str(profile.profile_id), account_id=str(profile.account_id)
        ),
    )


def preference_updated(preference: PreferenceRecord) -> OutboxEvent:
    return _envelope(
        PREFERENCE_UPDATED,
        preference.account_id,
        events_pb2.PreferenceUpdatedEvent(preference=mapping.preference_to_proto(preference)),
    )


def subscription_changed(before: SubscriptionRecord, after: SubscriptionRecord) -> OutboxEvent:
    return _envelope(
        SUBSCRIPTION_CHANGED,
        after.account_id,
        events_pb2.SubscriptionChangedEvent(
            subscription=mapping.subscription_to_proto(after),
            previous_plan_id=before.plan.plan_id,
            previous_status=mapping.status_to_proto(before.status),
        ),
    )


def account_deletion_requested(account_id: int, saga_id: str) -> OutboxEvent:
    return _envelope(
        ACCOUNT_DELETION_REQUESTED,
        account_id,
        events_pb2.AccountDeletionRequestedEvent(account_id=str(account_id), saga_id=saga_id),
    )


def account_deleted(account_id: int, saga_id: str) -> OutboxEvent:
    return _envelope(
        ACCOUNT_DELETED,
        account_id,
        events_pb2.AccountDeletedEvent(account_id=str(account_id), saga_id=saga_id),
    )
