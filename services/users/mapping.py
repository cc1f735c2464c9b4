"""Store records to contract messages. The password hash has no field to go to."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2

from services.users.store import AccountRecord, PreferenceRecord, ProfileRecord
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
    )


def preference_to_proto(preference: PreferenceRecord) -> users_pb2.Preference:
    return users_pb2.Preference(
        profile_id=str(preference.profile_id),
        key=preference.key,
        value=preference.value,
        update_time=_timestamp(preference.updated_at),
    )
