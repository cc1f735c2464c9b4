from google.protobuf import field_mask_pb2 as _field_mask_pb2
from streammesh.users.v1 import users_pb2 as _users_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountCreatedEvent(_message.Message):
    __slots__ = ("account", "primary_profile")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_PROFILE_FIELD_NUMBER: _ClassVar[int]
    account: _users_pb2.Account
    primary_profile: _users_pb2.Profile
    def __init__(self, account: _Optional[_Union[_users_pb2.Account, _Mapping]] = ..., primary_profile: _Optional[_Union[_users_pb2.Profile, _Mapping]] = ...) -> None: ...

class ProfileCreatedEvent(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: _users_pb2.Profile
    def __init__(self, profile: _Optional[_Union[_users_pb2.Profile, _Mapping]] = ...) -> None: ...

class ProfileUpdatedEvent(_message.Message):
    __slots__ = ("profile", "update_mask")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    profile: _users_pb2.Profile
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, profile: _Optional[_Union[_users_pb2.Profile, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ProfileDeletedEvent(_message.Message):
    __slots__ = ("profile_id", "account_id")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    account_id: str
    def __init__(self, profile_id: _Optional[str] = ..., account_id: _Optional[str] = ...) -> None: ...

class PreferenceUpdatedEvent(_message.Message):
    __slots__ = ("preference",)
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    preference: _users_pb2.Preference
    def __init__(self, preference: _Optional[_Union[_users_pb2.Preference, _Mapping]] = ...) -> None: ...

class SubscriptionChangedEvent(_message.Message):
    __slots__ = ("subscription", "previous_plan_id", "previous_status")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    subscription: _users_pb2.Subscription
    previous_plan_id: str
    previous_status: _users_pb2.SubscriptionStatus
    def __init__(self, subscription: _Optional[_Union[_users_pb2.Subscription, _Mapping]] = ..., previous_plan_id: _Optional[str] = ..., previous_status: _Optional[_Union[_users_pb2.SubscriptionStatus, str]] = ...) -> None: ...

class AccountDeletionRequestedEvent(_message.Message):
    __slots__ = ("account_id", "saga_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SAGA_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    saga_id: str
    def __init__(self, account_id: _Optional[str] = ..., saga_id: _Optional[str] = ...) -> None: ...

class AccountDeletedEvent(_message.Message):
    __slots__ = ("account_id", "saga_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SAGA_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    saga_id: str
    def __init__(self, account_id: _Optional[str] = ..., saga_id: _Optional[str] = ...) -> None: ...
