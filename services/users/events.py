"""The users domain's events, as outbox rows in the ``streammesh.events.v1.Event`` envelope.

Every event of an account (its creation and its profiles' and preferences'
changes) has ``aggregate_type`` "account" and the account id as
``aggregate_id``, so a consumer receives one account's events in order.
The producing request's W3C trace context rides along, so a consumer's span
joins the trace of the request that caused the event.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from google.protobuf import any_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.users import mapping
from services.users.store import (
    AccountRecord,
    OutboxEvent,
    PreferenceRecord,
    ProfileEventFactory,
    ProfileRecord,
)
from streammesh.events.v1 import event_pb2
from streammesh.users.v1 import events_pb2

SOURCE: Final = "users"
AGGREGATE_TYPE: Final = "account"
EVENT_VERSION: Final = 1

ACCOUNT_CREATED: Final = "user.account.created"
PROFILE_CREATED: Final = "user.profile.created"
PROFILE_UPDATED: Final = "user.profile.updated"
PROFILE_DELETED: Final = "user.profile.deleted"
PREFERENCE_UPDATED: Final = "user.preference.updated"

_propagator = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class RequestIds:
    """Correlation ids of the request being served (from its metadata)."""

    request_id: str = ""
    correlation_id: str = ""


# Set by the servicer for the duration of a call.
request_ids: ContextVar[RequestIds | None] = ContextVar("users_request_ids", default=None)


def _envelope(event_type: str, account_id: int, data: Message) -> OutboxEvent:
    now = datetime.now(UTC)
    event_id = str(uuid.uuid4())
    payload = any_pb2.Any()
    payload.Pack(data)
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromDatetime(now)
    carrier: dict[str, str] = {}
    # Injects the current OpenTelemetry span's context (nothing when no span).
    _propagator.inject(carrier)
    ids = request_ids.get() or RequestIds()
    envelope = event_pb2.Event(
        event_id=event_id,
        event_type=event_type,
        event_version=EVENT_VERSION,
        timestamp=timestamp,
        source=SOURCE,
        aggregate_type=AGGREGATE_TYPE,
        aggregate_id=str(account_id),
        data=payload,
        metadata=event_pb2.EventMetadata(
            request_id=ids.request_id,
            # A request that starts a flow is its own correlation.
            correlation_id=ids.correlation_id or ids.request_id,
        ),
        trace_context=event_pb2.TraceContext(
            traceparent=carrier.get("traceparent", ""),
            tracestate=carrier.get("tracestate", ""),
        ),
    )
    return OutboxEvent(
        event_id=event_id,
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
