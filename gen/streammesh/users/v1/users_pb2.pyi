import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.longrunning import operations_pb2 as _operations_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from streammesh.options.v1 import visibility_pb2 as _visibility_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SagaState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAGA_STATE_UNSPECIFIED: _ClassVar[SagaState]
    SAGA_STATE_RUNNING: _ClassVar[SagaState]
    SAGA_STATE_COMPENSATING: _ClassVar[SagaState]
    SAGA_STATE_COMPLETED: _ClassVar[SagaState]
    SAGA_STATE_COMPENSATED: _ClassVar[SagaState]

class DeviceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_TYPE_UNSPECIFIED: _ClassVar[DeviceType]
    DEVICE_TYPE_TV: _ClassVar[DeviceType]
    DEVICE_TYPE_MOBILE: _ClassVar[DeviceType]
    DEVICE_TYPE_TABLET: _ClassVar[DeviceType]
    DEVICE_TYPE_WEB: _ClassVar[DeviceType]
    DEVICE_TYPE_CONSOLE: _ClassVar[DeviceType]

class VideoQuality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIDEO_QUALITY_UNSPECIFIED: _ClassVar[VideoQuality]
    VIDEO_QUALITY_SD: _ClassVar[VideoQuality]
    VIDEO_QUALITY_HD: _ClassVar[VideoQuality]
    VIDEO_QUALITY_UHD: _ClassVar[VideoQuality]

class SubscriptionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_STATUS_UNSPECIFIED: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_ACTIVE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_PAST_DUE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_CANCELLED: _ClassVar[SubscriptionStatus]

class BillingRecordKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BILLING_RECORD_KIND_UNSPECIFIED: _ClassVar[BillingRecordKind]
    BILLING_RECORD_KIND_STARTED: _ClassVar[BillingRecordKind]
    BILLING_RECORD_KIND_PLAN_CHANGED: _ClassVar[BillingRecordKind]
    BILLING_RECORD_KIND_STATUS_CHANGED: _ClassVar[BillingRecordKind]
SAGA_STATE_UNSPECIFIED: SagaState
SAGA_STATE_RUNNING: SagaState
SAGA_STATE_COMPENSATING: SagaState
SAGA_STATE_COMPLETED: SagaState
SAGA_STATE_COMPENSATED: SagaState
DEVICE_TYPE_UNSPECIFIED: DeviceType
DEVICE_TYPE_TV: DeviceType
DEVICE_TYPE_MOBILE: DeviceType
DEVICE_TYPE_TABLET: DeviceType
DEVICE_TYPE_WEB: DeviceType
DEVICE_TYPE_CONSOLE: DeviceType
VIDEO_QUALITY_UNSPECIFIED: VideoQuality
VIDEO_QUALITY_SD: VideoQuality
VIDEO_QUALITY_HD: VideoQuality
VIDEO_QUALITY_UHD: VideoQuality
SUBSCRIPTION_STATUS_UNSPECIFIED: SubscriptionStatus
SUBSCRIPTION_STATUS_ACTIVE: SubscriptionStatus
SUBSCRIPTION_STATUS_PAST_DUE: SubscriptionStatus
SUBSCRIPTION_STATUS_CANCELLED: SubscriptionStatus
BILLING_RECORD_KIND_UNSPECIFIED: BillingRecordKind
BILLING_RECORD_KIND_STARTED: BillingRecordKind
BILLING_RECORD_KIND_PLAN_CHANGED: BillingRecordKind
BILLING_RECORD_KIND_STATUS_CHANGED: BillingRecordKind

class Account(_message.Message):
    __slots__ = ("account_id", "email", "first_name", "last_name", "country_code", "language_code", "create_time", "update_time")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    email: str
    first_name: str
    last_name: str
    country_code: str
    language_code: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., email: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., country_code: _Optional[str] = ..., language_code: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("profile_id", "account_id", "profile_name", "avatar_url", "maturity_rating", "kids_profile", "primary", "create_time", "update_time", "language_code", "settings_change")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_NAME_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    KIDS_PROFILE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    account_id: str
    profile_name: str
    avatar_url: str
    maturity_rating: str
    kids_profile: bool
    primary: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    language_code: str
    settings_change: ProfileSettingsChange
    def __init__(self, profile_id: _Optional[str] = ..., account_id: _Optional[str] = ..., profile_name: _Optional[str] = ..., avatar_url: _Optional[str] = ..., maturity_rating: _Optional[str] = ..., kids_profile: _Optional[bool] = ..., primary: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., language_code: _Optional[str] = ..., settings_change: _Optional[_Union[ProfileSettingsChange, _Mapping]] = ...) -> None: ...

class ProfileSettingsChange(_message.Message):
    __slots__ = ("saga_id", "state", "error", "previous_maturity_rating", "previous_kids_profile", "previous_language_code", "create_time", "update_time")
    SAGA_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_KIDS_PROFILE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    saga_id: str
    state: SagaState
    error: _status_pb2.Status
    previous_maturity_rating: str
    previous_kids_profile: bool
    previous_language_code: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, saga_id: _Optional[str] = ..., state: _Optional[_Union[SagaState, str]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., previous_maturity_rating: _Optional[str] = ..., previous_kids_profile: _Optional[bool] = ..., previous_language_code: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Preference(_message.Message):
    __slots__ = ("profile_id", "key", "value", "update_time")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    key: str
    value: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, profile_id: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("email", "password", "first_name", "last_name", "country_code", "language_code")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    first_name: str
    last_name: str
    country_code: str
    language_code: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., country_code: _Optional[str] = ..., language_code: _Optional[str] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("email", "password", "device_type", "device_name")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    device_type: DeviceType
    device_name: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., device_name: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("access_token", "token_type", "expire_time", "account_id", "refresh_token", "refresh_expire_time", "session_id")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    token_type: str
    expire_time: _timestamp_pb2.Timestamp
    account_id: str
    refresh_token: str
    refresh_expire_time: _timestamp_pb2.Timestamp
    session_id: str
    def __init__(self, access_token: _Optional[str] = ..., token_type: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., account_id: _Optional[str] = ..., refresh_token: _Optional[str] = ..., refresh_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ListProfilesRequest(_message.Message):
    __slots__ = ("account_id", "page_size", "page_token")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    page_size: int
    page_token: str
    def __init__(self, account_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProfilesResponse(_message.Message):
    __slots__ = ("profiles", "next_page_token")
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[Profile]
    next_page_token: str
    def __init__(self, profiles: _Optional[_Iterable[_Union[Profile, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateProfileRequest(_message.Message):
    __slots__ = ("account_id", "profile")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    profile: Profile
    def __init__(self, account_id: _Optional[str] = ..., profile: _Optional[_Union[Profile, _Mapping]] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("profile", "update_mask")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteProfileRequest(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class ListPreferencesRequest(_message.Message):
    __slots__ = ("profile_id", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPreferencesResponse(_message.Message):
    __slots__ = ("preferences", "next_page_token")
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    preferences: _containers.RepeatedCompositeFieldContainer[Preference]
    next_page_token: str
    def __init__(self, preferences: _Optional[_Iterable[_Union[Preference, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetPreferenceRequest(_message.Message):
    __slots__ = ("preference",)
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    preference: Preference
    def __init__(self, preference: _Optional[_Union[Preference, _Mapping]] = ...) -> None: ...

class GetJwksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteProfileResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JsonWebKey(_message.Message):
    __slots__ = ("kty", "crv", "x", "y", "kid", "alg", "use")
    KTY_FIELD_NUMBER: _ClassVar[int]
    CRV_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    USE_FIELD_NUMBER: _ClassVar[int]
    kty: str
    crv: str
    x: str
    y: str
    kid: str
    alg: str
    use: str
    def __init__(self, kty: _Optional[str] = ..., crv: _Optional[str] = ..., x: _Optional[str] = ..., y: _Optional[str] = ..., kid: _Optional[str] = ..., alg: _Optional[str] = ..., use: _Optional[str] = ...) -> None: ...

class GetJwksResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[JsonWebKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[JsonWebKey, _Mapping]]] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("currency_code", "amount_minor")
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    currency_code: str
    amount_minor: int
    def __init__(self, currency_code: _Optional[str] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("plan_id", "display_name", "max_streams", "max_quality", "monthly_price")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUALITY_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_PRICE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    display_name: str
    max_streams: int
    max_quality: VideoQuality
    monthly_price: Price
    def __init__(self, plan_id: _Optional[str] = ..., display_name: _Optional[str] = ..., max_streams: _Optional[int] = ..., max_quality: _Optional[_Union[VideoQuality, str]] = ..., monthly_price: _Optional[_Union[Price, _Mapping]] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("account_id", "plan_id", "status", "max_streams", "max_quality", "monthly_price", "create_time", "update_time")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUALITY_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_PRICE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    plan_id: str
    status: SubscriptionStatus
    max_streams: int
    max_quality: VideoQuality
    monthly_price: Price
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., max_streams: _Optional[int] = ..., max_quality: _Optional[_Union[VideoQuality, str]] = ..., monthly_price: _Optional[_Union[Price, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BillingRecord(_message.Message):
    __slots__ = ("billing_record_id", "kind", "plan_id", "status", "price", "payment_reference", "create_time")
    BILLING_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    billing_record_id: str
    kind: BillingRecordKind
    plan_id: str
    status: SubscriptionStatus
    price: Price
    payment_reference: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, billing_record_id: _Optional[str] = ..., kind: _Optional[_Union[BillingRecordKind, str]] = ..., plan_id: _Optional[str] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., price: _Optional[_Union[Price, _Mapping]] = ..., payment_reference: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "account_id", "device_type", "device_name", "create_time", "last_seen_time", "current")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    account_id: str
    device_type: DeviceType
    device_name: str
    create_time: _timestamp_pb2.Timestamp
    last_seen_time: _timestamp_pb2.Timestamp
    current: bool
    def __init__(self, session_id: _Optional[str] = ..., account_id: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., device_name: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current: _Optional[bool] = ...) -> None: ...

class Playback(_message.Message):
    __slots__ = ("playback_id", "profile_id", "session_id", "title_id", "device_type", "device_name", "start_time", "expire_time", "heartbeat_interval_seconds", "max_streams")
    PLAYBACK_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    playback_id: str
    profile_id: str
    session_id: str
    title_id: str
    device_type: DeviceType
    device_name: str
    start_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    heartbeat_interval_seconds: int
    max_streams: int
    def __init__(self, playback_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., session_id: _Optional[str] = ..., title_id: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., device_name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_interval_seconds: _Optional[int] = ..., max_streams: _Optional[int] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ("country", "page_size", "page_token")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    country: str
    page_size: int
    page_token: str
    def __init__(self, country: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans", "next_page_token")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    next_page_token: str
    def __init__(self, plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetSubscriptionRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ChangePlanRequest(_message.Message):
    __slots__ = ("account_id", "plan_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    plan_id: str
    def __init__(self, account_id: _Optional[str] = ..., plan_id: _Optional[str] = ...) -> None: ...

class ListBillingRecordsRequest(_message.Message):
    __slots__ = ("account_id", "page_size", "page_token")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    page_size: int
    page_token: str
    def __init__(self, account_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBillingRecordsResponse(_message.Message):
    __slots__ = ("billing_records", "next_page_token")
    BILLING_RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    billing_records: _containers.RepeatedCompositeFieldContainer[BillingRecord]
    next_page_token: str
    def __init__(self, billing_records: _Optional[_Iterable[_Union[BillingRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetSubscriptionStatusRequest(_message.Message):
    __slots__ = ("account_id", "status", "payment_reference")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    status: SubscriptionStatus
    payment_reference: str
    def __init__(self, account_id: _Optional[str] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., payment_reference: _Optional[str] = ...) -> None: ...

class RefreshSessionRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class RefreshSessionResponse(_message.Message):
    __slots__ = ("access_token", "token_type", "expire_time", "account_id", "refresh_token", "refresh_expire_time", "session_id")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    token_type: str
    expire_time: _timestamp_pb2.Timestamp
    account_id: str
    refresh_token: str
    refresh_expire_time: _timestamp_pb2.Timestamp
    session_id: str
    def __init__(self, access_token: _Optional[str] = ..., token_type: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., account_id: _Optional[str] = ..., refresh_token: _Optional[str] = ..., refresh_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("account_id", "page_size", "page_token")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    page_size: int
    page_token: str
    def __init__(self, account_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateSessionRequest(_message.Message):
    __slots__ = ("account_id", "session", "update_mask")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    session: Session
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, account_id: _Optional[str] = ..., session: _Optional[_Union[Session, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteSessionRequest(_message.Message):
    __slots__ = ("account_id", "session_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    session_id: str
    def __init__(self, account_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class DeleteSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RevokeAllSessionsRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class RevokeAllSessionsResponse(_message.Message):
    __slots__ = ("revoked_count",)
    REVOKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    revoked_count: int
    def __init__(self, revoked_count: _Optional[int] = ...) -> None: ...

class CheckSessionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckSessionResponse(_message.Message):
    __slots__ = ("session_id", "account_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    account_id: str
    def __init__(self, session_id: _Optional[str] = ..., account_id: _Optional[str] = ...) -> None: ...

class StartPlaybackRequest(_message.Message):
    __slots__ = ("profile_id", "title_id")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    title_id: str
    def __init__(self, profile_id: _Optional[str] = ..., title_id: _Optional[str] = ...) -> None: ...

class HeartbeatPlaybackRequest(_message.Message):
    __slots__ = ("playback_id",)
    PLAYBACK_ID_FIELD_NUMBER: _ClassVar[int]
    playback_id: str
    def __init__(self, playback_id: _Optional[str] = ...) -> None: ...

class StopPlaybackRequest(_message.Message):
    __slots__ = ("playback_id",)
    PLAYBACK_ID_FIELD_NUMBER: _ClassVar[int]
    playback_id: str
    def __init__(self, playback_id: _Optional[str] = ...) -> None: ...

class StopPlaybackResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckPlaybackRequest(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class CheckPlaybackResponse(_message.Message):
    __slots__ = ("playback",)
    PLAYBACK_FIELD_NUMBER: _ClassVar[int]
    playback: Playback
    def __init__(self, playback: _Optional[_Union[Playback, _Mapping]] = ...) -> None: ...

class DeleteAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class DeleteAccountResponse(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class DeleteAccountMetadata(_message.Message):
    __slots__ = ("account_id", "saga_id", "state", "steps_done", "steps_total", "current_step", "current_step_attempts", "last_error", "create_time", "update_time")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SAGA_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEPS_DONE_FIELD_NUMBER: _ClassVar[int]
    STEPS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STEP_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STEP_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    saga_id: str
    state: SagaState
    steps_done: int
    steps_total: int
    current_step: str
    current_step_attempts: int
    last_error: _status_pb2.Status
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., saga_id: _Optional[str] = ..., state: _Optional[_Union[SagaState, str]] = ..., steps_done: _Optional[int] = ..., steps_total: _Optional[int] = ..., current_step: _Optional[str] = ..., current_step_attempts: _Optional[int] = ..., last_error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("operation_id",)
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    def __init__(self, operation_id: _Optional[str] = ...) -> None: ...
