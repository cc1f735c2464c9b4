"""Events to warehouse rows: which event of which stream becomes which fact or dimension row.

* ``streammesh.history``: ``history.view.recorded`` → a :class:`ViewFact` on
  the UTC day of the view's ``watch_time`` (not of the event: a late event
  lands in its own day).
* ``streammesh.users``: ``user.account.created`` → a :class:`SignupFact` and
  the primary profile's ``created`` change; ``user.profile.created|updated|
  deleted`` → a :class:`ProfileChangeFact`.
* ``streammesh.catalog``: ``catalog.title.created|updated`` → a
  :class:`TitleDim` (the whole title as it is after the change).

Every other event type maps to nothing: the loader acks it without a row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from services.analytics.store import (
    PROFILE_CREATED,
    PROFILE_DELETED,
    PROFILE_UPDATED,
    UNKNOWN_DEVICE,
    Batch,
    ProfileChangeFact,
    SignupFact,
    TitleDim,
    ViewFact,
)
from services.events.envelope import unpack
from streammesh.catalog.v1 import events_pb2 as catalog_events
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import events_pb2 as history_events
from streammesh.users.v1 import events_pb2 as users_events
from streammesh.users.v1 import users_pb2

VIEW_RECORDED = "history.view.recorded"
ACCOUNT_CREATED = "user.account.created"
PROFILE_CREATED_EVENT = "user.profile.created"
PROFILE_UPDATED_EVENT = "user.profile.updated"
PROFILE_DELETED_EVENT = "user.profile.deleted"
TITLE_CREATED = "catalog.title.created"
TITLE_UPDATED = "catalog.title.updated"


def _time(stamp: timestamp_pb2.Timestamp, fallback: datetime) -> datetime:
    if stamp.seconds == 0 and stamp.nanos == 0:
        return fallback
    # Microseconds: what both warehouses store.
    return stamp.ToDatetime(tzinfo=UTC)


def rows_of(event: event_pb2.Event) -> Batch:
    """The rows one event adds; an empty batch for events the warehouse ignores."""
    event_time = event.timestamp.ToDatetime(tzinfo=UTC)
    kind = event.event_type
    if kind == VIEW_RECORDED:
        recorded = unpack(event, history_events.ViewRecordedEvent)
        assert isinstance(recorded, history_events.ViewRecordedEvent)
        view = recorded.view
        duration = view.duration_seconds
        return Batch(
            views=[
                ViewFact(
                    event_id=event.event_id,
                    view_id=view.view_id,
                    profile_id=view.profile_id,
                    account_id=recorded.account_id,
                    title_id=view.title_id,
                    watch_time=_time(view.watch_time, event_time),
                    country_code=view.country_code,
                    device_type=view.device_type or UNKNOWN_DEVICE,
                    # What the view adds to watch time: the position, at most the
                    # duration when known (the history's rule).
                    watch_seconds=(
                        min(view.position_seconds, duration)
                        if duration > 0
                        else view.position_seconds
                    ),
                    position_seconds=view.position_seconds,
                    duration_seconds=duration,
                    completed=view.completed,
                    event_time=event_time,
                )
            ]
        )
    if kind == ACCOUNT_CREATED:
        created = unpack(event, users_events.AccountCreatedEvent)
        assert isinstance(created, users_events.AccountCreatedEvent)
        account = created.account
        signup_time = _time(account.create_time, event_time)
        # The primary profile is created with the account: a profile change too.
        profile = created.primary_profile
        changes = []
        if profile.profile_id:
            changes.append(
                _profile_change(
                    event, profile, PROFILE_CREATED, "", event_time, event_id=_derived(event)
                )
            )
        return Batch(
            signups=[
                SignupFact(
                    event_id=event.event_id,
                    account_id=account.account_id,
                    profile_id=profile.profile_id,
                    country_code=account.country_code,
                    signup_time=signup_time,
                    event_time=event_time,
                )
            ],
            profile_changes=changes,
        )
    if kind == PROFILE_CREATED_EVENT:
        profile_created = unpack(event, users_events.ProfileCreatedEvent)
        assert isinstance(profile_created, users_events.ProfileCreatedEvent)
        return Batch(
            profile_changes=[
                _profile_change(event, profile_created.profile, PROFILE_CREATED, "", event_time)
            ]
        )
    if kind == PROFILE_UPDATED_EVENT:
        updated = unpack(event, users_events.ProfileUpdatedEvent)
        assert isinstance(updated, users_events.ProfileUpdatedEvent)
        paths = ",".join(sorted(updated.update_mask.paths))
        return Batch(
            profile_changes=[
                _profile_change(event, updated.profile, PROFILE_UPDATED, paths, event_time)
            ]
        )
    if kind == PROFILE_DELETED_EVENT:
        deleted = unpack(event, users_events.ProfileDeletedEvent)
        assert isinstance(deleted, users_events.ProfileDeletedEvent)
        gone = users_pb2.Profile(profile_id=deleted.profile_id, account_id=deleted.account_id)
        return Batch(
            profile_changes=[_profile_change(event, gone, PROFILE_DELETED, "", event_time)]
        )
    if kind in (TITLE_CREATED, TITLE_UPDATED):
        message = unpack(
            event,
            catalog_events.TitleCreatedEvent
            if kind == TITLE_CREATED
            else catalog_events.TitleUpdatedEvent,
        )
        assert isinstance(
            message, catalog_events.TitleCreatedEvent | catalog_events.TitleUpdatedEvent
        )
        title = message.title
        return Batch(
            titles=[
                TitleDim(
                    event_id=event.event_id,
                    title_id=title.title_id,
                    title=title.title,
                    content_type=title.content_type,
                    release_year=title.release_year,
                    maturity_rating=title.maturity_rating,
                    genres=tuple(title.genres),
                    source_time=event_time,
                    event_time=event_time,
                )
            ]
        )
    return Batch()


def _derived(event: event_pb2.Event) -> str:
    """A second row's ledger key from one event (the sign-up's primary profile)."""
    return f"{event.event_id}/profile"


def _profile_change(
    event: event_pb2.Event,
    profile: users_pb2.Profile,
    change_type: str,
    changed_fields: str,
    event_time: datetime,
    *,
    event_id: str = "",
) -> ProfileChangeFact:
    stamp = profile.update_time if change_type == PROFILE_UPDATED else profile.create_time
    return ProfileChangeFact(
        event_id=event_id or event.event_id,
        profile_id=profile.profile_id,
        account_id=profile.account_id,
        change_type=change_type,
        changed_fields=changed_fields,
        kids_profile=profile.kids_profile,
        maturity_rating=profile.maturity_rating,
        change_time=event_time if change_type == PROFILE_DELETED else _time(stamp, event_time),
        event_time=event_time,
    )
