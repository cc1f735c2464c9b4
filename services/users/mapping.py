"""Store records to contract messages. The password hash has no field to go to."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from google.protobuf import timestamp_pb2

from services.users.sessions import SessionRecord
from services.users.store import (
    AccountRecord,
    BillingRecord,
    PlanRecord,
    PreferenceRecord,
    Price,
    ProfileRecord,
    SubscriptionRecord,
)
from services.users.streams import Slot
from streammesh.users.v1 import users_pb2


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def account_to_proto(account: AccountRecord) -> users_pb2.Account:
    return users_pb2.Account(
        account_id=str(account.account_id),
        email=account.email,
        first_name=account.first_name,
        last_name=account.last_name,
        country_code=account.country_code,
        language_code=account.language_code,
        create_time=_timestamp(account.created_at),
        update_time=_timestamp(account.updated_at),
    )


def profile_to_proto(profile: ProfileRecord) -> users_pb2.Profile:
    return users_pb2.Profile(
        profile_id=str(profile.profile_id),
        account_id=str(profile.account_id),
        profile_name=profile.profile_name,
        avatar_url=profile.avatar_url,
        maturity_rating=profile.maturity_rating,
        kids_profile=profile.kids_profile,
        primary=profile.primary,
        create_time=_timestamp(profile.created_at),
        update_time=_timestamp(profile.updated_at),
        language_code=profile.language_code,
    )


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    return _timestamp(value)


def preference_to_proto(preference: PreferenceRecord) -> users_pb2.Preference:
    return users_pb2.Preference(
        profile_id=str(preference.profile_id),
        key=preference.key,
        value=preference.value,
        update_time=_timestamp(preference.updated_at),
    )


def _ms_timestamp(milliseconds: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(milliseconds)
    return stamp


def quality_to_proto(quality: str) -> users_pb2.VideoQuality:
    return cast(users_pb2.VideoQuality, users_pb2.VideoQuality.Value(f"VIDEO_QUALITY_{quality}"))


def status_to_proto(status: str) -> users_pb2.SubscriptionStatus:
    return cast(
        users_pb2.SubscriptionStatus,
        users_pb2.SubscriptionStatus.Value(f"SUBSCRIPTION_STATUS_{status}"),
    )


def status_from_proto(status: users_pb2.SubscriptionStatus) -> str:
    return users_pb2.SubscriptionStatus.Name(status).removeprefix("SUBSCRIPTION_STATUS_")


def price_to_proto(price: Price) -> users_pb2.Price:
    return users_pb2.Price(currency_code=price.currency_code, amount_minor=price.amount_minor)


def plan_to_proto(plan: PlanRecord) -> users_pb2.Plan:
    return users_pb2.Plan(
        plan_id=plan.plan_id,
        display_name=plan.display_name,
        max_streams=plan.max_streams,
        max_quality=quality_to_proto(plan.max_quality),
        monthly_price=price_to_proto(plan.price),
    )


def subscription_to_proto(subscription: SubscriptionRecord) -> users_pb2.Subscription:
    return users_pb2.Subscription(
        account_id=str(subscription.account_id),
        plan_id=subscription.plan.plan_id,
        status=status_to_proto(subscription.status),
        max_streams=subscription.plan.max_streams,
        max_quality=quality_to_proto(subscription.plan.max_quality),
        monthly_price=price_to_proto(subscription.plan.price),
        create_time=_timestamp(subscription.created_at),
        update_time=_timestamp(subscription.updated_at),
    )


def billing_record_to_proto(record: BillingRecord) -> users_pb2.BillingRecord:
    return users_pb2.BillingRecord(
        billing_record_id=str(record.billing_record_id),
        kind=cast(
            users_pb2.BillingRecordKind,
            users_pb2.BillingRecordKind.Value(f"BILLING_RECORD_KIND_{record.kind}"),
        ),
        plan_id=record.plan_id,
        status=status_to_proto(record.status),
        price=price_to_proto(record.price),
        payment_reference=record.payment_reference,
        create_time=_timestamp(record.created_at),
    )


def session_to_proto(session: SessionRecord, *, current: bool) -> users_pb2.Session:
    return users_pb2.Session(
        session_id=session.session_id,
        account_id=str(session.account_id),
        device_type=_device_type(session.device_type),
        device_name=session.device_name,
        create_time=_ms_timestamp(session.created_ms),
        last_seen_time=_ms_timestamp(session.last_seen_ms),
        current=current,
    )


def _device_type(value: int) -> users_pb2.DeviceType:
    known = set(users_pb2.DeviceType.values())
    return cast(users_pb2.DeviceType, value if value in known else 0)


def playback_to_proto(slot: Slot, *, ttl_ms: int, max_streams: int) -> users_pb2.Playback:
    return users_pb2.Playback(
        playback_id=slot.playback_id,
        profile_id=slot.profile_id,
        session_id=slot.session_id,
        title_id=slot.title_id,
        device_type=_device_type(slot.device_type),
        device_name=slot.device_name,
        start_time=_ms_timestamp(slot.start_ms),
        expire_time=_ms_timestamp(slot.expire_ms),
        heartbeat_interval_seconds=max(1, ttl_ms // 3000),
        max_streams=max_streams,
    )
